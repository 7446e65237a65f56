/* test_version.c - must/version.h's macros, the library's must_version()
 * and must_version_number(), configure's PACKAGE_VERSION and what
 * `must version` prints all say the same version. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/version.h"
#include "testutil.h"

START_TEST(macros_match_configure)
{
    char s[64];
    snprintf(s, sizeof s, "%d.%d.%d", MUST_VERSION_MAJOR, MUST_VERSION_MINOR,
             MUST_VERSION_PATCH);
    ck_assert_str_eq(s, MUST_VERSION_STRING);
    ck_assert_str_eq(MUST_VERSION_STRING, PACKAGE_VERSION);
    ck_assert_int_eq(MUST_VERSION_NUMBER,
                     MUST_VERSION_MAJOR * 10000 + MUST_VERSION_MINOR * 100 + MUST_VERSION_PATCH);
    ck_assert(MUST_VERSION_MINOR < 100 && MUST_VERSION_PATCH < 100);
}
END_TEST

START_TEST(library_matches_macros)
{
    ck_assert_ptr_nonnull(must_version());
    ck_assert_str_eq(must_version(), MUST_VERSION_STRING);
    ck_assert_int_eq(must_version_number(), MUST_VERSION_NUMBER);
    /* a static string: the same pointer every call */
    ck_assert_ptr_eq(must_version(), must_version());
}
END_TEST

/* The program's `must version` (and --version, -V): the program's version,
 * then the library's, then whether it reads VOC, then whether it runs over
 * MPI ranks. */
static void check_program(const char *arg)
{
    const char *bin = getenv("MUST_BIN");
    if (!bin || !*bin)
        ck_abort_msg("MUST_BIN is not set (run through make check)");
    char cmd[4096], line[4][256] = {{0}};
    snprintf(cmd, sizeof cmd, "'%s' %s", bin, arg);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 4; i++)
        if (!fgets(line[i], sizeof line[i], p))
            line[i][0] = '\0';
    char extra[256];
    int more = fgets(extra, sizeof extra, p) != NULL;
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(!more, "must %s printed more than four lines", arg);
    char want[128];
    snprintf(want, sizeof want, "must %s\n", MUST_VERSION_STRING);
    ck_assert_str_eq(line[0], want);
    snprintf(want, sizeof want, "libmust %s\n", must_version());
    ck_assert_str_eq(line[1], want);
#ifdef HAVE_LIBXML2
    ck_assert_str_eq(line[2], "must import voc (libxml2): yes\n");
#else
    ck_assert_str_eq(line[2], "must import voc (libxml2): no\n");
#endif
#ifdef MUST_HAVE_MPI
    ck_assert_msg(strncmp(line[3], "mpi: Open MPI", 13) == 0, "line 4: %s", line[3]);
#else
    ck_assert_str_eq(line[3], "mpi: no (built without Open MPI: one rank)\n");
#endif
}

START_TEST(program_prints_both)
{
    check_program("version");
    check_program("--version");
    check_program("-V");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, macros_match_configure);
    tcase_add_test(tc, library_matches_macros);
    tcase_add_test(tc, program_prints_both);
    suite_add_tcase(s, tc);
    return test_run(s);
}
