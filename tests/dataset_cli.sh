#!/bin/sh
# dataset_cli.sh - `must dataset check|show` and `must import imagefolder|images`
# on good and broken sets, PNG and JPEG: exit codes, and messages that name
# file and line.
set -u
T="$MUST_TEST_TMP/dataset_cli"
MK="$(dirname "$MUST_BIN")/tests/mkdataset"
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

"$MK" set "$T/good" || { echo "cannot make the fixture"; exit 99; }

# A good set: exit 0, a summary per task.
expect 0 "$MUST_BIN" dataset check "$T/good"
has "$T/out" "$T/good: ok"
has "$T/out" 'dataset "cli-set"'
has "$T/out" "12 images (24x20)"
for task in classification detection segmentation depth normal; do
    has "$T/out" "  $task ("
done

# A broken set: every problem named with file and line, exit 1.
cp -r "$T/good" "$T/bad"
sed -i 's/^img002 2$/img002 9/' "$T/bad/labels/classification.txt"
echo img003 >>"$T/bad/splits/train.txt"
echo "colour = red" >>"$T/bad/dataset.ini"
head -c 60 "$T/good/images/img005.png" >"$T/bad/images/img005.png"
echo "img001 0 0 4" >>"$T/bad/labels/detection.txt"
expect 1 "$MUST_BIN" dataset check "$T/bad"
has "$T/err" "bad/labels/classification.txt:3: class 9 of 'img002' out of range 0..2"
has "$T/err" "bad/splits/train.txt:9: duplicate image 'img003'"
has "$T/err" "bad/dataset.ini:30: [normal] colour: unknown key"
has "$T/err" "bad/images/img005.png"
has "$T/err" "bad/labels/detection.txt:13: box of 'img001' has 4 fields"
has "$T/out" "$T/bad: 6 problems"
# Several sets: each judged, status 1 when any is bad.
expect 1 "$MUST_BIN" dataset check "$T/good" "$T/bad"
has "$T/out" "$T/good: ok"

# Not a dataset at all.
expect 1 "$MUST_BIN" dataset check "$T/nowhere"
has "$T/err" "nowhere/dataset.ini: cannot read"

# Usage errors: status 2 and a hint; --help: 0.
expect 2 "$MUST_BIN" dataset check
expect 2 "$MUST_BIN" dataset check --bogus "$T/good"
has "$T/err" "unknown option '--bogus'"
expect 2 "$MUST_BIN" dataset frob
expect 0 "$MUST_BIN" dataset --help
has "$T/out" "usage: must dataset check"
expect 0 "$MUST_BIN" dataset show --help

