#!/bin/sh
# mpi_train.sh - data-parallel training (docs/scale-out.md): 2 ranks with
# sync_bn compute what one process computes, within 1e-4 relative in every
# step's losses (a teacher over 50 steps; a student with two tasks and
# learned loss weights) and in the final weights (BN's running statistics
# within 1e-3: see tests/ckpt_diff.c); a checkpoint made by 2
# ranks stopped on request resumes with 1 process, and one made by 1
# process with 2 ranks, to the same curve and weights.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
diff=${MUST_BUILDDIR:-.}/tests/ckpt_diff
T=${MUST_TEST_TMP:-tests/tmp}/mpi-train
. "$src/tests/mpi_env.sh"
rm -rf "$T"
mkdir -p "$T"
pid=
fail() { echo "FAIL: $*"; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; exit 1; }
ini=$src/tests/data/mpi.ini
seg=teachers/seg

"$must" train "$ini" --teacher seg --out "$T/one" >"$T/one.log" 2>&1 || { cat "$T/one.log"; fail "1 process"; }
"$must" train "$ini" --student --out "$T/one" >"$T/one-s.log" 2>&1 || { cat "$T/one-s.log"; fail "1 process, student"; }
# The same data sets (rendered once), so that the other runs only train.
for d in two r21 r12; do
    mkdir -p "$T/$d"
    cp -r "$T/one/data" "$T/$d/"
done

mpi 2 train "$ini" --teacher seg --out "$T/two" >"$T/two.log" 2>&1 || { cat "$T/two.log"; fail "2 ranks"; }
# Progress from rank 0 alone (mpirun gives the ranks a terminal: \r lines).
[ "$(tr '\r' '\n' <"$T/two.log" | grep -c "\[teacher seg\] 50/50 ")" -eq 1 ] ||
    { cat "$T/two.log"; fail "not one progress line for the last step"; }
close "$T/one/$seg/loss.csv" "$T/two/$seg/loss.csv" 1e-4 || fail "teacher: 2 ranks' losses differ from 1 process's"
"$diff" "$T/one/$seg/model.safetensors" "$T/two/$seg/model.safetensors" 1e-4 1e-3 ||
    fail "teacher: 2 ranks' weights differ from 1 process's"
mpi 2 train "$ini" --student --out "$T/two" >"$T/two-s.log" 2>&1 || { cat "$T/two-s.log"; fail "2 ranks, student"; }
close "$T/one/student/loss.csv" "$T/two/student/loss.csv" 1e-4 ||
    fail "student: 2 ranks' losses or loss weights differ from 1 process's"
"$diff" "$T/one/student/model.safetensors" "$T/two/student/model.safetensors" 1e-4 1e-3 ||
    fail "student: 2 ranks' weights differ from 1 process's"

# stop DIR LOG N: `must train` on N ranks (0: one process, no mpirun),
# SIGINT to one process once the first checkpoint is there.
stop() {
    if [ "$3" -eq 0 ]; then
        "$must" train "$ini" --teacher seg --out "$1" >"$2" 2>&1 &
    else
        "$mpirun" --oversubscribe --bind-to none -np "$3" "$must" train "$ini" --teacher seg \
            --out "$1" >"$2" 2>&1 &
    fi
    pid=$!
    n=0
    while [ ! -f "$1/$seg/resume.safetensors" ] && [ $n -lt 3000 ]; do
        sleep 0.01
        n=$((n + 1))
    done
    [ -f "$1/$seg/resume.safetensors" ] || { cat "$2"; fail "$1: no checkpoint"; }
    victim=$pid
    # Under mpirun: the last rank's process, which alone hears the signal.
    [ "$3" -eq 0 ] || victim=$(ps -o pid= --ppid "$pid" | tail -1)
    kill -INT $victim
    wait "$pid"
    rc=$?
    pid=
    [ $rc -ne 0 ] || { cat "$2"; fail "$1: the run finished before the stop"; }
    grep -q "stopped on request at step [0-9]* of 50" "$2" || { cat "$2"; fail "$1: did not stop on request"; }
}
stop "$T/r21" "$T/r21-stop.log" 2
"$must" train "$ini" --teacher seg --out "$T/r21" >"$T/r21.log" 2>&1 || { cat "$T/r21.log"; fail "2-rank checkpoint resumed by 1 process"; }
grep -q "resuming at step" "$T/r21.log" || { cat "$T/r21.log"; fail "1 process did not resume the 2 ranks' checkpoint"; }
close "$T/one/$seg/loss.csv" "$T/r21/$seg/loss.csv" 1e-4 || fail "2 ranks then 1: losses differ"
"$diff" "$T/one/$seg/model.safetensors" "$T/r21/$seg/model.safetensors" 1e-4 1e-3 || fail "2 ranks then 1: weights differ"

stop "$T/r12" "$T/r12-stop.log" 0
mpi 2 train "$ini" --teacher seg --out "$T/r12" >"$T/r12.log" 2>&1 || { cat "$T/r12.log"; fail "1-process checkpoint resumed by 2 ranks"; }
grep -q "resuming at step" "$T/r12.log" || { cat "$T/r12.log"; fail "2 ranks did not resume the 1 process's checkpoint"; }
close "$T/one/$seg/loss.csv" "$T/r12/$seg/loss.csv" 1e-4 || fail "1 process then 2 ranks: losses differ"
"$diff" "$T/one/$seg/model.safetensors" "$T/r12/$seg/model.safetensors" 1e-4 1e-3 || fail "1 process then 2 ranks: weights differ"
echo "ok"
