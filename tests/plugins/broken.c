/* broken.c - plugins for the loader's tests: built once plain (good.so, a
 * tiny working task) and once per defect (BROKEN_*), each a file of its
 * own under tests/plugins/.libs/. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/task.h"

#if defined(BROKEN_NOENTRY)
#define NAME "noentry"
#elif defined(BROKEN_ABI)
#define NAME "badabi"
#elif defined(BROKEN_NULLCB)
#define NAME "nullcb"
#elif defined(BROKEN_SMALLSIZE)
#define NAME "smallsize"
#elif defined(BROKEN_INITFAIL)
#define NAME "initfail"
#elif defined(BROKEN_BADOPT)
#define NAME "badopt"
#elif defined(BROKEN_WRONGNAME)
#define NAME "someone_else"
#elif defined(BROKEN_OWNKIND)
#define NAME "ownkind" /* not broken: a kind of its own, for the registry's tests */
#else
#define NAME "good"
#endif

static const must_host *H;

typedef struct good_config {
    int width;
    float rate;
    int flag;
    int mode;
    char tag[MUST_OPT_STRING_MAX];
} good_config;

static const must_task_option options[] = {
    {"width", MUST_OPT_INT, offsetof(good_config, width), "8", "an int in 1..64", NULL, 1, 64},
#ifdef BROKEN_BADOPT
    {"rate", MUST_OPT_FLOAT, offsetof(good_config, rate), "fast", "a float", NULL, 0, 1},
#else
    {"rate", MUST_OPT_FLOAT, offsetof(good_config, rate), "0.25", "a float in 0..1", NULL, 0, 1},
#endif
    {"flag", MUST_OPT_BOOL, offsetof(good_config, flag), "no", "a bool", NULL, 0, 0},
    {"mode", MUST_OPT_CHOICE, offsetof(good_config, mode), "beta", "a choice", "alpha|beta|gamma",
     0, 0},
    {"tag", MUST_OPT_STRING, offsetof(good_config, tag), "plain", "a string", NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"unity", NULL};

/* Counts loads and unloads across the process, for the registry test. */
static int inits;

typedef struct good_head {
    must_params *p;
    must_tensor *w; /* (1) */
} good_head;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    (void)config;
    good_head *g = calloc(1, sizeof *g);
    int one[1] = {1};
    if (!g || !(g->p = h->params_new(env->prefix)) ||
        !(g->w = h->params_add(g->p, "w", 1, one, MUST_T_PARAM)) ||
        h->params_alloc(g->p, err) != MUST_OK) {
        if (g && g->p)
            h->params_free(g->p);
        free(g);
        return h->err_set(err, MUST_ENOMEM, NAME ": out of memory");
    }
    h->init_const(g->w, 1.0f);
    *out = g;
    return MUST_OK;
}

static void head_free(void *head)
{
    good_head *g = head;
    H->params_free(g->p);
    free(g);
}

static must_params *head_params(void *head)
{
    return ((good_head *)head)->p;
}

static unsigned head_levels(void *head)
{
    (void)head;
    return MUST_LEVEL_BIT(MUST_C5);
}

static void *forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w)
{
    (void)in_h;
    (void)in_w;
    (void)head;
    return H->global_avgpool(ctx, levels[MUST_C5]);
}

static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    (void)b;
    (void)example_mask;
    good_head *g = head;
    must_tensor *x = H->mean(ctx, pred);
    return H->mul(ctx, x, g->w);
}

static void *eval_begin(void *head, must_err *err)
{
    (void)err;
    return head;
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    (void)state;
    (void)pred;
    (void)b;
    (void)err;
    return MUST_OK;
}

static int eval_end(void *state, double *values, must_err *err)
{
    (void)state;
    (void)err;
    values[0] = 1.0;
    return MUST_OK;
}

static void unload(void)
{
    inits--;
}

#ifdef BROKEN_OWNKIND
/* A text store of one number per image; stubs where the tests need none. */
static void k_free(void *label)
{
    free(label);
}
static int k_copy(void **out, const void *label, must_err *err)
{
    (void)err;
    float *v = malloc(sizeof *v);
    if (!v)
        return MUST_ENOMEM;
    *v = *(const float *)label;
    *out = v;
    return MUST_OK;
}
static int k_transform(void **label, const must_aug_tf *tf, must_err *err)
{
    (void)label, (void)tf, (void)err;
    return MUST_OK;
}
static void *k_batch_new(int n, int size, must_err *err)
{
    (void)size, (void)err;
    return calloc((size_t)n, sizeof(float));
}
static int k_collate(void *batch, int i, const void *label, must_err *err)
{
    (void)err;
    ((float *)batch)[i] = label ? *(const float *)label : -1.0f;
    return MUST_OK;
}
static int k_parse(const must_label_file *f, char *fields, void **label, must_err *err)
{
    (void)f;
    float *v = *label ? *label : malloc(sizeof *v);
    if (!v)
        return MUST_ENOMEM;
    *v = fields ? (float)atof(fields) : 0.0f;
    *label = v;
    (void)err;
    return MUST_OK;
}
static int k_format(FILE *fp, const must_label_file *f, const void *label)
{
    return fprintf(fp, "%s %g\n", f->id, *(const float *)label) < 0 ? MUST_EIO : MUST_OK;
}
static const must_label_codec codec = {
    .struct_size = sizeof(must_label_codec),
    .store = MUST_STORE_TEXT,
    .about = "one number per image",
    .free = k_free,
    .copy = k_copy,
    .transform = k_transform,
    .batch_new = k_batch_new,
    .batch_free = free,
    .collate = k_collate,
    .parse = k_parse,
    .format = k_format,
};
#endif

static const must_task_ops ops = {
#ifdef BROKEN_ABI
    .abi_version = 1, /* a plugin built for ABI 1, before kinds of its own */
#else
    .abi_version = MUST_TASK_ABI_VERSION,
#endif
#ifdef BROKEN_SMALLSIZE
    .struct_size = 24,
#else
    .struct_size = sizeof(must_task_ops),
#endif
    .name = NAME,
    .version = "0.0.1",
    .summary = "a test plugin",
#ifdef BROKEN_OWNKIND
    .label_kind = MUST_TASK_OWN_KIND,
    .codec = &codec,
#else
    .label_kind = MUST_LABEL_CLASSIFICATION,
#endif
    .metrics = metrics,
    .options = options,
    .config_size = sizeof(good_config),
    .head_new = head_new,
    .head_free = head_free,
    .head_params = head_params,
    .head_levels = head_levels,
#ifndef BROKEN_NULLCB
    .forward = forward,
#endif
    .loss = loss,
    .eval_begin = eval_begin,
    .eval_add = eval_add,
    .eval_end = eval_end,
    .unload = unload,
};

#ifdef BROKEN_NOENTRY
/* Exports something, but not the entry point. */
const must_task_ops *must_task_start(const must_host *host, must_err *err);
const must_task_ops *must_task_start(const must_host *host, must_err *err)
#else
const must_task_ops *must_task_init(const must_host *host, must_err *err);
const must_task_ops *must_task_init(const must_host *host, must_err *err)
#endif
{
    (void)forward; /* unused in nullcb.so */
#ifdef BROKEN_INITFAIL
    (void)ops;
    host->err_set(err, MUST_EINVAL, "initfail: this plugin never starts");
    return NULL;
#else
    (void)err;
    H = host;
    inits++;
    return &ops;
#endif
}

/* For the registry test: how many times init ran without unload. */
int good_live_inits(void);
int good_live_inits(void)
{
    return inits;
}
