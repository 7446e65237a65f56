#!/bin/sh
# completion.sh - the bash completion (completion/must), sourced into bash
# and asked as bash asks it (COMP_WORDS, COMP_CWORD, then _must):
#   - `must <TAB>` gives exactly the commands `must help` lists;
#     `must CMD <TAB>` exactly the subcommands of a command made of them;
#     `must CMD [SUB] --<TAB>` exactly the options its --help names, so the
#     script cannot drift from the program;
#   - values: world domains from `must world list`, plugins from
#     `must plugins --names`, stages, splits, an experiment's sections;
#   - files: INI files for experiments, folders for datasets, PNG files and
#     folders for pictures.
# bash is on every Debian machine; without it this test fails.
set -u
src=${MUST_SRCDIR:?MUST_SRCDIR names the source tree}
must=${MUST_BIN:?}
T="$MUST_TEST_TMP/completion"
rm -rf "$T"
mkdir -p "$T/cwd"
cd "$T/cwd" || exit 99
command -v bash >/dev/null 2>&1 || { echo "FAIL: bash not found"; exit 1; }
. "$src/tests/cli_lists.sh"
cli_lists "$must" "$T" || exit 99
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# What each completion must give, one case a line: "WORDS...|EXPECTED..."
# (the last of WORDS is the word completed, "" for an empty one).
: >"$T/cases"
words() { tr '\n' ' ' <"$1" | sed 's/ *$//'; }
echo "must ''|$(words "$T/commands") --help --version" >>"$T/cases"
while read -r c; do
    if [ -s "$T/subs.$c" ]; then
        echo "must $c ''|$(words "$T/subs.$c") help --help" >>"$T/cases"
        echo "must help $c ''|$(words "$T/subs.$c")" >>"$T/cases"
        echo "must $c help ''|$(words "$T/subs.$c")" >>"$T/cases"
        for s in $(cat "$T/subs.$c"); do
            "$must" "$c" "$s" --help >"$T/h" 2>&1
            echo "must $c $s --|$(cli_options "$T/h" | tr '\n' ' ')--help" >>"$T/cases"
        done
    else
        "$must" "$c" --help >"$T/h" 2>&1
        echo "must $c --|$(cli_options "$T/h" | tr '\n' ' ')--help" >>"$T/cases"
    fi
done <"$T/commands"
echo "must help ''|$(words "$T/commands")" >>"$T/cases"

# Values the program gives.
"$must" world list | awk 'NR > 1 && /^[a-z0-9_-]+ / {print $1}' >"$T/domains"
[ -s "$T/domains" ] || fail "must world list lists no domain"
"$must" plugins --names >"$T/plugins" 2>/dev/null
[ -s "$T/plugins" ] || fail "must plugins --names lists no plugin"
echo "must world generate --domain ''|$(words "$T/domains")" >>"$T/cases"
echo "must world preview --out x.png --domain teach-|$(grep '^teach-' "$T/domains" | tr '\n' ' ')" \
    >>"$T/cases"
echo "must plugins ''|$(words "$T/plugins")" >>"$T/cases"
echo "must bench train --tasks ''|$(words "$T/plugins")" >>"$T/cases"
echo "must run exp.ini --stage ''|teachers label student transfer report" >>"$T/cases"
echo "must dataset show set --split ''|train val test" >>"$T/cases"
echo "must import normals --convention ''|must opencv opengl" >>"$T/cases"
echo "must import coco --tasks ''|detection segmentation" >>"$T/cases"
echo "must model --depth ''|" >>"$T/cases"

# Files: in a folder of our own.
mkdir -p "$T/cwd/sets/a" "$T/cwd/pics"
: >"$T/cwd/exp.ini"
: >"$T/cwd/notes.txt"
: >"$T/cwd/model.safetensors"
: >"$T/cwd/photo.PNG"
: >"$T/cwd/photo2.jpg"
printf '[experiment]\n[task.seg]\n[task.depth]\n[data.teach-seg]\n[teacher.seg]\n' >"$T/cwd/exp.ini"
echo "must run ''|exp.ini pics sets" >>"$T/cases"
echo "must run e|exp.ini" >>"$T/cases"
echo "must label exp.ini --out ''|pics sets" >>"$T/cases"
echo "must eval exp.ini --task ''|depth seg" >>"$T/cases"
echo "must eval exp.ini --data ''|teach-seg" >>"$T/cases"
echo "must train exp.ini --teacher ''|seg" >>"$T/cases"
echo "must inspect ''|model.safetensors pics sets" >>"$T/cases"
echo "must dataset check ''|pics sets" >>"$T/cases"
echo "must dataset check sets/|sets/a" >>"$T/cases"
echo "must import imagefolder pics ''|pics sets" >>"$T/cases"
echo "must predict --model model.safetensors --out o ''|photo.PNG photo2.jpg pics sets" \
    >>"$T/cases"
echo "must world generate --domain x --out ''|pics sets" >>"$T/cases"

# Every case in one bash: the completion sourced once, as bash-completion
# loads it.
cat >"$T/run.bash" <<'EOF'
script=$1 prog=$2 dir=$3
. "$script"
complete -p must >/dev/null || { echo "FAIL: the script does not register _must for must"; exit 1; }
bad=0
while IFS='|' read -r line want; do
    eval "set -- $line"
    COMP_WORDS=("$prog" "${@:2}")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _must 2>"$dir/stderr"
    [ -s "$dir/stderr" ] && { echo "FAIL: '$line' writes on stderr:"; cat "$dir/stderr"; bad=1; }
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
    exp=$(printf '%s\n' $want | sed '/^$/d' | sort | tr '\n' ' ')
    if [ "$got" != "$exp" ]; then
        echo "FAIL: $line<TAB>"
        echo "  want: $exp"
        echo "  got:  $got"
        bad=1
    fi
done <"$dir/cases"
exit $bad
EOF
bash --norc --noprofile "$T/run.bash" "$src/completion/must" "$must" "$T" || fails=$((fails + 1))

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "completion: $(wc -l <"$T/cases") completions as the program lists them"
