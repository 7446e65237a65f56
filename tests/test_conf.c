/* test_conf.c - the key-table engine (core/base/conf*.c) and the INI reader
 * (core/base/ini.c) every configuration of must goes through: each type
 * parsed, ranged, refused and formatted back; tables checked and defaulted;
 * INI text with problems named by file, line, section and key. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "base/conf-impl.h"
#include "testutil.h"

typedef struct cfg {
    int i, b, c, opt;
    float f;
    char s[MUST_CONF_STRING_MAX];
    long l;
    uint64_t u;
    double d;
    char text[9], word[9];
    char *dup;
    float r[2];
    int own;
} cfg;

#define C(m) offsetof(cfg, m)
static const must_conf_key keys[] = {
    {"i", MUST_CONF_INT, C(i), "8", "an int", NULL, 1, 64},
    {"f", MUST_CONF_FLOAT, C(f), "0.25", "a float", NULL, 0, 1},
    {"b", MUST_CONF_BOOL, C(b), "no", "a bool", NULL, 0, 0},
    {"s", MUST_CONF_STRING, C(s), "plain", "a string", NULL, 0, 0},
    {"c", MUST_CONF_CHOICE, C(c), "beta", "a choice", "alpha|beta|gamma", 0, 0},
    {"opt", MUST_CONF_CHOICE | MUST_CONF_OPTIONAL, C(opt), "", "may be empty", "x|y", 0, 0},
    {"l", MUST_CONF_LONG, C(l), "-3", "a long", NULL, 0, 0},
    {"u", MUST_CONF_U64, C(u), "18446744073709551615", "a u64", NULL, 0, 0},
    {"d", MUST_CONF_DOUBLE, C(d), "1e-4", "a double", NULL, 0, 1},
    {"text", MUST_CONF_TEXT, C(text), "", "up to 8 bytes", NULL, 0, 8},
    {"word", MUST_CONF_WORD, C(word), "w-1", "a plain word", NULL, 0, 8},
    {"dup", MUST_CONF_STRDUP, C(dup), "", "a heap string", NULL, 0, 0},
    {"r", MUST_CONF_RANGE, C(r), "1, 2", "a range", NULL, -5, 5},
    {"own", MUST_CONF_USER, C(own), "7", "the owner's", NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const must_conf_key *key(const char *name)
{
    const must_conf_key *k = must_conf_find(keys, name);
    ck_assert_ptr_nonnull(k);
    return k;
}

static void ok(cfg *c, const char *name, const char *text)
{
    char why[256] = "";
    ck_assert_msg(must_conf_parse(key(name), text, c, why, sizeof why) == MUST_OK,
                  "%s = '%s' refused: %s", name, text, why);
}

static void refused(const char *name, const char *text, const char *want)
{
    cfg c = {0}, before = {0};
    char why[256] = "";
    ck_assert_msg(must_conf_parse(key(name), text, &c, why, sizeof why) == MUST_EINVAL,
                  "%s = '%s' accepted", name, text);
    ck_assert_msg(strstr(why, want), "%s = '%s': '%s' lacks '%s'", name, text, why, want);
    ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "%s = '%s' changed the struct", name,
                  text);
}

START_TEST(each_type_parses_and_ranges)
{
    cfg c = {0};
    ok(&c, "i", "64");
    ck_assert_int_eq(c.i, 64);
    ok(&c, "f", "1e-1");
    ck_assert_float_eq(c.f, 0.1f);
    ok(&c, "b", "YES");
    ck_assert_int_eq(c.b, 1);
    ok(&c, "b", "off");
    ck_assert_int_eq(c.b, 0);
    ok(&c, "s", "with spaces ok");
    ck_assert_str_eq(c.s, "with spaces ok");
    ok(&c, "c", "gamma");
    ck_assert_int_eq(c.c, 2);
    ok(&c, "opt", "");
    ck_assert_int_eq(c.opt, -1);
    ok(&c, "opt", "y");
    ck_assert_int_eq(c.opt, 1);
    ok(&c, "l", "-9000000000");
    ck_assert(c.l == -9000000000L);
    ok(&c, "u", "18446744073709551615");
    ck_assert(c.u == UINT64_MAX);
    ok(&c, "d", "0.5");
    ck_assert_float_eq(c.d, 0.5);
    ok(&c, "text", "12345678");
    ck_assert_str_eq(c.text, "12345678");
    ok(&c, "word", "a_b-9");
    ck_assert_str_eq(c.word, "a_b-9");
    ok(&c, "word", "");
    ck_assert_str_eq(c.word, "");
    ok(&c, "dup", "x y");
    ck_assert_str_eq(c.dup, "x y");
    ok(&c, "dup", "");
    ck_assert_ptr_null(c.dup);
    ok(&c, "r", "-1, 2.5");
    ck_assert(c.r[0] == -1.0f && c.r[1] == 2.5f);
    ok(&c, "r", "3");
    ck_assert(c.r[0] == 3.0f && c.r[1] == 3.0f);
}
END_TEST

START_TEST(each_type_refuses)
{
    refused("i", "eight", "not a whole number");
    refused("i", "8.5", "not a whole number");
    refused("i", "", "not a whole number");
    refused("i", "99999999999999", "not a whole number");
    refused("i", "65", "out of range 1..64");
    refused("i", "0", "out of range 1..64");
    refused("f", "fast", "not a number");
    refused("f", "nan", "not a finite number");
    refused("f", "1e39", "not a finite number");
    refused("f", "1.5", "out of range 0..1");
    refused("b", "maybe", "not a boolean");
    refused("c", "delta", "not one of alpha|beta|gamma");
    refused("c", "", "not one of");
    refused("opt", "z", "not one of x|y");
    refused("l", "1x", "not a whole number");
    refused("u", "-1", "not a whole number >= 0");
    refused("d", "2", "out of range 0..1");
    refused("d", "inf", "not a finite number");
    refused("text", "123456789", "longer than 8 bytes");
    refused("word", "A b", "not a plain name");
    refused("word", "abcdefghi", "longer than 8 bytes");
    refused("r", "2, 1", "not an ordered range within -5..5");
    refused("r", "-6, 1", "not an ordered range within -5..5");
    refused("r", "1, x", "not a range");
    refused("r", "1, 2, 3", "not a range");
    refused("own", "7", "no parser");
    char longv[MUST_CONF_STRING_MAX + 8];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    refused("s", longv, "longer than 127 bytes");
}
END_TEST

START_TEST(formatting_reads_back)
{
    cfg a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    const char *v[][2] = {{"i", "17"}, {"f", "0.1"}, {"b", "true"}, {"s", "a b"},
                          {"c", "alpha"}, {"opt", "x"}, {"l", "-12"}, {"u", "99"},
                          {"d", "0.3"}, {"text", "t"}, {"word", "w"}, {"dup", "heap"},
                          {"r", "-0.2, 0.3"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char buf[200];
        ok(&a, v[i][0], v[i][1]);
        must_conf_format(key(v[i][0]), &a, buf, sizeof buf);
        ck_assert_msg(strcmp(buf, v[i][1]) == 0, "%s: '%s' formats as '%s'", v[i][0], v[i][1],
                      buf);
        ok(&b, v[i][0], buf);
    }
    ck_assert_str_eq(a.dup, b.dup);
    free(a.dup), free(b.dup);
    a.dup = b.dup = NULL;
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    char buf[32];
    a.opt = -1;
    must_conf_format(key("opt"), &a, buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    ck_assert_str_eq(must_conf_type_name(MUST_CONF_CHOICE | MUST_CONF_OPTIONAL), "choice");
    ck_assert_str_eq(must_conf_type_name(MUST_CONF_U64), "u64");
    ck_assert_str_eq(must_conf_type_name(99), "?");
}
END_TEST

static int own_parse(void *user, const must_conf_key *k, void *base, const char *text,
                     char *why, size_t whylen)
{
    (*(int *)user)++;
    if (strcmp(text, "7") != 0)
        return snprintf(why, whylen, "'%s' is not seven", text), MUST_EINVAL;
    *(int *)((char *)base + k->offset) = 7;
    return MUST_OK;
}

START_TEST(defaults_fill_every_member)
{
    cfg c = {0};
    int calls = 0;
    must_conf_hooks h = {.parse = own_parse, .user = &calls};
    must_err e = {0};
    ck_assert_msg(must_conf_defaults(keys, &c, &h, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.i, 8);
    ck_assert_float_eq(c.f, 0.25f);
    ck_assert_str_eq(c.s, "plain");
    ck_assert_int_eq(c.c, 1);
    ck_assert_int_eq(c.opt, -1);
    ck_assert(c.u == UINT64_MAX);
    ck_assert_str_eq(c.word, "w-1");
    ck_assert(c.r[0] == 1.0f && c.r[1] == 2.0f);
    ck_assert_int_eq(c.own, 7);
    ck_assert_int_eq(calls, 1);
    /* Without hooks, the owner's types are left alone. */
    cfg d = {0};
    ck_assert_int_eq(must_conf_defaults(keys, &d, NULL, &e), MUST_OK);
    ck_assert_int_eq(d.own, 0);
}
END_TEST

