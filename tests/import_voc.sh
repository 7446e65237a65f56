#!/bin/sh
# import_voc.sh - `must import voc` end to end on tests/vocutil.h's tiny VOC
# folder (made by tests/voc_fixture): the summary and notes, the boxes line
# by line (VOC's 1-based xmin..xmax to must's x0 = xmin - 1, x1 = xmax), the
# splits of ImageSets, --tasks, seeded splits without lists, missing images
# and --skip-missing, errors that name the file and line, then `must
# dataset check` of what was written.  (tests/test_voc.c checks the masks
# pixel by pixel.)  A build without libxml2 has no VOC import: skipped (77).
set -u
T="$MUST_TEST_TMP/import_voc"
FIX="$(dirname "$MUST_BIN")/tests/voc_fixture"
rm -rf "$T"
mkdir -p "$T"
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

"$FIX" "$T/VOC" || { echo "cannot make the fixture"; exit 99; }
V="$T/VOC"

"$MUST_BIN" import voc "$V" "$T/probe" >/dev/null 2>"$T/err"
if grep -F "has no Pascal VOC import" "$T/err" >/dev/null; then
    echo "SKIP: this build of must has no libxml2 (configure found no libxml-2.0, or was"
    echo "given --without-libxml2), so must import voc is not there to test:"
    cat "$T/err"
    exit 77
fi

# Both kinds (the default when both folders are there): the images with a
# box annotation and a mask; the splits of the lists.
expect 0 "$MUST_BIN" import voc "$V" "$T/both"
has "$T/out" "$T/both: 2 images, 20 classes (detection, segmentation) from $V; train 1, val 1, test 0; boxes 3 (difficult 1, clipped to their image 1); void pixels 8; left out without an annotation 1, without a mask 1"
has "$T/err" "must import voc: left out 1 image without an annotation (Annotations/<id>.xml, listed in ImageSets/Main): 2008_000004 (a set has every label of its kinds: --tasks segmentation imports them)"
has "$T/err" "must import voc: left out 1 image without a mask (SegmentationClass/<id>.png, listed in ImageSets/Segmentation): 2008_000003"
has "$T/err" "must import voc: clipped 1 box to its image (the first: $V/Annotations/2008_000002.xml:5)"
has "$T/err" "1 annotation names another image in <filename> than <id>.jpg, which is used (the first: $V/Annotations/2008_000002.xml: '2008_999999.jpg')"
# dog 2 1 5 4 -> 1 0 5 4 (class 11); person 6 2 8 6, difficult -> 5 1 8 6
# (class 14); car 3 2 9 5 on a 6x5 image -> 2 1 9 5, cut to 2 1 6 5.
printf '%s\n' "2008_000001 1 0 5 4 11 1" "2008_000001 5 1 8 6 14 1 1" "2008_000002 2 1 6 5 6 1" \
    >"$T/want-det"
cmp "$T/want-det" "$T/both/labels/detection.txt" ||
    { fail "detection.txt"; cat "$T/both/labels/detection.txt"; }
has "$T/both/dataset.ini" "classes = aeroplane, bicycle, bird, boat, bottle, bus, car, cat, chair, cow, diningtable, dog, horse, motorbike, person, pottedplant, sheep, sofa, train, tvmonitor"
has "$T/both/dataset.ini" "classes = background, aeroplane, bicycle,"
[ "$(cat "$T/both/splits/train.txt")" = "2008_000001" ] || fail "train split"
[ "$(cat "$T/both/splits/val.txt")" = "2008_000002" ] || fail "val split"
cmp "$V/JPEGImages/2008_000001.jpg" "$T/both/images/2008_000001.jpg" ||
    fail "the image was not copied as it is"
[ -f "$T/both/labels/segmentation/2008_000002.png" ] || fail "no mask for 2008_000002"
expect 0 "$MUST_BIN" dataset check "$T/both"
has "$T/out" "$T/both: ok"
has "$T/out" "3 boxes on 2 images (0 without), 1 difficult"

# One kind each; the image without an annotation, or without a mask, is in.
expect 0 "$MUST_BIN" import voc "$V" "$T/det" --tasks detection --name voc-det
has "$T/out" "$T/det: 3 images, 20 classes (detection) from $V; train 2, val 1, test 0; boxes 4 (difficult 1, clipped to their image 1)"
has "$T/err" "1 annotation gives another <size> than the image's, which is used (the first: $V/Annotations/2008_000003.xml:2: 500x375, $V/JPEGImages/2008_000003.jpg is 7x7)"
has "$T/det/dataset.ini" "name = voc-det"
has "$T/det/labels/detection.txt" "2008_000003 0 0 7 7 2 1"
expect 0 "$MUST_BIN" import voc "$V" "$T/seg" --tasks segmentation
has "$T/out" "$T/seg: 3 images, 20 classes (segmentation) from $V; train 2, val 1, test 0; void pixels 8"
[ -s "$T/err" ] && { fail "notes for segmentation alone:"; cat "$T/err"; }
for s in seg det; do
    expect 0 "$MUST_BIN" dataset check "$T/$s"
    has "$T/out" "$T/$s: ok"
