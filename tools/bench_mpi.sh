#!/bin/sh
# bench_mpi.sh - data-parallel training on this machine (docs/scale-out.md):
# 1 rank x 2 threads against 2 ranks x 1 thread (sync_bn off and on), the
# same global batch; img/s from the last progress line (an average over the
# run's steps), the share of the training loop spent in collectives from
# the ranks' summary line.  Each configuration REPEAT times (default 3),
# interleaved, so that a busy moment of a shared machine hits all alike;
# the medians are printed last.
#
# usage: tools/bench_mpi.sh BUILDDIR [REPEAT]   (a build with MPI)
set -eu
b=${1:?usage: bench_mpi.sh BUILDDIR [REPEAT]}
rep=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
T=${TMPDIR:-/tmp}/must-bench-mpi.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
must=$b/must
export MUST_PLUGIN_PATH=${MUST_PLUGIN_PATH:-$b/.libs} OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
sed 's/^threads = 0$/threads = 2/' "$here/bench_mpi.ini" >"$T/t2.ini"
sed 's/^threads = 0$/threads = 1/' "$here/bench_mpi.ini" >"$T/t1.ini"
sed 's/^augment = false$/augment = false\nsync_bn = true/' "$T/t1.ini" >"$T/t1s.ini"
# The data once; each run copies it and only trains.
"$must" train "$T/t2.ini" --teacher seg --out "$T/data-run" >/dev/null 2>&1
run() { # NAME RANKS INI
    rm -rf "$T/$1"
    mkdir -p "$T/$1"
    cp -r "$T/data-run/data" "$T/$1/"
    if [ "$2" -eq 1 ]; then
        "$must" train "$3" --teacher seg --out "$T/$1" >"$T/$1.log" 2>&1
    else
        mpirun --oversubscribe --bind-to none -np "$2" "$must" train "$3" --teacher seg \
            --out "$T/$1" >"$T/$1.log" 2>&1
    fi
    ips=$(tr '\r' '\n' <"$T/$1.log" | sed -n 's/.* \([0-9.]*\) img\/s.*/\1/p' | tail -1)
    coll=$(sed -n 's/.* ranks: \([0-9.]*\)% of .*/\1/p' "$T/$1.log" | tail -1)
    echo "$1 $ips ${coll:--}" | tee -a "$T/all.txt"
}
for i in $(seq 1 "$rep"); do
    run 1x2 1 "$T/t2.ini"
    run 2x1 2 "$T/t1.ini"
    run 2x1-sync_bn 2 "$T/t1s.ini"
done
echo "medians over $rep runs (img/s, % of the loop in collectives):"
for c in 1x2 2x1 2x1-sync_bn; do
    med() { grep "^$c " "$T/all.txt" | awk -v k="$1" '{print $k}' | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
    printf "%-13s %8s img/s  %5s%% in collectives\n" "$c" "$(med 2)" "$(med 3)"
done