/* must_conf_check's verdict on a one-row table. */
static void check_one(must_conf_key row, size_t size, unsigned rules, const char *want)
{
    must_conf_key t[2] = {row, {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};
    must_err e = {0};
    int rc = must_conf_check(t, size, rules, &e);
    if (!want) {
        ck_assert_msg(rc == MUST_OK, "refused: %s", e.msg);
        return;
    }
    ck_assert_msg(rc == MUST_EINVAL, "'%s' accepted", want);
    ck_assert_msg(strstr(e.msg, want), "'%s' lacks '%s'", e.msg, want);
}

START_TEST(tables_are_checked)
{
    must_err e = {0};
    ck_assert_msg(must_conf_check(keys, sizeof(cfg), 0, &e) == MUST_OK, "%s", e.msg);
    /* A plugin's table: the ABI's five types, no flags, every default. */
    ck_assert_int_eq(must_conf_check(keys, sizeof(cfg), MUST_CONF_CHECK_ABI, &e), MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "option 'opt' has type"), "%s", e.msg);
    must_conf_key i = {"n", MUST_CONF_INT, 0, "1", "h", NULL, 0, 9};
    check_one(i, sizeof(int), MUST_CONF_CHECK_ABI, NULL);
    i.name = "Bad name";
    check_one(i, sizeof(int), 0, "option name 'Bad name' is not a plain word");
    i.name = "n";
    i.offset = 2;
    check_one(i, sizeof(int), 0, "lies outside config_size 4");
    i.offset = 0;
    i.def = "10";
    check_one(i, sizeof(int), 0, "default of option 'n' ('10') is out of range 0..9");
    i.def = NULL;
    check_one(i, sizeof(int), 0, NULL);
    check_one(i, sizeof(int), MUST_CONF_CHECK_ABI, "default of option 'n' ('(null)') is missing");
    i.def = "1";
    i.min = 10;
    check_one(i, sizeof(int), 0, "has min 10 > max 9");
    i.min = 0;
    must_conf_key ch = {"c", MUST_CONF_CHOICE, 0, "a", "h", NULL, 0, 0};
    check_one(ch, sizeof(int), 0, "choice option 'c' has no choices");
    must_conf_key l = {"l", MUST_CONF_LONG, 0, "1", "h", NULL, 0, 0};
    check_one(l, sizeof(long), MUST_CONF_CHECK_ABI, "option 'l' has type");
    must_conf_key flag = {"f", MUST_CONF_INT | MUST_CONF_OPTIONAL, 0, "1", "h", NULL, 0, 0};
    check_one(flag, sizeof(int), 0, "option 'f' has type");
    must_conf_key text = {"t", MUST_CONF_TEXT, 0, "", "h", NULL, 0, 0};
    check_one(text, 8, 0, "option 't' has type"); /* a TEXT needs max */
    must_conf_key two[3] = {i, i, {NULL, 0, 0, NULL, NULL, NULL, 0, 0}};
    ck_assert_int_eq(must_conf_check(two, sizeof(int), 0, &e), MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "option 'n' appears twice"), "%s", e.msg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* INI text. */

/* Reads text and applies its [t] section to a cfg; the first problem must
 * hold want (NULL: none). */
static void apply(const char *text, const char *want, cfg *c)
{
    must_err e = {0};
    must_ini_sink sink = must_ini_first_error("x.ini", MUST_EFORMAT, &e);
    must_ini ini;
    int calls = 0;
    must_conf_hooks h = {.parse = own_parse, .user = &calls};
    int rc = must_ini_read(&ini, text, 0, &sink);
    if (rc == MUST_OK)
        rc = must_conf_apply(keys, c, &ini, must_ini_find_section(&ini, "t"), &h, NULL, &sink);
    must_ini_free(&ini);
    if (!want) {
        ck_assert_msg(rc == MUST_OK, "%s: %s", text, e.msg);
        return;
    }
    ck_assert_msg(rc == MUST_EFORMAT, "accepted: %s", text);
    ck_assert_msg(strstr(e.msg, want), "'%s' lacks '%s'", e.msg, want);
}

START_TEST(ini_problems_name_file_line_section_key)
{
    cfg c = {0};
    apply("[t]\ni = 3\ni = 4\n", "x.ini:3: [t] i: key given twice (first on line 2)", &c);
    apply("[t]\n\nnope = 1\n", "x.ini:3: [t] nope: unknown key; the keys of [t] are: i, f, b",
          &c);
    apply("# c\n[t]\ni = 65\n", "x.ini:3: [t] i: '65' is out of range 1..64", &c);
    apply("[t]\nown = 6\n", "x.ini:2: [t] own: '6' is not seven", &c);
    apply("i = 1\n", "x.ini:1: key before the first [section]", &c);
    apply("[t]\njust words\n", "x.ini:2: [t]: syntax error: expected 'key = value'", &c);
    apply("[t]\na:b = 1\n", "x.ini:2: [t]: syntax error", &c);
    apply("[t]\n= 1\n", "x.ini:2: [t]: empty key", &c);
    apply("[t]\n[t]\n", "x.ini:2: [t]: section given twice (first on line 1)", &c);
    apply("[t] x\n", "x.ini:1: a section line is [name] alone", &c);
}
END_TEST

START_TEST(ini_syntax_is_kept)
{
    cfg c = {0};
    /* CRLF, a byte order mark, comments at the start of a line and after a
     * blank ('#' and ';'), blanks, indentation and a '#' inside a value. */
    apply("\xEF\xBB\xBF; a comment\r\n[ t ]  # here too\r\n  i=5 ; five\r\n"
          "s =  a#b ;c\r\n\ttext = x # y\r\n\r\n",
          NULL, &c);
    ck_assert_int_eq(c.i, 5);
    ck_assert_str_eq(c.s, "a#b");
    ck_assert_str_eq(c.text, "x");
    /* Continuation lines where asked for: joined with a blank. */
    must_ini ini;
    must_err e = {0};
    must_ini_sink sink = must_ini_first_error("x.ini", MUST_EFORMAT, &e);
    ck_assert_int_eq(must_ini_read(&ini, "[t]\ns = a,\n    b, ; c\n\tc\nd = 1\n",
                                   MUST_INI_CONTINUATION, &sink),
                     MUST_OK);
    ck_assert_str_eq(must_ini_get(&ini, 0, "s")->value, "a, b, c");
    ck_assert_int_eq(must_ini_get(&ini, 0, "d")->line, 5);
    must_ini_free(&ini);
}
END_TEST

START_TEST(ini_lines_of_any_length)
{
    /* inih reads 200 bytes at a time: longer lines go over in pieces, cut
     * anywhere, blanks included, and come back whole. */
    char text[4000], want[3000];
    size_t n = 0;
    for (int i = 0; n < 2500; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%sname_%d%s", i ? "," : "", i,
                              i % 7 ? "" : "   \t ");
    while (want[n - 1] == ' ' || want[n - 1] == '\t')
        want[--n] = '\0';
    snprintf(text, sizeof text, "[a_long_section_name_longer_than_inih_keeps_for_sections_%s]\n"
                                "key = %s\nafter = 1\n",
             "0123456789", want);
    must_ini ini;
    must_err e = {0};
    must_ini_sink sink = must_ini_first_error("x.ini", MUST_EFORMAT, &e);
    ck_assert_msg(must_ini_read(&ini, text, 0, &sink) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(ini.nsec, 1);
    ck_assert_str_eq(ini.sec[0].name,
                     "a_long_section_name_longer_than_inih_keeps_for_sections_0123456789");
    ck_assert_int_eq(ini.nent, 2);
    ck_assert_str_eq(ini.ent[0].value, want);
    ck_assert_int_eq(ini.ent[1].line, 3);
    must_ini_free(&ini);
}
END_TEST

static int collect(void *user, int line, const char *msg)
{
    char *all = user;
    size_t n = strlen(all);
    snprintf(all + n, 2000 - n, "%d %s\n", line, msg);
    return 0;
}

START_TEST(ini_sink_that_goes_on_gets_every_problem)
{
    char all[2000] = "";
    must_ini_sink sink = {.fn = collect, .user = all, .code = MUST_EFORMAT, .file = "x.ini"};
    must_ini ini;
    ck_assert_int_eq(must_ini_read(&ini, "[t]\nbad\ni = 1\ni = 2\n[t]\nj = 3\n[u]\nk = 4\n", 0,
                                   &sink),
                     MUST_OK);
    ck_assert_str_eq(all, "2 [t]: syntax error: expected 'key = value' or '[section]', not 'bad'\n"
                          "4 [t] i: key given twice (first on line 3)\n"
                          "5 [t]: section given twice (first on line 1)\n");
    /* Keys of a refused section are dropped, not reported again. */
    ck_assert_int_eq(ini.nsec, 2);
    ck_assert_int_eq(ini.nent, 2);
    ck_assert_str_eq(ini.ent[1].key, "k");
    must_ini_free(&ini);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, each_type_parses_and_ranges);
    tcase_add_test(tc, each_type_refuses);
    tcase_add_test(tc, formatting_reads_back);
    tcase_add_test(tc, defaults_fill_every_member);
    tcase_add_test(tc, tables_are_checked);
    suite_add_tcase(s, tc);
    tc = tcase_create("ini");
    tcase_add_test(tc, ini_problems_name_file_line_section_key);
    tcase_add_test(tc, ini_syntax_is_kept);
    tcase_add_test(tc, ini_lines_of_any_length);
    tcase_add_test(tc, ini_sink_that_goes_on_gets_every_problem);
    suite_add_tcase(s, tc);
    return test_run(s);
}
