#!/bin/sh
# test_inspect.sh - `must inspect` on a PyTorch-made file, a corrupt file, bad usage.
set -u
must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
tmp=${MUST_TEST_TMP:-tests/tmp}
mkdir -p "$tmp"
fail=0
check() { # description, then a command that must succeed
    d=$1; shift
    if "$@"; then :; else echo "FAIL: $d"; fail=1; fi
}

out=$("$must" inspect "$src/tests/data/torchvision_tiny.safetensors"); rc=$?
check "inspect exits 0 on a good file (got $rc)" test "$rc" -eq 0
for want in "conv1.weight" "(4, 3, 3, 3)" "108" "bn1.num_batches_tracked" "I64" \
    "layer1.0.bn1.running_var" "14 tensors" "format = pt" "total: 14 tensors, 168 parameters"; do
    check "output has '$want'" sh -c 'printf "%s" "$1" | grep -qF -- "$2"' x "$out" "$want"
done

printf 'not a safetensors file at all' > "$tmp/inspect-bad.safetensors"
err=$("$must" inspect "$tmp/inspect-bad.safetensors" 2>&1 >/dev/null); rc=$?
check "inspect exits 1 on a bad file (got $rc)" test "$rc" -eq 1
check "the error names the file: $err" sh -c 'printf "%s" "$1" | grep -qF inspect-bad.safetensors' x "$err"

"$must" inspect --bogus x >/dev/null 2>&1; rc=$?
check "unknown option exits 2 (got $rc)" test "$rc" -eq 2
"$must" inspect >/dev/null 2>&1; rc=$?
check "no file exits 2 (got $rc)" test "$rc" -eq 2
"$must" inspect --help >/dev/null 2>&1; rc=$?
check "--help exits 0 (got $rc)" test "$rc" -eq 0
exit $fail
