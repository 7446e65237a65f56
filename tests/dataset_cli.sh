#!/bin/sh
# dataset_cli.sh - `must dataset check|show` and `must import imagefolder` on
# good and broken sets: exit codes, and messages that name file and line.
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

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
