/* task.c - task instances: one use of a plugin with its options, its head
 * and calls through its vtable, with the checks a plugin should not have
 * to repeat. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/plugin.h"
#include "base/conf-impl.h"
#include "plugin-impl.h"

struct must_task {
    must_plugin *plugin;
    const must_task_ops *ops;
    char name[MUST_PLUGIN_NAME_MAX + 1];
    void *config;
    unsigned char *given;   /* per option: 1 once set from the INI */
    int nopts, nmetrics;
    void *head;             /* NULL until built */
};

struct must_task_eval {
    must_task *t;
    void *state;
};

/* "exp.ini:12: task 'seg' (segmentation)" */
static void who(const must_task *t, const char *where, char *buf, size_t len)
{
    const char *plugin = t->ops->name;
    if (strcmp(t->name, plugin) == 0)
        snprintf(buf, len, "%s%stask '%s'", where ? where : "", where ? ": " : "", t->name);
    else
        snprintf(buf, len, "%s%stask '%s' (%s)", where ? where : "", where ? ": " : "", t->name,
                 plugin);
}

int must_task_new_from(must_plugin *p, const char *name, must_task **out, must_err *err)
{
    *out = NULL;
    const must_task_ops *ops = must_plugin_ops(p);
    if (!name)
        name = ops->name;
    if (!must_plugin_name_valid(name))
        return must_err_set(err, MUST_EINVAL,
                            "task name '%s' is not a plain word ([a-z0-9_]+, at most %d "
                            "characters)",
                            name, MUST_PLUGIN_NAME_MAX);
    must_task *t = calloc(1, sizeof *t);
    if (!t)
        return must_err_set(err, MUST_ENOMEM, "task '%s': out of memory", name);
    t->ops = ops;
    snprintf(t->name, sizeof t->name, "%s", name);
    while (ops->options && ops->options[t->nopts].name)
        t->nopts++;
    while (ops->metrics && ops->metrics[t->nmetrics])
        t->nmetrics++;
    int rc;
    if (!(t->config = calloc(1, ops->config_size ? ops->config_size : 1)) ||
        !(t->given = calloc((size_t)t->nopts + 1, 1))) {
        rc = must_err_set(err, MUST_ENOMEM, "task '%s': out of memory", name);
        goto fail;
    }
    if ((rc = must_conf_defaults(ops->options, t->config, NULL, err))) {
        must_err_prefix(err, "task '%s'", name);
        goto fail;
    }
    t->plugin = must_plugin_ref(p);
    *out = t;
    return MUST_OK;
fail:
    free(t->given);
    free(t->config);
    free(t);
    return rc;
}

int must_task_new(const char *plugin, const char *name, must_task **out, must_err *err)
{
    *out = NULL;
    must_plugin *p;
    int rc = must_plugin_load(plugin, &p, err);
    if (rc)
        return rc;
    rc = must_task_new_from(p, name, out, err);
    must_plugin_unload(p);
    return rc;
}

void must_task_free(must_task *t)
{
    if (!t)
        return;
    if (t->head)
        t->ops->head_free(t->head);
    free(t->config);
    free(t->given);
    must_plugin_unload(t->plugin);
    free(t);
}

const char *must_task_name(const must_task *t)
{
    return t->name;
}

const must_task_ops *must_task_get_ops(const must_task *t)
{
    return t->ops;
}

const must_plugin *must_task_plugin(const must_task *t)
{
    return t->plugin;
}

const void *must_task_config(const must_task *t)
{
    return t->config;
}

static int find_opt(const must_task *t, const char *key)
{
    for (int i = 0; i < t->nopts; i++)
        if (strcmp(t->ops->options[i].name, key) == 0)
            return i;
    return -1;
}

int must_task_set(must_task *t, const char *key, const char *value, const char *where,
                  must_err *err)
{
    char w[512];
    who(t, where, w, sizeof w);
    if (t->head)
        return must_err_set(err, MUST_EINVAL, "%s: option '%s' set after the head was built", w,
                            key);
    int i = find_opt(t, key);
    if (i < 0) {
        char known[600] = "";
        size_t used = 0;
        for (int k = 0; k < t->nopts && used < sizeof known - 1; k++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "",
                                     t->ops->options[k].name);
        if (t->nopts)
            return must_err_set(err, MUST_EINVAL, "%s: unknown key '%s'; its keys are: %s", w,
                                key, known);
        return must_err_set(err, MUST_EINVAL, "%s: unknown key '%s'; this task has no options",
                            w, key);
    }
    if (t->given[i])
        return must_err_set(err, MUST_EINVAL, "%s: key '%s' given twice", w, key);
    char why[256];
    const must_task_option *o = &t->ops->options[i];
    if (must_conf_parse(o, value, t->config, why, sizeof why) != MUST_OK)
        return must_err_set(err, MUST_EINVAL, "%s: %s = '%s': %s (%s)", w, key, value, why,
                            o->help ? o->help : must_conf_type_name(o->type));
    t->given[i] = 1;
    return MUST_OK;
}

