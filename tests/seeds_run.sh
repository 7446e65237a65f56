#!/bin/sh
# seeds_run.sh - `seeds = ...` and `must run --seeds`: one run per seed in
# RUN/seed-N on the same RUN/data; RUN/report.md, results.json and
# results.csv hold each seed's test value as the seed's own results.json
# has it, their mean and standard deviation (recomputed here) and the
# bootstrap interval of the difference from the baseline, whose whole-split
# difference (per-image evaluation states merged) is the reports'; a rerun
# trains nothing; another seed list reuses the seeds already run.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}/seeds-run
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
ini=$tmp/seeds.ini
sed 's/^seed = 3$/seed = 3\nseeds = 1, 2/' "$src/tests/data/tiny.ini" >"$ini"
R=$tmp/r
"$must" run "$ini" --out "$R" >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "the run"; }
for d in seed-1 seed-2 data report.md results.json results.csv; do
    [ -e "$R/$d" ] || fail "no $R/$d"
done
[ -e "$R/seed-1/data" ] && fail "seed-1 rendered its own data"
grep -q "^\[seed 2\] 2 of 2" "$tmp/a.log" || fail "no '[seed 2] 2 of 2' line"
# Per seed and cell: the seed's own results.json value (test of the
# `must` row) is the one RUN/results.csv lists.
val() { # the test value of representation $2 in results.json $1
    tr -d '\n' <"$1" | sed 's/},/}\n/g' | grep "\"representation\": *\"$2\"" |
        sed 's/.*"test": *\([-0-9.e+]*\).*/\1/' | head -1
}
for s in 1 2; do
    v=$(val "$R/seed-$s/results.json" must)
    [ -n "$v" ] || { cat "$R/seed-$s/results.json"; fail "no test value in seed-$s/results.json"; }
    c=$(grep "^\"must\",dseg,miou,$s," "$R/results.csv" | cut -d, -f5)
    awk -v a="$v" -v b="$c" 'BEGIN { exit !(a - b < 1e-6 && b - a < 1e-6) }' ||
        fail "seed $s: results.csv has $c, seed-$s/results.json $v"
done
v1=$(grep '^"must",dseg,miou,1,' "$R/results.csv" | cut -d, -f5)
v2=$(grep '^"must",dseg,miou,2,' "$R/results.csv" | cut -d, -f5)
# The seed changes what is trained (initialisation, sampling): the two
# differ, in the random row too.
[ "$v1" != "$v2" ] || fail "seeds 1 and 2 gave the same value $v1"
r1=$(grep '^"random",dseg,miou,1,' "$R/results.csv" | cut -d, -f5)
r2=$(grep '^"random",dseg,miou,2,' "$R/results.csv" | cut -d, -f5)
[ "$r1" != "$r2" ] || fail "the random row is the same for both seeds ($r1)"
cmp -s "$R/seed-1/student/model.safetensors" "$R/seed-2/student/model.safetensors" &&
    fail "the students of seeds 1 and 2 are the same file"
m=$(grep '^"must",dseg,miou,mean,' "$R/results.csv" | cut -d, -f5)
sd=$(grep '^"must",dseg,miou,sd,' "$R/results.csv" | cut -d, -f5)
awk -v a="$v1" -v b="$v2" -v m="$m" -v s="$sd" 'BEGIN {
    mm = (a + b) / 2; ss = sqrt(((a - mm) ^ 2 + (b - mm) ^ 2) / 1)
    exit !((mm - m) ^ 2 < 1e-12 && (ss - s) ^ 2 < 1e-12) }' ||
    fail "mean $m and sd $sd are not those of $v1 and $v2"
grep -q "| must | [0-9.]* ± [0-9.]* ([-+][0-9.]* ± [0-9.]*; \[[-+][0-9.]*, [-+][0-9.]*\]" "$R/report.md" ||
    { cat "$R/report.md"; fail "report.md has no 'mean ± sd (diff ± sd; [lo, hi])' cell"; }
grep -q '"test": \[' "$R/results.json" || fail "results.json has no per-seed list"
# The interval's whole-split difference, recomputed by merging one
# evaluation state per test image, is the difference the transfers
# reported (so the per-image states and eval_merge add up to the whole).
must_row=$(tr -d '\n' <"$R/results.json" | sed 's/},/}\n/g' | grep '"representation": "must"')
dm=$(printf '%s' "$must_row" | sed 's/.*"vs_baseline_mean": \([-0-9.e+]*\).*/\1/')
bw=$(printf '%s' "$must_row" | sed 's/.*"bootstrap_whole_diff": \([-0-9.e+]*\).*/\1/')
lo=$(printf '%s' "$must_row" | sed 's/.*"interval95": \[\([-0-9.e+]*\),.*/\1/')
hi=$(printf '%s' "$must_row" | sed 's/.*"interval95": \[[-0-9.e+]*, \([-0-9.e+]*\)\].*/\1/')
awk -v a="$dm" -v b="$bw" 'BEGIN { exit !(a - b < 1e-4 && b - a < 1e-4) }' ||
    fail "the bootstrap's whole-split difference $bw is not the reports' $dm"
awk -v l="$lo" -v h="$hi" 'BEGIN { exit !(l <= h) }' || fail "interval [$lo, $hi]"
grep -q '"ci95_lo\|ci95_lo,' "$R/results.csv" || fail "results.csv has no ci95_lo row"
# Again: nothing trained.
"$must" run "$ini" --out "$R" >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; fail "the rerun"; }
grep -q "\] [0-9]*/[0-9]* " "$tmp/b.log" && { cat "$tmp/b.log"; fail "the rerun trained"; }
# --seeds 2,5: seed 2 is done, seed 5 is all to do but its data.
"$must" run "$ini" --out "$R" --seeds 2,5 --dry-run >"$tmp/c.log" 2>&1 || fail "--seeds dry run"
grep -A1 "^\[seed 2\]" "$tmp/c.log" | grep -q "every unit is done" ||
    { cat "$tmp/c.log"; fail "seed 2 is not done"; }
grep -A1 "^\[seed 5\]" "$tmp/c.log" | grep -q "to do 0 of 3 data sets, 1 of 1 teachers" ||
    { cat "$tmp/c.log"; fail "seed 5 plan"; }
"$must" run "$ini" --out "$R" --seeds 2,1 >"$tmp/d.log" 2>&1 && fail "--seeds 2,1 ran"
grep -q "ascending" "$tmp/d.log" || { cat "$tmp/d.log"; fail "--seeds 2,1 message"; }
exit 0
