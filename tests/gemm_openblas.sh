#!/bin/sh
# gemm_openblas.sh - test_gemm again with MUST_GEMM=openblas, so that on a
# CPU with AVX-512 (where must_sgemm runs our own kernel) OpenBLAS's path,
# the one every other CPU takes, is tested too.
MUST_GEMM=openblas
export MUST_GEMM
t="${MUST_BUILDDIR:-.}/tests/test_gemm"
[ -x "$t" ] || exit 77 # no Check: tests/check_missing.sh already fails the run
exec "$t"
