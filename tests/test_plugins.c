/* test_plugins.c - the plugin loader and its refusals (deliberately broken
 * plugins from tests/plugins/), the search path, option tables, task
 * instances, and the built-in plugins' heads: parameter names, losses'
 * gradients by finite differences through the plugin, example masks,
 * pseudo-labellers and visualizers.  Metrics: test_metrics.c; training:
 * test_task_train.c. */
#include "config.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "must/gradcheck.h"
#include "must/io.h"
#include "must/ops.h"
#include "must/plugin.h"
#include "plugutil.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static const char *broken_dir(void)
{
    const char *d = getenv("MUST_BROKEN_PLUGINS");
    return d && *d ? d : "tests/plugins/.libs";
}

static char *broken_file(const char *name)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s.so", broken_dir(), name);
    return strdup(buf);
}

/* $MUST_TEST_TMP/plugins-<name>, created empty. */
static char *tmp_dir(const char *name)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/plugins-%s", test_tmpdir(), name);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    ck_assert_int_eq(system(cmd), 0);
    must_err e = {0};
    ck_assert_msg(must_mkdir_p(buf, &e) == MUST_OK, "%s", e.msg);
    return strdup(buf);
}

static void copy_file(const char *from, const char *to)
{
    char *buf;
    size_t len;
    must_err e = {0};
    ck_assert_msg(must_file_read(from, &buf, &len, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_file_write_atomic(to, buf, len, &e) == MUST_OK, "%s", e.msg);
    free(buf);
}

/* Copies the test plugin `name` of tests/plugins/ to `to`. */
static void copy_broken(const char *name, const char *to)
{
    char *from = broken_file(name);
    copy_file(from, to);
    free(from);
}

static void write_text(const char *path, const char *text)
{
    must_err e = {0};
    ck_assert_msg(must_file_write_atomic(path, text, strlen(text), &e) == MUST_OK, "%s", e.msg);
}

/* Loads a file expecting refusal with `code` and every given fragment in
 * the message. */
static void expect_refused(const char *file, int code, const char *s1, const char *s2,
                           const char *s3)
{
    must_plugin *p = (must_plugin *)1;
    must_err e = {0};
    int rc = must_plugin_load_file(file, &p, &e);
    ck_assert_msg(rc == code, "%s: status %d, expected %d (%s)", file, rc, code, e.msg);
    ck_assert_ptr_null(p);
    ck_assert_msg_has(e.msg, file[0] == '/' ? strrchr(file, '/') + 1 : file);
    if (s1)
        ck_assert_msg_has(e.msg, s1);
    if (s2)
        ck_assert_msg_has(e.msg, s2);
    if (s3)
        ck_assert_msg_has(e.msg, s3);
}

static must_task *good_task(void)
{
    char *f = broken_file("good");
    must_plugin *p;
    must_err e = {0};
    ck_assert_msg(must_plugin_load_file(f, &p, &e) == MUST_OK, "%s", e.msg);
    must_task *t;
    ck_assert_msg(must_task_new_from(p, NULL, &t, &e) == MUST_OK, "%s", e.msg);
    must_plugin_unload(p); /* the task keeps its own reference */
    free(f);
    return t;
}

static void expect_set_fails(must_task *t, const char *key, const char *value, const char *s1,
                             const char *s2)
{
    must_err e = {0};
    ck_assert_msg(must_task_set(t, key, value, "exp.ini:12", &e) == MUST_EINVAL,
                  "%s = %s accepted", key, value);
    ck_assert_msg_has(e.msg, "exp.ini:12: ");
    ck_assert_msg_has(e.msg, s1);
    if (s2)
        ck_assert_msg_has(e.msg, s2);
}

static void expect_get(must_task *t, const char *key, const char *want)
{
    char buf[256];
    must_err e = {0};
    ck_assert_msg(must_task_get(t, key, buf, sizeof buf, &e) == MUST_OK, "%s", e.msg);
    ck_assert_str_eq(buf, want);
}

/* ------------------------------------------------------------------------ */
/* Loader                                                                    */

START_TEST(names_are_plain_words)
{
    ck_assert(must_plugin_name_valid("segmentation"));
    ck_assert(must_plugin_name_valid("seg_ade20k"));
    ck_assert(!must_plugin_name_valid(""));
    ck_assert(!must_plugin_name_valid(NULL));
    ck_assert(!must_plugin_name_valid("Segmentation"));
    ck_assert(!must_plugin_name_valid("seg-ade"));
    ck_assert(!must_plugin_name_valid("seg.so"));
    ck_assert(!must_plugin_name_valid("../depth"));
    ck_assert(!must_plugin_name_valid("/usr/lib/must/depth"));
    char longname[MUST_PLUGIN_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert(!must_plugin_name_valid(longname));
    longname[MUST_PLUGIN_NAME_MAX] = '\0';
    ck_assert(must_plugin_name_valid(longname));
}
END_TEST

START_TEST(a_path_is_never_a_name)
{
    static const char *const bad[] = {"../depth", "./depth", "/tmp/depth", "depth.so",
                                      "plugins/depth", "Depth"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        must_plugin *p = (must_plugin *)1;
        must_err e = {0};
        ck_assert_int_eq(must_plugin_load(bad[i], &p, &e), MUST_EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_msg_has(e.msg, bad[i]);
        ck_assert_msg_has(e.msg, "never by path");
        must_task *t = (must_task *)1;
        ck_assert_int_eq(must_task_new(bad[i], NULL, &t, &e), MUST_EINVAL);
        ck_assert_ptr_null(t);
    }
}
END_TEST

START_TEST(missing_plugin_lists_where_it_looked)
{
    char *d = tmp_dir("empty");
    setenv("MUST_PLUGIN_PATH", d, 1);
    must_plugin *p;
    must_err e = {0};
    ck_assert_int_eq(must_plugin_load("nosuchtask", &p, &e), MUST_ENOTFOUND);
    ck_assert_msg_has(e.msg, "nosuchtask.so");
    ck_assert_msg_has(e.msg, d);
    ck_assert_msg_has(e.msg, must_plugin_install_dir());
    free(d);
}
END_TEST

START_TEST(search_path_order)
{
    setenv("MUST_PLUGIN_PATH", "/a::/b/c:", 1);
    char **dirs = must_plugin_dirs();
    ck_assert_ptr_nonnull(dirs);
    ck_assert_str_eq(dirs[0], "/a");
    ck_assert_str_eq(dirs[1], "/b/c");
    ck_assert_str_eq(dirs[2], must_plugin_install_dir());
    /* The tests link libmust-core statically, so libtool puts no wrapper
     * in front of them and they run from tests/ itself, not from a .libs/
     * folder: no build-tree entry (the program's is tested by
     * tests/plugins_cli.sh, which runs ./must from .libs/). */
    char *self = must_build_tree_libs();
    ck_assert_ptr_null(self);
    ck_assert_ptr_null(dirs[3]);
    must_plugin_dirs_free(dirs);
    unsetenv("MUST_PLUGIN_PATH");
    dirs = must_plugin_dirs();
    ck_assert_str_eq(dirs[0], must_plugin_install_dir());
    ck_assert_ptr_null(dirs[1]);
    must_plugin_dirs_free(dirs);
}
END_TEST

START_TEST(refuses_a_file_that_is_not_a_shared_object)
{
    char *d = tmp_dir("notso");
    char path[4200];
    snprintf(path, sizeof path, "%s/notso.so", d);
    write_text(path, "this is a text file, not an ELF object\n");
    expect_refused(path, MUST_EFORMAT, "cannot load", "ldd", NULL);
    /* An empty file and a directory, too. */
    snprintf(path, sizeof path, "%s/empty.so", d);
    write_text(path, "");
    expect_refused(path, MUST_EFORMAT, "cannot load", NULL, NULL);
    snprintf(path, sizeof path, "%s/adir.so", d);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    expect_refused(path, MUST_EINVAL, "not a regular file", NULL, NULL);
    /* The same through a load by name. */
    setenv("MUST_PLUGIN_PATH", d, 1);
    must_plugin *p;
    must_err e = {0};
    ck_assert_int_eq(must_plugin_load("notso", &p, &e), MUST_EFORMAT);
    ck_assert_msg_has(e.msg, "notso.so");
    free(d);
}
END_TEST

START_TEST(refuses_a_file_name_that_is_not_a_plugin_name)
{
    char *d = tmp_dir("badname");
    char path[4200];
    snprintf(path, sizeof path, "%s/Bad-Name.so", d);
    copy_broken("good", path);
    expect_refused(path, MUST_EINVAL, "plain", NULL, NULL);
    snprintf(path, sizeof path, "%s/good.so.1", d);
    copy_broken("good", path);
    expect_refused(path, MUST_EINVAL, "NAME.so", NULL, NULL);
    free(d);
}
END_TEST

START_TEST(refuses_a_plugin_without_the_entry_symbol)
{
    char *f = broken_file("noentry");
    expect_refused(f, MUST_ENOTFOUND, "must_task_init", "export-symbols-regex", NULL);
    free(f);
}
END_TEST

START_TEST(refuses_another_abi_version)
{
    char *f = broken_file("badabi");
    char mine[64], theirs[64];
    snprintf(theirs, sizeof theirs, "built for task ABI version 1");
    snprintf(mine, sizeof mine, "speaks ABI version %d: rebuild", MUST_TASK_ABI_VERSION);
    expect_refused(f, MUST_EABI, theirs, mine, "'badabi'");
    free(f);
}
END_TEST

START_TEST(a_plugin_kind_is_defined_by_one_file)
{
    /* ownkind.so defines the kind "ownkind": loaded, it is registered and
     * its table shows the index; the same kind from another file is
     * refused with both files named; the first stays loaded (pinned). */
    char *d1 = tmp_dir("kind1"), *d2 = tmp_dir("kind2");
    char p1[4200], p2[4200];
    snprintf(p1, sizeof p1, "%s/ownkind.so", d1);
    snprintf(p2, sizeof p2, "%s/ownkind.so", d2);
    copy_broken("ownkind", p1);
    copy_broken("ownkind", p2);
    must_plugin *a, *again, *b;
    must_err e = {0};
    ck_assert_msg(must_plugin_load_file(p1, &a, &e) == MUST_OK, "%s", e.msg);
    int k = must_plugin_ops(a)->label_kind;
    ck_assert_int_ge(k, MUST_LABEL_NKINDS);
    ck_assert_int_lt(k, MUST_LABEL_MAX_KINDS);
    ck_assert_int_eq(must_label_kind_parse("ownkind"), k);
    ck_assert_str_eq(must_label_kind_name(k), "ownkind");
    ck_assert_ptr_nonnull(strstr(must_label_kind_owner(k), "plugins-kind1/ownkind.so"));
    char store[128];
    ck_assert_int_eq(must_label_kind_store(k, store, sizeof store), MUST_OK);
    ck_assert_str_eq(store, "labels/ownkind.txt");
    ck_assert_msg(must_plugin_load_file(p1, &again, &e) == MUST_OK, "%s", e.msg);
    ck_assert_ptr_eq(again, a);
    must_plugin_unload(again);
    ck_assert_int_eq(must_plugin_load_file(p2, &b, &e), MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "plugins-kind1/ownkind.so") &&
                      strstr(e.msg, "plugins-kind2/ownkind.so") && strstr(e.msg, "'ownkind'"),
                  "%s", e.msg);
    must_plugin_unload(a);
    ck_assert_ptr_nonnull(must_label_kind_codec(k));
    ck_assert_msg(must_plugin_load_file(p1, &again, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_plugin_ops(again)->label_kind, k);
    must_plugin_unload(again);
    free(d1);
    free(d2);
}
END_TEST

START_TEST(refuses_a_struct_smaller_than_the_abi)
{
    char *f = broken_file("smallsize");
    char need[64];
    snprintf(need, sizeof need, "at least %zu", (size_t)MUST_TASK_OPS_V2_SIZE);
    expect_refused(f, MUST_EABI, "struct_size is 24 bytes", need, NULL);
    free(f);
}
END_TEST

START_TEST(refuses_null_required_callbacks)
{
    char *f = broken_file("nullcb");
    char vers[64];
    snprintf(vers, sizeof vers, "ABI %d", MUST_TASK_ABI_VERSION);
    expect_refused(f, MUST_EINVAL, "required callback forward is NULL", vers, "0.0.1");
    free(f);
}
END_TEST

START_TEST(refuses_what_init_refuses_and_bad_tables)
{
    char *f = broken_file("initfail");
    expect_refused(f, MUST_EINVAL, "refused to start", "never starts", NULL);
    free(f);
    f = broken_file("badopt");
    expect_refused(f, MUST_EINVAL, "option 'rate'", "'fast'", NULL);
    free(f);
    f = broken_file("wrongname");
    expect_refused(f, MUST_EINVAL, "someone_else", "'wrongname'", NULL);
    free(f);
}
END_TEST

START_TEST(a_refusal_leaves_the_others_loadable)
{
    /* One directory with a broken and a good plugin: the broken one is
     * refused, the good one loads, by name, in the same process. */
    char *d = tmp_dir("mixed");
    char path[4200];
    snprintf(path, sizeof path, "%s/badabi.so", d);
    copy_broken("badabi", path);
    snprintf(path, sizeof path, "%s/good.so", d);
    copy_broken("good", path);
    setenv("MUST_PLUGIN_PATH", d, 1);
    must_plugin *p;
    must_err e = {0};
    ck_assert_int_eq(must_plugin_load("badabi", &p, &e), MUST_EABI);
    ck_assert_msg(must_plugin_load("good", &p, &e) == MUST_OK, "%s", e.msg);
    ck_assert_str_eq(must_plugin_ops(p)->name, "good");
    must_plugin_unload(p);
    free(d);
}
END_TEST

START_TEST(a_file_loads_once_and_unloads_last)
{
    char *f = broken_file("good");
    must_plugin *a, *b;
    must_err e = {0};
    ck_assert_msg(must_plugin_load_file(f, &a, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_plugin_load_file(f, &b, &e) == MUST_OK, "%s", e.msg);
    ck_assert_ptr_eq(a, b);
    /* The plugin counts its own inits and unloads. */
    void *h = dlopen(must_plugin_file(a), RTLD_NOW | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(h);
    int (*live)(void);
    void *sym = dlsym(h, "good_live_inits");
    ck_assert_ptr_nonnull(sym);
    memcpy(&live, &sym, sizeof live);
    ck_assert_int_eq(live(), 1);
    must_plugin_unload(a);
    ck_assert_int_eq(live(), 1);
    must_task *t;
    ck_assert_msg(must_task_new_from(b, "again", &t, &e) == MUST_OK, "%s", e.msg);
    must_plugin_unload(b);
    ck_assert_int_eq(live(), 1); /* the task holds it */
    must_task_free(t);
    ck_assert_int_eq(live(), 0);
    dlclose(h);
    free(f);
}
END_TEST

typedef struct seen {
    int n;
    char names[8][80];
    char shadow[8][4200];
} seen;

static int collect(void *user, const char *name, const char *file, const char *shadowed)
{
    seen *s = user;
    (void)file;
    if (s->n < 8) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
        snprintf(s->shadow[s->n], sizeof s->shadow[0], "%s", shadowed ? shadowed : "");
        s->n++;
    }
    return 0;
}

START_TEST(scan_lists_each_name_once_first_on_the_path_wins)
{
    char *a = tmp_dir("scan-a"), *b = tmp_dir("scan-b"), path[4200];
    snprintf(path, sizeof path, "%s/good.so", a);
    copy_broken("good", path);
    snprintf(path, sizeof path, "%s/good.so", b);
    copy_broken("good", path);
    snprintf(path, sizeof path, "%s/badabi.so", b);
    copy_broken("badabi", path);
    snprintf(path, sizeof path, "%s/libsomething.so", a);
    write_text(path, "a library, not a plugin");
    snprintf(path, sizeof path, "%s/Upper.so", a);
    write_text(path, "not a plugin name");
    snprintf(path, sizeof path, "%s/notes.txt", a);
    write_text(path, "not a plugin");
    char env[9000];
    snprintf(env, sizeof env, "%s:/nonexistent/dir:%s", a, b);
    setenv("MUST_PLUGIN_PATH", env, 1);
    seen s = {0};
    must_err e = {0};
    ck_assert_msg(must_plugin_scan(collect, &s, &e) == MUST_OK, "%s", e.msg);
    /* The install dir may hold plugins of an installed must: look only at
     * ours. */
    int ib = -1, ig = -1;
    for (int i = 0; i < s.n; i++) {
        ib = strcmp(s.names[i], "badabi") == 0 ? i : ib;
        ig = strcmp(s.names[i], "good") == 0 ? i : ig;
        ck_assert_str_ne(s.names[i], "libsomething");
        ck_assert_str_ne(s.names[i], "Upper");
    }
    ck_assert_int_ge(ib, 0);
    ck_assert_int_gt(ig, ib); /* name order */
    snprintf(path, sizeof path, "%s/good.so", b);
    ck_assert_str_eq(s.shadow[ig], path);
    /* A load by name takes the first. */
    must_plugin *p;
    ck_assert_msg(must_plugin_load("good", &p, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(strstr(must_plugin_file(p), "scan-a") != NULL, "%s", must_plugin_file(p));
    must_plugin_unload(p);
    free(a);
    free(b);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Options and task instances                                                */

START_TEST(options_start_at_their_defaults)
{
    must_task *t = good_task();
    ck_assert_str_eq(must_task_name(t), "good");
    expect_get(t, "width", "8");
    expect_get(t, "rate", "0.25");
    expect_get(t, "flag", "false");
    expect_get(t, "mode", "beta");
    expect_get(t, "tag", "plain");
    must_err e = {0};
    char buf[32];
    ck_assert_int_eq(must_task_get(t, "nope", buf, sizeof buf, &e), MUST_ENOTFOUND);
    must_task_free(t);
}
END_TEST

START_TEST(options_parse_every_type)
{
    must_task *t = good_task();
    must_err e = {0};
    const char *keys[] = {"width", "rate", "flag", "mode", "tag"};
    const char *vals[] = {"64", "1e-1", "YES", "gamma", "with spaces ok"};
    ck_assert_msg(must_task_configure(t, 5, keys, vals, "exp.ini:3", &e) == MUST_OK, "%s",
                  e.msg);
    expect_get(t, "width", "64");
    expect_get(t, "rate", "0.1");
    expect_get(t, "flag", "true");
    expect_get(t, "mode", "gamma");
    expect_get(t, "tag", "with spaces ok");
    /* The config struct the plugin sees. */
    const struct {
        int width;
        float rate;
        int flag, mode;
        char tag[MUST_OPT_STRING_MAX];
    } *c = must_task_config(t);
    ck_assert_int_eq(c->width, 64);
    ck_assert_float_eq(c->rate, 0.1f);
    ck_assert_int_eq(c->flag, 1);
    ck_assert_int_eq(c->mode, 2);
    must_task_free(t);
    /* The other spellings of booleans. */
    static const char *const yes[] = {"true", "on", "1", "Yes"}, *const no[] = {"false", "off",
                                                                                 "0", "NO"};
    for (int i = 0; i < 4; i++) {
        t = good_task();
        ck_assert_int_eq(must_task_set(t, "flag", yes[i], NULL, &e), MUST_OK);
        expect_get(t, "flag", "true");
        must_task_free(t);
        t = good_task();
        ck_assert_int_eq(must_task_set(t, "flag", no[i], NULL, &e), MUST_OK);
        expect_get(t, "flag", "false");
        must_task_free(t);
    }
}
END_TEST

START_TEST(unknown_key_names_the_key_and_lists_the_known_ones)
{
    must_task *t = good_task();
    expect_set_fails(t, "widht", "8", "unknown key 'widht'",
                     "its keys are: width, rate, flag, mode, tag");
    expect_set_fails(t, "widht", "8", "task 'good'", NULL);
    must_task_free(t);
    /* A built-in plugin lists its own. */
    must_err e = {0};
    ck_assert_msg(must_task_new("segmentation", "seg_coco", &t, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_task_set(t, "treshold", "0.5", "exp.ini:40", &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "exp.ini:40: task 'seg_coco' (segmentation): unknown key "
                             "'treshold'; its keys are: channels, threshold");
    must_task_free(t);
}
END_TEST

START_TEST(bad_values_name_key_and_value)
{
    must_task *t = good_task();
    expect_set_fails(t, "width", "eight", "width = 'eight'", "not a whole number");
    expect_set_fails(t, "width", "65", "width = '65'", "out of range 1..64");
    expect_set_fails(t, "width", "0", "width = '0'", "out of range");
    expect_set_fails(t, "width", "8.5", "width = '8.5'", NULL);
    expect_set_fails(t, "width", "", "width = ''", NULL);
    expect_set_fails(t, "width", "99999999999999", "width", NULL);
    expect_set_fails(t, "rate", "1.5", "rate = '1.5'", "out of range 0..1");
    expect_set_fails(t, "rate", "nan", "rate = 'nan'", "finite");
    expect_set_fails(t, "rate", "0.5x", "rate = '0.5x'", NULL);
    expect_set_fails(t, "flag", "maybe", "flag = 'maybe'", "boolean");
    expect_set_fails(t, "mode", "delta", "mode = 'delta'", "alpha|beta|gamma");
    expect_set_fails(t, "mode", "alph", "mode = 'alph'", NULL);
    char longv[MUST_OPT_STRING_MAX + 8];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    expect_set_fails(t, "tag", longv, "tag", "longer than");
    /* Nothing was changed by the failures. */
    expect_get(t, "width", "8");
    expect_get(t, "mode", "beta");
    must_task_free(t);
}
END_TEST

START_TEST(a_key_once_and_never_after_the_build)
{
    must_task *t = good_task();
    must_err e = {0};
    ck_assert_int_eq(must_task_set(t, "width", "4", "exp.ini:5", &e), MUST_OK);
    expect_set_fails(t, "width", "5", "key 'width' given twice", NULL);
    must_feature_desc f = pu_features(4, 0);
    must_task_env env = {.features = &f, .nclasses = 2, .seed = 1};
    ck_assert_msg(must_task_build(t, &env, &e) == MUST_OK, "%s", e.msg);
    expect_set_fails(t, "rate", "0.5", "after the head was built", NULL);
    ck_assert_int_eq(must_task_build(t, &env, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "twice");
    must_task_free(t);
}
END_TEST

START_TEST(instance_names_are_plain_words)
{
    must_task *t;
    must_err e = {0};
    ck_assert_int_eq(must_task_new("segmentation", "seg/ade", &t, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "seg/ade");
    ck_assert_int_eq(must_task_new("segmentation", "Seg", &t, &e), MUST_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The built-in heads                                                        */

START_TEST(heads_name_their_parameters_with_the_prefix)
{
    must_feature_desc f = pu_features(8, 6);
    must_err e = {0};
    /* Two instances of one plugin keep apart in a checkpoint. */
    must_task *a, *b;
    ck_assert_int_eq(must_task_new("segmentation", "seg_coco", &a, &e), MUST_OK);
    ck_assert_int_eq(must_task_new("segmentation", "seg_ade", &b, &e), MUST_OK);
    ck_assert_int_eq(must_task_set(a, "channels", "4", NULL, &e), MUST_OK);
    must_task_env env = {.features = &f, .nclasses = 3, .seed = 1};
    ck_assert_msg(must_task_build(a, &env, &e) == MUST_OK, "%s", e.msg);
    env.nclasses = 5;
    ck_assert_msg(must_task_build(b, &env, &e) == MUST_OK, "%s", e.msg);
    must_params *pa = must_task_params(a), *pb = must_task_params(b);
    ck_assert_ptr_nonnull(must_params_find(pa, "seg_coco.body.0.weight"));
    ck_assert_ptr_nonnull(must_params_find(pa, "seg_coco.body.7.running_var"));
    must_tensor *ow = must_params_find(pa, "seg_coco.out.weight");
    ck_assert_ptr_nonnull(ow);
    ck_assert_int_eq(ow->shape[0], 3);
    ck_assert_int_eq(ow->shape[1], 4);
    must_tensor *w0 = must_params_find(pa, "seg_coco.body.0.weight");
    ck_assert_int_eq(w0->shape[1], 6); /* reads P2's 6 channels */
    ck_assert_ptr_nonnull(must_params_find(pb, "seg_ade.out.bias"));
    ck_assert_int_eq(must_params_find(pb, "seg_ade.out.bias")->shape[0], 5);
    ck_assert_int_eq(must_params_find(pb, "seg_ade.body.0.weight")->shape[0], 64);
    ck_assert_uint_eq(must_task_levels(a), MUST_LEVEL_BIT(MUST_P2));
    /* BN running statistics are buffers, BN affine and biases undecayed. */
    ck_assert(must_params_find(pa, "seg_coco.body.1.running_mean")->flags & MUST_T_BUFFER);
    ck_assert(must_params_find(pa, "seg_coco.body.1.weight")->flags & MUST_T_NO_DECAY);
    ck_assert(!(w0->flags & MUST_T_NO_DECAY));
    must_task_free(a);
    must_task_free(b);

    must_task *c = pu_task("classification", 10, &f, NULL);
    must_tensor *fw = must_params_find(must_task_params(c), "classification.fc.weight");
    ck_assert_ptr_nonnull(fw);
    ck_assert_int_eq(fw->shape[0], 10);
    ck_assert_int_eq(fw->shape[1], 8);
    ck_assert_uint_eq(must_task_levels(c), MUST_LEVEL_BIT(MUST_C5));
    must_task_free(c);
    static const char *const pix[] = {"depth", "normal"};
    static const int cout[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        must_task *t = pu_task(pix[i], 0, &f, NULL);
        char nm[64];
        snprintf(nm, sizeof nm, "%s.out.weight", pix[i]);
        ck_assert_int_eq(must_params_find(must_task_params(t), nm)->shape[0], cout[i]);
        must_task_free(t);
    }
}
END_TEST

/* The simclr plugin (plugins/simclr): reads no labels; a projection MLP
 * on pooled C5 computed here by hand, and its loss NT-Xent over the
 * projections at the configured temperature, from the definition in
 * double; a one-view batch and a masked example refused. */
static double ntx_by_definition(const float *z, int m, int d, double tau)
{
    double total = 0.0;
    for (int i = 0; i < m; i++) {
        double se = 0.0, pos = 0.0, ni = 0.0;
        for (int j = 0; j < d; j++)
            ni += (double)z[i * d + j] * z[i * d + j];
        for (int k = 0; k < m; k++) {
            double dot = 0.0, nk = 0.0;
            for (int j = 0; j < d; j++) {
                dot += (double)z[i * d + j] * z[k * d + j];
                nk += (double)z[k * d + j] * z[k * d + j];
            }
            double sim = dot / sqrt(ni * nk) / tau;
            if (k != i)
                se += exp(sim);
            if (k == (i + m / 2) % m)
                pos = sim;
        }
        total += log(se) - pos;
    }
    return total / m;
}

START_TEST(simclr_head_projects_and_pairs_the_views)
{
    must_feature_desc f = pu_features(8, 0);
    static const char *const opts[] = {"hidden=6", "dim=4", "temperature=0.5", NULL};
    must_task *t = pu_task("simclr", 0, &f, opts);
    ck_assert_int_eq(must_task_get_ops(t)->label_kind, MUST_TASK_NO_KIND);
    ck_assert_ptr_null(must_task_get_ops(t)->pseudo_label);
    must_params *p = must_task_params(t);
    must_tensor *w0 = must_params_find(p, "simclr.proj.0.weight");
    must_tensor *b0 = must_params_find(p, "simclr.proj.0.bias");
    must_tensor *w1 = must_params_find(p, "simclr.proj.2.weight");
    must_tensor *b1 = must_params_find(p, "simclr.proj.2.bias");
    ck_assert(w0 && b0 && w1 && b1);
    ck_assert_int_eq(w0->shape[0], 6);
    ck_assert_int_eq(w0->shape[1], 8);
    ck_assert_int_eq(w1->shape[0], 4);
    ck_assert_int_eq(w1->shape[1], 6);
    ck_assert_uint_eq(must_task_levels(t), MUST_LEVEL_BIT(MUST_C5));

    must_ctx *ctx = must_ctx_new(1);
    const int m = 6, C = 8, H = 2;
    must_tensor *c5 = must_tensor_new4(ctx, m, C, H, H);
    for (size_t i = 0; i < c5->numel; i++)
        c5->data[i] = sinf(0.37f * (float)i) + 0.1f;
    must_tensor *lv[MUST_NLEVELS] = {0};
    lv[MUST_C5] = c5;
    must_tensor *z = must_task_forward(t, ctx, lv, 64, 64);
    ck_assert_msg(z, "%s", must_ctx_error(ctx)->msg);
    ck_assert_int_eq(z->shape[0], m);
    ck_assert_int_eq(z->shape[1], 4);
    for (int r = 0; r < m; r++) {
        double pooled[8], hid[6];
        for (int c = 0; c < C; c++) {
            pooled[c] = 0.0;
            for (int q = 0; q < H * H; q++)
                pooled[c] += c5->data[((size_t)r * C + c) * H * H + q] / (H * H);
        }
        for (int h = 0; h < 6; h++) {
            hid[h] = b0->data[h];
            for (int c = 0; c < C; c++)
                hid[h] += w0->data[h * C + c] * pooled[c];
            hid[h] = hid[h] > 0 ? hid[h] : 0;
        }
        for (int o = 0; o < 4; o++) {
            double v = b1->data[o];
            for (int h = 0; h < 6; h++)
                v += w1->data[o * 6 + h] * hid[h];
            ck_assert_double_eq_tol(z->data[r * 4 + o], v, 1e-5);
        }
    }
    must_batch *b = pu_batch_new(m, 8, 0);
    b->views = 2;
    must_tensor *l = must_task_loss(t, ctx, z, b, NULL);
    ck_assert_msg(l, "%s", must_ctx_error(ctx)->msg);
    ck_assert_double_eq_tol(l->data[0], ntx_by_definition(z->data, m, 4, 0.5), 1e-5);
    must_ctx_free(ctx);

    ctx = must_ctx_new(1);
    b->views = 1;
    ck_assert_ptr_null(must_task_loss(t, ctx, z, b, NULL));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "NT-Xent needs 2"));
    must_ctx_free(ctx);
    ctx = must_ctx_new(1);
    b->views = 2;
    float mask[6] = {1, 1, 0, 1, 1, 1};
    ck_assert_ptr_null(must_task_loss(t, ctx, z, b, mask));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "example 2 is masked out"));
    must_ctx_free(ctx);
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

START_TEST(heads_refuse_what_they_cannot_build_on)
{
    must_feature_desc no_p2 = pu_features(8, 0), no_c5 = pu_features(0, 8);
    static const char *const pix[] = {"segmentation", "depth", "normal"};
    must_err e = {0};
    for (int i = 0; i < 3; i++) {
        must_task *t;
        ck_assert_int_eq(must_task_new(pix[i], NULL, &t, &e), MUST_OK);
        must_task_env env = {.features = &no_p2, .nclasses = 3, .seed = 1};
        ck_assert_int_eq(must_task_build(t, &env, &e), MUST_EINVAL);
        ck_assert_msg_has(e.msg, "P2");
        ck_assert_msg_has(e.msg, pix[i]);
        must_task_free(t);
    }
    must_task *t;
    ck_assert_int_eq(must_task_new("classification", NULL, &t, &e), MUST_OK);
    must_task_env env = {.features = &no_c5, .nclasses = 3, .seed = 1};
    ck_assert_int_eq(must_task_build(t, &env, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "C5");
    must_task_free(t);
    must_feature_desc f = pu_features(8, 8);
    env.features = &f;
    env.nclasses = 1;
    ck_assert_int_eq(must_task_new("classification", NULL, &t, &e), MUST_OK);
    ck_assert_int_eq(must_task_build(t, &env, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "at least 2 classes");
    must_task_free(t);
    env.nclasses = 256;
    ck_assert_int_eq(must_task_new("segmentation", NULL, &t, &e), MUST_OK);
    ck_assert_int_eq(must_task_build(t, &env, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "255");
    must_task_free(t);
}
END_TEST

START_TEST(forward_and_loss_report_misuse_on_the_context)
{
    must_feature_desc f = pu_features(8, 6);
    must_task *t = pu_task("segmentation", 3, &f, (const char *const[]){"channels=4", NULL});
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *levels[MUST_NLEVELS] = {0};
    levels[MUST_C5] = must_tensor_zeros(ctx, 4, (int[]){2, 8, 1, 1});
    ck_assert_ptr_null(must_task_forward(t, ctx, levels, 8, 8));
    ck_assert_msg_has(must_ctx_error(ctx)->msg, "needs level P2");
    must_ctx_reset(ctx);
    /* A batch without segmentation labels. */
    levels[MUST_P2] = must_tensor_zeros(ctx, 4, (int[]){2, 6, 2, 2});
    void *pred = must_task_forward(t, ctx, levels, 8, 8);
    ck_assert_ptr_nonnull(pred);
    must_batch *b = pu_batch_new(2, 8, 0);
    b->tasks = MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    ck_assert_ptr_null(must_task_loss(t, ctx, pred, b, NULL));
    ck_assert_msg_has(must_ctx_error(ctx)->msg, "no segmentation labels");
    must_ctx_reset(ctx);
    /* A batch of another size. */
    b->tasks = MUST_LABEL_ALL;
    pred = must_task_forward(t, ctx, levels, 4, 4);
    ck_assert_ptr_null(must_task_loss(t, ctx, pred, b, NULL));
    ck_assert_msg_has(must_ctx_error(ctx)->msg, "(2, 3, 4, 4)");
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Gradients through the plugins                                             */

typedef struct gc {
    must_task *t;
    int level, fshape[4], size;
    float *feat;          /* the fixed random feature input */
    const must_batch *b;
    const float *mask;
} gc;

static must_tensor *gc_loss(must_ctx *ctx, void *u)
{
    gc *g = u;
    must_tensor *levels[MUST_NLEVELS] = {0};
    must_tensor *x = must_tensor_new(ctx, 4, g->fshape);
    if (!x)
        return NULL;
    memcpy(x->data, g->feat, x->numel * sizeof(float));
    levels[g->level] = x;
    void *pred = must_task_forward(g->t, ctx, levels, g->size, g->size);
    /* Scaled so that the gradients are of order 1 and more: the check's
     * tolerance is relative to max(|gradient|, 1). */
    return must_op_scale(ctx, must_task_loss(g->t, ctx, pred, g->b, g->mask), 50.0f);
}

static void gc_init(gc *g, must_task *t, int level, int n, int c, int h, int w, int size,
                    const must_batch *b, const float *mask)
{
    g->t = t;
    g->level = level;
    g->fshape[0] = n;
    g->fshape[1] = c;
    g->fshape[2] = h;
    g->fshape[3] = w;
    g->size = size;
    g->b = b;
    g->mask = mask;
    size_t numel = (size_t)n * c * h * w;
    g->feat = malloc(numel * sizeof(float));
    must_rng r;
    must_rng_seed(&r, 99);
    for (size_t i = 0; i < numel; i++)
        g->feat[i] = must_rng_normal(&r);
}

static void gc_run(gc *g, const char *what)
{
    must_ctx *ctx = must_ctx_new(1);
    must_gradcheck_opts o = {1e-3f, 1e-2f, 24, 5};
    must_err e = {0};
    int rc = must_gradcheck(ctx, gc_loss, g, must_task_params(g->t), &o, &e);
    ck_assert_msg(rc == MUST_OK, "%s: %s", what, e.msg);
    /* The loss is not trivially flat: some gradient is well away from 0. */
    must_params *p = must_task_params(g->t);
    double gmax = 0;
    const float *gr = must_params_grad(p);
    for (size_t i = 0; i < must_params_numel(p, 1); i++)
        gmax = fmax(gmax, fabs(gr[i]));
    ck_assert_msg(gmax > 0.05, "%s: largest gradient %g", what, gmax);
    must_ctx_free(ctx);
    free(g->feat);
}

/* A batch of 3 at 8x8 with labels of every dense kind made from a seed. */
static must_batch *dense_batch(int nseg)
{
    must_batch *b = pu_batch_new(3, 8, 4);
    must_rng r;
    must_rng_seed(&r, 31);
    size_t hw = 64;
    for (int i = 0; i < 3; i++)
        for (size_t q = 0; q < hw; q++) {
            size_t k = (size_t)i * hw + q;
            b->seg[k] = q % 7 == 3 ? MUST_SEG_IGNORE : (int32_t)must_rng_below(&r, (uint32_t)nseg);
            b->depth[k] = q % 5 == 1 ? 0.0f : 0.5f + 4.0f * must_rng_uniform(&r);
            if (q % 6 != 2) {
                float v[3] = {must_rng_normal(&r), must_rng_normal(&r), must_rng_normal(&r)};
                float l = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) + 1e-6f;
                pu_batch_normal(b, i, q, v[0] / l, v[1] / l, v[2] / l);
            }
        }
    return b;
}

START_TEST(classification_loss_gradient_hard_and_soft)
{
    must_feature_desc f = pu_features(6, 0);
    must_task *t = pu_task("classification", 4, &f, NULL);
    must_batch *b = pu_batch_new(4, 8, 4);
    pu_batch_cls(b, 0, 2);
    pu_batch_cls(b, 1, 0);
    /* example 2: a soft label; example 3 masked out */
    b->cls[2] = -1;
    float soft[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    memcpy(b->cls_soft + 8, soft, sizeof soft);
    pu_batch_cls(b, 3, 1);
    float mask[4] = {1, 1, 1, 0};
    gc g;
    gc_init(&g, t, MUST_C5, 4, 6, 2, 2, 8, b, mask);
    gc_run(&g, "classification");
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

START_TEST(segmentation_loss_gradient_with_ignore)
{
    must_feature_desc f = pu_features(0, 5);
    must_task *t = pu_task("segmentation", 4, &f, (const char *const[]){"channels=4", NULL});
    must_batch *b = dense_batch(4);
    float mask[3] = {1, 0, 1};
    gc g;
    gc_init(&g, t, MUST_P2, 3, 5, 4, 4, 8, b, mask);
    gc_run(&g, "segmentation");
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

START_TEST(depth_loss_gradients_l1log_and_ssi)
{
    must_feature_desc f = pu_features(0, 5);
    static const char *const losses[] = {"loss=l1log", "loss=ssi"};
    for (int k = 0; k < 2; k++) {
        must_task *t =
            pu_task("depth", 0, &f, (const char *const[]){"channels=4", losses[k], NULL});
        must_batch *b = dense_batch(2);
        b->has[2] &= ~MUST_LABEL_BIT(MUST_LABEL_DEPTH); /* example 2 lacks depth */
        gc g;
        gc_init(&g, t, MUST_P2, 3, 5, 4, 4, 8, b, NULL);
        gc_run(&g, losses[k]);
        pu_batch_free(b);
        must_task_free(t);
    }
}
END_TEST

START_TEST(normal_loss_gradient)
{
    must_feature_desc f = pu_features(0, 5);
    must_task *t = pu_task("normal", 0, &f, (const char *const[]){"channels=4", NULL});
    must_batch *b = dense_batch(2);
    float mask[3] = {0, 1, 1};
    gc g;
    gc_init(&g, t, MUST_P2, 3, 5, 4, 4, 8, b, mask);
    gc_run(&g, "normal");
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

/* The ssi loss's value on a hand-worked case: z = (0, 1, 2) against
 * log depths t = (0, 1, 3) aligns with s = 1.5, b = -1/6, leaving residuals
 * (-1/6, 1/3, -1/6): mean |r| = 2/9.  A fourth pixel without depth does not
 * count, and an affine image of the target costs nothing. */
START_TEST(ssi_loss_value_by_hand)
{
    must_feature_desc f = pu_features(0, 4);
    must_task *t = pu_task("depth", 0, &f, (const char *const[]){"loss=ssi", NULL});
    must_batch *b = pu_batch_new(1, 2, 0);
    b->depth[0] = 1.0f;
    b->depth[1] = expf(1.0f);
    b->depth[2] = expf(3.0f);
    b->depth[3] = 0.0f;
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *z = pu_tensor(ctx, 1, 1, 2, 2, (float[]){0, 1, 2, 5});
    must_tensor *l = must_task_loss(t, ctx, z, b, NULL);
    ck_assert_msg(l != NULL, "%s", must_ctx_error(ctx)->msg);
    ck_assert_float_near(l->data[0], 2.0 / 9.0, 1e-5);
    must_ctx_reset(ctx);
    z = pu_tensor(ctx, 1, 1, 2, 2, (float[]){-3, -5, -9, 100}); /* -2 t - 3 */
    l = must_task_loss(t, ctx, z, b, NULL);
    ck_assert_float_near(l->data[0], 0.0, 1e-5);
    /* l1log on the same: mean |z - t| over the three valid pixels. */
    must_task *t2 = pu_task("depth", 0, &f, NULL);
    must_ctx_reset(ctx);
    z = pu_tensor(ctx, 1, 1, 2, 2, (float[]){0, 1, 2, 5});
    l = must_task_loss(t2, ctx, z, b, NULL);
    ck_assert_float_near(l->data[0], 1.0 / 3.0, 1e-6);
    must_ctx_free(ctx);
    pu_batch_free(b);
    must_task_free(t);
    must_task_free(t2);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Example masks                                                             */

START_TEST(masked_examples_add_nothing)
{
    must_feature_desc f = pu_features(6, 5);
    static const char *const plugins[] = {"classification", "segmentation", "depth", "normal"};
    must_ctx *ctx = must_ctx_new(1);
    for (int k = 0; k < 4; k++) {
        must_task *t = pu_task(plugins[k], k < 2 ? 4 : 0, &f,
                               k ? (const char *const[]){"channels=4", NULL} : NULL);
        must_batch *b = dense_batch(4);
        pu_batch_cls(b, 0, 1);
        pu_batch_cls(b, 1, 3);
        pu_batch_cls(b, 2, 2);
        must_tensor *levels[MUST_NLEVELS] = {0};
        must_rng r;
        must_rng_seed(&r, 5);
        levels[MUST_C5] = must_tensor_new4(ctx, 3, 6, 2, 2);
        levels[MUST_P2] = must_tensor_new4(ctx, 3, 5, 4, 4);
        for (size_t i = 0; i < levels[MUST_C5]->numel; i++)
            levels[MUST_C5]->data[i] = must_rng_normal(&r);
        for (size_t i = 0; i < levels[MUST_P2]->numel; i++)
            levels[MUST_P2]->data[i] = must_rng_normal(&r);
        must_ctx_set_training(ctx, 0); /* same prediction on every call */
        void *pred = must_task_forward(t, ctx, levels, 8, 8);
        ck_assert_ptr_nonnull(pred);
        float mask[3] = {1, 0, 1};
        must_tensor *l0 = must_task_loss(t, ctx, pred, b, mask);
        /* Example 1's labels change, its loss must not show. */
        size_t hw = 64;
        pu_batch_cls(b, 1, 0);
        for (size_t q = hw; q < 2 * hw; q++) {
            b->seg[q] = (int32_t)(q % 4);
            b->depth[q] = 9.0f;
            pu_batch_normal(b, 1, q - hw, 0.0f, 0.0f, 1.0f);
        }
        must_tensor *l1 = must_task_loss(t, ctx, pred, b, mask);
        ck_assert_msg(l0 && l1, "%s", must_ctx_error(ctx)->msg);
        ck_assert_msg(l0->data[0] == l1->data[0], "%s: %g vs %g", plugins[k], l0->data[0],
                      l1->data[0]);
        ck_assert_float_ne(l0->data[0], 0.0f);
        /* The same through has[]: an example without the kind's label. */
        b->has[1] &= ~MUST_LABEL_BIT(must_task_get_ops(t)->label_kind);
        must_tensor *l2 = must_task_loss(t, ctx, pred, b, NULL);
        ck_assert_msg(l2->data[0] == l1->data[0], "%s: has[] %g vs mask %g", plugins[k],
                      l2->data[0], l1->data[0]);
        /* Nothing counted: zero loss, and the backward runs. */
        float none[3] = {0, 0, 0};
        must_tensor *l3 = must_task_loss(t, ctx, pred, b, none);
        ck_assert_ptr_nonnull(l3);
        ck_assert_float_eq(l3->data[0], 0.0f);
        must_ctx_reset(ctx);
        must_ctx_set_training(ctx, 1);
        pu_batch_free(b);
        must_task_free(t);
    }
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Pseudo-labellers                                                          */

START_TEST(classification_pseudo_labels_soft_tempered_and_hard)
{
    must_feature_desc f = pu_features(4, 0);
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *z = pu_tensor(ctx, 2, 3, 1, 1, (float[]){2, 0, -1, 0, 0, 3});
    must_tensor *logits = must_op_reshape(ctx, z, 2, (int[]){2, 3});
    must_batch *b = pu_batch_new(2, 8, 3);
    must_err e = {0};
    must_labels l;
    static const double temps[] = {1.0, 2.0, 0.5};
    static const char *const topt[] = {"temperature=1", "temperature=2", "temperature=0.5"};
    for (int k = 0; k < 3; k++) {
        must_task *t = pu_task("classification", 3, &f, (const char *const[]){topt[k], NULL});
        ck_assert_msg(must_task_pseudo_label(t, logits, b, 0, &l, &e) == MUST_OK, "%s", e.msg);
        ck_assert(l.has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION));
        ck_assert_int_eq(l.cls, -1);
        ck_assert_int_eq(l.nsoft, 3);
        double s = exp(2 / temps[k]) + exp(0) + exp(-1 / temps[k]);
        ck_assert_float_near(l.soft[0], exp(2 / temps[k]) / s, 1e-6);
        ck_assert_float_near(l.soft[1], 1 / s, 1e-6);
        ck_assert_float_near(l.soft[2], exp(-1 / temps[k]) / s, 1e-6);
        must_labels_free(&l);
        must_task_free(t);
    }
    must_task *t = pu_task("classification", 3, &f, (const char *const[]){"hard=yes", NULL});
    ck_assert_int_eq(must_task_pseudo_label(t, logits, b, 1, &l, &e), MUST_OK);
    ck_assert_int_eq(l.cls, 2);
    ck_assert_ptr_null(l.soft);
    ck_assert(l.has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION));
    must_labels_free(&l);
    ck_assert_int_eq(must_task_pseudo_label(t, logits, b, 2, &l, &e), MUST_EINVAL);
    pu_batch_free(b);
    must_task_free(t);
    must_ctx_free(ctx);
}
END_TEST

/* Three classes over four pixels, p of the argmax: 0.9 (class 0), 0.6
 * (class 1), 1.8 / 3.8 = 0.47 (class 1), and 1/3 (a tie: class 0, as argmax
 * takes the first). */
START_TEST(segmentation_pseudo_labels_threshold_and_ignore)
{
    must_feature_desc f = pu_features(0, 4);
    float z[12] = {/* class 0 */ (float)log(18.0), 0, 0, 0,
                   /* class 1 */ 0, (float)log(3.0), (float)log(1.8), 0,
                   /* class 2 */ 0, 0, 0, 0};
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *pred = pu_tensor(ctx, 1, 3, 2, 2, z);
    must_batch *b = pu_batch_new(1, 2, 0);
    must_err e = {0};
    must_labels l;
    static const char *const th[] = {"threshold=0.5", "threshold=0.95", "threshold=0"};
    static const float want[3][4] = {{0, 1, 255, 255}, {255, 255, 255, 255}, {0, 1, 1, 0}};
    for (int k = 0; k < 3; k++) {
        must_task *t = pu_task("segmentation", 3, &f,
                               (const char *const[]){"channels=2", th[k], NULL});
        ck_assert_msg(must_task_pseudo_label(t, pred, b, 0, &l, &e) == MUST_OK, "%s", e.msg);
        ck_assert(l.has & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION));
        ck_assert_int_eq(l.seg.channels, 1);
        ck_assert_int_eq(l.seg.width, 2);
        for (int q = 0; q < 4; q++)
            ck_assert_msg(l.seg.data[q] == want[k][q], "%s pixel %d: %g, expected %g", th[k], q,
                          l.seg.data[q], want[k][q]);
        must_labels_free(&l);
        must_task_free(t);
    }
    pu_batch_free(b);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(depth_and_normal_pseudo_labels_are_the_prediction)
{
    must_feature_desc f = pu_features(0, 4);
    must_ctx *ctx = must_ctx_new(1);
    must_batch *b = pu_batch_new(2, 2, 0);
    must_err e = {0};
    must_labels l;
    must_task *t = pu_task("depth", 0, &f, NULL);
    must_tensor *z = pu_tensor(ctx, 2, 1, 2, 2, (float[]){0, 0, 0, 0, 0, 1, -1, 50});
    ck_assert_int_eq(must_task_pseudo_label(t, z, b, 1, &l, &e), MUST_OK);
    ck_assert(l.has & MUST_LABEL_BIT(MUST_LABEL_DEPTH));
    ck_assert_float_near(l.depth.data[0], 1.0, 1e-6);
    ck_assert_float_near(l.depth.data[1], exp(1.0), 1e-5);
    ck_assert_float_near(l.depth.data[2], exp(-1.0), 1e-6);
    ck_assert_float_near(l.depth.data[3], exp(10.0), 1.0); /* clamped, finite */
    must_labels_free(&l);
    must_task_free(t);

    t = pu_task("normal", 0, &f, NULL);
    float v[24] = {0};
    for (int q = 0; q < 4; q++) {
        v[12 + q] = 0.6f;      /* example 1, x */
        v[12 + 8 + q] = -0.8f; /* example 1, z */
    }
    must_tensor *n = pu_tensor(ctx, 2, 3, 2, 2, v);
    ck_assert_int_eq(must_task_pseudo_label(t, n, b, 1, &l, &e), MUST_OK);
    ck_assert(l.has & MUST_LABEL_BIT(MUST_LABEL_NORMAL));
    ck_assert_int_eq(l.normal.channels, 3);
    for (int q = 0; q < 4; q++) {
        ck_assert_float_eq(l.normal.data[q], 0.6f);
        ck_assert_float_eq(l.normal.data[4 + q], 0.0f);
        ck_assert_float_eq(l.normal.data[8 + q], -0.8f);
    }
    must_labels_free(&l);
    must_task_free(t);
    pu_batch_free(b);
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Visualizers                                                               */

static void gray_image(must_image *img, int w, int h)
{
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(img, w, h, 3, 8, &e), MUST_OK);
    memset(img->pixels, 100, must_image_bytes(img));
}

static int pixel_changed(const must_image *img, int x, int y)
{
    const unsigned char *p = (const unsigned char *)img->pixels + 3 * (y * img->width + x);
    return p[0] != 100 || p[1] != 100 || p[2] != 100;
}

START_TEST(visualizers_draw_labels_but_not_ignored_pixels)
{
    must_feature_desc f = pu_features(4, 4);
    must_err e = {0};
    must_labels l;
    must_image img;
    /* Segmentation: class 1 on the left half, 255 on the right. */
    must_task *t = pu_task("segmentation", 3, &f, (const char *const[]){"channels=2", NULL});
    must_labels_init(&l);
    ck_assert_int_eq(must_map_alloc(&l.seg, 1, 4, 4, &e), MUST_OK);
    for (int q = 0; q < 16; q++)
        l.seg.data[q] = q % 4 < 2 ? 1.0f : 255.0f;
    l.has = MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    gray_image(&img, 8, 8); /* twice the label's size: drawn scaled */
    ck_assert_msg(must_task_draw(t, &img, &l, NULL, NULL, 0, &e) == MUST_OK, "%s", e.msg);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            ck_assert_int_eq(pixel_changed(&img, x, y), x < 4);
    must_image_free(&img);
    must_labels_free(&l);
    must_task_free(t);

    /* Depth: no data stays, the rest is coloured. */
    t = pu_task("depth", 0, &f, (const char *const[]){"channels=2", NULL});
    must_labels_init(&l);
    ck_assert_int_eq(must_map_alloc(&l.depth, 1, 2, 2, &e), MUST_OK);
    l.depth.data[1] = 2.0f;
    l.depth.data[2] = 4.0f;
    l.has = MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    gray_image(&img, 2, 2);
    ck_assert_int_eq(must_task_draw(t, &img, &l, NULL, NULL, 0, &e), MUST_OK);
    ck_assert(!pixel_changed(&img, 0, 0) && pixel_changed(&img, 1, 0) &&
              pixel_changed(&img, 0, 1) && !pixel_changed(&img, 1, 1));
    must_image_free(&img);
    must_labels_free(&l);
    must_task_free(t);

    /* Normal: invalid (zero) vectors stay; (0, 0, -1) is (128, 128, 0). */
    t = pu_task("normal", 0, &f, (const char *const[]){"channels=2", NULL});
    must_labels_init(&l);
    ck_assert_int_eq(must_map_alloc(&l.normal, 3, 1, 2, &e), MUST_OK);
    l.normal.data[4 + 1] = -1.0f;
    l.has = MUST_LABEL_BIT(MUST_LABEL_NORMAL);
    gray_image(&img, 2, 1);
    ck_assert_int_eq(must_task_draw(t, &img, &l, NULL, NULL, 0, &e), MUST_OK);
    const unsigned char *p = img.pixels;
    ck_assert(!pixel_changed(&img, 0, 0));
    ck_assert_int_eq(p[3], 128);
    ck_assert_int_eq(p[4], 128);
    ck_assert_int_eq(p[5], 0);
    must_image_free(&img);
    must_labels_free(&l);
    must_task_free(t);

    /* Classification: a prediction marks the top-right corner only. */
    t = pu_task("classification", 3, &f, NULL);
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *z = pu_tensor(ctx, 1, 3, 1, 1, (float[]){0, 5, 1});
    must_tensor *logits = must_op_reshape(ctx, z, 2, (int[]){1, 3});
    must_batch *b = pu_batch_new(1, 12, 3);
    gray_image(&img, 12, 12);
    ck_assert_msg(must_task_draw(t, &img, NULL, logits, b, 0, &e) == MUST_OK, "%s", e.msg);
    ck_assert(pixel_changed(&img, 11, 0) && !pixel_changed(&img, 0, 0) &&
              !pixel_changed(&img, 11, 11));
    /* Bad images are refused before the plugin sees them. */
    must_image gray16;
    ck_assert_int_eq(must_image_alloc(&gray16, 4, 4, 1, 16, &e), MUST_OK);
    ck_assert_int_eq(must_task_draw(t, &gray16, NULL, logits, b, 0, &e), MUST_EINVAL);
    must_image_free(&gray16);
    must_image_free(&img);
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* The loader's tests point MUST_PLUGIN_PATH at scratch folders: each gets
 * the environment the suite started with back, so that the next test does
 * not search them (with CK_FORK=no every test runs in this one process). */
static char *plugin_path_at_start;

static void env_save(void)
{
    const char *v = getenv("MUST_PLUGIN_PATH");
    free(plugin_path_at_start);
    plugin_path_at_start = v ? strdup(v) : NULL;
}

static void env_restore(void)
{
    if (plugin_path_at_start)
        setenv("MUST_PLUGIN_PATH", plugin_path_at_start, 1);
    else
        unsetenv("MUST_PLUGIN_PATH");
    free(plugin_path_at_start);
    plugin_path_at_start = NULL;
}

static Suite *suite(void)
{
    Suite *s = suite_create("plugins");
    TCase *tc = tcase_create("loader");
    tcase_add_checked_fixture(tc, env_save, env_restore);
    tcase_add_test(tc, names_are_plain_words);
    tcase_add_test(tc, a_path_is_never_a_name);
    tcase_add_test(tc, missing_plugin_lists_where_it_looked);
    tcase_add_test(tc, search_path_order);
    tcase_add_test(tc, refuses_a_file_that_is_not_a_shared_object);
    tcase_add_test(tc, refuses_a_file_name_that_is_not_a_plugin_name);
    tcase_add_test(tc, refuses_a_plugin_without_the_entry_symbol);
    tcase_add_test(tc, refuses_another_abi_version);
    tcase_add_test(tc, a_plugin_kind_is_defined_by_one_file);
    tcase_add_test(tc, refuses_a_struct_smaller_than_the_abi);
    tcase_add_test(tc, refuses_null_required_callbacks);
    tcase_add_test(tc, refuses_what_init_refuses_and_bad_tables);
    tcase_add_test(tc, a_refusal_leaves_the_others_loadable);
    tcase_add_test(tc, a_file_loads_once_and_unloads_last);
    tcase_add_test(tc, scan_lists_each_name_once_first_on_the_path_wins);
    suite_add_tcase(s, tc);
    tc = tcase_create("options");
    tcase_add_test(tc, options_start_at_their_defaults);
    tcase_add_test(tc, options_parse_every_type);
    tcase_add_test(tc, unknown_key_names_the_key_and_lists_the_known_ones);
    tcase_add_test(tc, bad_values_name_key_and_value);
    tcase_add_test(tc, a_key_once_and_never_after_the_build);
    tcase_add_test(tc, instance_names_are_plain_words);
    suite_add_tcase(s, tc);
    tc = tcase_create("heads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, heads_name_their_parameters_with_the_prefix);
    tcase_add_test(tc, simclr_head_projects_and_pairs_the_views);
    tcase_add_test(tc, heads_refuse_what_they_cannot_build_on);
    tcase_add_test(tc, forward_and_loss_report_misuse_on_the_context);
    tcase_add_test(tc, classification_loss_gradient_hard_and_soft);
    tcase_add_test(tc, segmentation_loss_gradient_with_ignore);
    tcase_add_test(tc, depth_loss_gradients_l1log_and_ssi);
    tcase_add_test(tc, normal_loss_gradient);
    tcase_add_test(tc, ssi_loss_value_by_hand);
    tcase_add_test(tc, masked_examples_add_nothing);
    tcase_add_test(tc, classification_pseudo_labels_soft_tempered_and_hard);
    tcase_add_test(tc, segmentation_pseudo_labels_threshold_and_ignore);
    tcase_add_test(tc, depth_and_normal_pseudo_labels_are_the_prediction);
    tcase_add_test(tc, visualizers_draw_labels_but_not_ignored_pixels);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run(suite());
}