# The contact sheet.
expect 0 "$MUST_BIN" dataset show "$T/good" --out "$T/sheet.png" --count 4 --tile 64
[ -s "$T/sheet.png" ] || fail "no contact sheet written"
[ "$(head -c 4 "$T/sheet.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "sheet is not a PNG"
expect 0 "$MUST_BIN" dataset show "$T/good" --out "$T/sheet-val.png" --split val
has "$T/out" "2 images"
expect 2 "$MUST_BIN" dataset show "$T/good"
expect 2 "$MUST_BIN" dataset show "$T/good" --out "$T/x.png" --count 0
expect 1 "$MUST_BIN" dataset show "$T/bad" --out "$T/x.png"
has "$T/err" "dataset \"cli-set\": $T/bad/dataset.ini:30:"

# imagefolder import: deterministic split, a valid set.
"$MK" folder "$T/folder" || { echo "cannot make the folder fixture"; exit 99; }
expect 0 "$MUST_BIN" import imagefolder "$T/folder" "$T/imported" --seed 3 --val 0.2 --test 0.2
has "$T/out" "15 images of 3 classes"
has "$T/out" "train 9, val 3, test 3"
has "$T/out" "skipped 3 files that are not .png"
expect 0 "$MUST_BIN" dataset check "$T/imported"
has "$T/imported/dataset.ini" "classes = cat, dog, red panda"
has "$T/imported/dataset.ini" "name = imported"
has "$T/imported/labels/classification.txt" "red_panda_photo_4 2"
expect 0 "$MUST_BIN" import imagefolder "$T/folder" "$T/imported2" --seed 3 --val 0.2 --test 0.2
for s in train val test; do
    cmp -s "$T/imported/splits/$s.txt" "$T/imported2/splits/$s.txt" || fail "split $s differs"
done
expect 0 "$MUST_BIN" import imagefolder "$T/folder" "$T/imported3" --seed 4 --val 0.2 --test 0.2
cmp -s "$T/imported/splits/train.txt" "$T/imported3/splits/train.txt" &&
    fail "another seed gave the same split"
expect 1 "$MUST_BIN" import imagefolder "$T/folder" "$T/imported"
has "$T/err" "refusing to overwrite"
expect 1 "$MUST_BIN" import imagefolder "$T/nowhere" "$T/imported4"
has "$T/err" "nowhere: cannot open"
expect 2 "$MUST_BIN" import imagefolder "$T/folder"
expect 2 "$MUST_BIN" import imagefolder "$T/folder" "$T/x" --val 2
expect 2 "$MUST_BIN" import tarball "$T/folder" "$T/x"

# JPEGs: any extension case, content over name, the real photo among them;
# copied as they are, decoded by the check, read by the loader.
"$MK" jpegs "$T/jpegs" || { echo "cannot make the JPEG fixture"; exit 99; }
cp "$MUST_SRCDIR/tests/data/grace_hopper.jpg" "$T/jpegs/dog/hopper.jpg"
expect 0 "$MUST_BIN" import imagefolder "$T/jpegs" "$T/jpegset" --val 0 --test 0
has "$T/out" "5 images of 2 classes"
has "$T/out" "skipped 1 files that are not .png, .jpg or .jpeg"
cmp -s "$MUST_SRCDIR/tests/data/grace_hopper.jpg" "$T/jpegset/images/dog_hopper.jpg" ||
    fail "the photo was not copied byte for byte"
[ "$(ls "$T/jpegset/images" | grep -c '\.jpg$')" -eq 4 ] || fail "not 4 JPEGs in the set"
[ -f "$T/jpegset/images/dog_d.png" ] || fail "the PNG did not stay a PNG"
expect 0 "$MUST_BIN" dataset check "$T/jpegset"
has "$T/out" "5 images (40..512 x 30..600)"
expect 0 "$MUST_BIN" bench data --dataset "$T/jpegset" --size 32 --workers 1 --batch 5 --batches 2
has "$T/out" '"images":10'
cp -r "$T/jpegset" "$T/jpegbad"
head -c 20000 "$MUST_SRCDIR/tests/data/grace_hopper.jpg" >"$T/jpegbad/images/dog_hopper.jpg"
expect 1 "$MUST_BIN" dataset check "$T/jpegbad"
has "$T/err" "jpegbad/images/dog_hopper.jpg: truncated JPEG"
echo "not a picture" >"$T/jpegbad/images/dog_hopper.jpg"
expect 1 "$MUST_BIN" dataset check "$T/jpegbad"
has "$T/err" "jpegbad/images/dog_hopper.jpg: not a PNG or JPEG file"
# No image at all is an error, for the import and for the check.
mkdir -p "$T/noimg/cls"
echo x >"$T/noimg/cls/a.txt"
expect 1 "$MUST_BIN" import imagefolder "$T/noimg" "$T/noimgset"
has "$T/err" "no images (.png, .jpg, .jpeg)"
mkdir -p "$T/empty/images"
printf '[dataset]\nname = empty\ntasks =\n' >"$T/empty/dataset.ini"
expect 1 "$MUST_BIN" dataset check "$T/empty"
has "$T/err" "empty/images holds no images"

# import images: the whole tree as an unlabelled pool, ids from the paths.
expect 0 "$MUST_BIN" import images "$T/jpegs" "$T/pool" --seed 2 --val 0.4 --test 0.2
has "$T/out" "6 images without labels from $T/jpegs; train 3, val 2, test 1"
has "$T/out" "skipped 1 files"
has "$T/pool/dataset.ini" "tasks ="
[ -f "$T/pool/images/dog_sub_e.jpg" ] || fail "no dog_sub_e.jpg in the pool"
expect 0 "$MUST_BIN" dataset check "$T/pool"
has "$T/out" "6 images"
expect 0 "$MUST_BIN" import images "$T/jpegs" "$T/pool2" --seed 2 --val 0.4 --test 0.2
cmp -s "$T/pool/splits/val.txt" "$T/pool2/splits/val.txt" || fail "pool split differs"
expect 1 "$MUST_BIN" import images "$T/noimg" "$T/pool3"
has "$T/err" "no images (.png, .jpg, .jpeg) at any depth"
expect 2 "$MUST_BIN" import images "$T/jpegs"
expect 2 "$MUST_BIN" import images "$T/jpegs" "$T/x" --test -1
expect 0 "$MUST_BIN" import --help
has "$T/out" "must import images DIR OUT"

# The whole pipeline on JPEG sets: a teacher on an imported classification
# set, pseudo labels on a pool of the same JPEGs (copied, not re-encoded),
# the student, a transfer.  (Pseudo-labelling needs square images of one
# size, hence this fixture.)
"$MK" jpegsquare "$T/sq" || { echo "cannot make the square JPEG fixture"; exit 99; }
expect 0 "$MUST_BIN" import imagefolder "$T/sq" "$T/sqcls" --val 0.25 --test 0.25
expect 0 "$MUST_BIN" import images "$T/sq" "$T/sqpool"
cat >"$T/jpeg-run.ini" <<'EOF'
[experiment]
name = jpeg
seed = 3
image_size = 32
workers = 1
threads = 1
eval_batch = 8

[backbone]
depth = 18
width = 0.125
stem_stride = 2
fpn_channels = 16
fpn_max_level = 5

[data.cls]
path = sqcls

[data.unl]
path = sqpool

[task.classification]

[teacher.cls]
task = classification
data = cls
steps = 2
batch = 4
lr = 0.05

[label]
data = unl
batch = 8

[student]
steps = 2
batch = 4
lr = 0.05

[compare]
representations = random, must

[transfer.dcls]
task = classification
data = cls
lrs = 0.05
sweep_steps = 2
batch = 4
EOF
expect 0 "$MUST_BIN" run "$T/jpeg-run.ini" --out "$T/jpeg-run"
[ -s "$T/jpeg-run/report.md" ] || fail "no report from the JPEG run"
cmp -s "$T/sq/dog/05.jpg" "$T/jpeg-run/label/unl/part-000/images/dog_05.jpg" ||
    fail "the pseudo-labelled set does not hold the pool's JPEG as it was"
expect 0 "$MUST_BIN" dataset check "$T/jpeg-run/label/unl/part-000"
has "$T/out" "16 images (32x32)"
has "$T/out" "classification (pseudo from"

# The JPEG benchmark, briefly: both decodes, the 640x480 photo.
expect 0 "$MUST_BIN" bench data --jpeg --size 32 --batch 4 --batches 1 --images 4
has "$T/out" '"bench":"data-jpeg","photo":"640x480","decode":"reduced","size":32'
has "$T/out" '"decode":"full"'

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
