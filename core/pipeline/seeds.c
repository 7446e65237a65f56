/* seeds.c - `seeds = 1, 2, 3`: the whole run once per seed, and a report of
 * each transfer cell's mean and standard deviation over the seeds.
 *
 * Each seed is an ordinary run (RUN/seed-N, its own locks, resume and
 * report) of a copy of the experiment whose `seed` is N and whose
 * [backbone] seed is mixed with N, so that every unit of it hashes,
 * initialises and samples by that seed.  The world data does
 * not change with it: the parser gave every world set without a seed of
 * its own the experiment's `seed`, and the seed runs read RUN/data, so all
 * seeds train and are tested on the same images (a difference between two
 * representations is then paired, image by image and seed by seed). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "must/stats.h"
#include "run-impl.h"

int run_seeds_open(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int n = e->nseeds;
    r->seed_runs = calloc((size_t)n, sizeof *r->seed_runs);
    r->seed_exps = calloc((size_t)n, sizeof *r->seed_exps);
    if (!r->seed_runs || !r->seed_exps)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        /* A shallow copy: it shares every list with e and is freed alone. */
        must_experiment *x = malloc(sizeof *x);
        if (!x)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        *x = *e;
        x->seed = (uint64_t)e->seeds[i];
        /* Initialisation too: every model's backbone and heads start from
         * [backbone] seed, which the parser does not tie to `seed`. */
        x->backbone.seed = e->backbone.seed ^ ((uint64_t)e->seeds[i] * 0x9e3779b97f4a7c15ull);
        x->nseeds = 0;
        r->seed_exps[i] = x;
        r->nseed_runs = i + 1;
        char name[32];
        snprintf(name, sizeof name, "seed-%ld", e->seeds[i]);
        char *dir = run_path(r, name, NULL, NULL);
        run_state *s = NULL;
        int rc = dir ? run_state_new(x, dir, &s, err)
                     : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(dir);
        r->seed_runs[i] = s;
        if (!rc && !(s->data_root = strdup(r->out)))
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        if (!rc)
            rc = run_needs_compute(s, err);
        if (rc)
            return rc;
        run_hash_inputs(s);
    }
    return MUST_OK;
}

void run_seeds_close(run_state *r)
{
    for (int i = 0; i < r->nseed_runs; i++) {
        if (r->seed_runs[i])
            run_unlock(r->seed_runs[i]);
        run_state_free(r->seed_runs[i]);
        free(r->seed_exps[i]);
    }
    free(r->seed_runs);
    free(r->seed_exps);
    r->seed_runs = NULL;
    r->seed_exps = NULL;
    r->nseed_runs = 0;
}

/* ---- the report over seeds ----------------------------------------------- */

typedef struct seed_cell {
    double v[MUST_EXP_MAX_LIST];     /* per seed, test split */
    double d[MUST_EXP_MAX_LIST];     /* per seed, minus the baseline's (better: > 0) */
    double mean, sd, dmean, dsd;
    run_interval iv;                 /* of the difference, over images and seeds */
} seed_cell;

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', fp);
        if ((unsigned char)*s < 0x20)
            fprintf(fp, "\\u%04x", *s);
        else
            fputc(*s, fp);
    }
    fputc('"', fp);
}

static void json_list(FILE *fp, const double *v, int n)
{
    fputc('[', fp);
    for (int i = 0; i < n; i++) {
        fputs(i ? ", " : "", fp);
        run_json_num(fp, v[i]);
    }
    fputc(']', fp);
}

