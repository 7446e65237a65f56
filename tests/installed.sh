#!/bin/sh
# installed.sh - libmust as a user gets it: `make install DESTDIR=...`
# into a staging folder, then
#   - the installed libmust.so exports exactly the functions its installed
#     headers declare with MUST_API, every one of them must_-prefixed;
#   - examples/pipeline/drive.c, built with nothing but
#     `pkg-config --cflags --libs must` against the staged install, drives
#     a whole experiment through must/pipeline.h with the staged plugins,
#     and its run directory holds the report.
set -u
T="$MUST_TEST_TMP/installed"
rm -rf "$T"
mkdir -p "$T"
stage="$T/stage"
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

if ! ${MAKE:-make} -C "$MUST_BUILDDIR" install DESTDIR="$stage" >"$T/install.log" 2>&1; then
    tail -30 "$T/install.log"
    echo "FAIL: make install DESTDIR=$stage"
    exit 1
fi
lib="$stage$MUST_LIBDIR"
inc="$stage$MUST_INCLUDEDIR/must"
so="$lib/libmust.so"
[ -e "$so" ] || { echo "FAIL: no $so"; exit 1; }

# What the headers declare, and what the library exports.
sed -n 's/^MUST_API .*[^a-z0-9_]\(must_[a-z0-9_]*\)(.*/\1/p' "$inc"/*.h | sort -u >"$T/declared"
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort -u >"$T/exported"
[ -s "$T/declared" ] || fail "no MUST_API declaration found in $inc"
grep -v '^must_' "$T/exported" >"$T/bad" && { fail "exported without the must_ prefix:"; cat "$T/bad"; }
comm -23 "$T/exported" "$T/declared" >"$T/extra"
[ -s "$T/extra" ] && { fail "exported but in no installed header:"; cat "$T/extra"; }
comm -13 "$T/exported" "$T/declared" >"$T/missing"
[ -s "$T/missing" ] && { fail "declared but not exported:"; cat "$T/missing"; }

# A program of a user's, built against the staged install alone.
pc="$lib/pkgconfig"
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$stage"
if ! pkg-config --exists must; then
    echo "FAIL: pkg-config finds no must.pc in $pc"
    exit 1
fi
CC=${MUST_CC:-cc}
if ! $CC -std=c11 -Wall -Wextra -Werror -o "$T/drive" "$MUST_SRCDIR/examples/pipeline/drive.c" \
    $(pkg-config --cflags --libs must) 2>"$T/cc.err"; then
    cat "$T/cc.err"
    echo "FAIL: examples/pipeline/drive.c does not build against the installed must"
    exit 1
fi
# Only the staged library and plugins: the build tree is out of sight.
LD_LIBRARY_PATH="$lib" MUST_PLUGIN_PATH="$stage$MUST_PKGLIBDIR" \
    "$T/drive" "$MUST_SRCDIR/tests/data/tiny.ini" "$T/run" >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "drive: the tiny experiment failed"; }
LD_LIBRARY_PATH="$lib" ldd "$T/drive" | grep -q "$lib/libmust.so" || { LD_LIBRARY_PATH="$lib" ldd "$T/drive"; fail "drive did not use the staged libmust"; }
for f in report.md results.json results.csv teachers/seg/model.safetensors student/model.safetensors; do
    [ -s "$T/run/$f" ] || fail "drive's run has no $f"
done
grep -q "^\[run\] tiny into " "$T/out" || { cat "$T/out"; fail "no plan line among the events"; }
grep -q "^\[teacher seg\] 4/4 segmentation " "$T/out" || fail "no progress event of the teacher"
grep -q "^drive: [0-9]* lines, [1-9][0-9]* progress events$" "$T/out" || fail "no events counted"
grep -q '"representation": "must"' "$T/run/results.json" || fail "no must row in results.json"

# A second drive finds every unit done: the plan says so, nothing trains.
LD_LIBRARY_PATH="$lib" MUST_PLUGIN_PATH="$stage$MUST_PKGLIBDIR" \
    "$T/drive" "$MUST_SRCDIR/tests/data/tiny.ini" "$T/run" >"$T/out2" 2>&1 || fail "second drive"
grep -q "every unit is done; the report only" "$T/out2" || { cat "$T/out2"; fail "the rerun redid work"; }
grep -q "^\[teacher seg\]" "$T/out2" && fail "the rerun trained the teacher again"

if [ "$fails" -gt 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "installed: exports match the headers ($(wc -l <"$T/exported") functions); drive ran the pipeline"
