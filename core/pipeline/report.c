/* report.c - the report of a run: every transfer result and every
 * pseudo-label score collected (running what is not done yet), the files
 * written (report_files.c), the figures drawn (figures.c), and the tables
 * said as event lines, as the user's last sight of the run. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return rc;
}

/* The pseudo-label scores and the transfer table, as lines. */
static void say_tables(run_state *r, const run_report_data *d, const char *md)
{
    const must_experiment *e = r->e;
    const pl_out *o = &r->events;
    int nr = e->nreps, nt = e->ntransfers, base = e->baseline;
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
    if (nt) {
        char line[4096];
        size_t u;
        pl_say(o, "%s", "");
        pl_say(o, "Transfer (test split; baseline %s):", e->reps[base].label);
        u = (size_t)snprintf(line, sizeof line, "%-22s", "");
        for (int ti = 0; ti < nt && u < sizeof line; ti++)
            u += (size_t)snprintf(line + u, sizeof line - u, " %16s", e->transfers[ti].name);
        pl_say(o, "%s", line);
        u = (size_t)snprintf(line, sizeof line, "%-22s", "");
        for (int ti = 0; ti < nt && u < sizeof line; ti++)
            u += (size_t)snprintf(line + u, sizeof line - u, " %16s", d->res[ti].metric);
        pl_say(o, "%s", line);
        for (int ri = 0; ri < nr; ri++) {
            u = (size_t)snprintf(line, sizeof line, "%-22s", e->reps[ri].label);
            for (int ti = 0; ti < nt && u < sizeof line; ti++) {
                const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
                char cell[64];
                if (ri == base)
                    snprintf(cell, sizeof cell, "%.2f", x->test);
                else
                    snprintf(cell, sizeof cell, "%.2f (%+.2f)", x->test, x->test - y->test);
                u += (size_t)snprintf(line + u, sizeof line - u, " %16s", cell);
            }
            pl_say(o, "%s", line);
        }
    }
    pl_say(o, "%s", "");
    pl_say(o, "report: %s", md);
}

int run_report(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, rc = MUST_OK;
    run_report_data d = {0};
    d.nq = e->label.ndata * e->label.nteachers;
    d.res = calloc((size_t)(nr * nt) + 1, sizeof *d.res);
    d.qual = calloc((size_t)d.nq + 1, sizeof *d.qual);
    char *md = run_path(r, "report.md", NULL, NULL);
    char *js = run_path(r, "results.json", NULL, NULL);
    char *csv = run_path(r, "results.csv", NULL, NULL);
    char *fig = run_path(r, "fig5-transfer-gains.png", NULL, NULL);
    char *fig2 = run_path(r, "fig2-pseudo-labels.png", NULL, NULL);
    char *fig4 = run_path(r, "fig4-student-predictions.png", NULL, NULL);
    if (!d.res || !d.qual || !md || !js || !csv || !fig || !fig2 || !fig4)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc && !(rc = collect(r, &d, err)) && !(rc = run_fig2(r, fig2, &d.made2, err)) &&
        !(rc = run_fig4(r, fig4, &d.made4, err)) &&
        !(rc = run_report_write_md(r, &d, md, err)) &&
        !(rc = run_report_write_json(r, &d, js, err)) &&
        !(rc = run_report_write_csv(r, &d, csv, err)) &&
        !(rc = nt ? run_fig5(e, d.res, fig, err) : MUST_OK))
        say_tables(r, &d, md);
    free(md);
    free(js);
    free(csv);
    free(fig);
    free(fig2);
    free(fig4);
    free(d.qual);
    free(d.res);
    return rc;
}
