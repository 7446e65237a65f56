#!/bin/sh
# init_run.sh - `init = ...` through `must run`: a teacher and the
# multi-task baseline start from another teacher (trained first, said in
# the log), a student from a file; changing a unit's init redoes that unit
# and what reads it; a loop and a missing file are refused before anything
# runs.  (tests/test_init.c checks the loaded tensors one by one.)
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}/init-run
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
ini=$tmp/init.ini
# tests/data/tiny.ini plus a classification teacher and [multitask].
sed -e 's/^\[teacher.seg\]/[teacher.seg]\ninit = supervised:cls/' \
    -e 's/^representations = random, must/representations = random, must, multitask/' \
    "$src/tests/data/tiny.ini" >"$ini"
cat >>"$ini" <<'INI'
[data.cls]
world = teach-cls
count = 16
size = 32
[task.classification]
[teacher.cls]
task = classification
data = cls
steps = 3
batch = 4
[multitask]
steps = 3
batch = 4
init = supervised:cls
INI
"$must" run "$ini" --out "$tmp/r" >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "the run"; }
for who in "teacher seg" multitask; do
    grep -q "^\[$who\] starts from supervised:cls: [0-9]* backbone tensors" "$tmp/a.log" ||
        { cat "$tmp/a.log"; fail "no 'starts from' line for [$who]"; }
done
# cls before seg: the teacher seg starts from is trained first.
c=$(grep -n '^\[teacher cls\]' "$tmp/a.log" | head -1 | cut -d: -f1)
s=$(grep -n '^\[teacher seg\] starts' "$tmp/a.log" | head -1 | cut -d: -f1)
[ -n "$c" ] && [ -n "$s" ] && [ "$c" -lt "$s" ] || fail "teacher cls not trained before seg starts"

# The student from a file (the multitask model): only the student and
# what reads it are redone.
sed 's|^\[student\]|[student]\ninit = file:r/multitask/model.safetensors|' "$ini" >"$tmp/file.ini"
"$must" run "$tmp/file.ini" --out "$tmp/r" --dry-run >"$tmp/plan.log" 2>&1 ||
    { cat "$tmp/plan.log"; fail "--dry-run with a file init"; }
grep -q "^  student$" "$tmp/plan.log" || { cat "$tmp/plan.log"; fail "the student is not redone"; }
grep -q "^  teacher" "$tmp/plan.log" && { cat "$tmp/plan.log"; fail "a teacher is redone"; }
"$must" run "$tmp/file.ini" --out "$tmp/r" >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; fail "file init run"; }
grep -q "^\[student\] starts from file:r/multitask/model.safetensors" "$tmp/b.log" ||
    { cat "$tmp/b.log"; fail "no 'starts from' line for the student"; }

# Mistakes, before anything runs.
sed 's|^\[student\]|[student]\ninit = file:nothere.safetensors|' "$ini" >"$tmp/missing.ini"
"$must" run "$tmp/missing.ini" --out "$tmp/m" >"$tmp/m.log" 2>&1 && fail "a missing init file ran"
grep -q "\[student\] init: no such file" "$tmp/m.log" || { cat "$tmp/m.log"; fail "missing file message"; }
[ -d "$tmp/m/teachers" ] && fail "work started before the missing init file was reported"
sed 's|^\[teacher.cls\]|[teacher.cls]\ninit = must|' "$ini" >"$tmp/loop.ini"
"$must" run "$tmp/loop.ini" --out "$tmp/l" >"$tmp/l.log" 2>&1 && fail "an init loop ran"
grep -q "init: .* needs this model trained first: .*\[teacher.cls\] -> \[student\]" "$tmp/l.log" ||
    { cat "$tmp/l.log"; fail "loop message"; }
exit 0
