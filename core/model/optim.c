/* optim.c - SGD and AdamW over the flat blocks of parameter sets. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "must/optim.h"

/* Work is cut into chunks of at most this many floats, fixed when the
 * optimizer is built.  The global norm sums each chunk in order and then the
 * chunks in order, so it is the same whatever the thread count. */
#define CHUNK 16384

/* One chunk: a contiguous range of one set's trainable block whose tensors
 * all take (or all skip) weight decay. */
typedef struct chunk {
    int set;
    size_t off, n;
    int decay;
} chunk;

struct must_optim {
    must_optim_config cfg;
    must_params **sets;
    int nsets;
    float **s1, **s2;     /* per set: momentum or exp_avg; exp_avg_sq */
    chunk *chunks;
    int nchunks;
    double *partial;      /* per chunk sum of squares */
    must_optim_state *states;
    int nstates;
    long step;
    int threads;
};

const char *must_optim_kind_name(int kind)
{
    return kind == MUST_OPTIM_SGD ? "sgd" : kind == MUST_OPTIM_ADAMW ? "adamw" : "unknown";
}

void must_optim_config_default(must_optim_config *c, int kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->no_decay_exclude = 1;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->gamma = 0.1;
    c->sched = MUST_SCHED_CONSTANT;
    if (kind == MUST_OPTIM_ADAMW) {
        c->lr = 1e-3;
        c->weight_decay = 1e-2;
    } else {
        c->lr = 0.1;
    }
}

static int check_config(const must_optim_config *c, must_err *err)
{
#define BAD(...) must_err_set(err, MUST_EINVAL, "optimizer: " __VA_ARGS__)
    if (c->kind != MUST_OPTIM_SGD && c->kind != MUST_OPTIM_ADAMW)
        return BAD("unknown kind %d", c->kind);
    if (!(c->lr >= 0) || !isfinite(c->lr))
        return BAD("lr %g must be finite and >= 0", c->lr);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return BAD("weight_decay %g must be finite and >= 0", c->weight_decay);
    if (c->kind == MUST_OPTIM_SGD) {
        if (!(c->momentum >= 0) || !isfinite(c->momentum))
            return BAD("momentum %g must be finite and >= 0", c->momentum);
        if (!(c->dampening >= 0 && c->dampening <= 1))
            return BAD("dampening %g must be in [0, 1]", c->dampening);
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return BAD("nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)",
                       c->momentum, c->dampening);
    } else {
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return BAD("betas (%g, %g) must be in [0, 1)", c->beta1, c->beta2);
        if (!(c->eps >= 0) || !isfinite(c->eps))
            return BAD("eps %g must be finite and >= 0", c->eps);
    }
    if (isnan(c->clip_norm))
        return BAD("clip_norm is NaN");
    if (c->warmup_steps < 0)
        return BAD("warmup_steps %ld must be >= 0", c->warmup_steps);
    if (!(c->warmup_start >= 0 && c->warmup_start <= 1))
        return BAD("warmup_start %g must be in [0, 1]", c->warmup_start);
    switch (c->sched) {
    case MUST_SCHED_CONSTANT:
        break;
    case MUST_SCHED_COSINE:
        if (c->total_steps <= c->warmup_steps)
            return BAD("cosine schedule: total_steps %ld must exceed warmup_steps %ld",
                       c->total_steps, c->warmup_steps);
        if (!(c->final_lr >= 0) || !isfinite(c->final_lr))
            return BAD("final_lr %g must be finite and >= 0", c->final_lr);
        break;
    case MUST_SCHED_STEP:
        if (!(c->gamma > 0) || !isfinite(c->gamma))
            return BAD("step schedule: gamma %g must be finite and > 0", c->gamma);
        if (c->step_every < 0)
            return BAD("step schedule: step_every %ld must be >= 0", c->step_every);
        if (c->n_milestones < 0 || c->n_milestones > MUST_OPTIM_MAX_MILESTONES)
            return BAD("step schedule: %d milestones (at most %d)", c->n_milestones,
                       MUST_OPTIM_MAX_MILESTONES);
        if (c->step_every == 0 && c->n_milestones == 0)
            return BAD("step schedule needs step_every > 0 or milestones");
        for (int i = 0; i < c->n_milestones; i++)
            if (c->milestones[i] < 0 || (i > 0 && c->milestones[i] <= c->milestones[i - 1]))
                return BAD("step schedule: milestones must be ascending and >= 0 (milestone %d "
                           "is %ld)", i, c->milestones[i]);
        break;
    default:
        return BAD("unknown schedule %d", c->sched);
    }
#undef BAD
    return MUST_OK;
}

