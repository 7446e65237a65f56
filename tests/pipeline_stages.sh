#!/bin/sh
# pipeline_stages.sh - `must run --stage X` writes exactly its outputs and a
# second call skips; a changed key redoes exactly the units the docs say;
# the supervised multi-task baseline zeroes a missing task's loss and samples
# its sets equally; `must eval` gives the numbers the run wrote and clear
# errors for bad input; file:<path> representations; a diverging run stops
# naming the task and step and leaves a loadable checkpoint.
#
# How a skip is told: every file a unit wrote keeps its inode and its
# modification time to the nanosecond (files are only ever replaced by
# rename, so a rewrite shows), and the log has no progress line.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}/pipeline-stages
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
ini=$src/tests/data/stages.ini
R=$tmp/run

# Every file of the run but experiment.ini (each call records the file it
# ran), the lock (each call writes its pid) and the report's outputs: path, inode, mtime.
snap() {
    (cd "$R" && find . -type f ! -name experiment.ini ! -name .lock ! -name report.md ! -name 'results.*' \
        ! -name 'fig*.png' ! -path './curves/*' | LC_ALL=C sort | xargs stat -c '%n %i %y')
}
listing() { (cd "$1" && LC_ALL=C ls | tr '\n' ' '); }
trained() { grep -q "\] [0-9]*/[0-9]* " "$1"; }
stage() { # stage NAME LOG [INI]
    "$must" run "${3:-$ini}" --stage "$1" --out "$R" >"$2" 2>&1 || { cat "$2"; fail "--stage $1"; }
}
# A second call of the stage: nothing trained or rewritten.
again() {
    snap >"$tmp/before"
    stage "$1" "$tmp/$1-again.log"
    trained "$tmp/$1-again.log" && fail "a second --stage $1 trained or labelled again"
    snap >"$tmp/after"
    cmp -s "$tmp/before" "$tmp/after" || { diff "$tmp/before" "$tmp/after"; fail "a second --stage $1 rewrote files"; }
}

# ---- A dry run lists every unit and writes nothing. ----
"$must" run "$ini" --out "$R" --dry-run >"$tmp/dry0.log" 2>&1 || { cat "$tmp/dry0.log"; fail "first dry run"; }
[ -e "$R" ] && fail "--dry-run created $R"
grep -q "^\[run\] stages into $R: to do 4 of 4 data sets, 2 of 2 teachers, 1 of 1 label sets, 2 of 2 students, 4 of 4 transfer cells\$" \
    "$tmp/dry0.log" || { cat "$tmp/dry0.log"; fail "first dry run's summary"; }
[ "$(grep -c '^  ' "$tmp/dry0.log")" -eq 13 ] || fail "first dry run does not list 13 units"

# ---- Stages, in order: each adds exactly its own directories. ----
stage teachers "$tmp/teachers.log"
[ "$(listing "$R")" = "data experiment.ini teachers " ] || fail "after teachers: $(listing "$R")"
[ "$(listing "$R/data")" = "depth seg " ] || fail "teachers rendered $(listing "$R/data")"
for t in seg depth; do
    [ "$(listing "$R/teachers/$t")" = "done hash loss.csv model.safetensors val.txt " ] ||
        fail "teachers/$t holds $(listing "$R/teachers/$t")"
done
again teachers

stage label "$tmp/label.log"
[ "$(listing "$R")" = "data experiment.ini label teachers " ] || fail "after label: $(listing "$R")"
[ "$(listing "$R/data")" = "depth seg unl " ] || fail "label rendered $(listing "$R/data")"
[ "$(listing "$R/label/unl")" = "done hash part-000 quality.txt " ] || fail "label/unl: $(listing "$R/label/unl")"
again label

stage student "$tmp/student.log"
[ "$(listing "$R")" = "data experiment.ini label multitask student teachers " ] ||
    fail "after student: $(listing "$R")"
for u in student multitask; do
    [ "$(listing "$R/$u")" = "done hash loss.csv model.safetensors " ] || fail "$u holds $(listing "$R/$u")"
done
again student

stage transfer "$tmp/transfer.log"
[ "$(listing "$R")" = "data experiment.ini label multitask student teachers transfer " ] ||
    fail "after transfer: $(listing "$R")"
[ "$(listing "$R/transfer")" = "multitask must random supervised-seg " ] || fail "transfer: $(listing "$R/transfer")"
for rep in multitask must random supervised-seg; do
    [ "$(listing "$R/transfer/$rep/dseg/lr-0.05")" = "eval-2.txt eval-4.txt loss.csv model.safetensors " ] ||
        fail "transfer/$rep: $(listing "$R/transfer/$rep/dseg/lr-0.05")"
    [ -f "$R/transfer/$rep/dseg/done" ] || fail "transfer/$rep not done"
