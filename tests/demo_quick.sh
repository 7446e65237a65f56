#!/bin/sh
# demo_quick.sh - `must demo --quick` end to end: the report's structure,
# every number finite and in range, the files a user is promised, the
# figures valid PNGs, and the pseudo-label scores right when the pseudo
# labels are the truth itself.
set -u
must=${MUST_BIN:-./must}
tmp=${MUST_TEST_TMP:-tests/tmp}/demo-quick
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
run=$tmp/run

"$must" demo --quick --out "$run" >"$tmp/log" 2>&1 || { tail -30 "$tmp/log"; fail "must demo --quick"; }
grep -q "^Transfer (test split" "$tmp/log" || fail "no transfer table printed"
grep -q "^Pseudo labels vs the hidden truth" "$tmp/log" || fail "no pseudo-label scores printed"
# Progress lines carry the unit's ETA and the whole run's, and the student's
# line names its tasks, not its teachers.
grep -q "^\[teacher cls\] [0-9]*/30 classification [0-9.]* | [0-9.]* img/s ETA [0-9a-z?]* (run [0-9a-z?]*)$" "$tmp/log" ||
    fail "no progress line with a whole-run ETA"
grep -q "^\[student\] 3 tasks over 1 sets; loss weights: classification 1 segmentation" "$tmp/log" ||
    fail "the student's line does not name its tasks"
for f in report.md results.json results.csv fig5-transfer-gains.png fig2-pseudo-labels.png \
         fig4-student-predictions.png teachers/cls/loss.csv student/loss.csv \
         student/model.safetensors label/unlabelled/part-000/dataset.ini \
         label/unlabelled/quality.txt; do
    [ -s "$run/$f" ] || fail "missing $f"
done
# The figures are PNGs the project's own reader decodes: imported as a
# dataset and checked, every image is read in full.
mkdir -p "$tmp/png/in/figures"
cp "$run"/fig*.png "$tmp/png/in/figures/"
"$must" import imagefolder "$tmp/png/in" "$tmp/png/set" >"$tmp/png/log" 2>&1 &&
    "$must" dataset check "$tmp/png/set" >>"$tmp/png/log" 2>&1 || { cat "$tmp/png/log"; fail "a figure is not a valid PNG"; }
grep -q "3 images" "$tmp/png/log" || { cat "$tmp/png/log"; fail "not all three figures read"; }
# The pseudo-labelled set is a valid dataset with provenance.
"$must" dataset check "$run/label/unlabelled/part-000" >"$tmp/check" 2>&1 || { cat "$tmp/check"; fail "pseudo-labelled set fails the check"; }
grep -q "source = pseudo" "$run/label/unlabelled/part-000/dataset.ini" || fail "no provenance"
# report.md: the table header and one row per representation; the
# pseudo-label section with one row per teacher; the figures.
grep -q "^| representation | seg (miou, [0-9]* test) | depth (delta1, [0-9]* test) |" "$run/report.md" || fail "table header"
# The teachers' own val scores; the training curves, drawn and shown.
grep -q "^| seg | segmentation | teach-seg | [0-9]* | miou [0-9.]* | miou " "$run/report.md" ||
    fail "no teacher row in the report"
for c in teacher-cls teacher-seg teacher-depth student transfer-seg transfer-depth; do
    [ -s "$run/curves/$c.png" ] || fail "no curves/$c.png"
    grep -q "(curves/$c.png)" "$run/report.md" || fail "report.md does not show curves/$c.png"
done
for r in random "supervised:cls (baseline)" must; do
    grep -q "^| $r |" "$run/report.md" || fail "no row for $r"
done
grep -q "^## Pseudo-label quality" "$run/report.md" || fail "no pseudo-label section"
for t in "cls | classification" "seg | segmentation" "depth | depth"; do
    grep -q "^| unlabelled | $t | 160 |" "$run/report.md" || fail "no pseudo-label row for $t"
done
for f in fig2-pseudo-labels.png fig4-student-predictions.png fig5-transfer-gains.png; do
    grep -q "($f)" "$run/report.md" || fail "report.md does not show $f"
