/* report.c - the report of a run: every transfer result and every
 * pseudo-label score collected (running what is not done yet), the files
 * written (report_files.c), the figures drawn (figures.c), and the tables
 * said as event lines, as the user's last sight of the run. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "must/image.h"
#include "must/io.h"
#include "run-impl.h"

/* The pseudo labels (first: the figures and their scores need them), their
 * scores, every transfer cell, finite. */
static int collect(run_state *r, run_report_data *d, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, nl = e->label.ndata, nlt = e->label.nteachers;
    int rc = nl ? run_labels(r, 1, err) : MUST_OK;
    for (int li = 0; li < nl && !rc; li++)
        rc = r->need_label[li] ? run_quality_set(r, li, d->qual + li * nlt, err)
                               : run_quality_unused(r, li, d->qual + li * nlt);
    for (int ri = 0; ri < nr && !rc; ri++)
        for (int ti = 0; ti < nt && !rc; ti++)
            rc = run_transfer_one(r, ri, ti, &d->res[ri * nt + ti], err);
    for (int i = 0; i < nr * nt && !rc; i++)
        if (!isfinite(d->res[i].test) || !isfinite(d->res[i].val))
            rc = must_err_set(err, MUST_ENUMERIC, "report: %s on %s gave a non-finite metric",
                              e->reps[i / nt].label, e->transfers[i % nt].name);
    /* The test sets' sizes, so that a reader can tell a point from noise. */
    for (int ti = 0; ti < nt && !rc; ti++) {
        must_dataset *ds;
        const int *idx;
        if (!(rc = run_dataset(r, e->transfers[ti].data, &ds, err)))
            d->ntest[ti] = must_dataset_split(ds, MUST_SPLIT_TEST, &idx);
    }
    if (!rc)
        rc = run_teacher_scores(r, d->teacher, err);
    return rc;
}

/* The transfer table as lines, each column as wide as its widest cell, so
 * that long names keep it aligned. */
static void say_transfer(run_state *r, const run_report_data *d)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, base = e->baseline, wl = 0;
    int w[MUST_EXP_MAX_LIST] = {0};
    char cell[MUST_EXP_NAME_MAX + 72];
    for (int ri = 0; ri < nr; ri++)
        wl = (int)strlen(e->reps[ri].label) > wl ? (int)strlen(e->reps[ri].label) : wl;
    for (int ti = 0; ti < nt && ti < MUST_EXP_MAX_LIST; ti++) {
        w[ti] = (int)strlen(e->transfers[ti].name);
        w[ti] = (int)strlen(d->res[ti].metric) > w[ti] ? (int)strlen(d->res[ti].metric) : w[ti];
        for (int ri = 0; ri < nr; ri++) {
            const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
            int n = ri == base ? snprintf(cell, sizeof cell, "%.2f", x->test)
                               : snprintf(cell, sizeof cell, "%.2f (%+.2f)", x->test,
                                          x->test - y->test);
            w[ti] = n > w[ti] ? n : w[ti];
        }
    }
    pl_say(&r->events, "%s", "");
    pl_say(&r->events, "Transfer (test split; baseline %s):", e->reps[base].label);
    char line[4096];
    for (int row = -2; row < nr; row++) {
        size_t u =
            (size_t)snprintf(line, sizeof line, "%-*s", wl, row >= 0 ? e->reps[row].label : "");
        for (int ti = 0; ti < nt && ti < MUST_EXP_MAX_LIST && u < sizeof line; ti++) {
            const run_result *x = &d->res[(row < 0 ? 0 : row) * nt + ti];
            const run_result *y = &d->res[base * nt + ti];
            if (row == -2)
                snprintf(cell, sizeof cell, "%s", e->transfers[ti].name);
            else if (row == -1)
                snprintf(cell, sizeof cell, "%s", d->res[ti].metric);
            else if (row == base)
                snprintf(cell, sizeof cell, "%.2f", x->test);
            else
                snprintf(cell, sizeof cell, "%.2f (%+.2f)", x->test, x->test - y->test);
            u += (size_t)snprintf(line + u, sizeof line - u, "  %*s", w[ti], cell);
        }
        pl_say(&r->events, "%s", line);
    }
}

/* The pseudo-label scores and the transfer table, as lines. */
static void say_tables(run_state *r, const run_report_data *d, const char *md)
{
    const must_experiment *e = r->e;
    const pl_out *o = &r->events;
    int nt = e->ntransfers;
    if (d->nq) {
        pl_say(o, "%s", "");
        pl_say(o, "Pseudo labels vs the hidden truth:");
    }
    for (int i = 0; i < d->nq; i++) {
        const run_quality *x = &d->qual[i];
        if (x->status != RUN_Q_OK)
            pl_say(o, "  %-14s %-14s not scored (%s)", x->set, x->teacher,
                   run_quality_status_text(x->status));
        else
            pl_say(o, "  %-14s %-14s %s %.2f", x->set, x->teacher, x->metric_names[0],
                   x->values[0]);
    }
    if (nt)
        say_transfer(r, d);
    pl_say(o, "%s", "");
    pl_say(o, "report: %s", md);
}

