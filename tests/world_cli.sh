#!/bin/sh
# world_cli.sh - `must world` and `must bench world` as a user runs them:
# exit statuses, messages, a small set generated and resumed.
set -u
must=${MUST_BIN:-./must}
tmp=${MUST_TEST_TMP:-tests/tmp}/world-cli
rm -rf "$tmp"
mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

# status: runs "$@", expects exit status $1 (shifted off)
expect() {
    want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || { cat "$tmp/out" "$tmp/err"; fail "'$*' exited $got, expected $want"; }
}

expect 0 "$must" world --help
grep -q "generate" "$tmp/out" || fail "world --help does not describe generate"
expect 0 "$must" world list
for d in teach-cls teach-det teach-seg teach-depth unlabelled down-cls down-det down-seg \
         down-depth down-seg-many down-normal; do
    grep -q "^$d " "$tmp/out" || fail "world list lacks $d"
done
grep -q "ImageNet" "$tmp/out" || fail "world list does not say what teach-cls mirrors"

expect 2 "$must" world
expect 2 "$must" world frobnicate
expect 2 "$must" world generate --count 3 --out "$tmp/x"
grep -q -- "--domain" "$tmp/err" || fail "missing --domain not named"
expect 2 "$must" world generate --domain teach-cls --out "$tmp/x" --bogus
grep -q "unknown option '--bogus'" "$tmp/err" || fail "unknown option not named"
expect 2 "$must" world generate --domain teach-cls --out "$tmp/x" --size 3
expect 1 "$must" world generate --domain no-such-domain --count 2 --out "$tmp/x"
grep -q "no-such-domain" "$tmp/err" || fail "unknown domain not named"

# a broken domain file: the message names the file, line and key
printf '[domain]\nrole = teacher\ntasks = depth\n[objects]\nclasses = cube\nsize = 9, 1\n' >"$tmp/bad.ini"
expect 1 "$must" world generate --domain "$tmp/bad.ini" --count 2 --out "$tmp/x"
grep -q "bad.ini:6: \[objects\] size" "$tmp/err" || { cat "$tmp/err"; fail "bad domain message"; }

expect 0 "$must" world generate --domain down-seg --count 5 --size 32 --out "$tmp/seg" --quiet
[ -f "$tmp/seg/dataset.ini" ] || fail "no dataset.ini"
[ "$(cat "$tmp/seg/splits/train.txt" "$tmp/seg/splits/val.txt" "$tmp/seg/splits/test.txt" | wc -l)" -eq 5 ] ||
    fail "splits do not list 5 images"
[ -f "$tmp/seg/labels/segmentation/000004.png" ] || fail "no segmentation mask"
expect 0 "$must" world generate --domain down-seg --count 5 --size 32 --out "$tmp/seg"
grep -q "0 rendered, 5 already there" "$tmp/out" || { cat "$tmp/out"; fail "rerun did not skip"; }
# Images and labels go to disk without an fsync each, so a crash may leave
# one cut short or empty: a rerun renders exactly those again.
cp -r "$tmp/seg" "$tmp/cut"
head -c 100 "$tmp/seg/images/000001.png" >"$tmp/cut/images/000001.png"
: >"$tmp/cut/labels/segmentation/000003.png"
expect 0 "$must" world generate --domain down-seg --count 5 --size 32 --out "$tmp/cut"
grep -q "2 rendered, 3 already there" "$tmp/out" || { cat "$tmp/out"; fail "cut files were not rendered again"; }
diff -r "$tmp/seg" "$tmp/cut" >/dev/null || fail "the re-rendered files differ from the first ones"
expect 1 "$must" world generate --domain down-seg --count 5 --size 48 --out "$tmp/seg" --quiet
grep -q "other parameters" "$tmp/err" || fail "a changed size was not refused"

# A temporary a killed run left, even beside finished labels, is gone after
# a rerun that has nothing to render.
echo half >"$tmp/seg/labels/detection.txt.tmp.99999"
echo half >"$tmp/seg/images/000002.png.tmp.123"
expect 0 "$must" world generate --domain down-seg --count 5 --size 32 --out "$tmp/seg" --quiet
[ -z "$(find "$tmp/seg" -name '*.tmp.*')" ] || fail "temporaries left: $(find "$tmp/seg" -name '*.tmp.*')"
# A file over `ulimit -f` is an error naming it, not a death by SIGXFSZ.
( ulimit -f 8; "$must" world generate --domain teach-det --count 100 --size 32 \
      --out "$tmp/big" --quiet >"$tmp/out" 2>"$tmp/err" ); rc=$?
[ $rc -eq 1 ] || { cat "$tmp/err"; fail "ulimit -f: exit $rc, not 1"; }
grep -q "$tmp/big/.*File too large" "$tmp/err" || { cat "$tmp/err"; fail "ulimit -f: no message naming the file"; }
expect 0 "$must" world generate --domain teach-det --count 100 --size 32 --out "$tmp/big" --quiet
expect 0 "$must" dataset check "$tmp/big"

# every domain's set, and its truth, pass the data layer's checker
for d in teach-cls teach-det teach-seg teach-depth unlabelled down-cls down-det down-seg \
         down-depth down-seg-many down-normal; do
    expect 0 "$must" world generate --domain $d --count 3 --size 24 --truth --quiet --out "$tmp/all/$d"
    expect 0 "$must" dataset check "$tmp/all/$d" "$tmp/all/$d/truth"
done

expect 0 "$must" world preview --domain down-seg-many --out "$tmp/sheet.png" --count 2 --size 16
[ -s "$tmp/sheet.png" ] || fail "no preview sheet"
expect 2 "$must" world preview --domain down-seg-many
expect 2 "$must" world preview --domain down-seg-many --out "$tmp/s.png" --scale 0

expect 0 "$must" bench world --size 16 --count 8 --threads 1
grep -q '"bench":"world".*"size":16.*"img_s":' "$tmp/out" || { cat "$tmp/out"; fail "bench line"; }
expect 2 "$must" bench world --size 1

rm -rf "$tmp"
echo "world_cli: ok"
