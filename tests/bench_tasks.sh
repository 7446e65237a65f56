#!/bin/sh
# bench_tasks.sh - `must bench train --tasks`: its options, its one JSON line
# (keys present, every number finite; speed itself is never asserted) and
# its usage errors.
set -u
must=${MUST_BIN:-./must}
tmp=${MUST_TEST_TMP:-tests/tmp}/bench-tasks
rm -rf "$tmp"
mkdir -p "$tmp"
fail=0
check() { # description, then a command that must succeed
    d=$1; shift
    if "$@"; then :; else echo "FAIL: $d"; fail=1; fi
}
has() { printf '%s' "$1" | grep -qF -- "$2"; }

# One JSON line; every number in it finite (a NaN or Inf would print as
# nan/inf, which no JSON reader takes).
json_ok() { # output, then the keys it must have
    out=$1; shift
    n=$(printf '%s\n' "$out" | wc -l)
    check "one line (got $n)" test "$n" -eq 1
    check "a JSON object: $out" sh -c 'printf "%s" "$1" | grep -q "^{.*}$"' x "$out"
    check "finite numbers: $out" sh -c '! printf "%s" "$1" | grep -qiE "nan|inf"' x "$out"
    for want in "$@"; do
        check "output has '$want': $out" has "$out" "$want"
    done
}

common='"bench":"train" "mode":"tasks" "size":64 "batch":2 "threads":1 "img_s": "img_per_cpu_s": "step_ms_median": "cpu_ms_median": "params": "loss": "nonfinite":0'
run="--size 64 --batch 2 --threads 1 --steps 1 --warmup 0"

# Detection alone: its three timers, with shares.
# shellcheck disable=SC2086
out=$("$must" bench train --tasks detection $run --opt detection.roi_batch=16 \
      --opt detection.head_fc=64); rc=$?
check "--tasks detection exits 0 (got $rc)" test "$rc" -eq 0
# shellcheck disable=SC2086
json_ok "$out" $common '"tasks":"detection"' '"losses":{"detection":' \
    '"timers":{"detection.match":{"ms":' '"detection.nms":{"ms":' \
    '"detection.proposals":{"ms":' '"share":'

# The four heads of the paper's student; plugins without timers add none.
# shellcheck disable=SC2086
out=$("$must" bench train --tasks classification,segmentation,depth,detection $run \
      --opt detection.roi_batch=16); rc=$?
check "four tasks exit 0 (got $rc)" test "$rc" -eq 0
# shellcheck disable=SC2086
json_ok "$out" $common '"classification":' '"segmentation":' '"depth":' '"detection.nms":'
check "only detection keeps timers: $out" sh -c \
    '! printf "%s" "$1" | grep -qE "\"(classification|segmentation|depth)\.[a-z_]+\":\{"' x "$out"

# The backbone and task options of an experiment file; --opt overrides a
# key the file sets too.
cat >"$tmp/exp.ini" <<'EOF'
[backbone]
width = 0.125
stem_stride = 2
fpn_channels = 16
fpn_max_level = 5
[task.det]
plugin = detection
levels = P3,P4,P5
roi_batch = 8
head_fc = 32
EOF
# shellcheck disable=SC2086
out=$("$must" bench train --tasks det --experiment "$tmp/exp.ini" $run \
      --opt det.roi_batch=4); rc=$?
check "--experiment exits 0 (got $rc)" test "$rc" -eq 0
json_ok "$out" '"tasks":"det"' '"width":0.125' '"stem_pool":0' '"fpn_channels":16' \
    '"fpn_levels":"P3-P5"' '"det.match":'

# Without --tasks: the reference model, its JSON unchanged.
out=$("$must" bench train --size 32 --batch 2 --threads 1 --steps 1 --warmup 0); rc=$?
check "reference bench exits 0 (got $rc)" test "$rc" -eq 0
check "reference JSON: $out" has "$out" '"bench":"train","mode":"train","size":32'
check "reference JSON has no timers: $out" sh -c '! printf "%s" "$1" | grep -q timers' x "$out"

"$must" bench train --help >"$tmp/help" 2>&1; rc=$?
check "--help exits 0 (got $rc)" test "$rc" -eq 0
check "--help describes --tasks" grep -q -- "--tasks LIST" "$tmp/help"
check "--help describes --opt" grep -q -- "--opt T.KEY=VALUE" "$tmp/help"

# Usage errors: exit 2 and a message naming the fault.
bad() { # the message it must contain, then the arguments
    msg=$1; shift
    "$must" bench train "$@" >/dev/null 2>"$tmp/err"; rc=$?
    check "'$*' exits 2 (got $rc)" test "$rc" -eq 2
    check "'$*' says '$msg': $(cat "$tmp/err")" grep -qF -- "$msg" "$tmp/err"
}
bad "no task plugin 'nosuch'" --tasks nosuch
bad "need --tasks" --opt detection.roi_batch=4
bad "unknown key 'bogus'" --tasks detection --opt detection.bogus=1
bad "'depth' is not in --tasks" --tasks detection --opt depth.loss=ssi
bad "roi_batch" --tasks detection --opt detection.roi_batch=abc
bad "is not TASK.KEY=VALUE" --tasks detection --opt detection
bad "'detection' twice" --tasks detection,detection
bad "empty" --tasks detection,
bad "--tasks needs a value" --tasks
bad "unknown option '--frob'" --tasks detection --frob
bad "--steps" --tasks detection --steps 0
bad "no-such.ini" --tasks detection --experiment "$tmp/no-such.ini"
exit $fail