static int write_md(const run_state *r, const run_report_data *d, const seed_cell *c,
                    const char *path, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, ns = e->nseeds, base = e->baseline;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "# Results: %s, %d seeds\n\nMade by `must run %s --out %s`: the whole run once "
                "per seed (", e->name, ns, e->file, r->out);
    for (int s = 0; s < ns; s++)
        fprintf(fp, "%s[seed %ld](seed-%ld/report.md)", s ? ", " : "", e->seeds[s], e->seeds[s]);
    fprintf(fp, "), on the same data.\n\n");
    if (nt == 0) {
        fprintf(fp, "No `[transfer.X]` sections: no transfer table.\n");
        return must_afile_commit(&a, err);
    }
    fprintf(fp, "## Transfer (test split): mean ± standard deviation over the %d seeds\n\n", ns);
    fprintf(fp, "Beside each cell, in brackets, its difference from `%s` (the baseline), seed by "
                "seed, as mean ± standard deviation, and the paired bootstrap 95%% interval of "
                "the difference over test images and seeds (%d draws); positive is better "
                "whichever way the metric goes, and `*` marks an interval that excludes 0.\n\n"
                "| representation |",
            e->reps[base].label, 1000);
    for (int ti = 0; ti < nt; ti++)
        fprintf(fp, " %s %s%s |", e->transfers[ti].name, d[0].res[ti].metric,
                d[0].res[ti].lower_better ? " ↓" : "");
    fprintf(fp, "\n| --- |");
    for (int ti = 0; ti < nt; ti++)
        fprintf(fp, " --- |");
    for (int ri = 0; ri < nr; ri++) {
        fprintf(fp, "\n| %s |", e->reps[ri].label);
        for (int ti = 0; ti < nt; ti++) {
            const seed_cell *x = &c[ri * nt + ti];
            fprintf(fp, " %.2f ± %.2f", x->mean, x->sd);
            if (ri != base && x->iv.ok)
                fprintf(fp, " (%+.2f ± %.2f; [%+.2f, %+.2f]%s)", x->dmean, x->dsd, x->iv.lo,
                        x->iv.hi, x->iv.excludes_zero ? " *" : "");
            else if (ri != base)
                fprintf(fp, " (%+.2f ± %.2f)", x->dmean, x->dsd);
            fprintf(fp, " |");
        }
    }
    fprintf(fp, "\n\n## Per seed\n\n| representation | task |");
    for (int s = 0; s < ns; s++)
        fprintf(fp, " seed %ld |", e->seeds[s]);
    fprintf(fp, "\n| --- | --- |");
    for (int s = 0; s < ns; s++)
        fprintf(fp, " --- |");
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++) {
            fprintf(fp, "\n| %s | %s |", e->reps[ri].label, e->transfers[ti].name);
            for (int s = 0; s < ns; s++)
                fprintf(fp, " %.2f |", c[ri * nt + ti].v[s]);
        }
    fprintf(fp, "\n\nTest images per task:");
    for (int ti = 0; ti < nt; ti++)
        fprintf(fp, "%s %s %ld", ti ? "," : "", e->transfers[ti].name, d[0].ntest[ti]);
    fprintf(fp, ".\n");
    return must_afile_commit(&a, err);
}

static int write_json(const run_state *r, const run_report_data *d, const seed_cell *c,
                      const char *path, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, ns = e->nseeds;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "{\"experiment\": ");
    json_str(fp, e->name);
    fprintf(fp, ", \"baseline\": ");
    json_str(fp, e->reps[e->baseline].label);
    fprintf(fp, ", \"seeds\": [");
    for (int s = 0; s < ns; s++)
        fprintf(fp, "%s%ld", s ? ", " : "", e->seeds[s]);
    fprintf(fp, "],\n \"transfer\": [");
    for (int k = 0; k < nr * nt; k++) {
        const seed_cell *x = &c[k];
        const run_result *res = &d[0].res[k];
        fprintf(fp, "%s\n  {\"representation\": ", k ? "," : "");
        json_str(fp, e->reps[k / nt].label);
        fprintf(fp, ", \"task\": ");
        json_str(fp, e->transfers[k % nt].name);
        fprintf(fp, ", \"metric\": ");
        json_str(fp, res->metric);
        fprintf(fp, ", \"lower_better\": %d, \"test\": ", res->lower_better);
        json_list(fp, x->v, ns);
        fprintf(fp, ", \"mean\": ");
        run_json_num(fp, x->mean);
        fprintf(fp, ", \"sd\": ");
        run_json_num(fp, x->sd);
        fprintf(fp, ", \"vs_baseline\": ");
        json_list(fp, x->d, ns);
        fprintf(fp, ", \"vs_baseline_mean\": ");
        run_json_num(fp, x->dmean);
        fprintf(fp, ", \"vs_baseline_sd\": ");
        run_json_num(fp, x->dsd);
        if (x->iv.ok) {
            fprintf(fp, ", \"interval95\": [");
            run_json_num(fp, x->iv.lo);
            fprintf(fp, ", ");
            run_json_num(fp, x->iv.hi);
            fprintf(fp, "], \"excludes_zero\": %s, \"bootstrap_whole_diff\": ",
                    x->iv.excludes_zero ? "true" : "false");
            run_json_num(fp, x->iv.diff);
        } else if (x->iv.why[0]) {
            fprintf(fp, ", \"interval_missing\": ");
            json_str(fp, x->iv.why);
        }
        fprintf(fp, "}");
    }
    fprintf(fp, "\n]}\n");
    return must_afile_commit(&a, err);
}

