#!/bin/sh
# check_missing.sh - stands in for the C suites when configure found no
# Check: it fails, so that a build without the suites never reports a
# green `make check`.
echo "FAIL: Check (the C unit-test framework) was not found by configure, so the C test"
echo "suites were not built or run.  Install it (Debian: apt-get install check, or"
echo "sh tools/deps.sh), then run ./configure and make check again."
exit 1
