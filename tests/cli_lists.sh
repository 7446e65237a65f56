# cli_lists.sh - sourced by tests/cli_help.sh, tests/man_pages.sh and
# tests/completion.sh: what the program says it has, so that those tests
# check every command, subcommand and option without a list of their own.

# cli_lists MUST DIR: DIR/commands, the commands `must help` lists, one a
# line; DIR/subs.CMD, the subcommands of each command made of them, as its
# error for an unknown one names them ("unknown format 'x' (a, b, c)").
# Run where a command given a file that is not there writes nothing.
cli_lists() {
    "$1" help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' \
        >"$2/commands" || return 1
    while read -r c; do
        "$1" "$c" __nosuch__ 2>&1 >/dev/null |
            sed -n "s/^must $c: unknown [a-z]* '__nosuch__' (\\(.*\\))\$/\\1/p" | tr -d , \
            >"$2/subs.$c"
    done <"$2/commands"
}

# cli_options FILE: the long options a help text names, one a line, sorted,
# --help left out; a quoted command ('must world preview --help') is
# another command's, and left out too.
cli_options() {
    sed "s/'must [^']*'//g" "$1" | grep -o -- '--[a-z][a-z0-9-]*' | grep -vx -- --help | sort -u
}
