/* report.c - the transfer table in the paper's form (Table 2: rows are
 * representations, columns downstream tasks, deltas against the baseline),
 * results.json and results.csv with every number and its settings, the
 * pseudo labels' quality against the hidden truth, and the figures: the
 * relative-gain bar chart (the paper's Figure 5) here, Figures 2 and 4 in
 * figures.c. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/draw.h"
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

/* A number for JSON: finite, or null. */
static void json_num(FILE *fp, double v)
{
    if (isfinite(v))
        fprintf(fp, "%.9g", v);
    else
        fprintf(fp, "null");
}

/* The learned weight exp(-s) of column weight_<task> in the last row of
 * RUN/<unit>/loss.csv; NAN when there is none (not trained yet). */
static double learned_weight(const run_state *r, const char *unit, const char *task)
{
    char *path = run_path(r, unit, "loss.csv", NULL), *text = NULL;
    size_t len;
    must_err e = {0};
    double w = NAN;
    if (!path || must_file_read(path, &text, &len, &e)) {
        free(path);
        return w;
    }
    char want[96];
    snprintf(want, sizeof want, "weight_%s", task);
    int col = -1, k = 0;
    char *nl = strchr(text, '\n'), *last = NULL;
    if (!nl) {
        free(text);
        free(path);
        return w;
    }
    *nl = '\0';
    for (char *c = text; c; k++) {
        char *comma = strchr(c, ',');
        size_t n = comma ? (size_t)(comma - c) : strlen(c);
        if (n == strlen(want) && strncmp(c, want, n) == 0)
            col = k;
        c = comma ? comma + 1 : NULL;
    }
    for (char *c = nl + 1; *c;) {
        char *end = strchr(c, '\n');
        if (end != c)
            last = c;
        if (!end)
            break;
        c = end + 1;
    }
    for (int i = 0; i < col && last; i++) {
        last = strchr(last, ',');
        last = last ? last + 1 : NULL;
    }
    if (col >= 0 && last) {
        char *end;
        double v = strtod(last, &end);
        if (end != last && isfinite(v))
            w = v;
    }
    free(text);
    free(path);
    return w;
}

static void weights_md(FILE *fp, const run_state *r, const must_exp_student *s,
                       const char *unit)
{
    const must_experiment *e = r->e;
    for (int i = 0; i < s->nteachers; i++) {
        int t = s->teachers[i];
        const char *task = e->tasks[e->teachers[t].task].name;
        fprintf(fp, "- %s (%s): ", e->teachers[t].name, e->tasks[e->teachers[t].task].plugin);
        if (s->weighting == MUST_WEIGHT_UNCERTAINTY) {
            double w = learned_weight(r, unit, task);
            fprintf(fp, "learned (uncertainty), initial %.4g, ", must_exp_weight(e, s, t));
            if (isfinite(w))
                fprintf(fp, "final %.4g\n", w);
            else
                fprintf(fp, "final not known (no %s/loss.csv)\n", unit);
        } else
            fprintf(fp, "%.4g\n", must_exp_weight(e, s, t));
    }
}

static void quality_md(FILE *fp, const run_quality *q, int n, const must_experiment *e)
{
    fprintf(fp, "## Pseudo-label quality — something the paper could not measure\n\n");
    fprintf(fp, "The world renders each unlabelled set with its exact labels beside it "
                "(`data/SET/set/truth/`), so every teacher's pseudo labels can be scored "
                "against the truth, image by image at the images' own resolution, with the "
                "teacher's task plugin's own metrics; the paper, pseudo-labelling JFT-300M, had "
                "no ground truth to do this. Scores are in the truth's classes: a class the "
                "teacher never learnt counts against its labels, as it misleads the student. "
                "*Labelled*: the share of the truth's labelled pixels that the pseudo labels "
                "label (segmentation leaves pixels below its `threshold` unlabelled, and the "
                "metrics judge only what is labelled). *In its classes*: the share of the "
                "truth (images, boxes or pixels) whose class the teacher knows.\n\n");
    if (n == 0) {
        fprintf(fp, "No `[label]` sets: nothing to score.\n\n");
        return;
    }
    fprintf(fp, "| set | teacher | task | images | metric | value | labelled | in its classes "
                "| every metric |\n|---|---|---|---:|---|---:|---:|---:|---|\n");
    for (int i = 0; i < n; i++) {
        const run_quality *x = &q[i];
        if (x->status != RUN_Q_OK) {
            fprintf(fp, "| %s | %s | %s | — | — | — | — | — | not scored: %s |\n", x->set,
                    x->teacher, x->task, run_quality_status_text(x->status));
            continue;
        }
        fprintf(fp, "| %s | %s | %s | %ld | %s%s | %.2f | ", x->set, x->teacher, x->task,
                x->images, x->metric_names[0], x->lower_better[0] ? " ↓" : "", x->values[0]);
        if (x->coverage >= 0)
            fprintf(fp, "%.1f%% | ", x->coverage);
        else
            fprintf(fp, "— | ");
        if (x->vocab >= 0)
            fprintf(fp, "%.1f%% | ", x->vocab);
        else
            fprintf(fp, "— | ");
        for (int k = 0; k < x->nmetrics; k++)
            fprintf(fp, "%s%s %.4g", k ? ", " : "", x->metric_names[k], x->values[k]);
        fprintf(fp, " |\n");
    }
    (void)e;
    fprintf(fp, "\n");
}

