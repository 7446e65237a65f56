/* report.c - the transfer table in the paper's form (Table 2: rows are
 * representations, columns downstream tasks, deltas against the baseline),
 * results.json and results.csv with every number and its settings, and the
 * relative-gain bar chart (the paper's Figure 5) drawn by the project. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "must/io.h"
#include "run-impl.h"

/* Relative gain in percent, positive when better. */
static double gain(const run_result *x, const run_result *base)
{
    if (fabs(base->test) < 1e-12)
        return 0;
    double g = (x->test - base->test) / fabs(base->test) * 100.0;
    return x->lower_better ? -g : g;
}

static int figure5(const must_experiment *e, const run_result *res, const char *path,
                   must_err *err)
{
    int nr = e->nreps, nt = e->ntransfers, bw = 10, gap = 14;
    int groupw = (nr - 1) * bw + gap, left = 40, top = 24, ph = 160;
    int W = left + nt * groupw + 20, Hh = top + ph + 40 + 12 * nr;
    if (W < 260)
        W = 260;
    canvas c;
    rgb8 white = {255, 255, 255}, black = {0, 0, 0}, grey = {170, 170, 170};
    int rc = canvas_new(&c, W, Hh, white, err);
    if (rc)
        return rc;
    double maxabs = 1;
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++)
            if (ri != e->baseline) {
                double g = fabs(gain(&res[ri * nt + ti], &res[e->baseline * nt + ti]));
                if (isfinite(g) && g > maxabs)
                    maxabs = g;
            }
    canvas_text(&c, 4, 4, "relative gain vs baseline, percent", black);
    int zero = top + ph / 2;
    char lab[64];
    snprintf(lab, sizeof lab, "+%.0f", maxabs);
    canvas_text(&c, 2, top, lab, black);
    snprintf(lab, sizeof lab, "-%.0f", maxabs);
    canvas_text(&c, 2, top + ph - CANVAS_TEXT_H, lab, black);
    canvas_fill(&c, left - 2, zero, W - 10, zero + 1, grey);
    for (int ti = 0; ti < nt; ti++) {
        int x = left + ti * groupw;
        int k = 0;
        for (int ri = 0; ri < nr; ri++) {
            if (ri == e->baseline)
                continue;
            double g = gain(&res[ri * nt + ti], &res[e->baseline * nt + ti]);
            int hpx = (int)lround(g / maxabs * (ph / 2));
            rgb8 col = draw_class_colour(ri);
            if (hpx >= 0)
                canvas_fill(&c, x + k * bw, zero - hpx, x + k * bw + bw - 2, zero, col);
            else
                canvas_fill(&c, x + k * bw, zero + 1, x + k * bw + bw - 2, zero + 1 - hpx, col);
            k++;
        }
        char t[16];
        snprintf(t, sizeof t, "%.*s", groupw / 6 > 1 ? groupw / 6 : 1, e->transfers[ti].name);
        canvas_text(&c, x, top + ph + 6, t, black);
    }
    int y = top + ph + 20;
    for (int ri = 0; ri < nr; ri++) {
        if (ri == e->baseline)
            continue;
        canvas_fill(&c, 4, y, 12, y + 7, draw_class_colour(ri));
        canvas_text(&c, 16, y, e->reps[ri].label, black);
        y += 12;
    }
    rc = canvas_write_png(&c, path, err);
    canvas_free(&c);
    return rc;
}