done
again transfer

snap >"$tmp/before"
stage report "$tmp/report.log"
trained "$tmp/report.log" && fail "the report stage trained"
snap >"$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || fail "the report stage rewrote a unit"
for f in report.md results.json results.csv fig2-pseudo-labels.png fig4-student-predictions.png \
         fig5-transfer-gains.png; do
    [ -s "$R/$f" ] || fail "the report stage did not write $f"
done
for rep in random "supervised:seg (baseline)" multitask must; do
    grep -q "^| $rep |" "$R/report.md" || fail "no report row for $rep"
done
again report
"$must" run "$ini" --out "$R" --dry-run >"$tmp/dry1.log" 2>&1 || fail "dry run after the stages"
grep -q "^\[run\] stages into $R: every unit is done; the report only\$" "$tmp/dry1.log" ||
    { cat "$tmp/dry1.log"; fail "a finished run still has units to do"; }

# ---- [multitask]: one image per step from two sets (20 and 8 training
# images) that lack each other's labels.  The task an image has no label
# for has a loss of exactly 0; balanced sampling gives each pair of steps
# one image of each set (uniform sampling over the union would give about
# 5 seg images in 7).
awk -F, 'NR == 1 { if ($0 != "step,lr,loss,segmentation,depth") { print "header " $0; bad = 1 }; next }
    { z = ($4 == 0) + ($5 == 0)
      if (z != 1) { print "not exactly one task zeroed: " $0; bad = 1 }
      if ($3 != $4 + $5) { print "total is not the one task: " $0; bad = 1 }
      kind = $4 == 0 ? "depth" : "seg"
      if (NR % 2 == 0) first = kind
      else if (kind == first) { print "steps " NR - 2 ", " NR - 1 " both " kind; bad = 1 }
      n[kind]++ }
    END { if (n["seg"] != 12 || n["depth"] != 12) { print n["seg"] " seg, " n["depth"] " depth"; bad = 1 }
          exit bad }' "$R/multitask/loss.csv" || fail "multitask loss.csv"

# ---- must eval: the numbers the transfer wrote after its last step. ----
lr0=$R/transfer/supervised-seg/dseg/lr-0.05
grep -q "^metrics miou pixel_acc$" "$lr0/eval-4.txt" || fail "eval-4.txt does not name its metrics"
for split in val test; do
    out=$("$must" eval "$ini" --model "$lr0/model.safetensors" --task segmentation --data down \
          --split $split --out "$R" 2>"$tmp/eval.err") || { cat "$tmp/eval.err"; fail "eval $split"; }
    got=$(echo "$out" | sed 's/.*"split":"[a-z]*",//; s/}//' | tr ',' '\n' | sed 's/.*://' | tr '\n' ' ')
    want=$(grep "^$split " "$lr0/eval-4.txt" | cut -d' ' -f2-)
    echo "$got | $want" | awk -F'|' '{ n = split($1, a, " "); m = split($2, b, " ")
        if (n != m || n < 2) exit 1
        for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d
            s = b[i] < 0 ? -b[i] : b[i]; if (s < 1) s = 1
            if (d > 1e-5 * s) exit 1 } }' || fail "eval $split gave '$got', the run wrote '$want'"
done
# must eval reads a run; it must not rewrite the record of what the run ran.
cp "$R/experiment.ini" "$tmp/recorded.ini"
{ cat "$ini"; printf '\n# an edited copy\n'; } >"$tmp/edited.ini"
"$must" eval "$tmp/edited.ini" --model "$lr0/model.safetensors" --task segmentation --data down \
    --split val --out "$R" >/dev/null 2>"$tmp/eval.err" || { cat "$tmp/eval.err"; fail "eval edited"; }
cmp -s "$R/experiment.ini" "$tmp/recorded.ini" || fail "must eval rewrote $R/experiment.ini"
# Without --out, eval reads the default run-NAME and writes nothing: in a
# folder without that run it says the set is not rendered.
mkdir -p "$tmp/elsewhere"
(cd "$tmp/elsewhere" && "$must" eval "$ini" --model "$lr0/model.safetensors" --task segmentation \
    --data down >/dev/null 2>"$tmp/ro.err")
