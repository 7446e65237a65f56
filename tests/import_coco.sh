#!/bin/sh
# import_coco.sh - `must import coco` and `must export coco` on a hand-written
# COCO file: the summary, the boxes line by line, dataset.ini's ids, official
# and seeded splits, errors that name the file and JSON path, missing images,
# and the round trip import -> export -> import.  (tests/test_coco.c checks
# the class maps pixel by pixel.)
set -u
T="$MUST_TEST_TMP/import_coco"
FIX="$(dirname "$MUST_BIN")/tests/coco_fixture"
rm -rf "$T"
mkdir -p "$T/img" "$T/img2"
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# expect STATUS CMD... : runs CMD, output in $T/out and $T/err
expect() {
    want=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "exit $got (want $want): $*"; cat "$T/out" "$T/err"; }
}

# has FILE TEXT : FILE holds TEXT
has() {
    grep -F -- "$2" "$1" >/dev/null || { fail "'$2' not in $1:"; cat "$1"; }
}

"$FIX" "$T/img/000000000001.png" 8 6 && "$FIX" "$T/img/000000000002.png" 6 5 &&
    "$FIX" "$T/img/000000000003.png" 4 4 && "$FIX" "$T/img2/000000000009.png" 5 5 ||
    { echo "cannot make the fixture images"; exit 99; }

# Categories with gaps, out of order (person 1, car 3, dog 7 -> classes 0,
# 1, 2); polygons of one and two parts, a crowd as counts, a compressed
# string, a box reaching out of its 6x5 image, a box of zero width, an
# image without annotations.
cat >"$T/a.json" <<'EOF'
{"images": [
  {"id": 1, "file_name": "000000000001.png", "width": 8, "height": 6},
  {"id": 2, "file_name": "000000000002.png", "width": 6, "height": 5},
  {"id": 3, "file_name": "000000000003.png", "width": 4, "height": 4}],
 "categories": [{"id": 7, "name": "dog"}, {"id": 1, "name": "person"},
                {"id": 3, "name": "car"}],
 "annotations": [
  {"id": 10, "image_id": 1, "category_id": 7, "iscrowd": 0, "bbox": [2, 0, 6, 4],
   "segmentation": [[6, 0, 8, 0, 8, 2, 6, 2], [2, 2, 4.6, 2, 2, 4.6]]},
  {"id": 11, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [1, 1, 4, 4],
   "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
  {"id": 12, "image_id": 2, "category_id": 1, "iscrowd": 1, "bbox": [2, 0, 2, 3],
   "segmentation": {"size": [5, 6], "counts": [10, 3, 2, 3, 12]}},
  {"id": 13, "image_id": 2, "category_id": 3, "iscrowd": 0, "bbox": [3, 1, 2, 4],
   "segmentation": {"size": [5, 6], "counts": "`04104"}},
  {"id": 14, "image_id": 2, "category_id": 7, "iscrowd": 0,
   "bbox": [4.5, 3, 5, 4], "segmentation": [[4, 3, 9, 3, 9, 7, 4, 7]]},
  {"id": 15, "image_id": 2, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 0, 2]}]}
EOF
# A val file in another directory: one image, a category the first lacks.
cat >"$T/b.json" <<'EOF'
{"images": [{"id": 9, "file_name": "000000000009.png", "width": 5, "height": 5}],
 "categories": [{"id": 2, "name": "bicycle"}, {"id": 3, "name": "car"}],
 "annotations": [{"id": 1, "image_id": 9, "category_id": 2, "bbox": [0.5, 0.25, 2, 3]}]}
EOF

