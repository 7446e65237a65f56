#!/bin/sh
# predict.sh - `must predict`: a checkpoint of a tiny run applied to images
# of other sizes than it trained on; the output is a valid dataset whose
# maps have each image's size, an overlay per image (the image and each
# head side by side), predictions.json; the transfer sweep keeps its chosen
# model, which evaluates to the number the report gives; clear errors.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
T=${MUST_TEST_TMP:-tests/tmp}/predict
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
MK="$(dirname "$MUST_BIN")/tests/mkdataset"

"$must" run "$src/tests/data/tiny.ini" --out "$T/run" >"$T/run.log" 2>&1 || { cat "$T/run.log"; fail "tiny run"; }
"$MK" folder "$T/folder" || fail "mkdataset folder"
a="$T/folder/cat/photo 0.png"
b="$T/folder/dog/photo 4.png"

# The student (one segmentation head) on a 10x8 and a 14x8 image.
"$must" predict --model "$T/run/student/model.safetensors" --out "$T/p1" "$a" "$b" >"$T/p1.log" 2>&1 ||
    { cat "$T/p1.log"; fail "predict"; }
"$must" dataset check "$T/p1" >"$T/check.log" 2>&1 || { cat "$T/check.log"; fail "the predictions are not a valid set"; }
grep -q "source = pseudo" "$T/p1/dataset.ini" || fail "no provenance in the set"
for id in photo_0 photo_4; do
    [ -s "$T/p1/labels/segmentation/$id.png" ] || fail "no segmentation map for $id"
    [ -s "$T/p1/overlays/$id.png" ] || fail "no overlay for $id"
done
# Overlays: the image and one tile per head, side by side: 2 x 10 and 2 x 14 wide.
w=$(od -An -tu1 -j16 -N8 "$T/p1/overlays/photo_4.png" | awk '{print $3 * 256 + $4, $7 * 256 + $8}')
[ "$w" = "28 8" ] || fail "photo_4's overlay is $w, not 28 8"
grep -q '"id": "photo_0"' "$T/p1/predictions.json" || fail "no photo_0 in predictions.json"
grep -q '"file": "labels/segmentation/photo_4.png"' "$T/p1/predictions.json" || fail "no map file in predictions.json"
grep -q '"width": 14' "$T/p1/predictions.json" || fail "no image size in predictions.json"

# The transfer sweep kept the chosen point's weights, and only those.
tm=$T/run/transfer/must/dseg
[ -s "$tm/model.safetensors" ] || fail "no chosen model in $tm"
ls "$tm"/lr*/model-*.safetensors >/dev/null 2>&1 && fail "snapshots left in $tm"
out=$("$must" eval "$src/tests/data/tiny.ini" --out "$T/run" --model "$tm/model.safetensors" \
      --task segmentation --data down --split test) || fail "eval of the chosen model: $out"
got=$(echo "$out" | sed 's/.*"miou":\([^,}]*\).*/\1/')
want=$(grep "^transfer,must,dseg," "$T/run/results.csv" | cut -d, -f8)
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' ||
    fail "the chosen model evaluates to $got, the report says $want"
# ... and predicts with the downstream head.
"$must" predict --model "$tm/model.safetensors" --out "$T/p2" "$a" >"$T/p2.log" 2>&1 ||
    { cat "$T/p2.log"; fail "predict with the transfer's model"; }

# `must features --checkpoint` takes the backbone from the model card: the
# tiny run's ResNet-18 at width 0.125 has 64 channels at C5 (512 x 0.125).
"$must" features --checkpoint "$T/run/student/model.safetensors" --levels C5 --out "$T/f.safetensors" \
    "$a" >"$T/f.log" 2>&1 || { cat "$T/f.log"; fail "features from the card"; }
"$must" inspect "$T/f.safetensors" | grep -q "C5 .*(1, 64, " || fail "features did not use the card's backbone"

# tensorboard = true: an event file beside each loss.csv and one of the
# report's pictures; each starts with a record whose length fits the file.
sed '/^\[experiment\]/a tensorboard = true' "$src/tests/data/tiny.ini" >"$T/tb.ini"
"$must" run "$T/tb.ini" --out "$T/tb" >"$T/tb.log" 2>&1 || { cat "$T/tb.log"; fail "run with tensorboard"; }
for f in teachers/seg student transfer/must/dseg/lr-0.05 .; do
    ev="$T/tb/$f/events.out.tfevents.must"
    [ -s "$ev" ] || fail "no event file in $f"
    n=$(od -An -tu4 -N4 "$ev" | tr -d ' ')
    size=$(wc -c <"$ev")
    [ "$n" -gt 0 ] && [ $((n + 16)) -le "$size" ] || fail "$ev: a first record of $n bytes in $size"
done
grep -q "figures/fig5-transfer-gains" "$T/tb/events.out.tfevents.must" || fail "no figure in the report's events"
grep -q "loss/segmentation" "$T/tb/student/events.out.tfevents.must" || fail "no task loss among the student's events"

# Errors, each named.
expect_fail() { # TEXT ARGS...
    text=$1
    shift
    "$must" predict "$@" >"$T/err.out" 2>&1 && fail "predict $* succeeded"
    grep -qF -- "$text" "$T/err.out" || { cat "$T/err.out"; fail "no '$text' for predict $*"; }
}
expect_fail "has no model card" --model "$src/tests/data/torchvision_tiny.safetensors" --out "$T/e1" "$a"
expect_fail "no head 'nosuch'" --model "$T/run/student/model.safetensors" --task nosuch --out "$T/e2" "$a"
expect_fail "$T/p1" --model "$T/run/student/model.safetensors" --out "$T/p1" "$a"
expect_fail "$T/nope.png" --model "$T/run/student/model.safetensors" --out "$T/e3" "$T/nope.png"
expect_fail "give --model FILE" --out "$T/e4" "$a"
echo "ok"
