/* params.c - parameter sets: named tensors carved from two flat blocks. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "must/tensor.h"

struct must_params {
    char *prefix;
    must_tensor **t;
    int n, cap;
    float *data, *grad;
    size_t numel, numel_train;
};

must_params *must_params_new(const char *prefix)
{
    must_params *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->prefix = strdup(prefix ? prefix : "");
    if (!p->prefix) {
        free(p);
        return NULL;
    }
    return p;
}

must_tensor *must_params_add(must_params *p, const char *name, int ndim, const int *shape,
                             unsigned flags)
{
    if (!p || p->data || ndim < 1 || ndim > MUST_MAX_DIMS)
        return NULL;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        must_tensor **nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (!nt)
            return NULL;
        p->t = nt;
        p->cap = cap;
    }
    must_tensor *t = calloc(1, sizeof *t);
    size_t np = strlen(p->prefix), nn = strlen(name);
    char *full = malloc(np + nn + 1);
    if (!t || !full) {
        free(t);
        free(full);
        return NULL;
    }
    memcpy(full, p->prefix, np);
    memcpy(full + np, name, nn + 1);
    t->name = full;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->flags = flags & (MUST_T_PARAM | MUST_T_BUFFER | MUST_T_NO_DECAY);
    p->t[p->n++] = t;
    return t;
}

must_tensor *must_params_add4(must_params *p, const char *name, int n, int c, int h, int w,
                              unsigned flags)
{
    int s[4] = {n, c, h, w}, k = 4;
    /* Trailing ones are dropped so that (C) vectors stay 1-d. */
    while (k > 1 && s[k - 1] == 0)
        k--;
    return must_params_add(p, name, k, s, flags);
}

int must_params_alloc(must_params *p, must_err *err)
{
    if (p->data)
        return must_err_set(err, MUST_EINVAL, "params %s: already allocated", p->prefix);
    size_t tr = 0, all = 0;
    for (int i = 0; i < p->n; i++) {
        all += p->t[i]->numel;
        if (p->t[i]->flags & MUST_T_PARAM)
            tr += p->t[i]->numel;
    }
    p->data = calloc(all ? all : 1, sizeof(float));
    p->grad = calloc(tr ? tr : 1, sizeof(float));
    if (!p->data || !p->grad) {
        free(p->data);
        free(p->grad);
        p->data = p->grad = NULL;
        return must_err_set(err, MUST_ENOMEM, "params %s: cannot allocate %zu floats",
                            p->prefix, all + tr);
    }
    /* Trainable tensors first, then buffers: the optimizer walks one block. */
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < p->n; i++) {
            must_tensor *t = p->t[i];
            int trainable = (t->flags & MUST_T_PARAM) != 0;
            if (trainable != (pass == 0))
                continue;
            t->data = p->data + off;
            if (trainable) {
                t->grad = p->grad + off;
                t->flags |= MUST_T_REQ_GRAD;
            }
            off += t->numel;
        }
    p->numel = all;
    p->numel_train = tr;
    return MUST_OK;
}

void must_params_free(must_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        free((char *)p->t[i]->name);
        free(p->t[i]);
    }
    free(p->t);
    free(p->data);
    free(p->grad);
    free(p->prefix);
    free(p);
}

int must_params_count(const must_params *p) { return p->n; }
must_tensor *must_params_get(const must_params *p, int i)
{
    return i >= 0 && i < p->n ? p->t[i] : NULL;
}

must_tensor *must_params_find(const must_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i]->name, name) == 0)
            return p->t[i];
    return NULL;
}

size_t must_params_numel(const must_params *p, int trainable_only)
{
    size_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (!trainable_only || (p->t[i]->flags & MUST_T_PARAM))
            n += p->t[i]->numel;
    return n;
}

float *must_params_data(const must_params *p) { return p->data; }
float *must_params_grad(const must_params *p) { return p->grad; }
const char *must_params_prefix(const must_params *p) { return p->prefix; }

void must_params_zero_grad(must_params *p)
{
    if (p->grad)
        memset(p->grad, 0, p->numel_train * sizeof(float));
}

void must_init_const(must_tensor *t, float v)
{
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = v;
}

void must_init_uniform(must_tensor *t, must_rng *r, float lo, float hi)
{
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = lo + (hi - lo) * must_rng_uniform(r);
}

void must_init_kaiming(must_tensor *t, must_rng *r)
{
    size_t fan_in = t->ndim > 1 ? t->numel / (size_t)t->shape[0] : t->numel;
    float sd = sqrtf(2.0f / (float)(fan_in ? fan_in : 1));
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = sd * must_rng_normal(r);
}
