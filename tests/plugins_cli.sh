#!/bin/sh
# plugins_cli.sh - `must plugins`: the four built-in plugins with their
# versions, ABI, files, label kinds, metrics and options; broken plugin
# files reported with their reason while the listing goes on; shadowing;
# usage errors.
set -u
T="$MUST_TEST_TMP/plugins_cli"
rm -rf "$T"
mkdir -p "$T/broken" "$T/shadow"
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# expect STATUS CMD... : runs CMD, output in $T/out and $T/err
expect() {
    want=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    [ "$got" -eq "$want" ] || { fail "exit $got (want $want): $*"; cat "$T/out" "$T/err"; }
}

# has FILE TEXT : FILE holds TEXT
has() {
    grep -F -- "$2" "$1" >/dev/null || { fail "'$2' not in $1:"; cat "$1"; }
}

# hasnt FILE TEXT
hasnt() {
    grep -F -- "$2" "$1" >/dev/null && { fail "'$2' in $1:"; cat "$1"; }
    return 0
}

# The build tree's plugins.
expect 0 "$MUST_BIN" plugins
for p in classification segmentation depth normal; do
    has "$T/out" "$p $(${MUST_BIN} version | cut -d' ' -f2)  (ABI 2)"
    has "$T/out" "  file:     "
    has "$T/out" "/$p.so"
    has "$T/out" "  labels:   $p"
done
has "$T/out" "  metrics:  top1, top5"
has "$T/out" "  metrics:  miou, pixel_acc"
has "$T/out" "  metrics:  delta1, delta2, delta3, absrel (lower is better)"
has "$T/out" "  metrics:  mean_deg (lower is better), median_deg (lower is better)"
has "$T/out" "    temperature  float   default 1        softmax temperature"
has "$T/out" "    hard         bool    default false"
has "$T/out" "    threshold  float   default 0.5"
has "$T/out" "    loss      choice  default l1log"
has "$T/out" "(l1log|ssi)"
has "$T/out" "    channels  int     default 64"
has "$T/out" "roles:    head, loss, pseudo labels, evaluation, drawing"
hasnt "$T/out" "libmust"
hasnt "$T/out" "REFUSED"

expect 0 "$MUST_BIN" plugins --names
# Without MUST_PLUGIN_PATH the program, run from the build tree (libtool's
# .libs/), finds the plugins built beside it: the README's quick start.
expect 0 env -u MUST_PLUGIN_PATH "$MUST_BIN" plugins --names
has "$T/out" "segmentation"
expect 0 "$MUST_BIN" plugins --names
for p in classification segmentation depth normal; do
    has "$T/out" "$p"
done
[ "$(grep -c . "$T/out")" -ge 4 ] || fail "--names: fewer than 4 lines"

# Only the named ones.
expect 0 "$MUST_BIN" plugins depth
has "$T/out" "depth "
hasnt "$T/out" "segmentation"
expect 1 "$MUST_BIN" plugins depth nosuchtask
has "$T/out" "depth "
has "$T/err" "no plugin 'nosuchtask'"

# Broken files beside good ones: each refusal with its reason, every good
# plugin still listed, exit 1.
cp "$MUST_BROKEN_PLUGINS/badabi.so" "$MUST_BROKEN_PLUGINS/nullcb.so" \
    "$MUST_BROKEN_PLUGINS/noentry.so" "$T/broken/"
echo "not an ELF file" >"$T/broken/notso.so"
MUST_PLUGIN_PATH="$T/broken:$MUST_PLUGIN_PATH" expect 1 "$MUST_BIN" plugins
has "$T/out" "badabi  REFUSED"
has "$T/out" "$T/broken/badabi.so (task 'badabi'): built for task ABI version 1; this must ("
has "$T/out" "speaks ABI version 2: rebuild the plugin"
has "$T/out" "nullcb  REFUSED"
has "$T/out" "required callback forward is NULL"
has "$T/out" "noentry  REFUSED"
has "$T/out" "no entry symbol must_task_init"
has "$T/out" "notso  REFUSED"
has "$T/out" "$T/broken/notso.so: cannot load it"
has "$T/out" "ldd $T/broken/notso.so"
for p in classification segmentation depth normal; do
    has "$T/out" "  labels:   $p"
done
has "$T/err" "4 plugin files refused"
# --names loads nothing, so it cannot fail on them.
MUST_PLUGIN_PATH="$T/broken:$MUST_PLUGIN_PATH" expect 0 "$MUST_BIN" plugins --names
has "$T/out" "notso"

# The first on the path wins; the others are named as shadowed.
cp "$MUST_BROKEN_PLUGINS/good.so" "$T/shadow/depth.so"
MUST_PLUGIN_PATH="$MUST_PLUGIN_PATH:$T/shadow" expect 0 "$MUST_BIN" plugins depth
has "$T/out" "shadows:  $T/shadow/depth.so"
has "$T/out" "labels:   depth"
# The other way round, the copy is first: its name does not match its file.
MUST_PLUGIN_PATH="$T/shadow:$MUST_PLUGIN_PATH" expect 1 "$MUST_BIN" plugins depth
has "$T/out" "calls itself 'good'"

# The search path.
MUST_PLUGIN_PATH="/one:/two" expect 0 "$MUST_BIN" plugins --path
[ "$(head -n 2 "$T/out" | tr '\n' ' ')" = "/one /two " ] || { fail "--path order"; cat "$T/out"; }

# Usage.
expect 0 "$MUST_BIN" plugins --help
has "$T/out" "usage: must plugins"
has "$T/out" "MUST_PLUGIN_PATH"
expect 0 "$MUST_BIN" help plugins
expect 2 "$MUST_BIN" plugins --frobnicate
has "$T/err" "unknown option '--frobnicate'"
expect 2 "$MUST_BIN" plugins ../depth
has "$T/err" "not a plugin name"
expect 0 "$MUST_BIN" help
has "$T/out" "plugins"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
