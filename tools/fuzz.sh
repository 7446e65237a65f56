#!/bin/sh
# Runs fuzz targets (docs/fuzzing.md) in a fuzzing build:
#   ./configure CC=clang --enable-fuzzing && make -j2
#   tools/fuzz.sh TARGET SECONDS      one target (png, jpeg, ... or fuzz_png)
#   tools/fuzz.sh --all SECONDS       every target, two at a time
#                                     (MUST_FUZZ_JOBS=1: one at a time)
# Run it in the build directory (or set MUST_FUZZ_BUILD).  Each target starts
# from its seeds (fuzz/corpus/TARGET and fuzz/regress/TARGET of the sources)
# and keeps what it finds new in BUILD/fuzz-work/TARGET/corpus, so that a
# later run goes on from there; a finding's input is saved in
# BUILD/fuzz-work/TARGET/findings/ and its report in .../log.  Prints each
# target's executions (libFuzzer's stat::number_of_executed_units) and time;
# exits 1 when any target found something.
#
# Limits, the same for every target: 2 GB of memory in all, 1 GB for any
# one allocation, 10 s for one input.  More libFuzzer options can be given
# in MUST_FUZZ_FLAGS (e.g. MUST_FUZZ_FLAGS=-max_len=8192).
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MUST_FUZZ_BUILD:-$(pwd)}
targets="png jpeg safetensors checkpoint ini experiment world dataset coco voc options"

usage() {
    echo "usage: tools/fuzz.sh TARGET SECONDS | --all SECONDS" >&2
    echo "targets: $targets" >&2
    exit 2
}

[ $# -eq 2 ] || usage
case $2 in ''|*[!0-9]*) usage ;; esac
secs=$2

# One target: libFuzzer's summary line to stdout, 0 when nothing was found.
run_one() {
    t=${1#fuzz_}
    bin=$build/fuzz/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: no $bin: run it in a build configured with CC=clang --enable-fuzzing" >&2
        return 2
    fi
    work=$build/fuzz-work/$t
    mkdir -p "$work/corpus" "$work/findings"
    seeds=""
    for d in "$src/fuzz/corpus/$t" "$src/fuzz/regress/$t"; do
        [ -d "$d" ] && seeds="$seeds $d"
    done
    dict=""
    [ -f "$src/fuzz/dict/$t.dict" ] && dict="-dict=$src/fuzz/dict/$t.dict"
    log=$work/log
    start=$(date +%s)
    # shellcheck disable=SC2086
    MUST_PLUGIN_PATH=${MUST_PLUGIN_PATH:-$build/.libs} \
    MUST_FUZZ_TMP=${MUST_FUZZ_TMP:-} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        "$bin" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -timeout=10 -artifact_prefix="$work/findings/" $dict \
        ${MUST_FUZZ_FLAGS:-} "$work/corpus" $seeds >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "$t: ${execs:-?} executions in $((end - start)) s, no finding"
        return 0
    fi
    found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    what=$(grep -m 1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|ALARM|out-of-memory|malloc\(' \
        "$log" | cut -c 1-200)
    echo "$t: FINDING after ${execs:-?} executions in $((end - start)) s: ${what:-exit $rc}"
    echo "$t:   input: ${found:-none saved}; report: $log"
    return 1
}

if [ "$1" = --all ]; then
    status=0
    set -- $targets
    while [ $# -gt 0 ]; do
        # Two at a time: the machine's two cores.
        out1=$(mktemp) out2=$(mktemp)
        run_one "$1" >"$out1" & p1=$!
        p2=""
        if [ $# -gt 1 ] && [ "${MUST_FUZZ_JOBS:-2}" -gt 1 ]; then
            run_one "$2" >"$out2" & p2=$!
        fi
        wait $p1 || status=1
        [ -n "$p2" ] && { wait "$p2" || status=1; }
        cat "$out1" "$out2"
        rm -f "$out1" "$out2"
        shift
        [ -n "$p2" ] && shift
    done
    exit $status
fi
run_one "$1"