int must_task_configure(must_task *t, int n, const char *const *keys,
                        const char *const *values, const char *where, must_err *err)
{
    for (int i = 0; i < n; i++) {
        int rc = must_task_set(t, keys[i], values[i], where, err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

int must_task_get(const must_task *t, const char *key, char *buf, size_t len, must_err *err)
{
    int i = find_opt(t, key);
    if (i < 0) {
        char w[512];
        who(t, NULL, w, sizeof w);
        return must_err_set(err, MUST_ENOTFOUND, "%s: no option '%s'", w, key);
    }
    must_conf_format(&t->ops->options[i], t->config, buf, len);
    return MUST_OK;
}

int must_task_build(must_task *t, const must_task_env *env, must_err *err)
{
    char w[512];
    who(t, NULL, w, sizeof w);
    if (t->head)
        return must_err_set(err, MUST_EINVAL, "%s: head built twice", w);
    if (!env || !env->features)
        return must_err_set(err, MUST_EINVAL, "%s: no feature description to build on", w);
    must_task_env e = *env;
    e.label_kind = t->ops->label_kind; /* the registry's index for a kind of its own */
    char prefix[MUST_PLUGIN_NAME_MAX + 2];
    if (!e.prefix) {
        snprintf(prefix, sizeof prefix, "%s.", t->name);
        e.prefix = prefix;
    }
    void *head = NULL;
    must_err pe = {0};
    int rc = t->ops->head_new(must_host_table(), t->config, &e, &head, &pe);
    if (rc == MUST_OK && !head)
        rc = must_err_set(&pe, MUST_EINVAL, "head_new gave no head");
    if (rc) {
        if (head)
            t->ops->head_free(head);
        return must_err_set(err, rc < 0 ? rc : MUST_EINVAL, "%s: %s", w,
                            pe.msg[0] ? pe.msg : "head_new failed without a reason");
    }
    t->head = head;
    return MUST_OK;
}

must_params *must_task_params(const must_task *t)
{
    return t->head ? t->ops->head_params(t->head) : NULL;
}

unsigned must_task_levels(const must_task *t)
{
    return t->head ? t->ops->head_levels(t->head) : 0u;
}

void *must_task_forward(must_task *t, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                        int in_h, int in_w)
{
    if (must_ctx_error(ctx)->code)
        return NULL;
    if (!t->head) {
        must_ctx_fail(ctx, MUST_EINVAL, "task '%s': forward before the head was built",
                      t->name);
        return NULL;
    }
    unsigned need = t->ops->head_levels(t->head);
    for (int l = 0; l < MUST_NLEVELS; l++)
        if ((need & MUST_LEVEL_BIT(l)) && !levels[l]) {
            must_ctx_fail(ctx, MUST_EINVAL, "task '%s': forward needs level %s, which is missing",
                          t->name, must_level_name(l));
            return NULL;
        }
    void *pred = t->ops->forward(t->head, ctx, levels, in_h, in_w);
    if (!pred && !must_ctx_error(ctx)->code)
        must_ctx_fail(ctx, MUST_EINVAL, "task '%s': forward failed without a reason", t->name);
    return pred;
}

must_tensor *must_task_loss(must_task *t, must_ctx *ctx, void *pred, const must_batch *b,
                            const float *example_mask)
{
    if (!pred || must_ctx_error(ctx)->code)
        return NULL;
    if (!t->head || !b) {
        must_ctx_fail(ctx, MUST_EINVAL, "task '%s': loss without %s", t->name,
                      t->head ? "a batch" : "a head");
        return NULL;
    }
    must_tensor *l = t->ops->loss(t->head, ctx, pred, b, example_mask);
    if (!l && !must_ctx_error(ctx)->code)
        must_ctx_fail(ctx, MUST_EINVAL, "task '%s': loss failed without a reason", t->name);
    if (l && l->numel != 1) {
        must_ctx_fail(ctx, MUST_ESHAPE, "task '%s': loss has %zu elements, not 1", t->name,
                      l->numel);
        return NULL;
    }
    return l;
}

/* A plugin's message, with the task named in front. */
static int wrap(const must_task *t, int rc, must_err *pe, must_err *err, const char *what)
{
    if (rc == MUST_OK)
        return MUST_OK;
    char w[512];
    who(t, NULL, w, sizeof w);
    return must_err_set(err, rc < 0 ? rc : MUST_EINVAL, "%s: %s", w,
                        pe->msg[0] ? pe->msg : what);
}

int must_task_pseudo_label(must_task *t, void *pred, const must_batch *b, int i,
                           must_labels *out, must_err *err)
{
    must_labels_init(out);
    must_err pe = {0};
    if (!t->ops->pseudo_label)
        return wrap(t, MUST_EINVAL, &pe, err, "has no pseudo-labeller");
    if (!t->head || !pred || !b || i < 0 || i >= b->n)
        return wrap(t, MUST_EINVAL, &pe, err, "pseudo label: no head, prediction or example");
    int rc = t->ops->pseudo_label(t->head, pred, b, i, out, &pe);
    if (rc)
        must_labels_free(out);
    return wrap(t, rc, &pe, err, "pseudo_label failed without a reason");
}

int must_task_nmetrics(const must_task *t)
{
    return t->nmetrics;
}

const char *must_task_metric_name(const must_task *t, int i)
{
    return i >= 0 && i < t->nmetrics ? t->ops->metrics[i] : NULL;
}

int must_task_metric_lower_better(const must_task *t, int i)
{
    return i >= 0 && i < t->nmetrics && t->ops->lower_better ? t->ops->lower_better[i] != 0 : 0;
}

int must_task_eval_begin(must_task *t, must_task_eval **out, must_err *err)
{
    *out = NULL;
    must_err pe = {0};
    if (!t->ops->eval_begin)
        return wrap(t, MUST_EINVAL, &pe, err, "has no evaluator");
    if (!t->head)
        return wrap(t, MUST_EINVAL, &pe, err, "evaluation before the head was built");
    must_task_eval *e = calloc(1, sizeof *e);
    if (!e)
        return wrap(t, MUST_ENOMEM, &pe, err, "out of memory");
    e->t = t;
    e->state = t->ops->eval_begin(t->head, &pe);
    if (!e->state) {
        free(e);
        return wrap(t, pe.code ? pe.code : MUST_EINVAL, &pe, err,
                    "eval_begin failed without a reason");
    }
    *out = e;
    return MUST_OK;
}

int must_task_eval_add(must_task_eval *e, void *pred, const must_batch *b, must_err *err)
{
    must_err pe = {0};
    if (!pred || !b)
        return wrap(e->t, MUST_EINVAL, &pe, err, "eval_add without a prediction or batch");
    int rc = e->t->ops->eval_add(e->state, pred, b, &pe);
    return wrap(e->t, rc, &pe, err, "eval_add failed without a reason");
}

int must_task_eval_add_labels(must_task_eval *e, const must_labels *guess, const must_batch *b,
                              must_err *err)
{
    must_err pe = {0};
    if (!e->t->ops->eval_add_labels)
        return wrap(e->t, MUST_EINVAL, &pe, err, "cannot score labels (no eval_add_labels)");
    if (!guess || !b)
        return wrap(e->t, MUST_EINVAL, &pe, err, "eval_add_labels without labels or batch");
    int rc = e->t->ops->eval_add_labels(e->state, guess, b, &pe);
    return wrap(e->t, rc, &pe, err, "eval_add_labels failed without a reason");
}

int must_task_can_merge(const must_task *t) { return t->ops->eval_merge != NULL; }

int must_task_eval_merge(must_task_eval *into, const must_task_eval *from, must_err *err)
{
    must_err pe = {0};
    if (!into->t->ops->eval_merge)
        return wrap(into->t, MUST_EINVAL, &pe, err, "cannot merge evaluations (no eval_merge)");
    if (into->t != from->t)
        return wrap(into->t, MUST_EINVAL, &pe, err, "eval_merge of another task's state");
    int rc = into->t->ops->eval_merge(into->state, from->state, &pe);
    return wrap(into->t, rc, &pe, err, "eval_merge failed without a reason");
}

int must_task_eval_end(must_task_eval *e, double *values, must_err *err)
{
    if (!e)
        return MUST_OK;
    must_err pe = {0};
    must_task *t = e->t;
    double sink[64];
    int rc = t->ops->eval_end(e->state, values ? values : sink, &pe);
    free(e);
    return wrap(t, rc, &pe, err, "eval_end failed without a reason");
}

int must_task_draw(must_task *t, must_image *img, const must_labels *label, void *pred,
                   const must_batch *b, int i, must_err *err)
{
    must_err pe = {0};
    if (!t->ops->draw)
        return wrap(t, MUST_EINVAL, &pe, err, "has no visualizer");
    if (!img || img->channels != 3 || img->depth != 8)
        return wrap(t, MUST_EINVAL, &pe, err, "draw needs an 8-bit RGB image");
    if (pred && (!b || i < 0 || i >= b->n || !t->head))
        return wrap(t, MUST_EINVAL, &pe, err, "draw: prediction without its batch or head");
    if (!pred && !label)
        return wrap(t, MUST_EINVAL, &pe, err, "draw: nothing to draw");
    int rc = t->ops->draw(t->head, img, label, pred, b, i, &pe);
    return wrap(t, rc, &pe, err, "draw failed without a reason");
}

int must_task_timers(must_task *t, must_task_timer *out, int max, int reset)
{
    if (!t->head || !t->ops->head_timers)
        return 0;
    int n = t->ops->head_timers(t->head, out, max < 0 ? 0 : max, reset);
    return n < 0 ? 0 : n;
}
