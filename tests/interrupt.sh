#!/bin/sh
# interrupt.sh - SIGINT and SIGTERM stop a run at its next step with a
# checkpoint, say so and how to go on, exit 130; the same command resumes
# from that step and finishes.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
T=${MUST_TEST_TMP:-tests/tmp}/interrupt
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*"; kill -9 "$pid" 2>/dev/null; exit 1; }
pid=

sed 's/^steps = 4$/steps = 300/' "$src/tests/data/tiny.ini" >"$T/exp.ini"
# stop UNIT SIGNAL: start the run, wait for UNIT's progress, send SIGNAL.
stop() {
    "$must" run "$T/exp.ini" --out "$T/run" >"$T/$2.log" 2>&1 &
    pid=$!
    # Up to 5 minutes: a sanitizer build on a busy machine is slow to get there.
    for i in $(seq 1 6000); do
        grep -q "^\[$1\] [0-9]*/300" "$T/$2.log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "^\[$1\] [0-9]*/300" "$T/$2.log" || { cat "$T/$2.log"; fail "$1 did not start"; }
    kill -"$2" "$pid"
    wait "$pid"
    rc=$?
    [ $rc -eq 130 ] || { cat "$T/$2.log"; fail "$2: exit $rc, not 130"; }
    grep -q "stopped on request at step [0-9]* of 300, saved in .*resume.safetensors; the same command resumes" "$T/$2.log" ||
        { cat "$T/$2.log"; fail "$2: no word on how to resume"; }
}
stop "teacher seg" INT
[ -s "$T/run/teachers/seg/resume.safetensors" ] || fail "no checkpoint after SIGINT"
step=$(sed -n 's/.*stopped on request at step \([0-9]*\) of 300.*/\1/p' "$T/INT.log")
stop student TERM
grep -q "resuming at step $step of 300" "$T/TERM.log" || { cat "$T/TERM.log"; fail "the teacher did not resume from step $step"; }
"$must" run "$T/exp.ini" --out "$T/run" >"$T/last.log" 2>&1 || { cat "$T/last.log"; fail "the last rerun"; }
grep -q "^\[student\] resuming at step" "$T/last.log" || { cat "$T/last.log"; fail "the student did not resume"; }
[ -s "$T/run/report.md" ] || fail "no report after the resumed run"
echo "ok"