# The import: summary, boxes (x y w h -> x0 y0 x1 y1; the crowd difficult;
# cut to the image; the zero-width one left out), ids, a valid set.
expect 0 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/img" "$T/set"
has "$T/out" "$T/set: 3 images, 3 categories; train 3, val 0, test 0; annotations 6"
has "$T/out" "boxes 5 (clipped to their image 1, of zero area left out 1); crowd 1"
has "$T/out" "without a mask 1"
cat >"$T/want-det" <<'EOF'
000000000001 2 0 8 4 2 1
000000000001 1 1 5 5 1 1
000000000002 2 0 4 3 0 1 1
000000000002 3 1 5 5 1 1
000000000002 4.5 3 6 5 2 1
EOF
cmp -s "$T/want-det" "$T/set/labels/detection.txt" ||
    { fail "detection.txt differs:"; diff "$T/want-det" "$T/set/labels/detection.txt"; }
has "$T/set/dataset.ini" "tasks = detection, segmentation"
has "$T/set/dataset.ini" "classes = person, car, dog"
has "$T/set/dataset.ini" "ids = 1, 3, 7"
has "$T/set/dataset.ini" "classes = background, person, car, dog"
has "$T/set/dataset.ini" "ids = 0, 1, 3, 7"
cmp -s "$T/img/000000000002.png" "$T/set/images/000000000002.png" || fail "image not copied as it is"
expect 0 "$MUST_BIN" dataset check "$T/set"
has "$T/out" "$T/set: ok"
has "$T/out" "5 boxes on 2 images (1 without), 1 difficult"
# The set is there: refused.
expect 1 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/img" "$T/set"
has "$T/err" "already holds a dataset"

# Official splits: two files, an images directory each; one task.
expect 0 "$MUST_BIN" import coco --annotations "$T/a.json:train" --annotations "$T/b.json:val" \
    --images "$T/img" --images "$T/img2" --tasks detection "$T/split" --name both
has "$T/out" "4 images, 4 categories; train 3, val 1, test 0"
has "$T/split/dataset.ini" "name = both"
has "$T/split/dataset.ini" "tasks = detection"
has "$T/split/dataset.ini" "classes = person, bicycle, car, dog"
has "$T/split/splits/val.txt" "000000000009"
has "$T/split/labels/detection.txt" "000000000009 0.5 0.25 2.5 3.25 1 1"
[ -d "$T/split/labels/segmentation" ] && fail "segmentation written for --tasks detection"
# Seeded: --test 0.34 of 3 images is 1.
expect 0 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/img" "$T/seeded" \
    --test 0.34 --val 0 --seed 5 --tasks segmentation
has "$T/out" "train 2, val 0, test 1"
[ "$(wc -l <"$T/seeded/splits/test.txt")" -eq 1 ] || fail "no test image"

# Bad input: the file and the JSON path, or jansson's line and column;
# nothing written.
sed 's/"bbox": \[1, 1, 0, 2\]/"bbox": [1, 1, 0]/' "$T/a.json" >"$T/bad1.json"
expect 1 "$MUST_BIN" import coco --annotations "$T/bad1.json" --images "$T/img" "$T/bad1"
has "$T/err" "bad1.json: annotations[5].bbox: not an array of 4 numbers"
[ -e "$T/bad1/dataset.ini" ] && fail "a set was written after a bad file"
sed 's/"file_name": "000000000003.png"/"file_name": null/' "$T/a.json" >"$T/bad2.json"
expect 1 "$MUST_BIN" import coco --annotations "$T/bad2.json" --images "$T/img" "$T/bad2"
has "$T/err" "bad2.json: images[2].file_name: missing"
sed 's/{"id": 3, "name": "car"}/{"id": 3.5, "name": "car"}/' "$T/a.json" >"$T/bad3.json"
expect 1 "$MUST_BIN" import coco --annotations "$T/bad3.json" --images "$T/img" "$T/bad3"
has "$T/err" "bad3.json: categories[2].id: not a whole number"
head -c 300 "$T/a.json" >"$T/cut.json"
expect 1 "$MUST_BIN" import coco --annotations "$T/cut.json" --images "$T/img" "$T/cut"
has "$T/err" "cut.json:6:2: not valid JSON: ']' expected near end of file"
expect 1 "$MUST_BIN" import coco --annotations "$T/none.json" --images "$T/img" "$T/none"
has "$T/err" "none.json: cannot open"

