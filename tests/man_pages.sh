#!/bin/sh
# man_pages.sh - the manual pages (man/) in step with the program and the
# library, and readable:
#   - man renders every page without a warning (groff's), and each page's
#     .TH names this version;
#   - must(1) has a subsection for every command `must help` lists and every
#     subcommand, and names in it every option of that command's --help;
#     every option it names there is one the help names (so neither can
#     gain or lose an option alone);
#   - must-experiment(5)'s KEYS are exactly the library's key tables
#     (tests/conf_doc experiment: section, key, default, meaning), and its
#     EXAMPLE is an experiment `must run --dry-run` accepts;
#   - must-dataset(5)'s example dataset.ini shows only keys of the library's
#     table (tests/conf_doc dataset), and each of them.
# man and groff are needed (tools/deps.sh installs man-db, which brings
# groff-base): without them this test fails, it does not skip.
set -u
src=${MUST_SRCDIR:?MUST_SRCDIR names the source tree}
must=${MUST_BIN:?}
DOC="$(dirname "$must")/tests/conf_doc"
T="$MUST_TEST_TMP/man_pages"
rm -rf "$T"
mkdir -p "$T/cwd"
cd "$T/cwd" || exit 99
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
. "$src/tests/cli_lists.sh"
M="$src/man"

for tool in man nroff; do
    command -v $tool >/dev/null 2>&1 ||
        { echo "FAIL: '$tool' not found: apt-get install man-db groff-base (tools/deps.sh)"; exit 1; }
done

