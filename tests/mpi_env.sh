# mpi_env.sh - sourced by the MPI tests (tests/mpi_*.sh) after they set
# $must: skips (exit 77) a build without MPI or a machine without mpirun,
# and defines `mpi N ARGS...`, which runs `must ARGS...` on N ranks of this
# one machine.
"$must" version 2>/dev/null | grep -q "^mpi: Open MPI" || { echo "SKIP: built without MPI"; exit 77; }
mpirun=${MUST_MPIRUN:-}
[ -n "$mpirun" ] || mpirun=$(command -v mpirun 2>/dev/null || true)
[ -n "$mpirun" ] && [ -x "$mpirun" ] || { echo "SKIP: no mpirun"; exit 77; }
# CI runs as root, and two ranks may outnumber the cores it has: Open MPI
# refuses both unless told.  Shared memory without CMA, which containers
# often forbid (ptrace); no binding, as the machine is shared.
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OMPI_MCA_btl_vader_single_copy_mechanism=none
OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
    OMPI_MCA_btl_vader_single_copy_mechanism OMPI_MCA_rmaps_base_oversubscribe
# Under --enable-sanitizers: Open MPI leaks at MPI_Finalize (its components
# are unloaded before LeakSanitizer looks, so no suppression can name them),
# so leak checking is off for the ranks; the same code paths run leak-checked
# as one process in the rest of the suite.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
mpi() { # N ARGS...
    n=$1
    shift
    "$mpirun" --oversubscribe --bind-to none -np "$n" "$must" "$@"
}
# close A B TOL: the CSV files A and B (a header, then numbers) agree within
# TOL relative in every column (values below 1e-3 compared as 1e-3).
close() {
    paste -d, "$1" "$2" | awk -F, -v tol="$3" '
        NR > 1 { n = NF / 2
                 for (i = 1; i <= n; i++) {
                     a = $i; b = $(i + n); d = a - b; d = d < 0 ? -d : d
                     s = a < 0 ? -a : a; s = s < 1e-3 ? 1e-3 : s
                     if (d / s > m) { m = d / s; at = $1 }
                 }
                 rows++ }
        END { printf "%d rows; largest relative difference %.3g (step %s)\n", rows, m, at
              exit !(rows > 0 && m <= tol) }'
}
