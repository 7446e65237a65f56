/* fuzz_options.c - task options from a stranger's experiment: each
 * section [PLUGIN] or [PLUGIN.NAME] of the input makes a task of that
 * plugin (must_task_new: the name checked, the plugin found on the search
 * path) and sets every key of the section through the option table
 * (must_task_set, the config engine of core/base/conf.c).  Then every
 * option's value is formatted (must_task_get) and set again on a fresh
 * task, which must give back the same text (conf-impl.h: the text parses
 * back to the same value), and the head is built on a small backbone
 * description, where a plugin reads its string options (detection's
 * levels, anchor sizes and ratios).  A head grows with its integer options
 * (channels, fc widths): a section giving one above 64 is not built, so
 * that the time goes to parsing, not to allocating weights. */
#include "config.h"

#include "fuzz-util.h"
#include "base/ini-impl.h"
#include "must/model.h"
#include "must/plugin.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_hold_plugins();
    return 0;
}

/* Every option formatted, set on a fresh task of the same plugin and
 * formatted again: the same text. */
static void round_trip(const must_task *t)
{
    const must_task_ops *ops = must_task_get_ops(t);
    must_task *u;
    must_err err = {0};
    if (must_task_new(ops->name, NULL, &u, &err) != MUST_OK)
        abort();
    for (int i = 0; ops->options && ops->options[i].name; i++) {
        char a[512], b[512];
        const char *key = ops->options[i].name;
        if (must_task_get(t, key, a, sizeof a, &err) != MUST_OK ||
            must_task_set(u, key, a, "round trip", &err) != MUST_OK ||
            must_task_get(u, key, b, sizeof b, &err) != MUST_OK || strcmp(a, b) != 0) {
            fprintf(stderr, "fuzz_options: %s: %s = '%s' does not read back: %s\n", ops->name,
                    key, a, err.msg);
            abort();
        }
    }
    must_task_free(u);
}

/* Small heads only: no integer option given above 64. */
static int small(const must_task *t, const must_ini *ini, int s)
{
    const must_task_ops *ops = must_task_get_ops(t);
    for (int k = 0; k < ini->sec[s].n; k++) {
        const must_ini_entry *e = &ini->ent[ini->sec[s].first + k];
        for (int i = 0; ops->options && ops->options[i].name; i++)
            if (strcmp(ops->options[i].name, e->key) == 0 &&
                MUST_CONF_TYPE(ops->options[i].type) == MUST_CONF_INT &&
                *(const int *)((const char *)must_task_config(t) + ops->options[i].offset) > 64)
                return 0;
    }
    return 1;
}

static void build(must_task *t)
{
    must_feature_desc f;
    memset(&f, 0, sizeof f);
    for (int l = MUST_C2; l < MUST_NLEVELS; l++) {
        f.present |= MUST_LEVEL_BIT(l);
        f.channels[l] = 8;
        f.stride[l] = l <= MUST_C5 ? 4 << (l - MUST_C2) : 4 << (l - MUST_P2);
    }
    static const char *const names[3] = {"a", "b", "c"};
    must_task_env env = {.features = &f, .nclasses = 3, .class_names = names, .image_size = 32,
                         .seed = 7};
    must_err err = {0};
    if (must_task_build(t, &env, &err) != MUST_OK && !err.msg[0])
        abort();
}

static void section(const must_ini *ini, int s)
{
    char plugin[MUST_PLUGIN_NAME_MAX + 1];
    const char *name = ini->sec[s].name, *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    if (n >= sizeof plugin)
        return;
    memcpy(plugin, name, n);
    plugin[n] = '\0';
    must_task *t;
    must_err err = {0};
    if (must_task_new(plugin, dot ? dot + 1 : NULL, &t, &err) != MUST_OK)
        return;
    int ok = 1;
    for (int k = 0; k < ini->sec[s].n && ok; k++) {
        const must_ini_entry *e = &ini->ent[ini->sec[s].first + k];
        char where[64];
        snprintf(where, sizeof where, "fuzz.ini:%d", e->line);
        ok = must_task_set(t, e->key, e->value, where, &err) == MUST_OK;
    }
    round_trip(t);
    if (ok && small(t, ini, s))
        build(t);
    must_task_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    must_ini ini;
    must_err err = {0};
    must_ini_sink sink = must_ini_first_error("fuzz.ini", MUST_EINVAL, &err);
    if (must_ini_read(&ini, text, 0, &sink) == MUST_OK)
        for (int s = 0; s < ini.nsec && s < 8; s++)
            section(&ini, s);
    must_ini_free(&ini);
    free(text);
    return 0;
}
