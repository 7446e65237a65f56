#!/bin/sh
# boundary_example.sh - a task plugin with a label kind of its own, the
# way its author gets there (examples/boundary, docs/plugins.md): must
# installed into a staging folder; the example's plugin and tool built with
# its Makefile against that installation through pkg-config; world sets
# rendered and given boundary labels by the tool; the example's experiment
# run through the installed `must run`, the plugin found by
# MUST_PLUGIN_PATH.  The report must have the boundary transfer column and
# the boundary teacher's pseudo-label quality against the truth; `must
# dataset check` and `must plugins` must know the kind.
set -u
T="$MUST_TEST_TMP/boundary_example"
rm -rf "$T"
mkdir -p "$T"
stage="$T/stage"
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
has() {
    grep -F -- "$2" "$1" >/dev/null || { fail "'$2' not in $1:"; cat "$1"; }
}

if ! ${MAKE:-make} -C "$MUST_BUILDDIR" install DESTDIR="$stage" >"$T/install.log" 2>&1; then
    tail -30 "$T/install.log"
    echo "FAIL: make install DESTDIR=$stage"
    exit 1
fi
lib="$stage$MUST_LIBDIR"
bin="$stage$MUST_BINDIR/must"
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
export LD_LIBRARY_PATH="$lib"
pkg-config --exists must || { echo "FAIL: no must.pc in $lib/pkgconfig"; exit 1; }

# The example's own make, without this make's flags.
mk="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make}"

# The example, copied out of the (maybe read-only) source tree, built with
# its own Makefile: nothing of the build tree is in sight.
ex="$T/boundary"
cp -R "$MUST_SRCDIR/examples/boundary" "$ex"
chmod -R u+w "$ex"
rm -rf "$ex/sets" "$ex/run-boundary" "$ex/boundary.so" "$ex/boundary-labels"
if ! $mk -C "$ex" CC="${MUST_CC:-cc}" CFLAGS="-O2 -Werror" >"$T/build.log" 2>&1; then
    cat "$T/build.log"
    echo "FAIL: examples/boundary does not build against the installed must"
    exit 1
fi
MUST_PLUGIN_PATH="$ex:$stage$MUST_PKGLIBDIR"
export MUST_PLUGIN_PATH

"$bin" plugins boundary >"$T/plugins" 2>&1 || { cat "$T/plugins"; fail "must plugins boundary"; }
has "$T/plugins" "boundary 1.0.0  (ABI 2)"
has "$T/plugins" "labels:   boundary (its own kind), stored in labels/boundary/<id>.png"

if ! $mk -C "$ex" sets MUST="$bin" >"$T/sets.log" 2>&1; then
    cat "$T/sets.log"
    echo "FAIL: make sets"
    exit 1
fi
has "$ex/sets/teach-bnd/dataset.ini" "tasks = segmentation, boundary"
has "$ex/sets/unlabelled/truth/dataset.ini" "boundary"
grep -q boundary "$ex/sets/unlabelled/dataset.ini" && fail "the unlabelled set got labels"
[ -s "$ex/sets/down-bnd/labels/boundary/$(ls "$ex/sets/down-bnd/images" | head -1)" ] ||
    fail "no label file for the first image of down-bnd"
# The tool again has nothing to do: the sets have the kind.
(cd "$ex" && ./boundary-labels sets/teach-bnd sets/unlabelled) >"$T/again" 2>&1 ||
    { cat "$T/again"; fail "boundary-labels, again"; }
has "$T/again" "sets/unlabelled: nothing to do"
grep -q "labels written" "$T/again" && fail "boundary-labels wrote labels twice"

# The store is checked through the plugin's codec, loaded for the kind.
"$bin" dataset check "$ex/sets/teach-bnd" >"$T/check" 2>&1 || { cat "$T/check"; fail "check"; }
has "$T/check" "boundary"
has "$T/check" "on a boundary"
# Without the plugin the set cannot be read, and the message says why.
MUST_PLUGIN_PATH="$stage$MUST_PKGLIBDIR" "$bin" dataset check "$ex/sets/teach-bnd" \
    >"$T/nocheck" 2>&1 && fail "a set of an unknown kind was checked"
has "$T/nocheck" "'boundary'"

# The experiment, at its size, through the installed must run.
(cd "$ex" && "$bin" run boundary.ini --out "$T/run") >"$T/run.log" 2>&1 ||
    { tail -30 "$T/run.log"; fail "must run boundary.ini"; }
rep="$T/run/report.md"
[ -s "$rep" ] || fail "no report"
has "$rep" "bnd"
grep -q '"task": "bnd"\|"bnd"' "$T/run/results.json" || fail "no boundary transfer in results.json"
has "$T/run.log" "bnd pseudo labels vs the hidden truth: f1"
grep -q "^| bnd " "$rep" || grep -q "| bnd |" "$rep" || { cat "$rep"; fail "no bnd row in the pseudo-label table"; }
[ -s "$T/run/label/unlabelled/part-000/labels/boundary/$(ls "$ex/sets/unlabelled/images" | head -1)" ] ||
    fail "no pseudo label in the boundary store"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
