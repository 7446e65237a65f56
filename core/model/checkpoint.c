/* checkpoint.c - parameter sets and resume state to and from safetensors. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/checkpoint.h"
#include "must/safetensors.h"

#define FORMAT_NAME "must-checkpoint-1"
/* Characters of names an error message lists before "... and N more". */
#define LIST_CHARS 400

void must_ckpt_rng_format(const must_rng *r, char buf[68])
{
    snprintf(buf, 68, "%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64, r->s[0],
             r->s[1], r->s[2], r->s[3]);
}

int must_ckpt_rng_parse(const char *s, must_rng *r)
{
    must_rng out;
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 16; k++) {
            char c = *s++;
            int d = c >= '0' && c <= '9' ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return MUST_EFORMAT;
            v = v << 4 | (uint64_t)d;
        }
        out.s[i] = v;
        if (*s != (i < 3 ? ':' : '\0'))
            return MUST_EFORMAT;
        s++;
    }
    *r = out;
    return MUST_OK;
}

static char *cat2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

/* ---- saving ------------------------------------------------------------- */

static int add_tensor(must_st_writer *w, const char *name, const must_tensor *t, const float *data,
                      const char *path, must_err *err)
{
    int64_t shape[MUST_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++)
        shape[d] = t->shape[d];
    int rc = must_st_writer_add_f32(w, name, t->ndim, shape, data, err);
    if (rc)
        must_err_prefix(err, "%s", path);
    return rc;
}

int must_ckpt_save(const char *path, must_params *const *sets, int nsets,
                   const must_ckpt_save_opts *opts, must_err *err)
{
    must_ckpt_save_opts none = {NULL, NULL, NULL, -1, NULL};
    if (!opts)
        opts = &none;
    must_st_writer *w = must_st_writer_new();
    char **names = NULL;
    int nnames = 0, rc;
    if (!w)
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    if ((rc = must_st_writer_meta(w, "format", "pt", err)) ||
        (rc = must_st_writer_meta(w, MUST_CKPT_META_FORMAT, FORMAT_NAME, err)))
        goto out;
    for (int s = 0; s < nsets; s++) {
        if (!must_params_data(sets[s])) {
            rc = must_err_set(err, MUST_EINVAL, "%s: parameter set '%s' is not allocated", path,
                              must_params_prefix(sets[s]));
            goto out;
        }
        for (int i = 0; i < must_params_count(sets[s]); i++) {
            const must_tensor *t = must_params_get(sets[s], i);
            if (strncmp(t->name, "__", 2) == 0) {
                rc = must_err_set(err, MUST_EINVAL,
                                  "%s: tensor '%s': names starting with '__' are reserved for "
                                  "the checkpoint's own entries", path, t->name);
                goto out;
            }
            if ((rc = add_tensor(w, t->name, t, t->data, path, err)))
                goto out;
        }
    }
    char buf[80];
    if (opts->optim) {
        const must_optim *o = opts->optim;
        int n = must_optim_state_count(o);
        names = calloc((size_t)(n ? n : 1), sizeof *names);
        if (!names) {
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        snprintf(buf, sizeof buf, "%ld", must_optim_get_step(o));
        if ((rc = must_st_writer_meta(w, MUST_CKPT_META_OPTIM,
                                      must_optim_kind_name(must_optim_get_config(o)->kind), err)) ||
            (rc = must_st_writer_meta(w, MUST_CKPT_META_OPTIM_STEP, buf, err)))
            goto out;
        for (int i = 0; i < n; i++) {
            const must_optim_state *st = must_optim_state_get(o, i);
            /* The writer only references names and data until it saves. */
            if (!(names[nnames++] = cat2(MUST_CKPT_OPTIM_PREFIX, st->name))) {
                rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
                goto out;
            }
            if ((rc = add_tensor(w, names[nnames - 1], st->param, st->data, path, err)))
                goto out;
        }
    }
    if (opts->rng) {
        must_ckpt_rng_format(opts->rng, buf);
        if ((rc = must_st_writer_meta(w, MUST_CKPT_META_RNG, buf, err)))
            goto out;
    }
    if (opts->model && (rc = must_st_writer_meta(w, MUST_CKPT_META_MODEL, opts->model, err)))
        goto out;
    if (opts->config && (rc = must_st_writer_meta(w, MUST_CKPT_META_CONFIG, opts->config, err)))
        goto out;
    if (opts->step >= 0) {
        snprintf(buf, sizeof buf, "%ld", opts->step);
        if ((rc = must_st_writer_meta(w, MUST_CKPT_META_STEP, buf, err)))
            goto out;
    }
    rc = must_st_writer_save(w, path, err);
out:
    for (int i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    must_st_writer_free(w);
    return rc;
}

/* ---- loading ------------------------------------------------------------ */

void must_ckpt_report_free(must_ckpt_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_missing; i++)
        free(r->missing[i]);
    for (int i = 0; i < r->n_unexpected; i++)
        free(r->unexpected[i]);
    free(r->missing);
    free(r->unexpected);
    free(r->config);
    free(r->model);
    memset(r, 0, sizeof *r);
    r->step = -1;
}

static int push_name(char ***list, int *n, const char *name)
{
    char **nl = realloc(*list, (size_t)(*n + 1) * sizeof *nl);
    if (!nl)
        return MUST_ENOMEM;
    *list = nl;
    if (!(nl[*n] = cat2(name, "")))
        return MUST_ENOMEM;
    (*n)++;
    return MUST_OK;
}

/* Appends "a, b, c" (or "a, b ... and 7 more") to buf. */
static void list_names(char *buf, size_t len, char *const *names, int n)
{
    size_t k = strlen(buf), start = k;
    for (int i = 0; i < n; i++) {
        size_t need = strlen(names[i]) + 2;
        if (k - start + need > LIST_CHARS && i > 0) {
            snprintf(buf + k, len - k, " ... and %d more", n - i);
            return;
        }
        k += (size_t)snprintf(buf + k, len > k ? len - k : 0, "%s%s", i ? ", " : "", names[i]);
        if (k >= len)
            return;
    }
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(must_tensor *const *)a)->name, (*(must_tensor *const *)b)->name);
}