[ $? -eq 1 ] || fail "eval without --out and without a run did not fail"
grep -q "not rendered in run-stages" "$tmp/ro.err" || { cat "$tmp/ro.err"; fail "no reason given"; }
[ "$(listing "$tmp/elsewhere")" = "" ] || fail "eval without --out wrote $(listing "$tmp/elsewhere")"
# A unit asked for by name that is done already says so.
"$must" train "$ini" --teacher seg --out "$R" >"$tmp/done.log" 2>&1 || fail "train a done teacher"
grep -q "^\[teacher seg\] done already" "$tmp/done.log" || { cat "$tmp/done.log"; fail "silence for a done teacher"; }
# Bad input: a clear message naming what is wrong, status 1 (2: usage).
bad_eval() { # STATUS TEXT ARGS...
    st=$1 text=$2
    shift 2
    "$must" eval "$ini" --out "$R" "$@" >/dev/null 2>"$tmp/bad.err"
    rc=$?
    [ $rc -eq "$st" ] || { cat "$tmp/bad.err"; fail "eval $* exited $rc, not $st"; }
    grep -qF -- "$text" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "eval $*: no '$text' in the message"; }
}
bad_eval 1 "$R/nope.safetensors" --model "$R/nope.safetensors" --task segmentation --data down
bad_eval 1 "$lr0/model.safetensors" --model "$lr0/model.safetensors" --task depth --data depth
bad_eval 1 "has no depth labels" --model "$R/teachers/depth/model.safetensors" --task depth --data down
bad_eval 1 "$R/teachers/seg/model.safetensors" --model "$R/teachers/seg/model.safetensors" \
    --task segmentation --data down
bad_eval 2 "no [task.nosuch]" --model "$lr0/model.safetensors" --task nosuch --data down
bad_eval 2 "no [data.nosuch]" --model "$lr0/model.safetensors" --task segmentation --data nosuch
head -c 300 "$lr0/model.safetensors" >"$tmp/cut.safetensors"
bad_eval 1 "$tmp/cut.safetensors" --model "$tmp/cut.safetensors" --task segmentation --data down
echo "not a checkpoint at all" >"$tmp/text.safetensors"
bad_eval 1 "$tmp/text.safetensors" --model "$tmp/text.safetensors" --task segmentation --data down
: >"$tmp/empty.safetensors"
bad_eval 1 "$tmp/empty.safetensors" --model "$tmp/empty.safetensors" --task segmentation --data down

# ---- file:<path> representations: the seg teacher's weights under another
# name transfer exactly as supervised:seg does. ----
mkdir -p "$tmp/file"
cp "$R/teachers/seg/model.safetensors" "$tmp/file/teacher-seg.safetensors"
fini=$tmp/file/file.ini
sed 's/^representations = .*/representations = random, supervised:seg, file:teacher-seg.safetensors/' "$ini" >"$fini"
"$must" run "$fini" --out "$R" >"$tmp/file.log" 2>&1 || { cat "$tmp/file.log"; fail "run with a file: representation"; }
grep -q "^| file:teacher-seg.safetensors |" "$R/report.md" || fail "no report row for the file"
row() { grep "^transfer,$1,dseg," "$R/results.csv" | cut -d, -f7,8; }
[ -n "$(row supervised:seg)" ] && [ "$(row file:teacher-seg.safetensors)" = "$(row supervised:seg)" ] ||
    fail "file row '$(row file:teacher-seg.safetensors)' is not supervised:seg's '$(row supervised:seg)'"
grep -q "\[transfer random" "$tmp/file.log" && fail "the random row was trained again"
# Other weights under the same name: that row is redone.
cp "$R/teachers/depth/model.safetensors" "$tmp/file/teacher-seg.safetensors"
"$must" run "$fini" --out "$R" >"$tmp/file2.log" 2>&1 || { cat "$tmp/file2.log"; fail "run with a replaced file"; }
grep -q "transfer file:teacher-seg.safetensors dseg\] settings changed" "$tmp/file2.log" ||
    fail "a replaced file did not redo its transfer"
# A bad file fails before anything trains, in a fresh run directory.
bad_file() { # SPEC TEXT
    sed "s|^representations = .*|representations = random, $1|" "$ini" >"$tmp/file/bad.ini"
    rm -rf "$tmp/file/badrun"
    "$must" run "$tmp/file/bad.ini" --out "$tmp/file/badrun" >"$tmp/bad.log" 2>"$tmp/bad.err"
    rc=$?
    [ $rc -eq 1 ] || { cat "$tmp/bad.err"; fail "$1: exit $rc, not 1"; }
    grep -qF -- "$2" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "$1: no '$2' in the message"; }
    trained "$tmp/bad.log" && fail "$1: trained before failing"
    [ "$(listing "$tmp/file/badrun")" = "experiment.ini " ] || fail "$1: wrote $(listing "$tmp/file/badrun")"
}
bad_file file:nope.safetensors "no such file $tmp/file/nope.safetensors"
head -c 1000 "$R/teachers/seg/model.safetensors" >"$tmp/file/cut.safetensors"
bad_file file:cut.safetensors "$tmp/file/cut.safetensors"
bad_file file:../text.safetensors "text.safetensors"

