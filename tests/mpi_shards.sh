#!/bin/sh
# mpi_shards.sh - the work split over 2 MPI ranks gives the files one
# process writes, byte for byte: world generate (rendered in shares),
# import imagefolder and images (the dataset writer shared), pseudo labels
# (parts spread over the ranks); must eval prints the same numbers; a whole
# `must run` over 2 ranks ends with its report and every transfer cell.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
T=${MUST_TEST_TMP:-tests/tmp}/mpi-shards
. "$src/tests/mpi_env.sh"
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
same() { # A B WHAT
    diff -r "$1" "$2" >"$T/diff.txt" 2>&1 || { head -20 "$T/diff.txt"; fail "$3: 2 ranks wrote other files than 1 process"; }
}

# world generate: an odd count, so the ranks' shares differ.
for n in 1 2; do
    if [ $n -eq 1 ]; then
        "$must" world generate --domain teach-seg --count 13 --size 32 --seed 4 --out "$T/w1" >"$T/w1.log" 2>&1
    else
        mpi 2 world generate --domain teach-seg --count 13 --size 32 --seed 4 --out "$T/w2" >"$T/w2.log" 2>&1
    fi || { cat "$T/w$n.log"; fail "world generate on $n rank(s)"; }
done
same "$T/w1" "$T/w2" "world generate"
grep -q "13 images in .* (13 rendered, 0 already there)" "$T/w2.log" || { cat "$T/w2.log"; fail "world generate: rank 0 does not count every rank's images"; }
[ "$(grep -c "images in" "$T/w2.log")" -eq 1 ] || { cat "$T/w2.log"; fail "world generate: more than rank 0 printed"; }

# import: a class-folder tree and a plain folder made of those images.
mkdir -p "$T/folder/a" "$T/folder/b/deeper"
i=0
for f in "$T"/w1/images/*.png; do
    case $((i % 3)) in 0) cp "$f" "$T/folder/a/";; 1) cp "$f" "$T/folder/b/";; 2) cp "$f" "$T/folder/b/deeper/";; esac
    i=$((i + 1))
done
"$must" import imagefolder --name set "$T/folder" "$T/if1" >"$T/if1.log" 2>&1 || { cat "$T/if1.log"; fail "import imagefolder, 1 process"; }
mpi 2 import imagefolder --name set "$T/folder" "$T/if2" >"$T/if2.log" 2>&1 || { cat "$T/if2.log"; fail "import imagefolder, 2 ranks"; }
same "$T/if1" "$T/if2" "import imagefolder"
"$must" import images --name set "$T/folder" "$T/im1" >"$T/im1.log" 2>&1 || { cat "$T/im1.log"; fail "import images, 1 process"; }
mpi 2 import images --name set "$T/folder" "$T/im2" >"$T/im2.log" 2>&1 || { cat "$T/im2.log"; fail "import images, 2 ranks"; }
same "$T/im1" "$T/im2" "import images"
[ "$(grep -c "images without labels" "$T/im2.log")" -eq 1 ] || { cat "$T/im2.log"; fail "import: more than rank 0 printed"; }
"$must" dataset check "$T/im2" >"$T/check.log" 2>&1 || { cat "$T/check.log"; fail "the 2 ranks' import is not a valid set"; }

# Pseudo labels: one teacher, then [label] in parts of 8 (3 parts, ranks
# 0 and 1 take parts 0, 2 and 1).  Run from two folders with the same
# relative run name, so that the teacher's path they record is the same.
sed -e '/^\[data.unl\]/,/^$/s/^count = 8$/count = 20/' \
    -e '/^\[label\]/,/^$/s/^batch = 8$/batch = 4\nshard = 8/' "$src/tests/data/tiny.ini" >"$T/exp.ini"
mkdir -p "$T/p1" "$T/p2"
(cd "$T/p1" && "$must" train ../exp.ini --teacher seg --out run) >"$T/t.log" 2>&1 || { cat "$T/t.log"; fail "teacher"; }
cp -r "$T/p1/run" "$T/p2/"
(cd "$T/p1" && "$must" label ../exp.ini --out run) >"$T/l1.log" 2>&1 || { cat "$T/l1.log"; fail "label, 1 process"; }
(cd "$T/p2" && mpi 2 label ../exp.ini --out run) >"$T/l2.log" 2>&1 || { cat "$T/l2.log"; fail "label, 2 ranks"; }
[ -f "$T/p2/run/label/unl/part-002/dataset.ini" ] || fail "label: no third part"
same "$T/p1/run/label" "$T/p2/run/label" "label"

# must eval: rank 0 evaluates, every rank gets the numbers, one prints.
for n in 1 2; do
    set -- eval ../exp.ini --model run/teachers/seg/model.safetensors --task segmentation --data seg --out run
    if [ $n -eq 1 ]; then (cd "$T/p1" && "$must" "$@"); else (cd "$T/p2" && mpi 2 "$@"); fi >"$T/e$n.out" 2>"$T/e$n.log" ||
        { cat "$T/e$n.log"; fail "eval on $n rank(s)"; }
done
cmp "$T/e1.out" "$T/e2.out" || { cat "$T/e1.out" "$T/e2.out"; fail "eval: 2 ranks printed other numbers"; }

# A whole run over 2 ranks: data, teacher, labels, student, the transfer
# cells spread over the ranks, the report.
mpi 2 run "$src/tests/data/tiny.ini" --out "$T/run" >"$T/run.log" 2>&1 || { cat "$T/run.log"; fail "must run on 2 ranks"; }
[ -s "$T/run/report.md" ] || fail "run: no report"
for rep in random must; do
    [ -f "$T/run/transfer/$rep/dseg/done" ] || fail "run: transfer cell $rep/dseg not done"
done
[ "$(grep -c "^report: " "$T/run.log")" -eq 1 ] || { cat "$T/run.log"; fail "run: not one report line"; }
echo "ok"
