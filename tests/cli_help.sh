#!/bin/sh
# cli_help.sh - help that never loops and cites only what is installed:
#   - `must help`, `must help help|--help|-h`, `must --help|-h` and, for every
#     command `must help` lists and every subcommand its error for an unknown
#     one names, `must help CMD [SUB]`, `must CMD [SUB] --help|-h` and
#     `must CMD help [SUB]` exit 0 and print the same usage on stdout;
#   - every "Try '...'" an error suggests works (exit 0);
#   - the help texts (and `must world list`'s notes) cite documents by their
#     installed path ($MUST_DOCDIR/docs/...), which docs/ has, and manual
#     pages that man/ has, and no path into the source tree (docs/, etc/,
#     core/...), which an installed must does not have;
#   - `must version` prints the program's and the library's versions (the
#     versions themselves: tests/test_version).
# The lists of commands and subcommands come from the program, so a command
# added later is checked too.  tests/man_pages.sh and tests/completion.sh
# read the same lists (tests/cli_lists.sh).
set -u
src=${MUST_SRCDIR:?MUST_SRCDIR names the source tree}
docdir=${MUST_DOCDIR:?MUST_DOCDIR names the installed documents folder}
must=${MUST_BIN:?}
T="$MUST_TEST_TMP/cli_help"
rm -rf "$T"
mkdir -p "$T/cwd"
# A command given a file it lacks (must run __nosuch__) writes nothing here.
cd "$T/cwd" || exit 99
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
. "$src/tests/cli_lists.sh"
cli_lists "$must" "$T" || exit 99
[ -s "$T/commands" ] || { echo "FAIL: no command in 'must help'"; exit 1; }

# usage NAME ARGS... : `must ARGS` exits 0, prints on stdout only, starting
# with "usage: must"; the output is kept as $T/help/NAME.
mkdir -p "$T/help"
usage() {
    name=$1
    shift
    "$must" "$@" >"$T/help/$name" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 0 ] || { fail "must $* exits $rc"; cat "$T/err"; }
    [ -s "$T/err" ] && { fail "must $* writes on stderr:"; cat "$T/err"; }
    head -1 "$T/help/$name" | grep -q '^usage: must' ||
        { fail "must $* does not start with 'usage: must':"; head -3 "$T/help/$name"; }
}
# same A B WHAT: two helps are the same text
same() {
    cmp -s "$T/help/$1" "$T/help/$2" || { fail "$3 differ:"; diff "$T/help/$1" "$T/help/$2" | head; }
}

# The program's own help, every way it is asked for.
usage top help
grep -q "^commands:" "$T/help/top" || fail "must help lists no commands"
usage top2 --help
usage top3 -h
same top top2 "must help and must --help"
same top top3 "must help and must -h"
usage hh help help
usage hh2 help --help
usage hh3 help -h
same hh hh2 "must help help and must help --help"
same hh hh3 "must help help and must help -h"
grep -q "^usage: must help" "$T/help/hh" || fail "must help help is not help's own help"
"$must" >"$T/out" 2>"$T/err" && fail "must without a command exits 0"
grep -q "^commands:" "$T/err" || fail "must without a command does not list the commands"
"$must" help __nosuch__ >"$T/out" 2>"$T/err"
[ $? -eq 2 ] || fail "must help __nosuch__ does not exit 2"
grep -q "unknown command '__nosuch__'" "$T/err" || fail "must help __nosuch__ says nothing"

# Every command and subcommand, every way.
while read -r c; do
    usage "$c" "$c" --help
    usage "$c.h" "$c" -h
    usage "$c.help" help "$c"
    same "$c" "$c.h" "must $c --help and -h"
    same "$c" "$c.help" "must $c --help and must help $c"
    [ "$c" = help ] || grep -q "^usage: must $c\\b" "$T/help/$c" ||
        fail "must $c --help's usage does not name 'must $c'"
    [ -s "$T/subs.$c" ] || continue
    usage "$c.sub" "$c" help
    same "$c" "$c.sub" "must $c --help and must $c help"
    for s in $(cat "$T/subs.$c"); do
        usage "$c.$s" "$c" "$s" --help
        usage "$c.$s.h" "$c" "$s" -h
        usage "$c.$s.help" help "$c" "$s"
        usage "$c.$s.sub" "$c" help "$s"
        same "$c.$s" "$c.$s.h" "must $c $s --help and -h"
        same "$c.$s" "$c.$s.help" "must $c $s --help and must help $c $s"
        same "$c.$s" "$c.$s.sub" "must $c $s --help and must $c help $s"
        grep -q "^usage: must $c $s\\b" "$T/help/$c.$s" ||
            fail "must $c $s --help's usage does not begin with 'must $c $s'"
    done
