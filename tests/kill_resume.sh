#!/bin/sh
# kill_resume.sh - a training run killed mid-stage and restarted ends with
# the same final weights, byte for byte, as one never interrupted (same
# thread count); a finished unit is skipped; a changed setting redoes it.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}/kill-resume
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
ini=$src/tests/data/kill.ini

# Runs `must ARGS...` in the background and kills it hard as soon as its
# first resume checkpoint FILE is in place.  These runs take half a second
# in all on an idle machine, so the poll is short and there is no grace
# period: a kill that came after the end would test nothing.
kill_after_checkpoint() { # FILE LOG ARGS...
    file=$1 log=$2
    shift 2
    "$must" "$@" >"$log" 2>&1 &
    pid=$!
    n=0
    while [ ! -f "$file" ] && [ $n -lt 3000 ]; do
        sleep 0.01
        n=$((n + 1))
    done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
}

"$must" train "$ini" --teacher seg --out "$tmp/a" >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "uninterrupted run"; }
[ -f "$tmp/a/teachers/seg/model.safetensors" ] || fail "no model after the run"
[ -f "$tmp/a/teachers/seg/resume.safetensors" ] && fail "resume checkpoint left behind"
lines=$(wc -l <"$tmp/a/teachers/seg/loss.csv")
[ "$lines" -eq 25 ] || fail "loss.csv has $lines lines, expected header + 24"

# The same data, so that the second run only trains.
mkdir -p "$tmp/b"
cp -r "$tmp/a/data" "$tmp/b/"
kill_after_checkpoint "$tmp/b/teachers/seg/resume.safetensors" "$tmp/b1.log" \
    train "$ini" --teacher seg --out "$tmp/b"
[ -f "$tmp/b/teachers/seg/model.safetensors" ] && fail "the teacher finished before the kill"
[ -f "$tmp/b/teachers/seg/resume.safetensors" ] || fail "no resume checkpoint after the kill"
# The trainer writes the loss curve, then the checkpoint: a kill between the
# two leaves a curve ahead of the checkpoint.  That state, made on purpose
# in a copy (the curve of the whole run beside the killed run's checkpoint),
# must resume to the same curve and weights.
cp -r "$tmp/b" "$tmp/c"
cp "$tmp/a/teachers/seg/loss.csv" "$tmp/c/teachers/seg/loss.csv"
"$must" train "$ini" --teacher seg --out "$tmp/c" >"$tmp/c.log" 2>&1 || { cat "$tmp/c.log"; fail "resume with a curve ahead"; }
cmp "$tmp/a/teachers/seg/loss.csv" "$tmp/c/teachers/seg/loss.csv" ||
    fail "a curve ahead of the checkpoint was not trimmed on resume"
cmp "$tmp/a/teachers/seg/model.safetensors" "$tmp/c/teachers/seg/model.safetensors" ||
    fail "resume with a curve ahead: weights differ"
"$must" train "$ini" --teacher seg --out "$tmp/b" >"$tmp/b2.log" 2>&1 || { cat "$tmp/b2.log"; fail "resumed run"; }
grep -q "resuming at step" "$tmp/b2.log" || fail "the teacher had nothing to resume"
cmp "$tmp/a/teachers/seg/model.safetensors" "$tmp/b/teachers/seg/model.safetensors" ||
    fail "resumed run's weights differ from the uninterrupted run's"
cmp "$tmp/a/teachers/seg/loss.csv" "$tmp/b/teachers/seg/loss.csv" ||
    fail "resumed run's loss.csv differs"

# Finished: skipped (no training line).
"$must" train "$ini" --teacher seg --out "$tmp/b" >"$tmp/b3.log" 2>&1 || fail "third run"
grep -q "teacher seg\] [0-9]" "$tmp/b3.log" && fail "a finished teacher was trained again"

# A changed setting redoes the unit.
sed 's/^lr = 0.05/lr = 0.04/' "$ini" >"$tmp/changed.ini"
"$must" train "$tmp/changed.ini" --teacher seg --out "$tmp/b" >"$tmp/b4.log" 2>&1 || { cat "$tmp/b4.log"; fail "changed run"; }
grep -q "settings changed" "$tmp/b4.log" || fail "a changed lr did not redo the teacher"
cmp -s "$tmp/a/teachers/seg/model.safetensors" "$tmp/b/teachers/seg/model.safetensors" &&
    fail "a changed lr gave the same weights"

# The student with learned loss weights: killed and resumed, the same
# weights and loss curve (the log-variances and their optimizer state are
# in the resume checkpoint); its loss.csv carries the effective weights.
"$must" train "$ini" --student --out "$tmp/a" >"$tmp/sa.log" 2>&1 || { cat "$tmp/sa.log"; fail "uninterrupted student"; }
sa=$tmp/a/student
[ -f "$sa/model.safetensors" ] || fail "no student model"
head -1 "$sa/loss.csv" | grep -q "^step,lr,loss,segmentation,depth,weight_segmentation,weight_depth$" ||
    fail "student loss.csv header: $(head -1 "$sa/loss.csv")"
tail -1 "$sa/loss.csv" | awk -F, '{ exit !($6 > 0 && $7 > 0 && ($6 != 1 || $7 != 1)) }' ||
    fail "the learned weights did not move: $(tail -1 "$sa/loss.csv")"
grep -q "learned loss weights: segmentation" "$tmp/sa.log" || fail "no learned weights in the log"
grep -a -q "loss.log_var" "$sa/model.safetensors" && fail "log-variances in the final weights"
cp -r "$tmp/a/data/depth" "$tmp/b/data/"
kill_after_checkpoint "$tmp/b/student/resume.safetensors" "$tmp/sb1.log" \
    train "$ini" --student --out "$tmp/b"
[ -f "$tmp/b/student/model.safetensors" ] && fail "the student finished before the kill"
grep -a -q "loss.log_var.depth" "$tmp/b/student/resume.safetensors" ||
    fail "the resume checkpoint lacks the log-variances"
"$must" train "$ini" --student --out "$tmp/b" >"$tmp/sb2.log" 2>&1 || { cat "$tmp/sb2.log"; fail "resumed student"; }
grep -q "resuming at step" "$tmp/sb2.log" || fail "the student had nothing to resume"
cmp "$sa/model.safetensors" "$tmp/b/student/model.safetensors" ||
    fail "resumed student's weights differ from the uninterrupted run's"
cmp "$sa/loss.csv" "$tmp/b/student/loss.csv" || fail "resumed student's loss.csv (weights) differs"

# Usage errors.
"$must" train >/dev/null 2>&1; [ $? -eq 2 ] || fail "train without arguments is not status 2"
"$must" run "$ini" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option is not status 2"
"$must" run "$ini" --stage nope >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown stage is not status 2"
"$must" run --help | grep -q "stage" || fail "run --help"
echo "ok"