double must_optim_sched_lr(const must_optim_config *c, long step)
{
    if (step < 0)
        step = 0;
    double base = c->lr;
    if (c->sched == MUST_SCHED_COSINE && c->total_steps > c->warmup_steps) {
        double p = (double)(step - c->warmup_steps) / (double)(c->total_steps - c->warmup_steps);
        p = p < 0 ? 0 : p > 1 ? 1 : p;
        base = c->final_lr + (c->lr - c->final_lr) * 0.5 * (1.0 + cos(M_PI * p));
    } else if (c->sched == MUST_SCHED_STEP) {
        long k = 0;
        if (c->step_every > 0)
            k = step / c->step_every;
        else
            for (int i = 0; i < c->n_milestones && i < MUST_OPTIM_MAX_MILESTONES; i++)
                k += c->milestones[i] <= step;
        base = c->lr * pow(c->gamma, (double)k);
    }
    if (step < c->warmup_steps)
        base *= c->warmup_start + (1.0 - c->warmup_start) * (double)step / (double)c->warmup_steps;
    return base;
}

double must_optim_lr(const must_optim *opt, long step)
{
    return must_optim_sched_lr(&opt->cfg, step);
}

const must_optim_config *must_optim_get_config(const must_optim *opt) { return &opt->cfg; }
long must_optim_get_step(const must_optim *opt) { return opt->step; }
void must_optim_set_step(must_optim *opt, long step) { opt->step = step < 0 ? 0 : step; }
int must_optim_state_count(const must_optim *opt) { return opt->nstates; }

const must_optim_state *must_optim_state_get(const must_optim *opt, int i)
{
    return i >= 0 && i < opt->nstates ? &opt->states[i] : NULL;
}

const must_optim_state *must_optim_state_find(const must_optim *opt, const char *name)
{
    for (int i = 0; i < opt->nstates; i++)
        if (strcmp(opt->states[i].name, name) == 0)
            return &opt->states[i];
    return NULL;
}

void must_optim_free(must_optim *opt)
{
    if (!opt)
        return;
    for (int s = 0; s < opt->nsets; s++) {
        if (opt->s1)
            free(opt->s1[s]);
        if (opt->s2)
            free(opt->s2[s]);
    }
    for (int i = 0; i < opt->nstates; i++)
        free((char *)opt->states[i].name);
    free(opt->states);
    free(opt->s1);
    free(opt->s2);
    free(opt->sets);
    free(opt->chunks);
    free(opt->partial);
    free(opt);
}

static int cmp_tensor_data(const void *a, const void *b)
{
    const must_tensor *x = *(must_tensor *const *)a, *y = *(must_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Appends the chunks of one run [off, off + n) of set s. */
static int add_run(must_optim *opt, int *cap, int s, size_t off, size_t n, int decay)
{
    while (n > 0) {
        size_t k = n < CHUNK ? n : CHUNK;
        if (opt->nchunks == *cap) {
            int nc = *cap ? 2 * *cap : 64;
            chunk *c = realloc(opt->chunks, (size_t)nc * sizeof *c);
            if (!c)
                return MUST_ENOMEM;
            opt->chunks = c;
            *cap = nc;
        }
        opt->chunks[opt->nchunks++] = (chunk){s, off, k, decay};
        off += k;
        n -= k;
    }
    return MUST_OK;
}

/* Cuts set s's trainable block into chunks of equal decay, in block order. */
static int plan_set(must_optim *opt, int s, int *cap, must_err *err)
{
    must_params *p = opt->sets[s];
    int n = must_params_count(p), nt = 0;
    must_tensor **tr = malloc((size_t)(n ? n : 1) * sizeof *tr);
    if (!tr)
        return must_err_set(err, MUST_ENOMEM, "optimizer: out of memory");
    for (int i = 0; i < n; i++) {
        must_tensor *t = must_params_get(p, i);
        if ((t->flags & MUST_T_PARAM) && t->numel > 0)
            tr[nt++] = t;
    }
    if (nt > 1) /* qsort's base may not be NULL, even for none */
        qsort(tr, (size_t)nt, sizeof *tr, cmp_tensor_data);
    const float *base = must_params_data(p);
    size_t run_off = 0, run_n = 0;
    int run_decay = -1, rc = MUST_OK;
    for (int i = 0; i < nt && rc == MUST_OK; i++) {
        int decay = !(opt->cfg.no_decay_exclude && (tr[i]->flags & MUST_T_NO_DECAY));
        size_t off = (size_t)(tr[i]->data - base);
        if (run_n > 0 && decay == run_decay && off == run_off + run_n) {
            run_n += tr[i]->numel;
            continue;
        }
        if (run_n > 0)
            rc = add_run(opt, cap, s, run_off, run_n, run_decay);
        run_off = off;
        run_n = tr[i]->numel;
        run_decay = decay;
    }
    if (rc == MUST_OK && run_n > 0)
        rc = add_run(opt, cap, s, run_off, run_n, run_decay);
    free(tr);
    if (rc)
        return must_err_set(err, rc, "optimizer: out of memory");
    return MUST_OK;
}

static char *cat3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb);
        memcpy(s + na + nb, c, nc + 1);
    }
    return s;
}

