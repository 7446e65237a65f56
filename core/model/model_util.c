/* model_util.c - convolution and batch-norm units, initialisation, level names. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model-impl.h"

int mconv_add(must_params *p, mconv *c, const char *name, int cin, int cout, int k, int stride,
              int bias)
{
    char buf[128];
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->stride = stride;
    c->pad = k / 2;
    snprintf(buf, sizeof buf, "%s.weight", name);
    c->w = must_params_add4(p, buf, cout, cin, k, k, MUST_T_PARAM);
    c->b = NULL;
    if (bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        c->b = must_params_add4(p, buf, cout, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
        if (!c->b)
            return -1;
    }
    return c->w ? 0 : -1;
}

int mbn_add(must_params *p, mbn *b, const char *name, int c)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s.weight", name);
    b->gamma = must_params_add4(p, buf, c, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    snprintf(buf, sizeof buf, "%s.bias", name);
    b->beta = must_params_add4(p, buf, c, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    snprintf(buf, sizeof buf, "%s.running_mean", name);
    b->mean = must_params_add4(p, buf, c, 0, 0, 0, MUST_T_BUFFER);
    snprintf(buf, sizeof buf, "%s.running_var", name);
    b->var = must_params_add4(p, buf, c, 0, 0, 0, MUST_T_BUFFER);
    return b->gamma && b->beta && b->mean && b->var ? 0 : -1;
}

must_tensor *mconv_fwd(must_ctx *ctx, const mconv *c, must_tensor *x)
{
    return must_op_conv2d(ctx, x, c->w, c->b, c->stride, c->pad, 1);
}

int mconv_out(int in, int k, int stride, int pad)
{
    int o = (in + 2 * pad - k) / stride + 1;
    return in + 2 * pad < k ? 0 : o;
}

double mconv_flops(const mconv *c, int *h, int *w)
{
    *h = mconv_out(*h, c->k, c->stride, c->pad);
    *w = mconv_out(*w, c->k, c->stride, c->pad);
    return 2.0 * c->cin * c->cout * c->k * c->k * (double)*h * *w;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Kaiming normal, two values per Box-Muller draw (the engine's
 * must_rng_normal keeps one of the pair; a ResNet-50 has 25M weights). */
static void init_normal(must_tensor *t, must_rng *r, float sd)
{
    for (size_t i = 0; i < t->numel; i += 2) {
        double u1 = ((double)(must_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        double u2 = (double)(must_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
        double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        t->data[i] = sd * (float)(rad * cos(th));
        if (i + 1 < t->numel)
            t->data[i + 1] = sd * (float)(rad * sin(th));
    }
}

void model_init_params(must_params *p, must_rng *r)
{
    /* One stream per tensor, seeded from r, so that tensors initialise in
     * parallel and each tensor's values do not depend on the thread count. */
    int n = must_params_count(p);
    uint64_t base = must_rng_u64(r);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        must_tensor *t = must_params_get(p, i);
        must_rng tr;
        must_rng_seed(&tr, base + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
        if (t->ndim == 4) {
            size_t fan_in = t->numel / (size_t)t->shape[0];
            init_normal(t, &tr, sqrtf(2.0f / (float)fan_in));
        } else if (t->ndim == 2) {
            float bound = 1.0f / sqrtf((float)t->shape[1]);
            must_init_uniform(t, &tr, -bound, bound);
        } else if (ends_with(t->name, "running_var") ||
                   (ends_with(t->name, ".weight") && t->ndim == 1)) {
            must_init_const(t, 1.0f);
        } else {
            must_init_const(t, 0.0f);
        }
    }
}

size_t model_numel_prefix(const must_params *p, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);
    for (int i = 0; i < must_params_count(p); i++) {
        const must_tensor *t = must_params_get(p, i);
        if ((t->flags & MUST_T_PARAM) && strncmp(t->name, prefix, len) == 0)
            n += t->numel;
    }
    return n;
}

static const char *const level_names[MUST_NLEVELS] = {"C2", "C3", "C4", "C5", "P2",
                                                      "P3", "P4", "P5", "P6", "P7"};

const char *must_level_name(int level)
{
    return level >= 0 && level < MUST_NLEVELS ? level_names[level] : NULL;
}

int must_level_parse(const char *name)
{
    for (int i = 0; i < MUST_NLEVELS; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int must_levels_parse(const char *list, unsigned *mask, must_err *err)
{
    *mask = 0;
    const char *s = list;
    while (1) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char tok[8];
        int lv = -1;
        if (n > 0 && n < sizeof tok) {
            memcpy(tok, s, n);
            tok[n] = '\0';
            lv = must_level_parse(tok);
        }
        if (lv < 0)
            return must_err_set(err, MUST_EINVAL,
                                "levels '%s': '%.*s' is not one of C2..C5, P2..P7", list,
                                (int)(n > 32 ? 32 : n), s);
        *mask |= MUST_LEVEL_BIT(lv);
        if (!e)
            break;
        s = e + 1;
    }
    return MUST_OK;
}
