/* report_files.c - the report's files: report.md (the paper's Table 2 form:
 * rows are representations, columns downstream tasks, deltas against the
 * baseline; the pseudo labels' quality; the figures; the chosen settings;
 * the students' loss weights), results.json and results.csv with every
 * number and its settings.  Each is written to a temporary name and renamed
 * into place. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "run-impl.h"

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

int run_report_write_md(run_state *r, const run_report_data *d, const char *path,
                        must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers;
    const int base = e->baseline;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "# Results: %s\n\nMade by `must run %s --out %s`.\n\n", e->name, e->file,
            r->out);
    if (nt == 0)
        fprintf(fp, "No `[transfer.X]` sections: no transfer table.\n\n");
    else {
        fprintf(fp, "## Transfer\n\nEach cell is the test-split headline metric after "
                      "fine-tuning the representation end to end, at the learning rate and "
                      "step count chosen on the val split; in brackets the difference from the "
                      "baseline row (**%s**). ↓ marks metrics where lower is better.\n\n",
                e->reps[base].label);
        fprintf(fp, "| representation |");
        for (int ti = 0; ti < nt; ti++)
            fprintf(fp, " %s (%s%s) |", e->transfers[ti].name, d->res[ti].metric,
                    d->res[ti].lower_better ? " ↓" : "");
        fprintf(fp, "\n|---|");
        for (int ti = 0; ti < nt; ti++)
            fprintf(fp, "---:|");
        fprintf(fp, "\n");
        for (int ri = 0; ri < nr; ri++) {
            fprintf(fp, "| %s%s |", e->reps[ri].label, ri == base ? " (baseline)" : "");
            for (int ti = 0; ti < nt; ti++) {
                const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
                if (ri == base)
                    fprintf(fp, " %.2f |", x->test);
                else
                    fprintf(fp, " %.2f (%+.2f) |", x->test, x->test - y->test);
            }
            fprintf(fp, "\n");
        }
        fprintf(fp, "\n![relative transfer gains](fig5-transfer-gains.png)\n\n");
    }
    quality_md(fp, d->qual, d->nq, e);
    if (d->made2)
        fprintf(fp, "![pseudo labels on unlabelled images](fig2-pseudo-labels.png)\n\n"
                      "*Figure 2*: a few images of the first labelled set; for each teacher, "
                      "its pseudo labels, then the hidden truth, drawn by the task plugins' "
                      "visualizers.\n\n");
    if (d->made4)
        fprintf(fp, "## The student\n\n![student predictions](fig4-student-predictions.png)"
                      "\n\n*Figure 4*: the MuST student's predictions for every task on a few "
                      "test-split images it never trained on, each beside the hidden truth "
                      "(in the student's classes).\n\n");
    if (nt) {
        fprintf(fp, "## Chosen settings (val split)\n\n| representation | task | lr | steps "
                      "| val |\n|---|---|---:|---:|---:|\n");
        for (int ri = 0; ri < nr; ri++)
            for (int ti = 0; ti < nt; ti++) {
                const run_result *x = &d->res[ri * nt + ti];
                fprintf(fp, "| %s | %s | %g | %ld | %.2f |\n", e->reps[ri].label,
                        e->transfers[ti].name, x->lr, x->steps, x->val);
            }
        fprintf(fp, "\n");
    }
    fprintf(fp, "## Student loss weights\n\n");
    weights_md(fp, r, &e->student, "student");
    for (int k = 0; k < e->nvariants; k++) {
        char unit[MUST_EXP_NAME_MAX + 16];
        snprintf(unit, sizeof unit, "student-%s", e->variants[k].name);
        fprintf(fp, "\n[student.%s] (`must:%s`):\n\n", e->variants[k].name, e->variants[k].name);
        weights_md(fp, r, &e->variants[k], unit);
    }
    if (e->multitask.enabled) {
        fprintf(fp, "\nThe supervised multi-task baseline's:\n\n");
        weights_md(fp, r, &e->multitask, "multitask");
    }
    fprintf(fp, "\nLoss curves: `*/loss.csv` in the run directory.\n");

    return must_afile_commit(&a, err);
}

int run_report_write_json(run_state *r, const run_report_data *d, const char *path,
                          must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers;
    const int base = e->baseline;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "{\n  \"experiment\": \"%s\",\n  \"file\": \"%s\",\n  \"baseline\": \"%s\",\n"
                "  \"results\": [\n",
            e->name, e->file, nr ? e->reps[base].label : "");
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
            const must_exp_transfer *tr = &e->transfers[ti];
            fprintf(fp,
                    "    {\"representation\": \"%s\", \"task\": \"%s\", \"plugin\": \"%s\", "
                    "\"dataset\": \"%s\", \"metric\": \"%s\", \"lower_better\": %s, \"val\": "
                    "%.9g, \"test\": %.9g, \"delta\": %.9g, \"relative_gain_pct\": %.9g, \"lr\": "
                    "%.9g, \"steps\": %ld, \"batch\": %d, \"test_metrics\": {",
                    e->reps[ri].label, tr->name, e->tasks[tr->task].plugin,
                    e->data[tr->data].name, x->metric, x->lower_better ? "true" : "false",
                    x->val, x->test, x->test - y->test, run_gain(x, y), x->lr, x->steps,
                    tr->train.batch);
            for (int k = 0; k < x->nmetrics; k++) {
                fprintf(fp, "%s\"%s\": ", k ? ", " : "", x->metric_names[k]);
                json_num(fp, x->test_all[k]);
            }
            fprintf(fp, "}}%s\n", ri == nr - 1 && ti == nt - 1 ? "" : ",");
        }
    fprintf(fp, "  ],\n");
    quality_json(fp, d->qual, d->nq);
    fprintf(fp, ",\n  \"figures\": [");
    int nf = 0;
    if (nt)
        fprintf(fp, "%s\"fig5-transfer-gains.png\"", nf++ ? ", " : "");
    if (d->made2)
        fprintf(fp, "%s\"fig2-pseudo-labels.png\"", nf++ ? ", " : "");
    if (d->made4)
        fprintf(fp, "%s\"fig4-student-predictions.png\"", nf++ ? ", " : "");
    fprintf(fp, "]\n}\n");
    return must_afile_commit(&a, err);
}

int run_report_write_csv(run_state *r, const run_report_data *d, const char *path,
                         must_err *err)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers;
    const int base = e->baseline;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "section,representation,task,dataset,metric,lower_better,val,test,delta,"
                "relative_gain_pct,lr,steps,images,labelled_pct,in_classes_pct\n");
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
            const must_exp_transfer *tr = &e->transfers[ti];
            fprintf(fp, "transfer,%s,%s,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%ld,,,\n",
                    e->reps[ri].label, tr->name, e->data[tr->data].name, x->metric,
                    x->lower_better, x->val, x->test, x->test - y->test, run_gain(x, y), x->lr,
                    x->steps);
        }
    quality_csv(fp, d->qual, d->nq);
    return must_afile_commit(&a, err);
}
