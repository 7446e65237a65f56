#!/bin/sh
# simclr_run.sh - the self-supervised baseline through `must run`: [simclr]
# trains the simclr plugin on the [label] set's images (two views per image,
# [student]'s steps and batch), its row joins the transfer table, a rerun
# does nothing, a change of its augmentation redoes it and what reads it,
# `init = simclr` starts a student from it, and the file's mistakes are
# refused before anything runs.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}/simclr-run
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
ini=$tmp/simclr.ini
sed -e 's/^representations = random, must/representations = random, simclr, must/' \
    "$src/tests/data/tiny.ini" >"$ini"
cat >>"$ini" <<'INI'
[task.simclr]
hidden = 16
dim = 8
[simclr]
lr = 0.05
INI
"$must" run "$ini" --out "$tmp/r" >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "the run"; }
grep -q '^\[simclr\] task simclr over 1 set, two views per image' "$tmp/a.log" ||
    { cat "$tmp/a.log"; fail "no [simclr] line"; }
# [student]'s 4 steps of 4 images.
grep -q '^\[simclr\] 4/4 simclr ' "$tmp/a.log" || { cat "$tmp/a.log"; fail "simclr did not train 4 steps"; }
[ -s "$tmp/r/simclr/model.safetensors" ] || fail "no RUN/simclr/model.safetensors"
# A loss per step, positive and finite (NT-Xent over 8 rows starts near
# log 7 = 1.95: an untrained projection sees every other row alike).
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "simclr") c = i; next }
         c && !($c > 0 && $c < 10) { bad = 1 }
         END { exit !(c && !bad && NR == 5) }' "$tmp/r/simclr/loss.csv" ||
    { cat "$tmp/r/simclr/loss.csv"; fail "simclr's loss.csv"; }
grep -q '^| simclr ' "$tmp/r/report.md" || { cat "$tmp/r/report.md"; fail "no simclr row in the report"; }
[ -f "$tmp/r/transfer/simclr/dseg/done" ] || fail "no transfer from simclr"

# A rerun does nothing; another blur redoes simclr and its transfer only.
"$must" run "$ini" --out "$tmp/r" --dry-run >"$tmp/same.log" 2>&1 || fail "--dry-run"
grep -q "every unit is done" "$tmp/same.log" || { cat "$tmp/same.log"; fail "the rerun has work"; }
sed '/^\[simclr\]/a blur = 0.9' "$ini" >"$tmp/blur.ini"
"$must" run "$tmp/blur.ini" --out "$tmp/r" --dry-run >"$tmp/blur.log" 2>&1 || fail "--dry-run blur"
grep -q "^  simclr$" "$tmp/blur.log" || { cat "$tmp/blur.log"; fail "simclr not redone"; }
grep -q "^  student$\|^  teacher" "$tmp/blur.log" && { cat "$tmp/blur.log"; fail "more than simclr redone"; }

# init = simclr: the student starts from it.
sed 's|^\[student\]|[student]\ninit = simclr|' "$ini" >"$tmp/boot.ini"
"$must" run "$tmp/boot.ini" --out "$tmp/r" >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; fail "init = simclr"; }
grep -q "^\[student\] starts from simclr: [0-9]* backbone tensors" "$tmp/b.log" ||
    { cat "$tmp/b.log"; fail "no 'starts from simclr' line"; }

# Mistakes, before anything runs.
bad() { # NAME SED-SCRIPT MESSAGE
    sed "$2" "$ini" >"$tmp/$1.ini"
    "$must" run "$tmp/$1.ini" --out "$tmp/$1" >"$tmp/$1.log" 2>&1 && fail "$1: ran"
    grep -q "$3" "$tmp/$1.log" || { cat "$tmp/$1.log"; fail "$1: message"; }
    [ -d "$tmp/$1/teachers" ] && fail "$1: work started"
    return 0
}
bad notask '/^\[task.simclr\]/d; /^hidden = 16/d; /^dim = 8/d' 'no \[task.simclr\] section'
bad teach 's/^task = segmentation$/task = simclr/' 'reads no labels (self-supervised): it trains only in'
bad nosec '/^\[simclr\]/,$d' "'simclr' needs a \[simclr\] section"
bad wrongtask '/^\[simclr\]/a task = segmentation' "reads segmentation labels; \[simclr\] trains a task that reads none"
exit 0