static int write_csv(const run_state *r, const run_report_data *d, const seed_cell *c,
                     const char *path, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, ns = e->nseeds;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "representation,task,metric,seed,test,vs_baseline\n");
    for (int k = 0; k < nr * nt; k++) {
        const seed_cell *x = &c[k];
        const char *rep = e->reps[k / nt].label, *task = e->transfers[k % nt].name;
        for (int s = 0; s < ns; s++)
            fprintf(fp, "\"%s\",%s,%s,%ld,%.9g,%.9g\n", rep, task, d[0].res[k].metric,
                    e->seeds[s], x->v[s], x->d[s]);
        fprintf(fp, "\"%s\",%s,%s,mean,%.9g,%.9g\n", rep, task, d[0].res[k].metric, x->mean,
                x->dmean);
        fprintf(fp, "\"%s\",%s,%s,sd,%.9g,%.9g\n", rep, task, d[0].res[k].metric, x->sd,
                x->dsd);
        if (x->iv.ok)
            fprintf(fp, "\"%s\",%s,%s,ci95_lo,,%.9g\n\"%s\",%s,%s,ci95_hi,,%.9g\n", rep, task,
                    d[0].res[k].metric, x->iv.lo, rep, task, d[0].res[k].metric, x->iv.hi);
    }
    return must_afile_commit(&a, err);
}

/* Each cell over the seeds, and its per-seed difference from the baseline
 * (signed so that better is positive). */
static void cells(const must_experiment *e, const run_report_data *d, seed_cell *c)
{
    int nr = e->nreps, nt = e->ntransfers, ns = e->nseeds;
    for (int k = 0; k < nr * nt; k++) {
        int b = e->baseline * nt + k % nt;
        for (int s = 0; s < ns; s++) {
            const run_result *x = &d[s].res[k], *y = &d[s].res[b];
            c[k].v[s] = x->test;
            c[k].d[s] = x->lower_better ? y->test - x->test : x->test - y->test;
        }
        must_stats_mean_sd(c[k].v, ns, &c[k].mean, &c[k].sd);
        must_stats_mean_sd(c[k].d, ns, &c[k].dmean, &c[k].dsd);
    }
}

static int intervals(run_state *r, const run_report_data *d, seed_cell *c, must_err *err)
{
    const must_experiment *e = r->e;
    int n = e->nreps * e->ntransfers;
    run_interval *iv = calloc((size_t)n + 1, sizeof *iv);
    if (!iv)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (e->ntransfers)
        pl_say(&r->events, "[report] bootstrap intervals over %ld test images x %d seeds",
               d[0].ntest[0], r->nseed_runs);
    int rc = run_intervals(r->seed_runs, r->nseed_runs, d[0].res, iv, err);
    for (int k = 0; k < n && !rc; k++)
        c[k].iv = iv[k];
    free(iv);
    return rc;
}

static int seeds_report(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int ns = r->nseed_runs, rc = MUST_OK, got = 0;
    run_report_data *d = calloc((size_t)ns, sizeof *d);
    seed_cell *c = calloc((size_t)(e->nreps * e->ntransfers) + 1, sizeof *c);
    char *md = run_path(r, "report.md", NULL, NULL);
    char *js = run_path(r, "results.json", NULL, NULL);
    char *csv = run_path(r, "results.csv", NULL, NULL);
    if (!d || !c || !md || !js || !csv)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    for (; got < ns && !rc; got++)
        rc = run_report_collect(r->seed_runs[got], &d[got], err);
    if (rc)
        got--; /* the failed one freed its own */
    if (!rc) {
        cells(e, d, c);
        rc = intervals(r, d, c, err);
    }
    if (!rc && !(rc = write_md(r, d, c, md, err)) && !(rc = write_json(r, d, c, js, err)))
        rc = write_csv(r, d, c, csv, err);
    if (!rc)
        pl_say(&r->events, "[report] %d seeds: mean and sd per cell in %s", ns, md);
    for (int i = 0; i < got; i++)
        run_report_data_free(&d[i]);
    free(d);
    free(c);
    free(md);
    free(js);
    free(csv);
    return rc;
}

int run_seeds_report(run_state *r, must_err *err)
{
    int mine = run_rank0_begin();
    return run_rank0_end(mine, mine ? seeds_report(r, err) : MUST_OK, err);
}
