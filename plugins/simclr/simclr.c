/* simclr.c - SimCLR (Chen et al. 2020) as a task plugin: a projection MLP
 * on globally pooled C5 and the NT-Xent loss over the batch's two views.
 * The paper's self-supervised baseline (Tables 2 and 6).
 *
 * Why a plugin and not the core: the plugin ABI carries it once a task may
 * read no labels (MUST_TASK_NO_KIND, must/task.h): its "label" is the
 * image's other view, which the loader puts in the same batch (views = 2:
 * rows k and n/2 + k).  Everything else a self-supervised run needs, the
 * trainer, optimizer, checkpoints and resume, is the student's.  The
 * [simclr] section of an experiment (must-experiment(5)) trains it on the
 * unlabelled images with views = 2 and SimCLR's augmentations; its
 * backbone is the `simclr` representation.
 *
 * The prediction is the projection z (2N, dim); the loss is NT-Xent at the
 * configured temperature on the l2-normalised rows (must_op_nt_xent). */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "must/task.h"
#include "../common/plugin-util.h"

static const must_host *H;

typedef struct simclr_config {
    float temperature;
    int hidden, dim;
} simclr_config;

static const must_task_option options[] = {
    {"temperature", MUST_OPT_FLOAT, offsetof(simclr_config, temperature), "0.2",
     "NT-Xent temperature (SimCLR uses 0.1 to 0.5; lower suits small batches)", NULL, 0.01,
     10},
    {"hidden", MUST_OPT_INT, offsetof(simclr_config, hidden), "128",
     "width of the projection MLP's hidden layer", NULL, 1, 65536},
    {"dim", MUST_OPT_INT, offsetof(simclr_config, dim), "64",
     "width of the projection the loss compares", NULL, 1, 65536},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

typedef struct simclr_head {
    simclr_config cfg;
    must_params *p;
    /* torch.nn.Sequential(Linear, ReLU, Linear) names: proj.0, proj.2 */
    must_tensor *w0, *b0, *w1, *b1;
} simclr_head;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    const must_feature_desc *f = env->features;
    if (!(f->present & MUST_LEVEL_BIT(MUST_C5)) || f->channels[MUST_C5] <= 0)
        return h->err_set(err, MUST_EINVAL, "simclr head reads C5, which this backbone lacks");
    simclr_head *c = calloc(1, sizeof *c);
    if (!c)
        return h->err_set(err, MUST_ENOMEM, "simclr head: out of memory");
    memcpy(&c->cfg, config, sizeof c->cfg);
    int cin = f->channels[MUST_C5], hid = c->cfg.hidden, dim = c->cfg.dim;
    int w0[2] = {hid, cin}, b0[1] = {hid}, w1[2] = {dim, hid}, b1[1] = {dim};
    const unsigned W = MUST_T_PARAM, B = MUST_T_PARAM | MUST_T_NO_DECAY;
    int rc = MUST_ENOMEM;
    if (!(c->p = h->params_new(env->prefix)) ||
        !(c->w0 = h->params_add(c->p, "proj.0.weight", 2, w0, W)) ||
        !(c->b0 = h->params_add(c->p, "proj.0.bias", 1, b0, B)) ||
        !(c->w1 = h->params_add(c->p, "proj.2.weight", 2, w1, W)) ||
        !(c->b1 = h->params_add(c->p, "proj.2.bias", 1, b1, B))) {
        h->err_set(err, MUST_ENOMEM, "simclr head: out of memory");
        goto fail;
    }
    if ((rc = h->params_alloc(c->p, err)))
        goto fail;
    must_rng r;
    h->rng_seed(&r, env->seed);
    plugin_init_linear(h, &r, c->w0, c->b0);
    plugin_init_linear(h, &r, c->w1, c->b1);
    *out = c;
    return MUST_OK;
fail:
    if (c->p)
        h->params_free(c->p);
    free(c);
    return rc;
}

static void head_free(void *head)
{
    simclr_head *c = head;
    if (c->p)
        H->params_free(c->p);
    free(c);
}

static must_params *head_params(void *head)
{
    return ((simclr_head *)head)->p;
}

static unsigned head_levels(void *head)
{
    (void)head;
    return MUST_LEVEL_BIT(MUST_C5);
}

static void *forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w)
{
    simclr_head *c = head;
    (void)in_h;
    (void)in_w;
    must_tensor *x = H->global_avgpool(ctx, levels[MUST_C5]); // (2N, C)
    x = H->relu(ctx, H->linear(ctx, x, c->w0, c->b0));         // (2N, hidden)
    return H->linear(ctx, x, c->w1, c->b1);                    // (2N, dim)
}

/* Every row counts: the rows pair up as two views, and a row left out
 * would leave its partner without a positive.  So a batch must come from a
 * two-view loader and no example may be masked out. */
static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    simclr_head *c = head;
    must_tensor *z = pred;
    if (b->views != 2) {
        H->ctx_fail(ctx, MUST_EINVAL,
                    "simclr: the batch holds %d view%s of each image; NT-Xent needs 2 (a "
                    "loader with views = 2, as [simclr] sets up)",
                    b->views, b->views == 1 ? "" : "s");
        return NULL;
    }
    for (int i = 0; example_mask && i < b->n; i++)
        if (example_mask[i] == 0.0f) {
            H->ctx_fail(ctx, MUST_EINVAL,
                        "simclr: example %d is masked out; every row of a two-view batch "
                        "counts (its other view needs it as the positive)",
                        i);
            return NULL;
        }
    if (!z || z->ndim != 2 || z->shape[0] != b->n) {
        H->ctx_fail(ctx, MUST_ESHAPE, "simclr: the projection's rows do not match the batch "
                                      "of %d", b->n);
        return NULL;
    }
    return H->nt_xent(ctx, z, c->cfg.temperature, 1e-12f);
}

static const must_task_ops simclr_ops = {
    .abi_version = MUST_TASK_ABI_VERSION,
    .struct_size = sizeof(must_task_ops),
    .name = "simclr",
    .version = PACKAGE_VERSION,
    .summary = "SimCLR: projection MLP on pooled C5, NT-Xent between two views (no labels)",
    .label_kind = MUST_TASK_NO_KIND,
    .options = options,
    .config_size = sizeof(simclr_config),
    .head_new = head_new,
    .head_free = head_free,
    .head_params = head_params,
    .head_levels = head_levels,
    .forward = forward,
    .loss = loss,
};

/* Its own entry point (not MUST_TASK_PLUGIN): it needs a host member added
 * after ABI 2's first one, and says so when the host lacks it. */
MUST_TASK_EXPORT const must_task_ops *must_task_init(const must_host *host, must_err *err);
MUST_TASK_EXPORT const must_task_ops *must_task_init(const must_host *host, must_err *err)
{
    if (must_task_check_host(host, "simclr", err) != MUST_OK)
        return NULL;
    if (!MUST_HOST_HAS(host, nt_xent)) {
        host->err_set(err, MUST_EABI, "simclr: this host (must %s) has no nt_xent",
                      host->version);
        return NULL;
    }
    H = host;
    return &simclr_ops;
}