int run_report(run_state *r, int only_existing, must_err *err)
{
    (void)only_existing;
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, rc = MUST_OK;
    if (nt == 0) {
        printf("[report] no [transfer.X] sections: nothing to compare\n");
        return MUST_OK;
    }
    run_result *res = calloc((size_t)(nr * nt), sizeof *res);
    if (!res)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int ri = 0; ri < nr && !rc; ri++)
        for (int ti = 0; ti < nt && !rc; ti++)
            rc = run_transfer_one(r, ri, ti, &res[ri * nt + ti], err);
    if (rc)
        goto out;
    for (int i = 0; i < nr * nt; i++)
        if (!isfinite(res[i].test) || !isfinite(res[i].val)) {
            rc = must_err_set(err, MUST_ENUMERIC, "report: %s on %s gave a non-finite metric",
                              e->reps[i / nt].label, e->transfers[i % nt].name);
            goto out;
        }

    /* report.md */
    char *md = run_path(r, "report.md", NULL, NULL);
    char *js = run_path(r, "results.json", NULL, NULL);
    char *csv = run_path(r, "results.csv", NULL, NULL);
    char *fig = run_path(r, "fig5-transfer-gains.png", NULL, NULL);
    must_afile a = {0}, b = {0}, c = {0};
    if (!md || !js || !csv || !fig) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto files;
    }
    if ((rc = must_afile_open(&a, md, err)) || (rc = must_afile_open(&b, js, err)) ||
        (rc = must_afile_open(&c, csv, err)))
        goto files;
    const int base = e->baseline;
    fprintf(a.fp, "# Transfer results: %s\n\n", e->name);
    fprintf(a.fp, "Made by `must run %s --out %s`. Each cell is the test-split headline metric "
                  "after fine-tuning the representation end to end, at the learning rate and "
                  "step count chosen on the val split; in brackets the difference from the "
                  "baseline row (**%s**). ↓ marks metrics where lower is better.\n\n",
            e->file, r->out, e->reps[base].label);
    fprintf(a.fp, "| representation |");
    for (int ti = 0; ti < nt; ti++)
        fprintf(a.fp, " %s (%s%s) |", e->transfers[ti].name, res[ti].metric,
                res[ti].lower_better ? " ↓" : "");
    fprintf(a.fp, "\n|---|");
    for (int ti = 0; ti < nt; ti++)
        fprintf(a.fp, "---:|");
    fprintf(a.fp, "\n");
    for (int ri = 0; ri < nr; ri++) {
        fprintf(a.fp, "| %s%s |", e->reps[ri].label, ri == base ? " (baseline)" : "");
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &res[ri * nt + ti], *y = &res[base * nt + ti];
            if (ri == base)
                fprintf(a.fp, " %.2f |", x->test);
            else
                fprintf(a.fp, " %.2f (%+.2f) |", x->test, x->test - y->test);
        }
        fprintf(a.fp, "\n");
    }
    fprintf(a.fp, "\n![relative transfer gains](fig5-transfer-gains.png)\n\n");
    fprintf(a.fp, "## Chosen settings (val split)\n\n| representation | task | lr | steps | val "
                  "|\n|---|---|---:|---:|---:|\n");
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &res[ri * nt + ti];
            fprintf(a.fp, "| %s | %s | %g | %ld | %.2f |\n", e->reps[ri].label,
                    e->transfers[ti].name, x->lr, x->steps, x->val);
        }
    fprintf(a.fp, "\n## Student loss weights\n\n");
    for (int i = 0; i < e->student.nteachers; i++) {
        int t = e->student.teachers[i];
        fprintf(a.fp, "- %s (%s): %.4g\n", e->teachers[t].name,
                e->tasks[e->teachers[t].task].plugin, must_exp_weight(e, &e->student, t));
    }
    fprintf(a.fp, "\nLoss curves: `*/loss.csv` in the run directory.\n");

    fprintf(b.fp, "{\n  \"experiment\": \"%s\",\n  \"file\": \"%s\",\n  \"baseline\": \"%s\",\n"
                  "  \"results\": [\n",
            e->name, e->file, e->reps[base].label);
    fprintf(c.fp, "representation,task,dataset,metric,lower_better,val,test,delta,relative_gain_"
                  "pct,lr,steps\n");
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &res[ri * nt + ti], *y = &res[base * nt + ti];
            const must_exp_transfer *tr = &e->transfers[ti];
            fprintf(b.fp,
                    "    {\"representation\": \"%s\", \"task\": \"%s\", \"plugin\": \"%s\", "
                    "\"dataset\": \"%s\", \"metric\": \"%s\", \"lower_better\": %s, \"val\": "
                    "%.9g, \"test\": %.9g, \"delta\": %.9g, \"relative_gain_pct\": %.9g, \"lr\": "
                    "%.9g, \"steps\": %ld, \"batch\": %d, \"test_metrics\": {",
                    e->reps[ri].label, tr->name, e->tasks[tr->task].plugin,
                    e->data[tr->data].name, x->metric, x->lower_better ? "true" : "false",
                    x->val, x->test, x->test - y->test, gain(x, y), x->lr, x->steps,
                    tr->train.batch);
            for (int k = 0; k < x->nmetrics; k++)
                fprintf(b.fp, "%s\"%s\": %.9g", k ? ", " : "", x->metric_names[k],
                        x->test_all[k]);
            fprintf(b.fp, "}}%s\n", ri == nr - 1 && ti == nt - 1 ? "" : ",");
            fprintf(c.fp, "%s,%s,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%ld\n", e->reps[ri].label,
                    tr->name, e->data[tr->data].name, x->metric, x->lower_better, x->val,
                    x->test, x->test - y->test, gain(x, y), x->lr, x->steps);
        }
    fprintf(b.fp, "  ]\n}\n");
    if ((rc = must_afile_commit(&a, err)) || (rc = must_afile_commit(&b, err)) ||
        (rc = must_afile_commit(&c, err)))
        goto files;
    rc = figure5(e, res, fig, err);

    /* The table on stdout, as the user's last sight of the run. */
    printf("\nTransfer (test split; baseline %s):\n%-22s", e->reps[base].label, "");
    for (int ti = 0; ti < nt; ti++)
        printf(" %16s", e->transfers[ti].name);
    printf("\n%-22s", "");
    for (int ti = 0; ti < nt; ti++)
        printf(" %16s", res[ti].metric);
    printf("\n");
    for (int ri = 0; ri < nr; ri++) {
        printf("%-22s", e->reps[ri].label);
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &res[ri * nt + ti], *y = &res[base * nt + ti];
            char cell[64];
            if (ri == base)
                snprintf(cell, sizeof cell, "%.2f", x->test);
            else
                snprintf(cell, sizeof cell, "%.2f (%+.2f)", x->test, x->test - y->test);
            printf(" %16s", cell);
        }
        printf("\n");
    }
    printf("\nreport: %s\n", md);
files:
    if (a.fp)
        must_afile_abort(&a);
    if (b.fp)
        must_afile_abort(&b);
    if (c.fp)
        must_afile_abort(&c);
    free(md);
    free(js);
    free(csv);
    free(fig);
out:
    free(res);
    return rc;
}