done

# Without lists: a seeded split, the same for the same seed.
cp -r "$V" "$T/nolists" && rm -r "$T/nolists/ImageSets"
expect 0 "$MUST_BIN" import voc "$T/nolists" "$T/s1" --tasks detection --val 0.34 --test 0.34 --seed 5
has "$T/out" "train 1, val 1, test 1"
expect 0 "$MUST_BIN" import voc "$T/nolists" "$T/s2" --tasks detection --val 0.34 --test 0.34 --seed 5
for s in train val test; do
    cmp "$T/s1/splits/$s.txt" "$T/s2/splits/$s.txt" || fail "split $s differs"
done

# Missing images: named, or skipped and counted.
cp -r "$V" "$T/miss" && rm "$T/miss/JPEGImages/2008_000003.jpg"
expect 1 "$MUST_BIN" import voc "$T/miss" "$T/m1" --tasks detection
has "$T/err" "must import voc: 1 of the 3 images are missing: $T/miss/JPEGImages/2008_000003.jpg"
[ -e "$T/m1" ] && fail "a failed import wrote $T/m1"
expect 0 "$MUST_BIN" import voc "$T/miss" "$T/m2" --tasks detection --skip-missing
has "$T/out" "$T/m2: 2 images,"
has "$T/out" "; missing images skipped 1"
has "$T/err" "must import voc: skipped 1 missing images: $T/miss/JPEGImages/2008_000003.jpg"

# Bad annotations: the file and the line; nothing is written.
cp -r "$V" "$T/bad"
A="$T/bad/Annotations/2008_000001.xml"
cat >"$A" <<'EOF'
<annotation>
  <object>
    <name>dog</name>
    <bndbox><xmin>2</xmin><ymin>1</ymin><xmax>5</xmax><ymax>4</ymax></bndbox>
  </object>
  <object>
    <name>dinosaur</name>
  </object>
</annotation>
EOF
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b1"
has "$T/err" "must import voc: $A:7: <name> 'dinosaur' is not one of the 20 Pascal VOC classes"
printf '<annotation>\n  <object>\n    <name>dog</name>\n    <bndbox>\n      <xmin>2' >"$A"
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b2"
has "$T/err" "must import voc: $A:5: not well-formed XML: "
printf '<annotation><object><name>dog</name>\n<bndbox><xmin>2</xmin><ymin>1</ymin>\n<ymax>4</ymax></bndbox></object></annotation>\n' >"$A"
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b3"
has "$T/err" "must import voc: $A:2: <bndbox> has no <xmax>"
printf '<annotation><object><name>dog</name><bndbox>\n<xmin>2</xmin><ymin>1</ymin>\n<xmax>five</xmax><ymax>4</ymax></bndbox></object></annotation>\n' >"$A"
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b4"
has "$T/err" "must import voc: $A:3: <xmax> 'five' is not a number"
printf '<annotation><object><name>dog</name><bndbox>\n<xmin>2</xmin>\n<ymin>7</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object></annotation>\n' >"$A"
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b5"
has "$T/err" "must import voc: $A:3: <ymin> 7 lies outside the 8x6 image"
for b in b1 b2 b3 b4 b5; do
    [ -e "$T/$b" ] && fail "a failed import wrote $T/$b"
done
# A bad mask is found while writing: the set stays unfinished.
cp "$V/Annotations/2008_000001.xml" "$A"
"$FIX" mask "$T/bad/SegmentationClass/2008_000002.png" 6 5 40 || fail "cannot write the mask"
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b6"
has "$T/err" "must import voc: $T/bad/SegmentationClass/2008_000002.png: pixel (0, 0) holds 40"
[ -e "$T/b6/dataset.ini" ] && fail "a failed import finished $T/b6"
"$FIX" mask "$T/bad/SegmentationClass/2008_000002.png" 5 5 0 || fail "cannot write the mask"
expect 1 "$MUST_BIN" import voc "$T/bad" "$T/b7"
has "$T/err" "2008_000002.png: a 5x5 mask for the 6x5 image $T/bad/JPEGImages/2008_000002.jpg"

# Usage, the folder, and an existing set.
expect 2 "$MUST_BIN" import voc "$V" "$T/u" --tasks depth
has "$T/err" "--tasks: 'depth' is not detection or segmentation"
expect 2 "$MUST_BIN" import voc "$V"
has "$T/err" "needs DIR and OUT"
expect 2 "$MUST_BIN" import voc "$V" "$T/u" --val 0.7 --test 0.5
has "$T/err" "leave no room for train"
expect 1 "$MUST_BIN" import voc "$V/JPEGImages" "$T/u"
has "$T/err" "has neither Annotations/ nor SegmentationClass/: not a VOC year folder"
expect 1 "$MUST_BIN" import voc "$V" "$T/both"
has "$T/err" "dataset.ini"
expect 0 "$MUST_BIN" import voc --help
has "$T/out" "x0 = xmin - 1, x1 = xmax"
expect 0 "$MUST_BIN" import --help
has "$T/out" "must import voc DIR OUT"

[ "$fails" -eq 0 ] || exit 1
echo "import_voc: ok"