/* Names every state vector after its tensor, in set order then tensor
 * order, first all vectors of the first kind then the second. */
static int name_states(must_optim *opt, int nkinds, const char *const *kinds, must_err *err)
{
    int total = 0;
    for (int s = 0; s < opt->nsets; s++)
        for (int i = 0; i < must_params_count(opt->sets[s]); i++)
            total += (must_params_get(opt->sets[s], i)->flags & MUST_T_PARAM) != 0;
    total *= nkinds;
    opt->states = calloc((size_t)(total ? total : 1), sizeof *opt->states);
    if (!opt->states)
        return must_err_set(err, MUST_ENOMEM, "optimizer: out of memory");
    for (int k = 0; k < nkinds; k++)
        for (int s = 0; s < opt->nsets; s++) {
            must_params *p = opt->sets[s];
            float *blk = k == 0 ? opt->s1[s] : opt->s2[s];
            for (int i = 0; i < must_params_count(p); i++) {
                must_tensor *t = must_params_get(p, i);
                if (!(t->flags & MUST_T_PARAM))
                    continue;
                must_optim_state *st = &opt->states[opt->nstates];
                st->name = cat3(kinds[k], ".", t->name);
                if (!st->name)
                    return must_err_set(err, MUST_ENOMEM, "optimizer: out of memory");
                st->param = t;
                st->data = blk + (t->data - must_params_data(p));
                opt->nstates++;
            }
        }
    /* Two tensors of the same name in different sets would make the
     * checkpoint ambiguous. */
    for (int i = 0; i < opt->nstates; i++)
        for (int j = i + 1; j < opt->nstates; j++)
            if (strcmp(opt->states[i].name, opt->states[j].name) == 0)
                return must_err_set(err, MUST_EINVAL,
                                    "optimizer: tensor '%s' appears in two parameter sets",
                                    opt->states[i].param->name);
    return MUST_OK;
}

must_optim *must_optim_new(const must_optim_config *cfg, must_params *const *sets, int nsets,
                           must_err *err)
{
    if (!cfg || (nsets > 0 && !sets) || nsets < 0) {
        must_err_set(err, MUST_EINVAL, "optimizer: no configuration or parameter sets");
        return NULL;
    }
    if (check_config(cfg, err))
        return NULL;
    for (int s = 0; s < nsets; s++)
        if (!sets[s] || !must_params_data(sets[s])) {
            must_err_set(err, MUST_EINVAL, "optimizer: parameter set %d (%s) is not allocated",
                         s, sets[s] ? must_params_prefix(sets[s]) : "NULL");
            return NULL;
        }
    must_optim *opt = calloc(1, sizeof *opt);
    if (!opt) {
        must_err_set(err, MUST_ENOMEM, "optimizer: out of memory");
        return NULL;
    }
    opt->cfg = *cfg;
    opt->nsets = nsets;
    opt->threads = cfg->threads;
    if (opt->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opt->threads = n > 0 ? (int)n : 1;
    }
    opt->sets = calloc((size_t)(nsets ? nsets : 1), sizeof *opt->sets);
    opt->s1 = calloc((size_t)(nsets ? nsets : 1), sizeof *opt->s1);
    opt->s2 = calloc((size_t)(nsets ? nsets : 1), sizeof *opt->s2);
    if (!opt->sets || !opt->s1 || !opt->s2)
        goto oom;
    int nvec = cfg->kind == MUST_OPTIM_ADAMW ? 2 : cfg->momentum > 0 ? 1 : 0;
    for (int s = 0; s < nsets; s++) {
        opt->sets[s] = sets[s];
        size_t n = must_params_numel(sets[s], 1);
        if (nvec >= 1 && !(opt->s1[s] = calloc(n ? n : 1, sizeof(float))))
            goto oom;
        if (nvec >= 2 && !(opt->s2[s] = calloc(n ? n : 1, sizeof(float))))
            goto oom;
    }
    int cap = 0;
    for (int s = 0; s < nsets; s++)
        if (plan_set(opt, s, &cap, err))
            goto fail;
    opt->partial = calloc((size_t)(opt->nchunks ? opt->nchunks : 1), sizeof *opt->partial);
    if (!opt->partial)
        goto oom;
    static const char *const sgd_kinds[] = {"momentum"};
    static const char *const adam_kinds[] = {"exp_avg", "exp_avg_sq"};
    if (name_states(opt, nvec, cfg->kind == MUST_OPTIM_ADAMW ? adam_kinds : sgd_kinds, err))
        goto fail;
    return opt;
oom:
    must_err_set(err, MUST_ENOMEM, "optimizer: out of memory");
fail:
    must_optim_free(opt);
    return NULL;
}