# Missing images: named and counted, an error; or skipped with --skip-missing.
mkdir -p "$T/few"
cp "$T/img/000000000001.png" "$T/few/"
expect 1 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/few" "$T/miss"
has "$T/err" "2 of the 3 images the annotations name are missing: $T/few/000000000002.png, $T/few/000000000003.png"
[ -e "$T/miss/dataset.ini" ] && fail "a set was written with images missing"
expect 0 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/few" "$T/miss" \
    --skip-missing
has "$T/err" "skipped 2 missing images"
has "$T/out" "1 images"
has "$T/out" "missing images skipped 2"

# Usage errors.
expect 2 "$MUST_BIN" import coco --annotations "$T/a.json" "$T/x"
has "$T/err" "needs --annotations FILE, --images DIR and OUT"
expect 2 "$MUST_BIN" import coco --annotations "$T/a.json" --annotations "$T/b.json" \
    --annotations "$T/b.json" --images "$T/img" --images "$T/img2" "$T/x"
has "$T/err" "2 --images for 3 --annotations"
expect 2 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/img" "$T/x" --tasks depth
has "$T/err" "--tasks: 'depth' is not detection or segmentation"
expect 2 "$MUST_BIN" import coco --annotations "$T/a.json" --images "$T/img" "$T/x" --val 0.7 \
    --test 0.7
expect 0 "$MUST_BIN" import coco --help
has "$T/out" "usage: must import coco"
expect 0 "$MUST_BIN" import --help
has "$T/out" "must import coco"

# The export: COCO's image ids (the file names' numbers), the category ids
# kept, x y w h, iscrowd; and back again, the same boxes.
expect 0 "$MUST_BIN" export coco "$T/set" "$T/out.json"
has "$T/out" "$T/out.json: 3 images, 3 categories, 5 annotations from $T/set"
has "$T/out.json" '{"id":2,"file_name":"000000000002.png","width":6,"height":5}'
has "$T/out.json" '{"id":3,"image_id":2,"category_id":1,"bbox":[2,0,2,3],"area":6,"iscrowd":1}'
has "$T/out.json" '"bbox":[4.5,3,1.5,2],"area":3,'
has "$T/out.json" '"categories":[{"id":1,"name":"person"},{"id":3,"name":"car"},{"id":7,"name":"dog"}]'
grep -F '"score"' "$T/out.json" >/dev/null && fail "supervised boxes exported with scores"
expect 0 "$MUST_BIN" import coco --annotations "$T/out.json" --images "$T/set/images" \
    "$T/again" --tasks detection
cmp -s "$T/set/labels/detection.txt" "$T/again/labels/detection.txt" ||
    { fail "import -> export -> import changed the boxes:";
      diff "$T/set/labels/detection.txt" "$T/again/labels/detection.txt"; }
has "$T/again/dataset.ini" "ids = 1, 3, 7"
# Written atomically: no temporary left beside it.
[ "$(ls "$T" | grep -c '^out\.json')" -eq 1 ] || fail "a temporary file beside out.json"
expect 1 "$MUST_BIN" export coco "$T/seeded" "$T/seg.json"
has "$T/err" "no detection labels to export"
expect 1 "$MUST_BIN" export coco "$T/nowhere" "$T/x.json"
expect 2 "$MUST_BIN" export coco "$T/set"
expect 2 "$MUST_BIN" export frob "$T/set" "$T/x.json"
expect 0 "$MUST_BIN" export coco --help
has "$T/out" "usage: must export coco SET OUT.json"

[ "$fails" -eq 0 ] || exit 1
echo "import_coco: import, splits, errors, missing images and the export's round trip pass"