static must_tensor *bsearch_name(must_tensor **sorted, int n, const char *name)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->name, name);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* A torchvision scalar [] matches a one-element must tensor (1). */
static int same_shape(const must_st_tensor *f, const must_tensor *t)
{
    if (f->ndim == 0)
        return t->numel == 1 && t->ndim == 1;
    if (f->ndim != t->ndim)
        return 0;
    for (int d = 0; d < t->ndim; d++)
        if (f->shape[d] != t->shape[d])
            return 0;
    return 1;
}

static int check_entry(const char *path, const must_st_tensor *f, const must_tensor *t,
                       const char *what, must_err *err)
{
    if (!same_shape(f, t)) {
        char fs[160], ts[160];
        size_t k = (size_t)snprintf(fs, sizeof fs, "(");
        for (int d = 0; d < f->ndim && k < sizeof fs; d++)
            k += (size_t)snprintf(fs + k, sizeof fs - k, d ? ", %lld" : "%lld",
                                  (long long)f->shape[d]);
        if (k < sizeof fs)
            snprintf(fs + k, sizeof fs - k, ")");
        must_shape_str(t, ts, sizeof ts);
        return must_err_set(err, MUST_ESHAPE,
                            "%s: tensor '%s': shape %s in the file but %s in the %s", path,
                            f->name, fs, ts, what);
    }
    if (f->dtype == MUST_ST_F8_E4M3 || f->dtype == MUST_ST_F8_E5M2)
        return must_err_set(err, MUST_EFORMAT, "%s: tensor '%s': cannot load dtype %s", path,
                            f->name, must_st_dtype_name(f->dtype));
    return MUST_OK;
}

