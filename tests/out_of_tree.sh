#!/bin/sh
# out_of_tree.sh - the plugin author's route: build the example plugin
# (tests/example-plugin/linprobe.c) outside the tree with nothing but a C
# compiler and must's public headers, as pkg-config --cflags must would give
# them, then load it through `must plugins` with MUST_PLUGIN_PATH.
set -u
T="$MUST_TEST_TMP/out_of_tree"
rm -rf "$T"
mkdir -p "$T/plugins"
CC="${MUST_CC:-cc}"
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

has() {
    grep -F -- "$2" "$1" >/dev/null || { fail "'$2' not in $1:"; cat "$1"; }
}

# Strict flags: the public headers must compile clean on their own (no
# config.h, no private header) in a C11 translation unit.
if ! $CC -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -fvisibility=hidden \
    -I"$MUST_SRCDIR/include" -o "$T/plugins/linprobe.so" \
    "$MUST_SRCDIR/tests/example-plugin/linprobe.c" -lm 2>"$T/cc.err"; then
    cat "$T/cc.err"
    echo "FAIL: the example plugin does not build out of tree"
    exit 1
fi

# It exports its entry point and nothing else, and needs nothing of ours.
if command -v nm >/dev/null 2>&1; then
    nm -D --defined-only "$T/plugins/linprobe.so" | awk '$2 == "T" { print $3 }' >"$T/exports"
    [ "$(cat "$T/exports")" = "must_task_init" ] || { fail "exports:"; cat "$T/exports"; }
    nm -D --undefined-only "$T/plugins/linprobe.so" | grep -w 'must_[a-z_]*' &&
        fail "the example plugin needs symbols of libmust"
fi

# Loaded and checked by name from MUST_PLUGIN_PATH, beside the built-in ones.
MUST_PLUGIN_PATH="$T/plugins:$MUST_PLUGIN_PATH" "$MUST_BIN" plugins linprobe >"$T/out" 2>"$T/err" ||
    { fail "must plugins linprobe failed"; cat "$T/out" "$T/err"; }
has "$T/out" "linprobe 1.0.0  (ABI 2)"
has "$T/out" "file:     $T/plugins/linprobe.so"
has "$T/out" "labels:   classification"
has "$T/out" "metrics:  top1"
has "$T/out" "level     choice  default C5"
has "$T/out" "init_std  float   default 0.01"
MUST_PLUGIN_PATH="$T/plugins:$MUST_PLUGIN_PATH" "$MUST_BIN" plugins --names >"$T/out" 2>&1
for p in linprobe classification segmentation depth normal; do
    has "$T/out" "$p"
done

# The pkg-config route, when this build's must.pc can answer.
if command -v pkg-config >/dev/null 2>&1 && [ -f "$(dirname "$MUST_BIN")/must.pc" ]; then
    dir=$(PKG_CONFIG_PATH="$(dirname "$MUST_BIN")" pkg-config --variable=pluginsdir must)
    case "$dir" in
    */must) ;;
    *) fail "pkg-config --variable=pluginsdir must: '$dir'" ;;
    esac
fi

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