static void quality_json(FILE *fp, const run_quality *q, int n)
{
    fprintf(fp, "  \"pseudo_label_quality\": [");
    for (int i = 0; i < n; i++) {
        const run_quality *x = &q[i];
        fprintf(fp, "%s\n    {\"set\": \"%s\", \"teacher\": \"%s\", \"task\": \"%s\", "
                    "\"plugin\": \"%s\", \"scored\": %s, \"status\": \"%s\", \"images\": %ld, "
                    "\"labelled_pct\": ",
                i ? "," : "", x->set, x->teacher, x->task, x->plugin,
                x->status == RUN_Q_OK ? "true" : "false", run_quality_status_text(x->status),
                x->images);
        json_num(fp, x->coverage >= 0 ? x->coverage : NAN);
        fprintf(fp, ", \"in_classes_pct\": ");
        json_num(fp, x->vocab >= 0 ? x->vocab : NAN);
        fprintf(fp, ", \"headline\": ");
        if (x->nmetrics)
            fprintf(fp, "\"%s\"", x->metric_names[0]);
        else
            fprintf(fp, "null");
        fprintf(fp, ", \"metrics\": {");
        for (int k = 0; k < x->nmetrics; k++) {
            fprintf(fp, "%s\"%s\": ", k ? ", " : "", x->metric_names[k]);
            json_num(fp, x->values[k]);
        }
        fprintf(fp, "}, \"lower_better\": [");
        for (int k = 0; k < x->nmetrics; k++)
            fprintf(fp, "%s%s", k ? ", " : "", x->lower_better[k] ? "true" : "false");
        fprintf(fp, "]}");
    }
    fprintf(fp, "%s]", n ? "\n  " : "");
}

static void quality_csv(FILE *fp, const run_quality *q, int n)
{
    for (int i = 0; i < n; i++) {
        const run_quality *x = &q[i];
        for (int k = 0; k < x->nmetrics; k++) {
            fprintf(fp, "pseudo_labels,teacher:%s,%s,%s,%s,%d,,%.9g,,,,,%ld,", x->teacher, x->task,
                    x->set, x->metric_names[k], x->lower_better[k], x->values[k], x->images);
            if (x->coverage >= 0)
                fprintf(fp, "%.9g", x->coverage);
            fprintf(fp, ",");
            if (x->vocab >= 0)
                fprintf(fp, "%.9g", x->vocab);
            fprintf(fp, "\n");
        }
    }
}

