/* linprobe.c - an example task plugin, built outside must's tree: a linear
 * probe, i.e. one linear layer on a globally pooled backbone level (C5 or
 * C4), trained with cross-entropy on hard class labels and judged by top-1
 * accuracy.  docs/plugins.md walks through it; tests/out_of_tree.sh builds
 * it with nothing but a C compiler and must's public headers:
 *
 *     cc -std=c11 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags must) \
 *        -o linprobe.so linprobe.c -lm
 *
 * and loads it with MUST_PLUGIN_PATH=. must plugins linprobe.
 *
 * It links against nothing of must's: every engine function comes through
 * the host table it gets in must_task_init, which MUST_TASK_PLUGIN at the
 * end writes. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <must/task.h>

static const must_host *H;

/* ---- options: the config struct and its declarative table ---------------- */

typedef struct probe_config {
    int level;       /* 0: C5, 1: C4 (a choice is an index into its list) */
    float init_std;  /* the weights' initial spread */
} probe_config;

static const must_task_option options[] = {
    {"level", MUST_OPT_CHOICE, offsetof(probe_config, level), "C5",
     "the backbone level pooled", "C5|C4", 0, 0},
    {"init_std", MUST_OPT_FLOAT, offsetof(probe_config, init_std), "0.01",
     "standard deviation of the initial weights", NULL, 0, 1},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"top1", NULL};

/* ---- the head ---------------------------------------------------------------- */

typedef struct probe {
    int level;             /* MUST_C5 or MUST_C4 */
    int k;                 /* classes */
    must_params *p;        /* owned: "<prefix>fc.weight", "<prefix>fc.bias" */
    must_tensor *w, *b;    /* (K, C), (K) */
} probe;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    const probe_config *c = config;
    int level = c->level == 0 ? MUST_C5 : MUST_C4;
    int ch = env->features->channels[level];
    if (!(env->features->present & MUST_LEVEL_BIT(level)) || ch <= 0)
        return h->err_set(err, MUST_EINVAL, "linprobe: the backbone has no level %s",
                          level == MUST_C5 ? "C5" : "C4");
    if (env->nclasses < 2)
        return h->err_set(err, MUST_EINVAL, "linprobe: %d classes; it needs 2 or more",
                          env->nclasses);
    probe *pr = calloc(1, sizeof *pr);
    if (!pr)
        return h->err_set(err, MUST_ENOMEM, "linprobe: out of memory");
    pr->level = level;
    pr->k = env->nclasses;
    int ws[2] = {pr->k, ch}, bs[1] = {pr->k};
    if (!(pr->p = h->params_new(env->prefix)) ||
        !(pr->w = h->params_add(pr->p, "fc.weight", 2, ws, MUST_T_PARAM)) ||
        !(pr->b = h->params_add(pr->p, "fc.bias", 1, bs, MUST_T_PARAM | MUST_T_NO_DECAY)) ||
        h->params_alloc(pr->p, err) != MUST_OK) {
        if (pr->p)
            h->params_free(pr->p);
        free(pr);
        return h->err_set(err, MUST_ENOMEM, "linprobe: out of memory");
    }
    must_rng r;
    h->rng_seed(&r, env->seed);
    for (size_t i = 0; i < pr->w->numel; i++)
        pr->w->data[i] = c->init_std * h->rng_normal(&r);
    h->init_const(pr->b, 0.0f);
    *out = pr;
    return MUST_OK;
}

static void head_free(void *head)
{
    probe *pr = head;
    H->params_free(pr->p);
    free(pr);
}

static must_params *head_params(void *head)
{
    return ((probe *)head)->p;
}

static unsigned head_levels(void *head)
{
    return MUST_LEVEL_BIT(((probe *)head)->level);
}

/* The prediction is the logits tensor (N, K). */
static void *forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w)
{
    probe *pr = head;
    (void)in_h;
    (void)in_w;
    must_tensor *x = H->global_avgpool(ctx, levels[pr->level]); // (N, C)
    return H->linear(ctx, x, pr->w, pr->b);                      // (N, K)
}

/* Cross-entropy over the examples that count: the others (masked, without
 * a classification label, or with a soft one) get the ignored class -1. */
static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    (void)head;
    if (!b->cls) {
        H->ctx_fail(ctx, MUST_EINVAL, "linprobe: the batch has no classification labels");
        return NULL;
    }
    int32_t *lab = H->ctx_alloc(ctx, (size_t)b->n * sizeof *lab);
    if (!lab)
        return NULL;
    for (int i = 0; i < b->n; i++) {
        int on = (!example_mask || example_mask[i] != 0.0f) &&
                 (b->has[i] & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION));
        lab[i] = on ? b->cls[i] : -1;
    }
    return H->cross_entropy(ctx, pred, lab, -1);
}

/* ---- evaluation: begin / add / end ------------------------------------------ */

typedef struct tally {
    int k;
    long n, right;
} tally;

static void *eval_begin(void *head, must_err *err)
{
    tally *t = calloc(1, sizeof *t);
    if (!t)
        H->err_set(err, MUST_ENOMEM, "linprobe: out of memory");
    else
        t->k = ((probe *)head)->k;
    return t;
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    tally *t = state;
    const must_tensor *z = pred;
    (void)err;
    for (int i = 0; i < b->n; i++) {
        if (!(b->has[i] & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) || b->cls[i] < 0)
            continue;
        const float *zi = z->data + (size_t)i * t->k;
        int best = 0;
        for (int c = 1; c < t->k; c++)
            best = zi[c] > zi[best] ? c : best;
        t->n++;
        t->right += best == b->cls[i];
    }
    return MUST_OK;
}

static int eval_end(void *state, double *values, must_err *err)
{
    tally *t = state;
    int rc = t->n ? MUST_OK : H->err_set(err, MUST_EINVAL, "linprobe: nothing evaluated");
    if (t->n)
        values[0] = 100.0 * (double)t->right / (double)t->n;
    free(t); /* eval_end frees the state, also when it fails */
    return rc;
}

/* ---- the table and the entry point ------------------------------------------ */

/* The ops table and the entry point in one declaration (must/task.h): the
 * entry checks the host's ABI, keeps the host table in H for the callbacks
 * above and returns this table; it is the one symbol the plugin exports. */
MUST_TASK_PLUGIN(H,
                 .name = "linprobe", /* must be the file's name: linprobe.so */
                 .version = "1.0.0",
                 .summary = "example plugin: a linear probe on a pooled backbone level",
                 .label_kind = MUST_LABEL_CLASSIFICATION,
                 .metrics = metrics,
                 .options = options,
                 .config_size = sizeof(probe_config),
                 .head_new = head_new,
                 .head_free = head_free,
                 .head_params = head_params,
                 .head_levels = head_levels,
                 .forward = forward,
                 .loss = loss,
                 .eval_begin = eval_begin,
                 .eval_add = eval_add,
                 .eval_end = eval_end);
