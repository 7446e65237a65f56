/* intervals.c - the paired bootstrap interval of each representation's
 * difference from the baseline, over test images and seeds (seeds = ...;
 * a run without seeds: over its test images alone).
 *
 * For a downstream task, every seed's chosen transfer model of the baseline
 * and of the representation is run once over the test split, keeping one
 * evaluation state per image (pl_evaluate_images).  A bootstrap draw of
 * images and seeds is then scored by merging the drawn images' states into
 * a fresh one (the plugin's eval_merge) and ending it, for both models:
 * metrics that are not means of per-image scores (mIoU, AP, a median angle)
 * are recomputed on each draw, not averaged.  must_stats_paired_bootstrap
 * does the drawing (core/pipeline/stats.c). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "must/stats.h"
#include "run-impl.h"

#define BOOT_REPLICATES 1000

/* One model's per-image states on the test split. */
typedef struct scored {
    pl_model m;
    int built;
    must_task_eval **st;
    int n;
} scored;

static void scored_free(scored *s)
{
    pl_evaluate_images_free(s->st, s->n);
    if (s->built)
        pl_model_free(&s->m);
    memset(s, 0, sizeof *s);
}

/* Seed run r's chosen model of representation ri on transfer ti, over the
 * test split of ds. */
static int score_model(run_state *r, int ri, int ti, must_dataset *ds, scored *out,
                       must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_transfer *tr = &e->transfers[ti];
    char repdir[160];
    run_rep_dirname(&e->reps[ri], repdir, sizeof repdir);
    char *path = run_path(r, "transfer", repdir, tr->name);
    char *model = path ? must_path_join(path, "model.safetensors") : NULL;
    free(path);
    if (!model)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    pl_head h = {&e->tasks[tr->task], ds};
    int rc = pl_model_new(e, &h, 1, &out->m, err);
    out->built = rc == MUST_OK;
    if (!rc)
        rc = pl_model_load(&out->m, model, err);
    if (!rc)
        rc = pl_evaluate_images(e, &out->m, 0, ds, MUST_SPLIT_TEST, &out->st, &out->n, err);
    free(model);
    return rc;
}

typedef struct boot {
    scored *s[2];      /* [0] baseline, [1] the representation; each per seed */
    int lower;         /* the headline is lower-better: negated, so better is larger */
    must_err *err;     /* the first failure of a draw */
} boot;

static double draw_metric(void *user, int which, int seed, const int *images, int n)
{
    boot *b = user;
    const scored *sc = &b->s[which][seed];
    must_task_eval *acc = NULL;
    int nm = must_task_nmetrics(sc->m.task[0]);
    double *v = malloc((size_t)(nm > 0 ? nm : 1) * sizeof *v), out = NAN;
    int rc = v ? must_task_eval_begin(sc->m.task[0], &acc, b->err) : MUST_ENOMEM;
    for (int i = 0; i < n && !rc; i++)
        rc = must_task_eval_merge(acc, sc->st[images[i]], b->err);
    if (rc)
        must_task_eval_end(acc, NULL, NULL);
    else if (must_task_eval_end(acc, v, b->err) == MUST_OK)
        out = b->lower ? -v[0] : v[0];
    free(v);
    return out;
}

typedef struct runs {
    run_state *const *v;       /* one per seed (a run without seeds: itself) */
    int n;
} runs;

/* Every seed's model of representation ri on transfer ti into s[0..n). */
static int score_seeds(const runs *rs, int ri, int ti, scored *s, must_err *err)
{
    int rc = MUST_OK;
    for (int k = 0; k < rs->n && !rc; k++) {
        run_state *sr = rs->v[k];
        must_dataset *ds;
        if (!(rc = run_dataset(sr, sr->e->transfers[ti].data, &ds, err)))
            rc = score_model(sr, ri, ti, ds, &s[k], err);
    }
    return rc;
}


static void say_missing(run_interval *iv, const char *why)
{
    iv->ok = 0;
    snprintf(iv->why, sizeof iv->why, "%.*s", (int)sizeof iv->why - 1, why);
}

/* Transfer ti's intervals, out[ri] per representation. */
static int task_intervals(const runs *rs, int ti, int lower, run_interval *out, must_err *err)
{
    const must_experiment *e = rs->v[0]->e;
    int ns = rs->n, nr = e->nreps, base = e->baseline, rc;
    scored *sb = calloc((size_t)ns, sizeof *sb), *sr = calloc((size_t)ns, sizeof *sr);
    if (!sb || !sr) {
        free(sb);
        free(sr);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    /* A cell that cannot have its interval says why and the others go on:
     * the report is written all the same. */
    rc = score_seeds(rs, base, ti, sb, err);
    for (int ri = 0; ri < nr; ri++) {
        if (ri == base)
            continue;
        if (rc) {
            say_missing(&out[ri], err->msg);
            continue;
        }
        must_err e2 = {0};
        int rc2 = score_seeds(rs, ri, ti, sr, &e2);
        if (!rc2) {
            boot b = {{sb, sr}, lower, &e2};
            must_stats_interval iv;
            rc2 = must_stats_paired_bootstrap(draw_metric, &b, sb[0].n, ns, BOOT_REPLICATES, 0.95,
                                              (uint64_t)ti * 1000 + (uint64_t)ri, &iv, &e2);
            if (!rc2) {
                out[ri].ok = 1;
                out[ri].lo = iv.lo;
                out[ri].hi = iv.hi;
                out[ri].diff = iv.diff;
                out[ri].excludes_zero = iv.excludes_zero;
            }
        }
        if (rc2)
            say_missing(&out[ri], e2.msg);
        for (int k = 0; k < ns; k++)
            scored_free(&sr[k]);
    }
    if (rc && rc != MUST_ENOMEM) {
        rc = MUST_OK; /* said in each cell */
        memset(err, 0, sizeof *err);
    }
    for (int k = 0; k < ns; k++)
        scored_free(&sb[k]);
    free(sb);
    free(sr);
    return rc;
}

int run_intervals(run_state *const *seed_runs, int nruns, const run_result *res,
                  run_interval *out, must_err *err)
{
    const runs rs = {seed_runs, nruns};
    const must_experiment *e = seed_runs[0]->e;
    int nr = e->nreps, nt = e->ntransfers, rc = MUST_OK;
    for (int i = 0; i < nr * nt; i++)
        say_missing(&out[i], "");
    /* A plugin without eval_merge makes every cell of its task say so
     * (pl_evaluate_images refuses it). */
    for (int ti = 0; ti < nt && !rc; ti++) {
        run_interval *row = calloc((size_t)nr, sizeof *row);
        if (!row)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        rc = task_intervals(&rs, ti, res[ti].lower_better, row, err);
        for (int ri = 0; ri < nr && !rc; ri++)
            out[ri * nt + ti] = row[ri];
        free(row);
    }
    return rc;
}
