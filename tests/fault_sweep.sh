#!/bin/sh
# fault_sweep.sh - a full disk at every write, fsync and rename of each stage
# (world generation, two importers, teachers, labelling, student, transfer,
# report; tests/sweeputil.sh lists them), through the library's MUST_FAULT
# hook (core/base/fault-impl.h).  For each operation N chosen:
#   - the command fails (exit status 1, no signal), its message naming the
#     file the operation was on and the error ("No space left on device");
#   - nothing that looks finished is left: no temporary, no `done` or
#     dataset.ini beside files that are not the clean run's, no file under
#     its final name that differs from the clean run's (sweeputil.sh's
#     looks_consistent);
#   - a rerun without the fault finishes, and its files are byte-identical
#     to the clean run's.
# Then, per stage, a file over `ulimit -f` fails the same way
# ("File too large", not a death by SIGXFSZ) and the rerun is identical.
#
# Which N: a trace of the clean stage (MUST_FAULT=trace) lists its
# operations; MUST_FAULT_SWEEP says which to fail:
#   (unset)  at most MUST_FAULT_POINTS (default 8) per stage, spread over
#            its classes of operation: the kind (write, fsync, rename) and
#            the file with its digits taken out, a file's first write apart
#            from its later ones (the CI default, about two minutes)
#   classes  the first operation of every class
#   full     every operation
#   K        every Kth operation (1, K+1, ...)
# Every other fault chosen is a disk that stays full (MUST_FAULT=N+: the
# Nth operation and all after it fail, the cleanup's included), the others
# fail once; MUST_FAULT_STICKY=0 or 1 makes them all the one or the other.
# MUST_FAULT_ERRNO=eio fails with EIO instead of ENOSPC; MUST_SWEEP_STAGES
# sweeps only the stages it lists.  The counts go to
# $T/counts (docs/crash-safety.md's figures).
set -u
T=${MUST_TEST_TMP:-tests/tmp}/fault-sweep
mkdir -p "$T"
T=$(cd "$T" && pwd)
. "${MUST_SRCDIR:-.}/tests/sweeputil.sh"
sweep=${MUST_FAULT_SWEEP:-}
points=${MUST_FAULT_POINTS:-8}
errsuffix=
errtext="No space left on device"
if [ "${MUST_FAULT_ERRNO:-}" = eio ]; then
    errsuffix=,eio
    errtext="Input/output error"
fi
unset MUST_FAULT

make_refs || { echo "FAIL: the clean runs"; exit 1; }
: >"$T/counts"

# A value the hook does not understand is said, and nothing fails.
work_from world
(cd "$T/w" && MUST_FAULT=3x stage_cmd world) >"$T/fault.log" 2>&1 &&
    grep -q "^must: MUST_FAULT=3x not understood" "$T/fault.log" &&
    same_as_ref world "MUST_FAULT=3x" ||
    { fail "MUST_FAULT=3x: not refused with a word, or the run failed:"; cat "$T/fault.log"; }

# The operations to fail, from a trace on stdin ("... operation N (KIND K)
# on PATH").
choose() {
    awk -v mode="$sweep" -v points="$points" '
    / operation [0-9]+ / {
        n = $4; kind = substr($5, 2); path = $8
        sub(/\.tmp\.[0-9]+$/, "", path)
        key = path; gsub(/[0-9]+/, "#", key)
        if (kind == "write") { if (path in written) key = key " more"; written[path] = 1 }
        key = kind " " key
        if (!(key in seen)) { seen[key] = 1; first[++nc] = n }
        total = n
    }
    END {
        if (mode == "full") for (i = 1; i <= total; i++) print i
        else if (mode ~ /^[0-9]+$/) for (i = 1; i <= total; i += mode) print i
        else if (mode == "classes" || nc <= points) for (i = 1; i <= nc; i++) print first[i]
        else for (i = 0; i < points; i++) print first[int(i * nc / points) + 1]
    }'
}