# ---- A changed key redoes exactly what depends on it. ----
units="data/seg data/depth data/unl data/down teachers/seg teachers/depth label/unl student multitask
       transfer/random/dseg transfer/supervised-seg/dseg transfer/multitask/dseg transfer/must/dseg"
done_state() { for u in $units; do echo "$u $(stat -c '%i %y' "$R/$u/done")"; done; }
# $1: the changed INI, $2: the units that must be redone (every other stays).
# `must run --dry-run` must name exactly those units first, and write nothing.
redo() {
    "$must" run "$1" --out "$R" --dry-run >"$tmp/dry.log" 2>&1 || { cat "$tmp/dry.log"; fail "dry run $1"; }
    got=$(sed -n 's/^  //p' "$tmp/dry.log" | LC_ALL=C sort | tr '\n' ' ')
    exp=$(for u in $2; do echo "$u"; done | LC_ALL=C sort | tr '\n' ' ')
    [ "$got" = "$exp" ] || fail "$1: --dry-run names '$got', not '$exp'"
    done_state >"$tmp/d0"
    "$must" run "$1" --out "$R" >"$tmp/redo.log" 2>&1 || { cat "$tmp/redo.log"; fail "run $1"; }
    done_state >"$tmp/d1"
    want=" $(echo $2) "
    for u in $units; do
        same=0
        [ "$(grep "^$u " "$tmp/d0")" = "$(grep "^$u " "$tmp/d1")" ] && same=1
        case $want in
        *" $u "*) [ $same -eq 0 ] || fail "$1: $u was not redone" ;;
        *) [ $same -eq 1 ] || fail "$1: $u was redone" ;;
        esac
    done
}
sed '/^\[student\]/,/^\[/ s/^lr = 0.05/lr = 0.04/' "$ini" >"$tmp/student-lr.ini"
redo "$tmp/student-lr.ini" "student transfer/must/dseg"
sed '/^\[teacher.seg\]/,/^\[/ s/^steps = 6/steps = 7/' "$tmp/student-lr.ini" >"$tmp/teacher-steps.ini"
redo "$tmp/teacher-steps.ini" "teachers/seg label/unl student multitask transfer/supervised-seg/dseg
      transfer/multitask/dseg transfer/must/dseg"
grep -q "\[teacher seg\] settings changed" "$tmp/redo.log" || fail "no 'settings changed' line"
# A [student.NAME] reads only its own teachers' pseudo labels: a change to
# another teacher relabels the set and leaves it alone.
# (Its row must:d makes a whole run train it: units no row needs are not run.)
{ sed 's/^representations = .*/&, must:d/' "$tmp/teacher-steps.ini"
  printf '[student.d]\nteachers = depth\ndata = unl\nsteps = 4\nbatch = 4\nlr = 0.05\n'; } >"$tmp/with-d.ini"
"$must" run "$tmp/with-d.ini" --out "$R" >"$tmp/with-d.log" 2>&1 || { cat "$tmp/with-d.log"; fail "run with-d.ini"; }
units="$units student-d transfer/must-d/dseg"
sed '/^\[teacher.seg\]/,/^\[/ s/^steps = 7/steps = 8/' "$tmp/with-d.ini" >"$tmp/seg-8.ini"
redo "$tmp/seg-8.ini" "teachers/seg label/unl student multitask transfer/supervised-seg/dseg
      transfer/multitask/dseg transfer/must/dseg"
sed '/^\[teacher.depth\]/,/^\[/ s/^steps = 6/steps = 7/' "$tmp/seg-8.ini" >"$tmp/depth-7.ini"
redo "$tmp/depth-7.ini" "teachers/depth label/unl student student-d multitask transfer/multitask/dseg
      transfer/must/dseg transfer/must-d/dseg"
# An option that shapes pseudo labels only (segmentation's threshold)
# relabels the set and retrains what reads the labels, not the teacher; the
# depth-only student reads none of the segmentation labels.
sed '/^\[task.segmentation\]/a threshold = 0.4' "$tmp/depth-7.ini" >"$tmp/thr.ini"
redo "$tmp/thr.ini" "label/unl student transfer/must/dseg"