static int is_bn_counter(const char *name)
{
    const char *dot = strrchr(name, '.');
    return strcmp(dot ? dot + 1 : name, "num_batches_tracked") == 0;
}

static int parse_long(const char *s, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < 0)
        return -1;
    *v = x;
    return 0;
}

/* Matches the optimizer's vectors with "__optim__." entries. */
static int plan_optim(const char *path, const must_st *st, must_optim *o,
                      const must_st_tensor **src, long *ostep, must_ckpt_report *r,
                      must_err *err)
{
    const char *kind = must_st_meta(st, MUST_CKPT_META_OPTIM);
    const char *want = must_optim_kind_name(must_optim_get_config(o)->kind);
    if (!kind)
        return must_err_set(err, MUST_ENOTFOUND, "%s: the file holds no optimizer state", path);
    if (strcmp(kind, want) != 0)
        return must_err_set(err, MUST_EINVAL,
                            "%s: the file holds %s optimizer state, the optimizer is %s", path,
                            kind, want);
    const char *sstep = must_st_meta(st, MUST_CKPT_META_OPTIM_STEP);
    if (!sstep || parse_long(sstep, ostep))
        return must_err_set(err, MUST_EFORMAT, "%s: metadata '%s' is %s%s%s", path,
                            MUST_CKPT_META_OPTIM_STEP, sstep ? "'" : "missing",
                            sstep ? sstep : "", sstep ? "', not a step count" : "");
    char **miss = NULL;
    int nmiss = 0, rc = MUST_OK;
    for (int i = 0; i < must_optim_state_count(o) && rc == MUST_OK; i++) {
        const must_optim_state *s = must_optim_state_get(o, i);
        char *name = cat2(MUST_CKPT_OPTIM_PREFIX, s->name);
        if (!name)
            return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
        src[i] = must_st_find(st, name);
        if (!src[i])
            rc = push_name(&miss, &nmiss, name) ? MUST_ENOMEM : MUST_OK;
        else
            rc = check_entry(path, src[i], s->param, "optimizer", err);
        free(name);
    }
    if (rc == MUST_ENOMEM)
        must_err_set(err, rc, "%s: out of memory", path);
    if (rc == MUST_OK && nmiss > 0) {
        char msg[MUST_ERR_MSG_MAX] = "";
        list_names(msg, sizeof msg, miss, nmiss);
        rc = must_err_set(err, MUST_ENOTFOUND, "%s: %d optimizer state tensor%s missing: %s",
                          path, nmiss, nmiss == 1 ? " is" : "s are", msg);
    }
    for (int i = 0; i < nmiss; i++)
        free(miss[i]);
    free(miss);
    /* Optimizer entries for tensors this optimizer lacks are unexpected. */
    for (int i = 0; i < must_st_count(st) && rc == MUST_OK; i++) {
        const char *nm = must_st_get(st, i)->name;
        size_t np = strlen(MUST_CKPT_OPTIM_PREFIX);
        if (strncmp(nm, MUST_CKPT_OPTIM_PREFIX, np) == 0 && !must_optim_state_find(o, nm + np) &&
            push_name(&r->unexpected, &r->n_unexpected, nm))
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    }
    return rc;
}

/* Refuses a tensor holding a NaN or an infinity before anything is loaded:
 * a model of such weights predicts nothing, and a resumed run would only
 * carry the fault on.  Converts each tensor once into scratch to look. */