int run_report(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, rc = MUST_OK;
    int nl = e->label.ndata, nlt = e->label.nteachers, nq = nl * nlt;
    run_result *res = calloc((size_t)(nr * nt) + 1, sizeof *res);
    run_quality *qual = calloc((size_t)nq + 1, sizeof *qual);
    char *md = run_path(r, "report.md", NULL, NULL);
    char *js = run_path(r, "results.json", NULL, NULL);
    char *csv = run_path(r, "results.csv", NULL, NULL);
    char *fig = run_path(r, "fig5-transfer-gains.png", NULL, NULL);
    char *fig2 = run_path(r, "fig2-pseudo-labels.png", NULL, NULL);
    char *fig4 = run_path(r, "fig4-student-predictions.png", NULL, NULL);
    must_afile a = {0}, b = {0}, c = {0};
    int made2 = 0, made4 = 0;
    if (!res || !qual || !md || !js || !csv || !fig || !fig2 || !fig4) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto files;
    }
    /* The pseudo labels come first: the figures and their scores need them. */
    if (nl && (rc = run_label(r, err)))
        goto files;
    for (int li = 0; li < nl && !rc; li++)
        rc = run_quality_set(r, li, qual + li * nlt, err);
    if (rc)
        goto files;
    for (int ri = 0; ri < nr && !rc; ri++)
        for (int ti = 0; ti < nt && !rc; ti++)
            rc = run_transfer_one(r, ri, ti, &res[ri * nt + ti], err);
    if (rc)
        goto files;
    for (int i = 0; i < nr * nt; i++)
        if (!isfinite(res[i].test) || !isfinite(res[i].val)) {
            rc = must_err_set(err, MUST_ENUMERIC, "report: %s on %s gave a non-finite metric",
                              e->reps[i / nt].label, e->transfers[i % nt].name);
            goto files;
        }
    if ((rc = run_fig2(r, fig2, &made2, err)) || (rc = run_fig4(r, fig4, &made4, err)))
        goto files;

    if ((rc = must_afile_open(&a, md, err)) || (rc = must_afile_open(&b, js, err)) ||
        (rc = must_afile_open(&c, csv, err)))
        goto files;
    const int base = e->baseline;
    fprintf(a.fp, "# Results: %s\n\nMade by `must run %s --out %s`.\n\n", e->name, e->file,
            r->out);
    if (nt == 0)
        fprintf(a.fp, "No `[transfer.X]` sections: no transfer table.\n\n");
    else {
        fprintf(a.fp, "## Transfer\n\nEach cell is the test-split headline metric after "
                      "fine-tuning the representation end to end, at the learning rate and "
                      "step count chosen on the val split; in brackets the difference from the "
                      "baseline row (**%s**). ↓ marks metrics where lower is better.\n\n",
                e->reps[base].label);
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
    }
    quality_md(a.fp, qual, nq, e);
    if (made2)
        fprintf(a.fp, "![pseudo labels on unlabelled images](fig2-pseudo-labels.png)\n\n"
                      "*Figure 2*: a few images of the first labelled set; for each teacher, "
                      "its pseudo labels, then the hidden truth, drawn by the task plugins' "
                      "visualizers.\n\n");
    if (made4)
        fprintf(a.fp, "## The student\n\n![student predictions](fig4-student-predictions.png)"
                      "\n\n*Figure 4*: the MuST student's predictions for every task on a few "
                      "test-split images it never trained on, each beside the hidden truth "
                      "(in the student's classes).\n\n");
    if (nt) {
        fprintf(a.fp, "## Chosen settings (val split)\n\n| representation | task | lr | steps "
                      "| val |\n|---|---|---:|---:|---:|\n");
        for (int ri = 0; ri < nr; ri++)
            for (int ti = 0; ti < nt; ti++) {
                const run_result *x = &res[ri * nt + ti];
                fprintf(a.fp, "| %s | %s | %g | %ld | %.2f |\n", e->reps[ri].label,
                        e->transfers[ti].name, x->lr, x->steps, x->val);
            }
        fprintf(a.fp, "\n");
    }
    fprintf(a.fp, "## Student loss weights\n\n");
    weights_md(a.fp, r, &e->student, "student");
    for (int k = 0; k < e->nvariants; k++) {
        char unit[MUST_EXP_NAME_MAX + 16];
        snprintf(unit, sizeof unit, "student-%s", e->variants[k].name);
        fprintf(a.fp, "\n[student.%s] (`must:%s`):\n\n", e->variants[k].name, e->variants[k].name);
        weights_md(a.fp, r, &e->variants[k], unit);
    }
    if (e->multitask.enabled) {
        fprintf(a.fp, "\nThe supervised multi-task baseline's:\n\n");
        weights_md(a.fp, r, &e->multitask, "multitask");
    }
    fprintf(a.fp, "\nLoss curves: `*/loss.csv` in the run directory.\n");

    fprintf(b.fp, "{\n  \"experiment\": \"%s\",\n  \"file\": \"%s\",\n  \"baseline\": \"%s\",\n"
                  "  \"results\": [\n",
            e->name, e->file, nr ? e->reps[base].label : "");
    fprintf(c.fp, "section,representation,task,dataset,metric,lower_better,val,test,delta,"
                  "relative_gain_pct,lr,steps,images,labelled_pct,in_classes_pct\n");
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
            for (int k = 0; k < x->nmetrics; k++) {
                fprintf(b.fp, "%s\"%s\": ", k ? ", " : "", x->metric_names[k]);
                json_num(b.fp, x->test_all[k]);
            }
            fprintf(b.fp, "}}%s\n", ri == nr - 1 && ti == nt - 1 ? "" : ",");
            fprintf(c.fp, "transfer,%s,%s,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%ld,,,\n",
                    e->reps[ri].label, tr->name, e->data[tr->data].name, x->metric,
                    x->lower_better, x->val, x->test, x->test - y->test, gain(x, y), x->lr,
                    x->steps);
        }
    fprintf(b.fp, "  ],\n");
    quality_json(b.fp, qual, nq);
    fprintf(b.fp, ",\n  \"figures\": [");
    int nf = 0;
    if (nt)
        fprintf(b.fp, "%s\"fig5-transfer-gains.png\"", nf++ ? ", " : "");
    if (made2)
        fprintf(b.fp, "%s\"fig2-pseudo-labels.png\"", nf++ ? ", " : "");
    if (made4)
        fprintf(b.fp, "%s\"fig4-student-predictions.png\"", nf++ ? ", " : "");
    fprintf(b.fp, "]\n}\n");
    quality_csv(c.fp, qual, nq);
    if ((rc = must_afile_commit(&a, err)) || (rc = must_afile_commit(&b, err)) ||
        (rc = must_afile_commit(&c, err)))
        goto files;
    if (nt && (rc = figure5(e, res, fig, err)))
        goto files;

    /* The tables on stdout, as the user's last sight of the run. */
    if (nq)
        printf("\nPseudo labels vs the hidden truth:\n");
    for (int i = 0; i < nq; i++) {
        const run_quality *x = &qual[i];
        printf("  %-14s %-14s ", x->set, x->teacher);
        if (x->status != RUN_Q_OK)
            printf("not scored (%s)\n", run_quality_status_text(x->status));
        else
            printf("%s %.2f\n", x->metric_names[0], x->values[0]);
    }
    if (nt) {
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
    free(fig2);
    free(fig4);
    free(qual);
    free(res);
    return rc;
}