# ---- A diverging loss: lr 100 with weight decay 1 grows the weights a
# hundredfold a step until they overflow. ----
nan=$tmp/nan
mkdir -p "$nan/data"
cp -r "$R/data/seg" "$nan/data/"
sed '/^\[teacher.seg\]/,/^\[/ { s/^lr = 0.05/lr = 100/; s/^steps = 6/steps = 40\nschedule = constant\ncheckpoint_every = 1\nweight_decay = 1\nmomentum = 0/ }' \
    "$ini" >"$nan/nan.ini"
"$must" run "$nan/nan.ini" --stage teachers --out "$nan" >"$nan/log" 2>"$nan/err"
rc=$?
[ $rc -eq 1 ] || { cat "$nan/err"; fail "a diverging run exited $rc, not 1"; }
msg=$(cat "$nan/err")
echo "$msg" | grep -q "teacher seg" || fail "no stage in: $msg"
echo "$msg" | grep -q "'segmentation'" || fail "no task in: $msg"
step=$(echo "$msg" | sed -n 's/.* at step \([0-9]*\).*/\1/p; s/.* after step \([0-9]*\).*/\1/p' | head -1)
good=$(echo "$msg" | sed -n 's/.*last good checkpoint (step \([0-9]*\)) is .*/\1/p')
[ -n "$step" ] && [ -n "$good" ] || fail "no step or checkpoint in: $msg"
[ "$good" -eq $((step - 1)) ] || fail "the last good checkpoint is $good, the failing step $step"
seg=$nan/teachers/seg
echo "$msg" | grep -qF "$seg/resume.safetensors" || fail "the checkpoint is not named: $msg"
[ -f "$seg/model.safetensors" ] && fail "a diverged teacher wrote its model"
[ -f "$seg/done" ] && fail "a diverged teacher is marked done"
[ "$(wc -l <"$seg/loss.csv")" -eq $((good + 1)) ] || fail "loss.csv does not end at the checkpoint"
grep -qi "nan\|inf" "$seg/loss.csv" && fail "a non-finite loss in loss.csv"
out=$("$must" eval "$nan/nan.ini" --model "$seg/resume.safetensors" --task segmentation --data seg \
      --split val --out "$nan" 2>&1) || fail "the last good checkpoint does not load: $out"
echo "$out" | sed 's/.*"split":"[a-z]*",//' | grep -qi "nan\|inf" &&
    fail "the last good checkpoint evaluates to $out"
# A rerun resumes from it and stops the same way.
"$must" run "$nan/nan.ini" --stage teachers --out "$nan" >"$nan/log2" 2>"$nan/err2"
[ $? -eq 1 ] || fail "the rerun of a diverging teacher did not fail"
grep -q "resuming at step $good of 40" "$nan/log2" || fail "the rerun did not resume from step $good"
cmp -s "$nan/err" "$nan/err2" || fail "the rerun stopped differently: $(cat "$nan/err2")"

# Downstream tasks only: a plain `must run` does what the [compare] rows
# need (random init on one task) and nothing else: no teacher, no labels,
# no student, and the teachers' sets are not rendered.
tonly=$tmp/tonly
mkdir -p "$tonly"
sed -e 's/^representations = .*/representations = random/' -e 's/^name = stages/name = tonly/' \
    "$ini" >"$tonly/tonly.ini"
"$must" run "$tonly/tonly.ini" --out "$tonly/run" >"$tonly/log" 2>&1 || { cat "$tonly/log"; fail "a transfer-only run"; }
grep -q "to do 1 of 1 data sets, 1 of 1 transfer cells" "$tonly/log" || { cat "$tonly/log"; fail "the plan of a transfer-only run"; }
[ "$(listing "$tonly/run")" = "curves data experiment.ini fig5-transfer-gains.png report.md results.csv results.json transfer " ] ||
    fail "a transfer-only run wrote $(listing "$tonly/run")"
[ "$(listing "$tonly/run/data")" = "down " ] || fail "a transfer-only run rendered $(listing "$tonly/run/data")"
grep -q "^| random (baseline) |" "$tonly/run/report.md" || fail "no random row in the report"
# No pseudo labels, no student: no empty sections for them.
grep -q "^## Pseudo\|^## Student loss weights\|^## The teachers" "$tonly/run/report.md" &&
    fail "a transfer-only report has sections for what it did not run"
echo "ok"
