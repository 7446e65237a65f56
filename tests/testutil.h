/* testutil.h - helpers shared by the Check suites. */
#ifndef MUST_TESTUTIL_H
#define MUST_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A directory under the build tree for files a test writes (make distcheck
 * builds in a read-only source tree). */
static inline const char *test_tmpdir(void)
{
    const char *d = getenv("MUST_TEST_TMP");
    return d && *d ? d : "tests/tmp";
}

/* Runs the suite and returns the exit status automake expects. */
static inline int test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define ck_assert_float_near(a, b, tol)                                                   \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, expected %.9g (tol %g)", \
                  #a, (double)(a), (double)(b), (double)(tol))

#endif
