#!/bin/sh
# label_sizes.sh - pseudo labels for a set of images of different, non-square
# sizes (an imported folder, no declared size): the teacher sees each image
# fitted to the training size, and its labels are written at the image's own
# size; the set passes `must dataset check` and the student trains on it.
set -u
must=${MUST_BIN:-./must}
T=${MUST_TEST_TMP:-tests/tmp}/label-sizes
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
MK="$(dirname "$MUST_BIN")/tests/mkdataset"

# 15 PNGs of 10x8 .. 14x8 in three classes.
"$MK" folder "$T/folder" || fail "mkdataset folder"
"$must" import imagefolder "$T/folder" "$T/pool" --val 0 --test 0 >"$T/import.log" 2>&1 ||
    { cat "$T/import.log"; fail "import"; }
grep -q "^width" "$T/pool/dataset.ini" && fail "the pool declares one size"
cat >"$T/exp.ini" <<INI
[experiment]
name = sizes
image_size = 32
threads = 1
[backbone]
depth = 18
width = 0.125
stem_stride = 2
fpn_channels = 16
fpn_max_level = 5
[data.seg]
world = teach-seg
count = 8
size = 32
[data.pool]
path = $T/pool
[task.segmentation]
channels = 8
threshold = 0
[teacher.seg]
task = segmentation
data = seg
steps = 2
batch = 4
[label]
data = pool
batch = 4
[student]
steps = 2
batch = 4
INI
"$must" run "$T/exp.ini" --out "$T/run" >"$T/run.log" 2>&1 || { cat "$T/run.log"; fail "must run"; }
part=$T/run/label/pool/part-000
"$must" dataset check "$part" >"$T/check.log" 2>&1 || { cat "$T/check.log"; fail "the labelled set"; }
# Every segmentation map has its image's size (the check compares them),
# and there is one per image: the threshold of 0 labels every pixel.
n=$(ls "$part/labels/segmentation" | wc -l)
[ "$n" -eq 15 ] || fail "$n segmentation maps, not 15"
grep -q "source = pseudo" "$part/dataset.ini" || fail "no provenance"
[ -s "$T/run/student/model.safetensors" ] || fail "the student did not train on the pool"
echo "ok"