/* One PNG of the run into the report's event file, tagged by its name. */
static int tb_png(run_state *r, pl_tb *tb, double wall, const char *rel, must_err *err)
{
    char *path = run_path(r, rel, NULL, NULL), *bytes = NULL;
    size_t n = 0;
    int w, h, c, depth;
    int rc = path ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc && must_file_exists(path) && !(rc = must_png_info(path, &w, &h, &c, &depth, err)) &&
        !(rc = must_file_read(path, &bytes, &n, err))) {
        char tag[160];
        snprintf(tag, sizeof tag, "figures/%.*s", (int)(strlen(rel) - 4), rel);
        if (pl_tb_image(tb, wall, 0, tag, w, h, bytes, n))
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    free(bytes);
    free(path);
    return rc;
}

/* The report's pictures as TensorBoard images (tensorboard = true):
 * RUN/events.out.tfevents.must. */
static int report_tensorboard(run_state *r, const run_report_data *d, must_err *err)
{
    pl_tb tb = {0};
    double wall = (double)time(NULL);
    static const char *const figs[] = {"fig2-pseudo-labels.png", "fig4-student-predictions.png",
                                       "fig5-transfer-gains.png"};
    int rc = pl_tb_version(&tb, wall) ? must_err_set(err, MUST_ENOMEM, "out of memory") : 0;
    for (int k = 0; k < 3 && !rc; k++)
        rc = tb_png(r, &tb, wall, figs[k], err);
    for (int k = 0; k < d->curves.n && !rc; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "curves/%s", d->curves.file[k]);
        rc = tb_png(r, &tb, wall, rel, err);
    }
    char *path = rc ? NULL : run_path(r, PL_TB_FILE, NULL, NULL);
    if (!rc)
        rc = path ? pl_tb_write(&tb, path, err) : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(path);
    pl_tb_free(&tb);
    return rc;
}

static int data_alloc(const must_experiment *e, run_report_data *d)
{
    int nr = e->nreps, nt = e->ntransfers;
    memset(d, 0, sizeof *d);
    d->nq = e->label.ndata * e->label.nteachers;
    d->res = calloc((size_t)(nr * nt) + 1, sizeof *d->res);
    d->qual = calloc((size_t)d->nq + 1, sizeof *d->qual);
    d->teacher = calloc((size_t)e->nteachers + 1, sizeof *d->teacher);
    d->ntest = calloc((size_t)nt + 1, sizeof *d->ntest);
    return d->res && d->qual && d->teacher && d->ntest;
}

void run_report_data_free(run_report_data *d)
{
    free(d->iv);
    free(d->qual);
    free(d->res);
    free(d->teacher);
    free(d->ntest);
    memset(d, 0, sizeof *d);
}

int run_report_collect(run_state *r, run_report_data *d, must_err *err)
{
    if (!data_alloc(r->e, d)) {
        run_report_data_free(d);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    int rc = collect(r, d, err);
    if (rc)
        run_report_data_free(d);
    return rc;
}

/* The intervals over the test images of each representation against the
 * baseline (with one representation there is nothing to compare). */
static int report_intervals(run_state *r, run_report_data *d, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers;
    if (nt == 0 || nr < 2)
        return MUST_OK;
    if (!(d->iv = calloc((size_t)(nr * nt), sizeof *d->iv)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    pl_say(&r->events, "[report] bootstrap intervals over the test images");
    int rc = run_intervals(&r, 1, d->res, d->iv, err);
    return rc;
}

static int report(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int nt = e->ntransfers, rc = MUST_OK;
    run_report_data d;
    int ok = data_alloc(e, &d);
    char *md = run_path(r, "report.md", NULL, NULL);
    char *js = run_path(r, "results.json", NULL, NULL);
    char *csv = run_path(r, "results.csv", NULL, NULL);
    char *fig = run_path(r, "fig5-transfer-gains.png", NULL, NULL);
    char *fig2 = run_path(r, "fig2-pseudo-labels.png", NULL, NULL);
    char *fig4 = run_path(r, "fig4-student-predictions.png", NULL, NULL);
    if (!ok || !md || !js || !csv || !fig || !fig2 || !fig4)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc && !(rc = collect(r, &d, err)) && !(rc = report_intervals(r, &d, err)) &&
        !(rc = run_fig2(r, fig2, &d.made2, err)) &&
        !(rc = run_fig4(r, fig4, &d.made4, err)) &&
        !(rc = run_draw_curves(r, d.res, &d.curves, err)) &&
        !(rc = run_report_write_md(r, &d, md, err)) &&
        !(rc = run_report_write_json(r, &d, js, err)) &&
        !(rc = run_report_write_csv(r, &d, csv, err)) &&
        !(rc = nt ? run_fig5(e, d.res, fig, err) : MUST_OK) &&
        !(rc = e->tensorboard ? report_tensorboard(r, &d, err) : MUST_OK))
        say_tables(r, &d, md);
    free(md);
    free(js);
    free(csv);
    free(fig);
    free(fig2);
    free(fig4);
    run_report_data_free(&d);
    return rc;
}

int run_report(run_state *r, must_err *err)
{
    /* Over several ranks, what the report reads is made by all of them
     * (the pseudo labels; the transfer cells, spread over the ranks); rank
     * 0 alone then reads, draws and writes. */
    int rc = r->e->label.ndata ? run_labels(r, 1, err) : MUST_OK;
    if (!rc)
        rc = run_transfers_spread(r, err);
    if (rc)
        return rc;
    int mine = run_rank0_begin();
    return run_rank0_end(mine, mine ? report(r, err) : MUST_OK, err);
}
