#!/bin/sh
# test_bench_ops.sh - `must bench ops`: its JSON lines and its usage errors
# (speed itself is never asserted).
set -u
must=${MUST_BIN:-./must}
fail=0
check() { # description, then a command that must succeed
    d=$1; shift
    if "$@"; then :; else echo "FAIL: $d"; fail=1; fi
}

out=$("$must" bench ops --only p7 --batch 2 --reps 1 --threads 1); rc=$?
check "bench ops exits 0 (got $rc)" test "$rc" -eq 0
n=$(printf '%s\n' "$out" | wc -l)
check "one shape line and the model line (got $n lines)" test "$n" -eq 2
for want in '"bench":"ops","op":"conv2d"' '"n":2,"cin":64,"h":1,"w":1,"cout":64,"k":3,"stride":2' \
    '"threads":1' '"fwd_gflops":' '"bwd_gflops":' '"sgemm_gflops":' '"fwd_frac":' '"bwd_frac":' \
    '"op":"conv2d_model","size":64,"n":2,"threads":1' '"frac":'; do
    check "output has '$want'" sh -c 'printf "%s" "$1" | grep -qF -- "$2"' x "$out" "$want"
done

for bad in "--size 100" "--threads 0" "--reps" "--bogus" "--stat mean"; do
    # shellcheck disable=SC2086
    "$must" bench ops $bad >/dev/null 2>&1; rc=$?
    check "'$bad' exits 2 (got $rc)" test "$rc" -eq 2
done
"$must" bench ops --help >/dev/null 2>&1; rc=$?
check "--help exits 0 (got $rc)" test "$rc" -eq 0
exit $fail
