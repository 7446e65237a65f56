#!/bin/sh
# install_files.sh - what `make install DESTDIR=...` puts where for a
# user's man, bash and documents, and that `make uninstall` takes all of it
# back:
#   - README.md and every file of docs/ (but its docs.am) under $(docdir),
#     docs/ keeping its folders (the documents' links between each other
#     and the README's still work), byte for byte;
#   - every page of man/ under $(mandir)/manN, where `man -M` finds it;
#   - completion/must as $(bashcompletiondir)/must (when configured);
#   - must/version.h with this version;
#   - after `make uninstall`, no file left in the staging folder.
# tests/installed.sh checks the library, its headers and a program built
# against them in a staging folder of its own.
set -u
src=${MUST_SRCDIR:?MUST_SRCDIR names the source tree}
T="$MUST_TEST_TMP/install_files"
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
doc="$stage$MUST_DOCDIR"

# The documents.
cmp -s "$src/README.md" "$doc/README.md" || fail "README.md is not installed as $doc/README.md"
(cd "$src" && find docs -type f ! -name '*.am' | sort) >"$T/docs"
[ -s "$T/docs" ] || fail "no document in $src/docs"
n=0
while read -r f; do
    cmp -s "$src/$f" "$doc/$f" || fail "$f is not installed as $doc/$f"
    n=$((n + 1))
done <"$T/docs"
find "$doc" -name '*.am' | grep . && fail "a build fragment is installed with the documents"
for d in docs/paper docs/world docs/real-data; do
    [ -d "$src/$d" ] && { [ -d "$doc/$d" ] || fail "$d/ is not installed as $doc/$d/"; }
done

# The manual pages, where man looks.
npages=0
for page in "$src"/man/*.[1-8]; do
    name=$(basename "$page")
    sec=${name##*.}
    cmp -s "$page" "$stage$MUST_MANDIR/man$sec/$name" ||
        fail "man/$name is not installed as $stage$MUST_MANDIR/man$sec/$name"
    found=$(man -M "$stage$MUST_MANDIR" -w "$sec" "${name%.*}" 2>&1)
    [ "$found" = "$stage$MUST_MANDIR/man$sec/$name" ] ||
        fail "man -M $stage$MUST_MANDIR -w $sec ${name%.*} finds '$found'"
    npages=$((npages + 1))
done

# The bash completion.
if [ -n "${MUST_COMPLETIONSDIR:-}" ]; then
    cmp -s "$src/completion/must" "$stage$MUST_COMPLETIONSDIR/must" ||
        fail "completion/must is not installed as $stage$MUST_COMPLETIONSDIR/must"
else
    echo "note: configured without bash completion (--with-bash-completion-dir=no)"
fi

# The version header.
v=$("$MUST_BIN" version | sed -n 's/^must //p')
grep -q "^#define MUST_VERSION_STRING \"$v\"\$" "$stage$MUST_INCLUDEDIR/must/version.h" ||
    fail "$stage$MUST_INCLUDEDIR/must/version.h does not define MUST_VERSION_STRING \"$v\""

# And back.
if ! ${MAKE:-make} -C "$MUST_BUILDDIR" uninstall DESTDIR="$stage" >"$T/uninstall.log" 2>&1; then
    tail -30 "$T/uninstall.log"
    fail "make uninstall DESTDIR=$stage"
fi
find "$stage" -type f >"$T/left"
[ -s "$T/left" ] && { fail "make uninstall left files behind:"; cat "$T/left"; }
[ -d "$doc/docs" ] && { fail "make uninstall left folders of $doc/docs:"; find "$doc/docs"; }

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "install_files: README.md and $n documents, $npages manual pages, the completion and" \
    "must/version.h installed; all removed again"