done
# results.csv: 3 representations x 2 tasks of transfer, finite numbers,
# metrics in 0..100; every pseudo-label metric of the three teachers,
# finite, percentages in 0..100, errors >= 0.
rows=$(grep -c "^transfer," "$run/results.csv")
[ "$rows" -eq 6 ] || fail "results.csv has $rows transfer rows, expected 6"
grep "^transfer," "$run/results.csv" | awk -F, '
    { for (i = 7; i <= 12; i++) if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) { print "not finite: " $0; bad = 1 }
      if ($7 < 0 || $7 > 100 || $8 < 0 || $8 > 100) { print "out of range: " $0; bad = 1 } }
    END { exit bad }' || fail "results.csv transfer numbers"
check_quality() {
    awk -F, -v want="$1" '
        $1 == "pseudo_labels" { n++; seen[$3] = 1
          if ($8 !~ /^[0-9.]+(e[-+]?[0-9]+)?$/) { print "not finite or negative: " $0; bad = 1 }
          if ($6 == 0 && $8 > 100) { print "above 100%: " $0; bad = 1 }
          if ($13 != 160) { print "not every image scored: " $0; bad = 1 }
          for (i = 14; i <= 15; i++) if ($i != "" && ($i < 0 || $i > 100)) { print "share out of range: " $0; bad = 1 }
          if (want == "perfect" && $6 == 0 && $8 != 100) { print "truth scored below 100: " $0; bad = 1 }
          if (want == "perfect" && $6 == 1 && $8 > 1e-6) { print "truth scored with an error: " $0; bad = 1 } }
        END { if (n != 10 || !seen["classification"] || !seen["segmentation"] || !seen["depth"]) {
                print n " pseudo-label rows"; bad = 1 }
              exit bad }' "$run/results.csv"
}
check_quality any || fail "results.csv pseudo-label numbers"
grep -qi "nan\|inf" "$run/results.json" && fail "results.json has a non-finite number"
[ "$(grep -c '"scored": true' "$run/results.json")" -eq 3 ] || fail "results.json: not three teachers scored"
# A rerun does nothing but the report.
"$must" demo --quick --out "$run" >"$tmp/log2" 2>&1 || fail "rerun"
grep -q "\] [0-9]*/[0-9]* " "$tmp/log2" && fail "the rerun trained or labelled again"
# A truncated or corrupt score cache is recomputed, to the same numbers.
grep "^pseudo_labels," "$run/results.csv" >"$tmp/scores"
q=$run/label/unlabelled/quality.txt
head -c 150 "$q" >"$q.cut" && mv "$q.cut" "$q"
"$must" demo --quick --out "$run" >"$tmp/log4" 2>&1 || fail "rerun over a truncated score cache"
grep "^pseudo_labels," "$run/results.csv" | cmp -s - "$tmp/scores" || fail "scores changed after a truncated cache"
for bad in 's/images=160/images=x/' 's/teacher=seg/teacher=sag/' 's/delta1:0:[0-9.e+-]*/delta1:0:nan/'; do
    sed "$bad" "$q" >"$q.bad" && mv "$q.bad" "$q"
    "$must" demo --quick --out "$run" >"$tmp/log4" 2>&1 || fail "rerun over a corrupt score cache ($bad)"
    grep "^pseudo_labels," "$run/results.csv" | cmp -s - "$tmp/scores" || fail "scores changed after a corrupt cache ($bad)"
done
# Pseudo labels that are the truth itself score perfectly: the scoring
# matches images by id and classes by name, whatever the teachers' classes.
rm -rf "$run/label/unlabelled/part-000" "$run/label/unlabelled/quality.txt"
cp -RL "$run/data/unlabelled/set/truth" "$run/label/unlabelled/part-000" || fail "copying the truth"
"$must" demo --quick --out "$run" >"$tmp/log3" 2>&1 || { tail -20 "$tmp/log3"; fail "report over the truth"; }
check_quality perfect || fail "the truth scored against itself"
echo "ok"