static int check_finite(const char *path, must_st *st, const must_st_tensor *const *src, int n,
                        must_err *err)
{
    size_t most = 0;
    for (int i = 0; i < n; i++)
        if (src[i] && src[i]->numel > most)
            most = src[i]->numel;
    float *buf = most ? malloc(most * sizeof *buf) : NULL;
    if (most && !buf)
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    int rc = MUST_OK;
    for (int i = 0; i < n && !rc; i++) {
        if (!src[i] || (rc = must_st_to_f32(st, src[i], buf, err)))
            continue;
        for (size_t k = 0; k < src[i]->numel; k++)
            if (!isfinite(buf[k])) {
                rc = must_err_set(err, MUST_ENUMERIC, "%s: tensor '%s' holds %s at element %zu: "
                                  "refused (no weights were changed)",
                                  path, src[i]->name, isnan(buf[k]) ? "NaN" : "an infinity", k);
                break;
            }
    }
    free(buf);
    return rc;
}

/* A strict load refuses a file whose names do not match the model's both
 * ways; the message lists the first names of each side. */
static int refuse_mismatch(const char *path, const must_ckpt_load_opts *opts,
                           const must_ckpt_report *r, must_err *err)
{
    int bad_missing = r->n_missing > 0 && !(opts->flags & MUST_CKPT_ALLOW_MISSING);
    int bad_unexp = r->n_unexpected > 0 && !(opts->flags & MUST_CKPT_ALLOW_UNEXPECTED);
    if (!bad_missing && !bad_unexp)
        return MUST_OK;
    char msg[MUST_ERR_MSG_MAX] = "";
    size_t k;
    if (bad_missing) {
        snprintf(msg, sizeof msg, "%d tensor%s of the model %s not in the file: ",
                 r->n_missing, r->n_missing == 1 ? "" : "s", r->n_missing == 1 ? "is" : "are");
        list_names(msg, sizeof msg - 320, r->missing, r->n_missing);
    }
    if (bad_unexp) {
        k = strlen(msg);
        snprintf(msg + k, sizeof msg - k, "%s%d unexpected tensor%s in the file: ",
                 k ? "; " : "", r->n_unexpected, r->n_unexpected == 1 ? "" : "s");
        list_names(msg, sizeof msg - 64, r->unexpected, r->n_unexpected);
    }
    return must_err_set(err, MUST_ENOTFOUND, "%s: %s (strict load; allow partial to accept)",
                        path, msg);
}

