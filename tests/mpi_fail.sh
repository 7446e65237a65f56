#!/bin/sh
# mpi_fail.sh - a rank that dies or hangs stops the job with an error that
# names it, never a silent hang: one killed with -9 is named by mpirun; one
# stopped (SIGSTOP: a node gone quiet) is named by the others' time-out on
# their collective (MUST_DIST_TIMEOUT seconds), which ends the job.  Either
# way the same command, run again, resumes from the last checkpoint.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
T=${MUST_TEST_TMP:-tests/tmp}/mpi-fail
. "$src/tests/mpi_env.sh"
rm -rf "$T"
mkdir -p "$T"
pid= victim=
fail() {
    echo "FAIL: $*"
    [ -n "$victim" ] && kill -CONT "$victim" 2>/dev/null && kill -9 "$victim" 2>/dev/null
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    exit 1
}
ini=$src/tests/data/mpi.ini
ckpt=teachers/seg/resume.safetensors

# hit DIR LOG SIGNAL: 2 ranks training; once the first checkpoint is there,
# SIGNAL to rank 1's process; waits for mpirun's end (at most 60 s).
hit() {
    "$mpirun" --oversubscribe --bind-to none -np 2 "$must" train "$ini" --teacher seg \
        --out "$1" >"$2" 2>&1 &
    pid=$!
    n=0
    while [ ! -f "$1/$ckpt" ] && [ $n -lt 3000 ]; do
        sleep 0.01
        n=$((n + 1))
    done
    [ -f "$1/$ckpt" ] || { cat "$2"; fail "$1: no checkpoint"; }
    victim=$(ps -o pid= --ppid "$pid" | tail -1)
    [ -n "$victim" ] || fail "$1: no rank process under mpirun"
    kill -"$3" $victim
    n=0
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 600 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    kill -0 "$pid" 2>/dev/null && { cat "$2"; fail "$1: the job still runs 60 s after rank 1 got SIG$3"; }
    wait "$pid"
    rc=$?
    pid=
    [ $rc -ne 0 ] || { cat "$2"; fail "$1: the job ended well after rank 1 got SIG$3"; }
    # A stopped process outlives the job (SIGTERM waits for SIGCONT): ours to end.
    kill -CONT "$victim" 2>/dev/null
    kill -9 "$victim" 2>/dev/null
    victim=
}
resumes() { # DIR
    "$must" train "$ini" --teacher seg --out "$1" >"$1.rerun.log" 2>&1 || { cat "$1.rerun.log"; fail "$1: the rerun"; }
    grep -q "resuming at step [1-9]" "$1.rerun.log" || { cat "$1.rerun.log"; fail "$1: the rerun did not resume"; }
}

hit "$T/dead" "$T/dead.log" KILL
tr '\r' '\n' <"$T/dead.log" | grep -q "rank 1 .*exited on signal 9" || { cat "$T/dead.log"; fail "a dead rank 1 is not named"; }
resumes "$T/dead"

MUST_DIST_TIMEOUT=3
export MUST_DIST_TIMEOUT
hit "$T/hung" "$T/hung.log" STOP
tr '\r' '\n' <"$T/hung.log" | grep -q "must: rank 0: '.*' waited 3 s (MUST_DIST_TIMEOUT) for rank 1, which did not answer" ||
    { cat "$T/hung.log"; fail "a hung rank 1 is not named"; }
unset MUST_DIST_TIMEOUT
resumes "$T/hung"
echo "ok"
