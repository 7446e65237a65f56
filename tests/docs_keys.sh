#!/bin/sh
# docs_keys.sh - the documents' key tables against the tables the library
# reads its INI files with (printed by tests/conf_doc), so that neither can
# change without the other:
#   docs/experiments.md, "Every key": exactly what must_exp_describe gives;
#   docs/world.md, the domain INI table: exactly the world-domain keys;
#   docs/dataset-format.md, the example dataset.ini: only known keys, and
#   every key's name at least once.
# A difference is printed as a diff (-: the document, +: the tables).
set -u
src=${MUST_SRCDIR:?MUST_SRCDIR names the source tree}
T="$MUST_TEST_TMP/docs_keys"
DOC="$(dirname "$MUST_BIN")/tests/conf_doc"
rm -rf "$T"
mkdir -p "$T"
fails=0

# same WHAT DOCFILE TABLEFILE: the two files are equal
same() {
    if ! diff -u "$2" "$3" >"$T/diff"; then
        echo "FAIL: $1 differs from the key tables (-: the document, +: the tables):"
        cat "$T/diff"
        fails=$((fails + 1))
    fi
}

# docs/experiments.md: from "## Every key" to the next "## " heading.
awk '/^## /{on = ($0 == "## Every key"); next} on' "$src/docs/experiments.md" |
    sed -e '/./,$!d' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}' >"$T/exp-doc"
"$DOC" experiment >"$T/exp-table" || exit 99
same "docs/experiments.md (## Every key)" "$T/exp-doc" "$T/exp-table"

# docs/world.md: the rows of the table headed "| section | key | ...", a
# section cell carried down while empty, every `key` of a key cell.
awk -F'|' '
    /^\| section \| key \|/ {on = 1; next}
    on && !/^\|/ {on = 0}
    on && $2 !~ /^ *-+ *$/ {
        if ($2 ~ /\[/) {sec = $2; gsub(/[ `\[\]]/, "", sec)}
        cell = $3
        while (match(cell, /`[a-z_]+`/)) {
            print sec, substr(cell, RSTART + 1, RLENGTH - 2)
            cell = substr(cell, RSTART + RLENGTH)
        }
    }' "$src/docs/world.md" | sort >"$T/world-doc"
"$DOC" world | sort >"$T/world-table" || exit 99
same "docs/world.md (the domain INI table)" "$T/world-doc" "$T/world-table"

# docs/dataset-format.md: the ```ini block's "[section]" and "key =" lines.
awk '
    /^```ini/ {on = 1; next}
    /^```/ {on = 0}
    on && /^\[/ {sec = $1; gsub(/[\[\]]/, "", sec)}
    on && /^[a-z_]+ *=/ {key = $1; sub(/=.*/, "", key); print sec, key}' \
    "$src/docs/dataset-format.md" | sort -u >"$T/ds-doc"
"$DOC" dataset | sort -u >"$T/ds-table" || exit 99
comm -23 "$T/ds-doc" "$T/ds-table" >"$T/ds-unknown"
cut -d' ' -f2 "$T/ds-doc" | sort -u >"$T/ds-doc-keys"
cut -d' ' -f2 "$T/ds-table" | sort -u >"$T/ds-table-keys"
comm -13 "$T/ds-doc-keys" "$T/ds-table-keys" >"$T/ds-unshown"
if [ -s "$T/ds-unknown" ] || [ -s "$T/ds-unshown" ]; then
    echo "FAIL: docs/dataset-format.md's example dataset.ini and the key tables disagree:"
    sed 's/^/  not a key of its section: /' "$T/ds-unknown"
    sed 's/^/  a key the example never shows: /' "$T/ds-unshown"
    fails=$((fails + 1))
fi

[ "$fails" -eq 0 ] || exit 1
echo "docs_keys: experiments.md, world.md and dataset-format.md agree with the key tables"
