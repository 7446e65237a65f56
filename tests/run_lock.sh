#!/bin/sh
# run_lock.sh - one writer per run directory: while a `must run` works in
# RUN, a second one (run, train, label, or eval --out RUN) is refused naming
# the first's PID; after the first is killed with -9 the lock is gone (the
# kernel releases it) and a rerun resumes.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
T=${MUST_TEST_TMP:-tests/tmp}/run-lock
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*"; kill -9 "$pid" 2>/dev/null; exit 1; }
pid=

# A teacher long enough to be caught at work.
sed 's/^steps = 4$/steps = 4000/' "$src/tests/data/tiny.ini" >"$T/long.ini"
"$must" run "$T/long.ini" --out "$T/run" >"$T/first.log" 2>&1 &
pid=$!
# Up to 5 minutes: a sanitizer build on a busy machine is slow to get there.
for i in $(seq 1 3000); do
    grep -q "^\[teacher seg\] [0-9]*/4000" "$T/first.log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "^\[teacher seg\] [0-9]*/4000" "$T/first.log" || { cat "$T/first.log"; fail "the first run did not start training"; }
for cmd in "run" "train --teacher seg" "label" "eval --model $T/none --task segmentation --data seg"; do
    # shellcheck disable=SC2086
    "$must" $cmd "$T/long.ini" --out "$T/run" >"$T/second.log" 2>&1
    rc=$?
    [ $rc -eq 1 ] || { cat "$T/second.log"; fail "must $cmd beside a running one exited $rc, not 1"; }
    grep -q "is in use by process $pid " "$T/second.log" ||
        { cat "$T/second.log"; fail "must $cmd: the message does not name process $pid"; }
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
# A write the kill cut off leaves NAME.tmp.PID behind (made here, as the
# kill's timing cannot be chosen); the next holder of the lock removes them.
mkdir -p "$T/run/teachers/seg" "$T/run/data/seg/labels"
echo cut >"$T/run/teachers/seg/model.safetensors.tmp.$pid"
echo cut >"$T/run/data/seg/labels/segmentation.txt.tmp.77"
echo keep >"$T/run/notes.tmp.txt"
# The lock died with its holder: a rerun (shorter now) resumes the run.
sed 's/^steps = 4000$/steps = 4/' "$T/long.ini" >"$T/short.ini"
"$must" run "$T/short.ini" --out "$T/run" >"$T/third.log" 2>&1 || { cat "$T/third.log"; fail "the rerun after a kill"; }
grep -q "in use" "$T/third.log" && fail "a killed run's lock blocked the rerun"
left=$(find "$T/run" -name '*.tmp.[0-9]*')
[ -z "$left" ] || fail "temporaries left after the rerun: $left"
[ -f "$T/run/notes.tmp.txt" ] || fail "a file that is not a temporary was removed"
echo "ok"
