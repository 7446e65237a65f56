#!/bin/sh
# funclen.sh - no function of the library, the program or the plugins is
# longer than 150 lines (from its signature to its closing brace): past
# that a reader cannot hold it in mind, and it should be split into named
# steps.
set -u
max=150
src=${MUST_SRCDIR:-.}
files=$(find "$src/core" "$src/cli" "$src/plugins" -name '*.c' | sort)
[ -n "$files" ] || { echo "FAIL: no sources under $src"; exit 1; }
# A function starts at a line in column 0 that opens a parameter list and is
# not a declaration, and ends at the next "}" in column 0.
long=$(awk -v max="$max" '
    FNR == 1 { start = 0; inbody = 0 }
    /^[A-Za-z_][A-Za-z0-9_ \t\*,]*\(/ && !/;[ \t]*$/ && !/^(typedef|struct|enum|union|static inline) .*[{;]/ {
        if (!start) {
            start = FNR; name = $0; sub(/\(.*/, "", name)
            n = split(name, w, /[ \t\*]+/); name = w[n]
        }
    }
    /;[ \t]*$/ && start && !inbody { start = 0 }
    /^\{/ && start { inbody = 1 }
    /^\}/ && inbody {
        if (FNR - start + 1 > max) printf "%s:%d: %s is %d lines\n", FILENAME, start, name, FNR - start + 1
        start = 0; inbody = 0
    }' $files)
if [ -n "$long" ]; then
    echo "FAIL: functions over $max lines (split them into named steps):"
    echo "$long"
    exit 1
fi
echo "funclen: $(echo "$files" | wc -l) files, no function over $max lines"
