#!/bin/sh
# demo_quick.sh - `must demo --quick` end to end: the report's structure,
# every number finite and in range, the files a user is promised.
set -u
must=${MUST_BIN:-./must}
tmp=${MUST_TEST_TMP:-tests/tmp}/demo-quick
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

"$must" demo --quick --out "$tmp/run" >"$tmp/log" 2>&1 || { tail -30 "$tmp/log"; fail "must demo --quick"; }
grep -q "^Transfer (test split" "$tmp/log" || fail "no transfer table printed"
for f in report.md results.json results.csv fig5-transfer-gains.png teachers/cls/loss.csv \
         student/loss.csv student/model.safetensors label/unlabelled/part-000/dataset.ini; do
    [ -s "$tmp/run/$f" ] || fail "missing $f"
done
# The pseudo-labelled set is a valid dataset with provenance.
"$must" dataset check "$tmp/run/label/unlabelled/part-000" >"$tmp/check" 2>&1 || { cat "$tmp/check"; fail "pseudo-labelled set fails the check"; }
grep -q "source = pseudo" "$tmp/run/label/unlabelled/part-000/dataset.ini" || fail "no provenance"
# report.md: the table header and one row per representation.
grep -q "^| representation | seg (miou) | depth (delta1) |" "$tmp/run/report.md" || fail "table header"
for r in random "supervised:cls (baseline)" must; do
    grep -q "^| $r |" "$tmp/run/report.md" || fail "no row for $r"
done
# results.csv: 3 representations x 2 tasks, finite numbers, metrics in 0..100.
rows=$(tail -n +2 "$tmp/run/results.csv" | wc -l)
[ "$rows" -eq 6 ] || fail "results.csv has $rows rows, expected 6"
tail -n +2 "$tmp/run/results.csv" | awk -F, '
    { for (i = 6; i <= 11; i++) if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) { print "not finite: " $0; bad = 1 }
      if ($6 < 0 || $6 > 100 || $7 < 0 || $7 > 100) { print "out of range: " $0; bad = 1 } }
    END { exit bad }' || fail "results.csv numbers"
grep -qi "nan\|inf" "$tmp/run/results.json" && fail "results.json has a non-finite number"
# A rerun does nothing but the report.
"$must" demo --quick --out "$tmp/run" >"$tmp/log2" 2>&1 || fail "rerun"
grep -q "\] [0-9]*/[0-9]* " "$tmp/log2" && fail "the rerun trained or labelled again"
echo "ok"