# Rendering, and the version.
version=$("$must" version | sed -n 's/^must //p')
[ -n "$version" ] || { echo "FAIL: must version names no version"; exit 1; }
for page in "$M"/*.[1-8]; do
    name=$(basename "$page")
    warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >"$T/$name.txt")
    [ -z "$warn" ] || { fail "$name renders with warnings:"; echo "$warn"; }
    grep -q '^NAME' "$T/$name.txt" || fail "$name rendered without a NAME section"
    grep -q "^\\.TH [^ ]* [1-8] [^ ]* \"must $version\"" "$page" ||
        fail "$name: .TH does not name must $version: $(grep '^\.TH' "$page")"
done
for page in must.1 must-experiment.5 must-dataset.5; do
    [ -f "$M/$page" ] || fail "man/$page is missing"
done

# roff FILE: the text with roff's escapes for '-' and fonts undone
roff() {
    sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/—/g' -e 's/\\(mu/x/g' "$1"
}
roff "$M/must.1" >"$T/must.1.txt"

# region CMD [SUB]: the subsections of must(1) for `must CMD` (all of them),
# or for `must CMD SUB` and the command's own ("must import FORMAT ...").
region() {
    awk -v c="$1" -v s="${2:-}" '
        /^\.SH/ { on = 0; next }
        /^\.SS/ {
            t = $0; sub(/^\.SS +/, "", t); gsub(/"/, "", t); split(t, w, " ")
            on = (w[1] == "must" && w[2] == c && (s == "" || w[3] == s || w[3] !~ /^[a-z]/))
            next
        }
        on' "$T/must.1.txt"
}

# Commands, subcommands and options.
cli_lists "$must" "$T" || exit 99
nopts=0
# check_opts NAME HELPFILE REGIONFILE
check_opts() {
    cli_options "$2" >"$T/help-opts"
    # another command, in bold (.B must --version) as the help quotes it
    sed -e '/^\.B must /d' -e 's/"must [^"]*"//g' "$3" | grep -o -- '--[a-z][a-z0-9-]*' |
        grep -vx -- --help | sort -u >"$T/man-opts"
    comm -23 "$T/help-opts" "$T/man-opts" | sed "s/^/  in '$1 --help', not in must(1): /" >"$T/d"
    comm -13 "$T/help-opts" "$T/man-opts" | sed "s/^/  in must(1), not in '$1 --help': /" >>"$T/d"
    [ -s "$T/d" ] && { fail "must(1) and '$1 --help' name different options:"; cat "$T/d"; }
    nopts=$((nopts + $(wc -l <"$T/help-opts")))
}
while read -r c; do
    region "$c" >"$T/r"
    [ -s "$T/r" ] || { fail "must(1) has no subsection for 'must $c'"; continue; }
    "$must" "$c" --help >"$T/h" 2>&1
    if [ ! -s "$T/subs.$c" ]; then
        check_opts "must $c" "$T/h" "$T/r"
        continue
    fi
    for s in $(cat "$T/subs.$c"); do
        grep -Eq "^\\.SS \"?must $c $s( |\"|\$)" "$T/must.1.txt" ||
            { fail "must(1) has no subsection for 'must $c $s'"; continue; }
        region "$c" "$s" >"$T/r"
        "$must" "$c" "$s" --help >"$T/h" 2>&1
        check_opts "must $c $s" "$T/h" "$T/r"
    done
done <"$T/commands"

# must-experiment(5): KEYS against the key tables, as "section|key|default|meaning".
[ -x "$DOC" ] || { echo "FAIL: $DOC not built"; exit 99; }
"$DOC" experiment | awk -F' \\| ' '
    /^### / { sec = substr($0, 5); next }
    /^\| `/ {
        k = $1; sub(/^\| `/, "", k); sub(/`$/, "", k)
        d = $2; if (d == "—") d = ""
        m = $3; sub(/ \|$/, "", m); gsub(/`/, "", m)
        print sec "|" k "|" d "|" m
    }' >"$T/keys-table"
roff "$M/must-experiment.5" | awk '
    /^\.SH / { on = ($0 == ".SH KEYS"); next }
    !on { next }
    /^\.SS / { if (k != "") print sec "|" k "|" d "|" m; k = ""
               sec = $0; sub(/^\.SS +/, "", sec); gsub(/"/, "", sec); next }
    /^\.TP/ { if (k != "") print sec "|" k "|" d "|" m; k = ""; tag = 1; next }
    tag {
        tag = 0; d = ""; m = ""
        if ($1 == ".B") { k = $2 }
        else if ($1 == ".BR") { k = $2; d = $0; sub(/^[^"]*" \(default: /, "", d); sub(/\)"$/, "", d) }
        else { k = "?" $0 }
        next
    }
    k != "" { m = (m == "" ? $0 : m " " $0) }
    END { if (k != "") print sec "|" k "|" d "|" m }' >"$T/keys-man"
[ -s "$T/keys-man" ] || fail "must-experiment(5) has no KEYS section"
if ! diff -u "$T/keys-man" "$T/keys-table" >"$T/d"; then
    fail "must-experiment(5)'s KEYS differ from the key tables (-: the page, +: the tables):"
    cat "$T/d"
fi
# The EXAMPLE is an experiment must reads and plans; the dry run writes nothing.
roff "$M/must-experiment.5" | awk '/^\.SH /{on = ($0 == ".SH EXAMPLE"); next}
    on && /^\.EX/ {ex = 1; next} on && /^\.EE/ {exit} ex' >"$T/example.ini"
[ -s "$T/example.ini" ] || fail "must-experiment(5) has no EXAMPLE"
"$must" run "$T/example.ini" --out "$T/example-run" --dry-run >"$T/out" 2>&1 ||
    { fail "must-experiment(5)'s EXAMPLE: must run --dry-run fails:"; cat "$T/out"; }
[ -e "$T/example-run" ] && fail "must run --dry-run of the EXAMPLE wrote $T/example-run"

# must-dataset(5): the example dataset.ini's "[section]" and "key =" lines.
roff "$M/must-dataset.5" | awk '/^\.SH /{on = ($0 == ".SH DATASET.INI"); next}
    on && /^\.EX/ {ex = 1; next} on && /^\.EE/ {exit}
    ex && /^\[/ {sec = $1; gsub(/[\[\]]/, "", sec)}
    ex && /^[a-z_]+ *=/ {key = $1; sub(/=.*/, "", key); print sec, key}' | sort -u >"$T/ds-man"
[ -s "$T/ds-man" ] || fail "must-dataset(5) has no example dataset.ini"
"$DOC" dataset | sort -u >"$T/ds-table"
comm -23 "$T/ds-man" "$T/ds-table" | sed 's/^/  not a key of its section: /' >"$T/d"
cut -d' ' -f2 "$T/ds-man" | sort -u >"$T/ds-man-keys"
cut -d' ' -f2 "$T/ds-table" | sort -u | comm -13 "$T/ds-man-keys" - |
    sed 's/^/  a key the example never shows: /' >>"$T/d"
[ -s "$T/d" ] && { fail "must-dataset(5)'s example dataset.ini and the key table disagree:"; cat "$T/d"; }

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "man_pages: $(ls "$M"/*.[1-8] | wc -l) pages render cleanly; must(1) covers" \
    "$(wc -l <"$T/commands") commands and $nopts options; $(wc -l <"$T/keys-man") experiment" \
    "keys and $(wc -l <"$T/ds-man") dataset.ini keys agree with the tables"
