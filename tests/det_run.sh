#!/bin/sh
# det_run.sh - a detection teacher through `must run` (tests/data/det-run.ini):
# pseudo boxes written on the unlabelled set and scored against the hidden
# truth, a student with detection among its tasks, transfer to down-det, and
# the report's detection column, quality rows and figures, every number
# finite.  How good the boxes are is not asserted (20 steps at 32x32).
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}/det-run
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
run=$tmp/run
num='-?[0-9]+(\.[0-9]+)?'

"$must" run "$src/tests/data/det-run.ini" --out "$run" >"$tmp/log" 2>&1 ||
    { tail -30 "$tmp/log"; fail "must run det-run.ini"; }
for f in report.md results.json results.csv fig2-pseudo-labels.png fig4-student-predictions.png \
         fig5-transfer-gains.png teachers/det/model.safetensors student/model.safetensors \
         label/unlabelled/quality.txt label/unlabelled/part-000/labels/detection.txt; do
    [ -s "$run/$f" ] || fail "missing or empty $f"
done
grep -qiE 'nan|inf' "$run/report.md" "$run/results.csv" "$run/label/unlabelled/quality.txt" &&
    fail "a number is not finite: $(grep -iE 'nan|inf' "$run/report.md" "$run/results.csv")"

# Pseudo boxes on the unlabelled set, with their scores, in a set that
# passes the checker and says where its labels come from.
part=$run/label/unlabelled/part-000
grep -qE "^[0-9]+ $num $num $num $num [0-9]+ $num\$" "$part/labels/detection.txt" ||
    fail "no pseudo box with a score: $(head -3 "$part/labels/detection.txt")"
"$must" dataset check "$part" >"$tmp/check" 2>&1 || { cat "$tmp/check"; fail "pseudo set fails the check"; }
sed -n '/^\[detection\]/,/^\[/p' "$part/dataset.ini" | grep -q "source = pseudo" ||
    fail "the detection labels do not say they are pseudo labels"

# report.md: the detection column, one row per representation; the
# detection teacher's quality row; the figures.
grep -q "^| representation | det (AP50, [0-9]* test) |" "$run/report.md" || fail "no det (AP50) column"
for r in "random \(baseline\)" must must:cd; do
    grep -qE "^\| $r \| $num( \([-+]$num(; \[[-+]$num, [-+]$num\]( \*)?)?\))? \|\$" "$run/report.md" ||
        fail "no finite det cell for $r: $(grep -E "^\| $r" "$run/report.md")"
done
grep -qE "^\| unlabelled \| det \| detection \| 80 \| AP50 \| $num \| — \| $num% \| AP50 $num, AP $num, AP75 $num \|\$" \
    "$run/report.md" || fail "no quality row for the det teacher: $(grep "| det |" "$run/report.md")"
grep -q "(fig2-pseudo-labels.png)" "$run/report.md" || fail "figure 2 not in the report"
grep -q "(fig4-student-predictions.png)" "$run/report.md" || fail "figure 4 not in the report"
grep -q "^- det (detection): " "$run/report.md" || fail "no loss weight for det"

# results.csv: the transfer cells and the quality scores of detection.
for r in random must must:cd; do
    grep -qE "^transfer,$r,det,down-det,AP50,0,$num,$num," "$run/results.csv" ||
        fail "results.csv: no transfer row for $r"
done
for m in AP50 AP AP75; do
    grep -qE "^pseudo_labels,teacher:det,detection,unlabelled,$m,0,,$num,,,,,80,,$num,,\$" \
        "$run/results.csv" || fail "results.csv: no quality row for $m"
done
grep -q '"headline": "AP50"' "$run/results.json" || fail "results.json: no detection quality"
grep -q "^teacher=det task=detection plugin=detection status=0 images=80 " \
    "$run/label/unlabelled/quality.txt" || fail "quality.txt: det not scored"

# [student.cd] trained on its one set (teach-cls's pseudo-labelled copy,
# which kept its class labels) in its own directory, with its two tasks.
[ -s "$run/student-cd/model.safetensors" ] || fail "no student-cd/model.safetensors"
grep -q "^\[student-cd\] 2 tasks over 1 sets" "$tmp/log" ||
    fail "student-cd did not train on exactly its one set: $(grep '^\[student' "$tmp/log" | head -3)"
grep -q "^\[student\] 2 tasks over 2 sets" "$tmp/log" ||
    fail "the student did not train on both labelled sets: $(grep '^\[student' "$tmp/log" | head -3)"
head -1 "$run/student-cd/loss.csv" | grep -q ",classification,detection" ||
    fail "student-cd's loss columns: $(head -1 "$run/student-cd/loss.csv")"
grep -q "^\[student.cd\] (\`must:cd\`):" "$run/report.md" || fail "no loss weights for must:cd"

# The student trained detection and classification together.
head -1 "$run/student/loss.csv" | grep -q ",detection,classification" || fail "the student has no det loss column"
exit 0
