#!/bin/sh
# layers.sh - how libmust's files call each other, read off the built
# objects (nm): a layer calls only the layers below it, as
# docs/architecture.md draws them, and no two files need each other,
# directly or round a longer loop.
set -u
top=${MUST_BUILDDIR:-.}
tmp=${MUST_TEST_TMP:-/tmp}/layers
rm -rf "$tmp"
mkdir -p "$tmp"
fails=0
objs=$(find "$top/core" -path '*/.libs/libmust_core_la-*.o' | sort)
[ -n "$objs" ] || { echo "FAIL: no objects of libmust-core under $top/core"; exit 1; }
# "file D sym" for each defined function, "file U sym" for each undefined one
for o in $objs; do
    f=$(echo "$o" | sed 's|.*/core/\([a-z]*\)/.libs/libmust_core_la-\(.*\)\.o|\1/\2|')
    nm "$o" | awk -v f="$f" 'NF == 3 && $2 ~ /^[TDBRC]$/ {print f, "D", $3} $1 == "U" {print f, "U", $2}'
done >"$tmp/syms"
awk '
    $2 == "D" { def[$3] = $1 }
    $2 == "U" { use[++n] = $1 " " $3 }
    END {
        for (i = 1; i <= n; i++) {
            split(use[i], a, " ")
            if ((a[2] in def) && def[a[2]] != a[1]) print a[1], def[a[2]], a[2]
        }
    }' "$tmp/syms" | sort -u >"$tmp/calls"
awk '{print $1, $2}' "$tmp/calls" | sort -u >"$tmp/edges"
[ -s "$tmp/edges" ] || { echo "FAIL: no call between files found: is nm there?"; exit 1; }

# The layers, lowest first, and the ones each may call.
allowed() {
    case $1 in
    base) echo "" ;;
    engine) echo "base" ;;
    model) echo "engine base" ;;
    data) echo "engine base" ;;
    world) echo "data engine base" ;;
    import) echo "data engine base" ;;
    task) echo "model data engine base" ;;
    pipeline) echo "task import world model data engine base" ;;
    *) echo "?" ;;
    esac
}
awk '{ split($1, a, "/"); split($2, b, "/"); if (a[1] != b[1]) print a[1], b[1], $1, $2, $3 }' \
    "$tmp/calls" >"$tmp/cross"
while read -r from to f1 f2 sym; do
    case " $(allowed "$from") " in
    *" $to "*) ;;
    *)
        echo "FAIL: $f1 calls $sym of $f2: the $from layer may not call the $to layer"
        fails=$((fails + 1))
        ;;
    esac
done <"$tmp/cross"
# Loops: the transitive closure of the file graph (Warshall's algorithm; a
# hundred files), then every pair that reaches each other.
awk '
    { if (!($1 in id)) { id[$1] = ++n; name[n] = $1 }
      if (!($2 in id)) { id[$2] = ++n; name[n] = $2 }
      r[id[$1], id[$2]] = 1 }
    END {
        for (k = 1; k <= n; k++)
            for (i = 1; i <= n; i++)
                if ((i, k) in r)
                    for (j = 1; j <= n; j++)
                        if ((k, j) in r) r[i, j] = 1
        for (i = 1; i <= n; i++)
            for (j = i + 1; j <= n; j++)
                if (((i, j) in r) && ((j, i) in r)) print name[i] " <-> " name[j]
    }' "$tmp/edges" >"$tmp/loops"
if [ -s "$tmp/loops" ]; then
    echo "FAIL: files of libmust that need each other:"
    cat "$tmp/loops"
    fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] || exit 1
echo "layers: $(wc -l <"$tmp/edges") calls between $(awk '{print $1; print $2}' "$tmp/edges" | sort -u | wc -l) files, none against the layers, no loop"
