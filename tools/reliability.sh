#!/bin/sh
# tools/reliability.sh - the reliability checks CI runs after `make distcheck`
# (the README's test command), from the top of a configured source tree:
#
#   sanitizers  the whole test suite built with --enable-sanitizers
#               (AddressSanitizer with leak checking, UndefinedBehaviorSanitizer
#               stopping at the first finding), in _rel/san;
#   valgrind    memcheck of a short pipeline run (tests/data/tiny.ini: world
#               data, a teacher, pseudo labels, the student, transfer, the
#               report) on the plain build: no error, no byte definitely lost;
#   fuzz        every fuzz target for FUZZ_SECONDS seconds (default 60), built
#               with clang --enable-fuzzing in _rel/fuzz (tools/fuzz.sh).
#
# Usage: sh tools/reliability.sh [sanitizers] [valgrind] [fuzz]   (none: all)
#
# The sanitizer and fuzzing builds unpack the tarball distcheck made (a VPATH
# build beside a tree configured in place is refused by automake), so they
# test exactly what is shipped.  Each step prints its time; the first failure
# stops the script with its status.
set -eu
top=$(pwd)
[ -f "$top/config.status" ] ||
    { echo "reliability.sh: run ./configure first (from the top of the tree)" >&2; exit 2; }
steps=${*:-sanitizers valgrind fuzz}
rel=$top/_rel
jobs=${JOBS:-2}

tarball() {
    t=$(ls -t "$top"/must-*.tar.gz 2>/dev/null | head -n 1)
    [ -n "$t" ] || { echo "reliability.sh: no must-*.tar.gz: run make distcheck (or make dist) first" >&2; exit 2; }
    echo "$t"
}

# unpack DIR: the distributed tree under $rel/DIR/src, fresh.
unpack() {
    rm -rf "${rel:?}/$1"
    mkdir -p "$rel/$1"
    tar -xzf "$(tarball)" -C "$rel/$1"
    mv "$rel/$1"/must-* "$rel/$1/src"
}

stamp() { date +%s; }
took() { echo "reliability.sh: $1 took $(($(stamp) - $2)) s"; }

sanitizers() {
    t0=$(stamp)
    unpack san
    cd "$rel/san/src"
    ./configure -q --enable-sanitizers
    make -j"$jobs" >/dev/null
    # detect_leaks is ASan's default on x86-64 Linux; said here so that a
    # changed default cannot turn the check off.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
        make -j"$jobs" check || { cat tests/test-suite.log 2>/dev/null | tail -n 200; exit 1; }
    cd "$top"
    took "the sanitizer suite" "$t0"
}

valgrind_run() {
    t0=$(stamp)
    command -v valgrind >/dev/null ||
        { echo "reliability.sh: valgrind not found: sh tools/deps.sh reliability" >&2; exit 1; }
    make -j"$jobs" >/dev/null
    out=$rel/valgrind
    rm -rf "$out"
    mkdir -p "$out"
    # One BLAS and one OpenMP thread: valgrind serialises threads anyway, and
    # idle pool threads only add noise to its report.
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MUST_SRCDIR=$top \
        ./libtool --mode=execute valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
        --error-exitcode=99 --log-file="$out/memcheck.log" \
        ./must run tests/data/tiny.ini --out "$out/run" >"$out/run.log" 2>&1 || {
        echo "reliability.sh: valgrind memcheck failed (status $?):"
        tail -n 40 "$out/run.log"
        cat "$out/memcheck.log"
        exit 1
    }
    [ -f "$out/run/report.md" ] || { echo "reliability.sh: the valgrind run wrote no report" >&2; exit 1; }
    took "valgrind memcheck of tests/data/tiny.ini (0 errors, 0 bytes definitely lost)" "$t0"
}

fuzz() {
    t0=$(stamp)
    [ -x "$top/tools/fuzz.sh" ] || [ -f "$top/tools/fuzz.sh" ] ||
        { echo "reliability.sh: tools/fuzz.sh missing" >&2; exit 1; }
    unpack fuzz
    cd "$rel/fuzz/src"
    ./configure -q CC=clang --enable-fuzzing
    make -j"$jobs" >/dev/null
    sh tools/fuzz.sh --all "${FUZZ_SECONDS:-60}"
    cd "$top"
    took "the fuzz smoke" "$t0"
}

for s in $steps; do
    case $s in
    sanitizers) sanitizers ;;
    valgrind) valgrind_run ;;
    fuzz) fuzz ;;
    *) echo "reliability.sh: unknown step '$s' (sanitizers, valgrind, fuzz)" >&2; exit 2 ;;
    esac
done
echo "reliability.sh: all passed ($steps)"