double must_optim_grad_norm(const must_optim *opt)
{
    const chunk *ch = opt->chunks;
    double *part = opt->partial;
    const int nc = opt->nchunks;
    must_params *const *sets = opt->sets;
#pragma omp parallel for num_threads(opt->threads) schedule(static)
    for (int i = 0; i < nc; i++) {
        const float *g = must_params_grad(sets[ch[i].set]) + ch[i].off;
        double acc = 0;
        for (size_t j = 0; j < ch[i].n; j++)
            acc += (double)g[j] * (double)g[j];
        part[i] = acc;
    }
    double total = 0;
    for (int i = 0; i < nc; i++)
        total += part[i];
    return sqrt(total);
}

/* Clipping is folded into the update loops (one pass less over memory); the
 * scaled gradient is also stored back, as clip_grad_norm_ leaves it. */
#define CLIPPED_GRAD(j) (clip ? (g[j] *= coef) : g[j])

static void sgd_chunk(const must_optim_config *c, const chunk *ch, float *w, float *g, float *buf,
                      float lr, int first, int clip, float coef)
{
    const float wd = ch->decay ? (float)c->weight_decay : 0.0f;
    const float mu = (float)c->momentum, damp1 = (float)(1.0 - c->dampening);
    const size_t n = ch->n;
    if (!buf) {
        for (size_t j = 0; j < n; j++) {
            float d = CLIPPED_GRAD(j) + wd * w[j];
            w[j] = w[j] + -lr * d;
        }
        return;
    }
    for (size_t j = 0; j < n; j++) {
        float d = CLIPPED_GRAD(j) + wd * w[j];
        float b = first ? d : buf[j] * mu + damp1 * d;
        buf[j] = b;
        if (c->nesterov)
            d = d + mu * b;
        else
            d = b;
        w[j] = w[j] + -lr * d;
    }
}

static void adamw_chunk(const must_optim_config *c, const chunk *ch, float *w, float *g, float *m,
                        float *v, double lr, long t, int clip, float coef)
{
    const float decay = ch->decay ? (float)(1.0 - lr * c->weight_decay) : 1.0f;
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float a1 = (float)(1.0 - c->beta1), a2 = (float)(1.0 - c->beta2);
    const double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)c->eps;
    for (size_t j = 0; j < ch->n; j++) {
        float gj = CLIPPED_GRAD(j);
        float wj = w[j] * decay;
        float mj = m[j] * b1 + a1 * gj;
        float vj = v[j] * b2 + a2 * (gj * gj);
        m[j] = mj;
        v[j] = vj;
        float denom = sqrtf(vj) / bc2_sqrt + eps;
        w[j] = wj + -step_size * (mj / denom);
    }
}
#undef CLIPPED_GRAD

int must_optim_step(must_optim *opt, must_optim_report *rep, must_err *err)
{
    const must_optim_config *c = &opt->cfg;
    double norm = must_optim_grad_norm(opt);
    if (!isfinite(norm))
        return must_err_set(err, MUST_ENUMERIC,
                            "optimizer: gradient norm is %g at step %ld; no update made", norm,
                            opt->step);
    double lr = must_optim_lr(opt, opt->step);
    /* torch.nn.utils.clip_grad_norm_'s coefficient, eps included. */
    double coef = c->clip_norm > 0 ? c->clip_norm / (norm + 1e-6) : 1.0;
    int clip = coef < 1.0;
    const float fcoef = (float)coef, flr = (float)lr;
    const int first = opt->step == 0;
    const long t = opt->step + 1;
    const chunk *ch = opt->chunks;
    const int nc = opt->nchunks;
#pragma omp parallel for num_threads(opt->threads) schedule(static)
    for (int i = 0; i < nc; i++) {
        must_params *p = opt->sets[ch[i].set];
        float *w = must_params_data(p) + ch[i].off;
        float *g = must_params_grad(p) + ch[i].off;
        float *s1 = opt->s1[ch[i].set] ? opt->s1[ch[i].set] + ch[i].off : NULL;
        float *s2 = opt->s2[ch[i].set] ? opt->s2[ch[i].set] + ch[i].off : NULL;
        if (c->kind == MUST_OPTIM_ADAMW)
            adamw_chunk(c, &ch[i], w, g, s1, s2, lr, t, clip, fcoef);
        else
            sgd_chunk(c, &ch[i], w, g, s1, flr, first, clip, fcoef);
    }
    if (rep) {
        rep->step = opt->step;
        rep->lr = lr;
        rep->grad_norm = norm;
        rep->clipped = clip;
    }
    opt->step++;
    return MUST_OK;
}
