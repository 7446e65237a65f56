#!/bin/sh
# fuzz_replay.sh - every fuzz target's seed corpus (fuzz/corpus/TARGET) and
# the inputs of its past findings (fuzz/regress/TARGET) replayed through the
# target's own entry point (fuzz/replay_TARGET: fuzz/fuzz_TARGET.c with
# fuzz/replay.c's main; docs/fuzzing.md).  Passes when no input crashes, and,
# in a build with sanitizers, when none reports anything.  No clang needed.
set -u
src=${MUST_SRCDIR:-.}
build=${MUST_BUILDDIR:-.}
T=${MUST_TEST_TMP:-tests/tmp}/fuzz-replay
rm -rf "$T"
mkdir -p "$T"
# Scratch files of the targets go under the test's folder.
MUST_FUZZ_TMP=$T
export MUST_FUZZ_TMP
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export UBSAN_OPTIONS
status=0
total=0
for t in png jpeg safetensors checkpoint ini experiment world dataset coco voc options; do
    dirs=""
    for d in "$src/fuzz/corpus/$t" "$src/fuzz/regress/$t"; do
        [ -d "$d" ] && dirs="$dirs $d"
    done
    if [ -z "$dirs" ]; then
        echo "FAIL: $t: no fuzz/corpus/$t"
        status=1
        continue
    fi
    # shellcheck disable=SC2086
    "$build/fuzz/replay_$t" $dirs >"$T/$t.out" 2>"$T/$t.err"
    rc=$?
    n=$(sed -n 's/^replay: \([0-9]*\) inputs$/\1/p' "$T/$t.out")
    # A sanitizer that recovers (gcc's UBSan by default) reports and goes on.
    if [ $rc -ne 0 ] || grep -q -E 'runtime error:|^==[0-9]+==ERROR' "$T/$t.err"; then
        tail -n 40 "$T/$t.err"
        echo "FAIL: $t: exit $rc replaying${dirs}"
        status=1
    elif [ -z "$n" ] || [ "$n" -eq 0 ]; then
        echo "FAIL: $t: no inputs replayed"
        status=1
    else
        echo "ok: $t: $n inputs"
        total=$((total + n))
    fi
done
echo "replayed $total inputs"
[ $status -eq 0 ] && rm -rf "$T"
exit $status
