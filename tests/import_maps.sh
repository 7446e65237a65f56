#!/bin/sh
# import_maps.sh - `must import depth` and `must import normals` end to end:
# pairing by stem and its report, --skip-unpaired, size mismatches, depths
# the scale cannot store, the conventions, then `must dataset check` of what
# was written.  The fixtures are tests/mkmaps.c's.
set -u
T="$MUST_TEST_TMP/import_maps"
MK="$(dirname "$MUST_BIN")/tests/mkmaps"
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

"$MK" "$T/in" || { echo "cannot make the fixtures"; exit 99; }
I="$T/in/images"

# Depth from 16-bit PNGs and .npy files of every kind, paired by stem.
expect 0 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth" "$T/depth" --seed 2 \
    --val 0.2 --test 0.2
has "$T/out" "$T/depth: 5 images with depth maps from $I and $T/in/depth; train 3, val 1, test 1"
has "$T/out" "skipped 2 files of other kinds"
# (0, 0) of the PNGs, (2, 0) of the .npy files, (0, 0) of b, c and d too
has "$T/err" "must import depth: 8 of 240 pixels (3.3%) have no depth"
has "$T/depth/dataset.ini" "scale = 0.001"
for id in a b c d e; do
    [ -f "$T/depth/images/$id.png" ] || fail "no image $id"
    [ -f "$T/depth/labels/depth/$id.png" ] || fail "no depth map $id"
done
cmp "$I/a.png" "$T/depth/images/a.png" || fail "the image was not copied as it is"
expect 0 "$MUST_BIN" dataset check "$T/depth"
has "$T/out" "$T/depth: ok"
# The same seed, the same split.
expect 0 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth" "$T/depth2" --seed 2 \
    --val 0.2 --test 0.2
for s in train val test; do
    cmp "$T/depth/splits/$s.txt" "$T/depth2/splits/$s.txt" || fail "split $s differs"
done

# Normals in x-right,y-up,z-camera from .npy and 8- and 16-bit PNGs.
expect 0 "$MUST_BIN" import normals --images "$I" --normals "$T/in/normals" "$T/normals" \
    --convention x-right,y-up,z-camera --name nyu-normals
has "$T/out" "$T/normals: 5 images with normal maps"
has "$T/err" "must import normals: 4 of 240 pixels (1.7%) have no valid normal"
has "$T/normals/dataset.ini" "name = nyu-normals"
has "$T/normals/dataset.ini" "encoding = unit16"
expect 0 "$MUST_BIN" dataset check "$T/normals"
has "$T/out" "$T/normals: ok"
expect 0 "$MUST_BIN" import normals --images "$I" --normals "$T/in/normals" "$T/normals2" \
    --convention opengl
cmp "$T/normals/labels/normal/b.png" "$T/normals2/labels/normal/b.png" ||
    fail "opengl is not x-right,y-up,z-camera"
expect 0 "$MUST_BIN" import normals --images "$I" --normals "$T/in/normals" "$T/normals3"
cmp -s "$T/normals/labels/normal/b.png" "$T/normals3/labels/normal/b.png" &&
    fail "the convention changed nothing"

# Unpaired files: an error listing both sides, and no set.
expect 1 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-some" "$T/some"
has "$T/err" "3 images without a depth map in $T/in/depth-some: c.png, d.png, e.PNG"
has "$T/err" "2 depth maps without an image in $I: orphan1.npy, orphan2.png"
[ -f "$T/some/dataset.ini" ] && fail "an unpaired import left a set"
# ... or with --skip-unpaired the pairs, and the rest listed.
expect 0 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-some" "$T/some" \
    --skip-unpaired
has "$T/out" "$T/some: 2 images with depth maps"
has "$T/err" "warning: left out 3 images without a depth map"
has "$T/err" "warning: left out 2 depth maps without an image"
expect 0 "$MUST_BIN" dataset check "$T/some"
# Long lists show the first five and count the rest.
expect 1 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-many" "$T/many"
has "$T/err" "7 depth maps without an image in $I: x0.npy, x1.npy,"
has "$T/err" "x3.npy, x4.npy and 2 more"

# A map of another size than its image names both files.
expect 1 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-size" "$T/size"
has "$T/err" "$I/b.png and its depth map $T/in/depth-size/b.npy differ in size"
has "$T/err" "is 8x6 but its depth map is 5x4"
[ -f "$T/size/dataset.ini" ] && fail "a failed import left a set"

# A depth past what the scale stores is refused, naming the pixel; a larger
# scale stores it.
expect 1 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-far" "$T/far"
has "$T/err" "$T/in/depth-far/a.npy: depth 100 m at (7, 5) is past the 65.535 m that scale"
has "$T/err" "0.001 stores (a scale of 0.0016 or more would)"
expect 0 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-far" "$T/far2" --scale 0.002
has "$T/far2/dataset.ini" "scale = 0.002"
expect 0 "$MUST_BIN" dataset check "$T/far2"

# Two maps with one stem; a normal map of the wrong shape.
expect 1 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth-dup" "$T/dup"
has "$T/err" "a.npy and a.png have the same stem 'a'"
expect 1 "$MUST_BIN" import normals --images "$I" --normals "$T/in/normals-2d" "$T/n2d"
has "$T/err" "$T/in/normals-2d/a.npy: shape (6, 8) is not a normal map's (H, W, 3)"

# Mistakes on the command line.
expect 1 "$MUST_BIN" import normals --images "$I" --normals "$T/in/normals" "$T/c1" \
    --convention x-right,y-right,z-camera
has "$T/err" "two axes lie along must's x"
expect 2 "$MUST_BIN" import depth --images "$I" --depth "$T/in/depth" "$T/s1" --scale -1
expect 2 "$MUST_BIN" import depth --images "$I" "$T/s2"
has "$T/err" "needs --images DIR, --depth DIR and OUT"
expect 2 "$MUST_BIN" import normals --images "$I" --normals "$T/in/normals" "$T/s3" --scale 2
expect 1 "$MUST_BIN" import depth --images "$T/nowhere" --depth "$T/in/depth" "$T/s4"
has "$T/err" "$T/nowhere: cannot open"
expect 0 "$MUST_BIN" import depth --help
has "$T/out" "usage: must import depth"

[ "$fails" -eq 0 ] || exit 1
echo "import_maps: ok"