int must_ckpt_load(const char *path, must_params *const *sets, int nsets,
                   const must_ckpt_load_opts *opts, must_ckpt_report *rep, must_err *err)
{
    must_ckpt_load_opts strict = {MUST_CKPT_STRICT, NULL, NULL};
    must_ckpt_report local = {0};
    must_ckpt_report *r = rep ? rep : &local;
    memset(r, 0, sizeof *r);
    r->step = -1;
    if (!opts)
        opts = &strict;
    must_st *st = NULL;
    int rc = must_st_open(path, &st, err);
    if (rc)
        return rc;
    must_tensor **ts = NULL, **sorted = NULL;
    const must_st_tensor **src = NULL, **osrc = NULL;
    int nt = 0;
    for (int s = 0; s < nsets; s++)
        nt += must_params_count(sets[s]);
    ts = calloc((size_t)(nt ? nt : 1), sizeof *ts);
    sorted = calloc((size_t)(nt ? nt : 1), sizeof *sorted);
    src = calloc((size_t)(nt ? nt : 1), sizeof *src);
    if (!ts || !sorted || !src)
        goto oom;
    nt = 0;
    for (int s = 0; s < nsets; s++) {
        if (!must_params_data(sets[s])) {
            rc = must_err_set(err, MUST_EINVAL, "%s: parameter set '%s' is not allocated", path,
                              must_params_prefix(sets[s]));
            goto out;
        }
        for (int i = 0; i < must_params_count(sets[s]); i++)
            ts[nt++] = must_params_get(sets[s], i);
    }
    memcpy(sorted, ts, (size_t)nt * sizeof *ts);
    if (nt > 1) /* qsort's base may not be NULL, even for none */
        qsort(sorted, (size_t)nt, sizeof *sorted, cmp_tensor_name);
    for (int i = 1; i < nt; i++)
        if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0) {
            rc = must_err_set(err, MUST_EINVAL,
                              "%s: two tensors of the parameter sets are named '%s'", path,
                              sorted[i]->name);
            goto out;
        }

    /* Plan: match every name both ways and check every shape first, so that
     * a refused load changes nothing. */
    for (int i = 0; i < nt; i++) {
        src[i] = must_st_find(st, ts[i]->name);
        if (!src[i]) {
            if (push_name(&r->missing, &r->n_missing, ts[i]->name))
                goto oom;
        } else if ((rc = check_entry(path, src[i], ts[i], "model", err))) {
            goto out;
        }
    }
    for (int i = 0; i < must_st_count(st); i++) {
        const char *nm = must_st_get(st, i)->name;
        if (strncmp(nm, MUST_CKPT_OPTIM_PREFIX, strlen(MUST_CKPT_OPTIM_PREFIX)) == 0 ||
            bsearch_name(sorted, nt, nm))
            continue;
        if (is_bn_counter(nm))
            r->n_ignored++;
        else if (push_name(&r->unexpected, &r->n_unexpected, nm))
            goto oom;
    }
    long ostep = 0;
    if (opts->optim) {
        int ns = must_optim_state_count(opts->optim);
        if (!(osrc = calloc((size_t)(ns ? ns : 1), sizeof *osrc)))
            goto oom;
        if ((rc = plan_optim(path, st, opts->optim, osrc, &ostep, r, err)))
            goto out;
    }
    if ((rc = refuse_mismatch(path, opts, r, err)))
        goto out;
    must_rng rng = {{0, 0, 0, 0}};
    const char *srng = must_st_meta(st, MUST_CKPT_META_RNG);
    r->has_rng = srng != NULL;
    r->has_optim = must_st_meta(st, MUST_CKPT_META_OPTIM) != NULL;
    if (opts->rng) {
        if (!srng) {
            rc = must_err_set(err, MUST_ENOTFOUND, "%s: the file holds no RNG state", path);
            goto out;
        }
        if (must_ckpt_rng_parse(srng, &rng)) {
            rc = must_err_set(err, MUST_EFORMAT, "%s: metadata '%s' is not an RNG state: '%.80s'",
                              path, MUST_CKPT_META_RNG, srng);
            goto out;
        }
    }
    const char *sstep = must_st_meta(st, MUST_CKPT_META_STEP);
    if (sstep && parse_long(sstep, &r->step)) {
        rc = must_err_set(err, MUST_EFORMAT, "%s: metadata '%s' is '%.40s', not a step count",
                          path, MUST_CKPT_META_STEP, sstep);
        goto out;
    }
    const char *cfg = must_st_meta(st, MUST_CKPT_META_CONFIG);
    if (cfg && !(r->config = cat2(cfg, "")))
        goto oom;
    const char *card = must_st_meta(st, MUST_CKPT_META_MODEL);
    if (card && !(r->model = cat2(card, "")))
        goto oom;

    if ((rc = check_finite(path, st, src, nt, err)) ||
        (opts->optim && (rc = check_finite(path, st, osrc, must_optim_state_count(opts->optim),
                                           err))))
        goto out;
    /* Commit: nothing below can fail (dtypes and shapes were checked). */
    for (int i = 0; i < nt; i++)
        if (src[i]) {
            must_st_to_f32(st, src[i], ts[i]->data, NULL);
            r->n_loaded++;
        }
    if (opts->optim) {
        for (int i = 0; i < must_optim_state_count(opts->optim); i++)
            must_st_to_f32(st, osrc[i], must_optim_state_get(opts->optim, i)->data, NULL);
        must_optim_set_step(opts->optim, ostep);
    }
    if (opts->rng)
        *opts->rng = rng;
    rc = MUST_OK;
    goto out;
oom:
    rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
out:
    free(ts);
    free(sorted);
    free(src);
    free(osrc);
    must_st_close(st);
    if (r == &local)
        must_ckpt_report_free(&local);
    return rc;
}