# One faulted run of STAGE at operation N (STICKY: +, or nothing), its
# checks, and the rerun.
fault_one() { # STAGE N STICKY
    s=$1 n=$2
    work_from $s
    (cd "$T/w" && MUST_FAULT=$n$3$errsuffix stage_cmd $s) >"$T/fault.log" 2>&1
    rc=$?
    what="$s, operation $n$3"
    hit=$(grep "^must: MUST_FAULT: operation $n " "$T/fault.log" |
        sed "s/^must: MUST_FAULT: operation [0-9]* ([a-z]* [0-9]*) on //; s/ fails: .*//")
    grep -v "^must: MUST_FAULT" "$T/fault.log" >"$T/msg.log"
    if [ -z "$hit" ]; then
        fail "$what: never reached (exit $rc)"
        return
    fi
    file=$(echo "$hit" | sed 's/\.tmp\.[0-9]*$//')
    if [ $rc -ne 1 ]; then
        fail "$what ($file): exit status $rc, not 1"
        cat "$T/msg.log"
    elif ! grep -F "$file" "$T/msg.log" | grep -q -F "$errtext"; then
        fail "$what ($file): no message naming the file and '$errtext':"
        cat "$T/msg.log"
    fi
    looks_consistent $s "$what ($file)" 0
    (cd "$T/w" && stage_cmd $s) >"$T/rerun.log" 2>&1 ||
        { fail "$what: the rerun failed:"; cat "$T/rerun.log"; return; }
    same_as_ref $s "$what: the rerun"
}

for s in ${MUST_SWEEP_STAGES:-$STAGES}; do
    work_from $s
    (cd "$T/w" && MUST_FAULT=trace stage_cmd $s) >"$T/trace.log" 2>&1 ||
        { cat "$T/trace.log"; fail "$s: the traced run failed"; continue; }
    same_as_ref $s "$s: the traced run"
    total=$(grep -c "^must: MUST_FAULT: operation " "$T/trace.log")
    counted=$(sed -n 's/^must: MUST_FAULT: \([0-9]*\) operations: .*/\1/p' "$T/trace.log")
    [ "$counted" = "$total" ] || fail "$s: $total operations traced, the total at exit says '$counted'"
    list=$(choose <"$T/trace.log")
    k=0
    f0=$fails
    for n in $list; do
        case ${MUST_FAULT_STICKY:-$((k % 2))} in
        1) fault_one $s $n + ;;
        *) fault_one $s $n "" ;;
        esac
        k=$((k + 1))
    done
    echo "$s: $total operations, $k faults injected, $((fails - f0)) failures"
    echo "$s $total $k $((fails - f0))" >>"$T/counts"
done

# A file over `ulimit -f` (blocks of 512 bytes): EFBIG, named, and a rerun as clean.
for s in ${MUST_SWEEP_STAGES:-$STAGES}; do
    case $s in
    world | images | coco) blocks=1 ;; # their largest files are 0.6 to 1 KiB
    label) blocks=3 ;;                 # its largest files are 1.5 KiB
    *) blocks=8 ;;
    esac
    work_from $s
    (cd "$T/w" && ulimit -f $blocks && stage_cmd $s) >"$T/fault.log" 2>&1
    rc=$?
    if [ $rc -ne 1 ] || ! grep -q "\(run\|out\)/.*File too large" "$T/fault.log"; then
        fail "$s under ulimit -f: exit $rc, not 1 with a message naming the file:"
        cat "$T/fault.log"
    fi
    looks_consistent $s "$s under ulimit -f" 0
    (cd "$T/w" && stage_cmd $s) >"$T/rerun.log" 2>&1 ||
        { fail "$s after ulimit -f: the rerun failed:"; cat "$T/rerun.log"; continue; }
    same_as_ref $s "$s after ulimit -f: the rerun"
done

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "ok"