done <"$T/commands"

# Errors and what they suggest: an unknown option of every command and
# subcommand, an unknown subcommand, none at all.
: >"$T/tries"
try_error() {
    "$must" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 2 ] || { fail "must $* exits $rc, not 2 (a usage error)"; cat "$T/err"; }
    sed -n "s/^Try '\\(.*\\)'\\.\$/\\1/p" "$T/err" >>"$T/tries"
}
while read -r c; do
    try_error "$c" --__nosuch__
    [ -s "$T/subs.$c" ] || continue
    try_error "$c"
    try_error "$c" __nosuch__
    try_error "$c" help __nosuch__
    for s in $(cat "$T/subs.$c"); do
        try_error "$c" "$s" --__nosuch__
    done
done <"$T/commands"
[ -s "$T/tries" ] || fail "no error suggested anything to try"
sort -u "$T/tries" | while read -r line; do
    case $line in
    must\ *) ;;
    *) echo "FAIL: an error suggests '$line', which is not a must command"; continue ;;
    esac
    # shellcheck disable=SC2086
    "$must" ${line#must } >/dev/null 2>"$T/err" ||
        { echo "FAIL: an error suggests '$line', which fails:"; cat "$T/err"; }
done >"$T/tries.out"
if [ -s "$T/tries.out" ]; then
    cat "$T/tries.out"
    fails=$((fails + 1))
fi

# What the texts cite.  `must world list` ends with a pointer too.
"$must" world list >"$T/help/world-list.out" 2>"$T/err" || fail "must world list fails"
cat "$T/help"/* >"$T/all"
grep -o "[^ ('\"]*docs/[A-Za-z0-9_./-]*[A-Za-z0-9_]" "$T/all" | sort -u >"$T/docs"
while read -r d; do
    case $d in
    "$docdir"/docs/*)
        [ -f "$src/docs/${d#"$docdir"/docs/}" ] || fail "the help cites $d, which docs/ lacks" ;;
    *) fail "the help cites $d: not the installed path ($docdir/docs/...)" ;;
    esac
done <"$T/docs"
grep -o '[a-z][a-z-]*([1-8])' "$T/all" | sort -u >"$T/mans"
grep -q 'must(1)' "$T/mans" || fail "no help text names must(1)"
while read -r m; do
    page=${m%(*}
    sec=${m#*(}
    sec=${sec%)}
    [ -f "$src/man/$page.$sec" ] || fail "the help cites $m, which man/ lacks"
done <"$T/mans"
grep -En "(^|[^A-Za-z0-9_./\$-])(docs|etc|core|cli|tests|plugins|include|tools|examples|man|completion)/" \
    "$T/help"/* >"$T/srcpaths"
[ -s "$T/srcpaths" ] && { fail "the help names paths of the source tree:"; cat "$T/srcpaths"; }

# must version: both versions, the VOC line.
"$must" version >"$T/out" 2>&1 || fail "must version fails"
grep -q '^must [0-9]*\.[0-9]*\.[0-9]*$' "$T/out" || fail "must version: no 'must X.Y.Z' line"
grep -q '^libmust [0-9]*\.[0-9]*\.[0-9]*$' "$T/out" || fail "must version: no 'libmust X.Y.Z' line"
grep -q '^must import voc (libxml2): \(yes\|no\)$' "$T/out" || fail "must version: no VOC line"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli_help: $(wc -l <"$T/commands") commands, $(cat "$T"/subs.* | wc -w) subcommands;" \
    "every help answers, every suggestion works, $(wc -l <"$T/docs") documents and" \
    "$(wc -l <"$T/mans") manual pages cited as installed"
