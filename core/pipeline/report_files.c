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
void run_json_num(FILE *fp, double v)
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
    int scored = 0, made = 0;
    for (int i = 0; i < n; i++) {
        scored |= q[i].status != RUN_Q_NO_TRUTH && q[i].status != RUN_Q_UNUSED;
        made |= q[i].status != RUN_Q_UNUSED;
    }
    if (!made)
        return; /* no pseudo labels made: nothing to say */
    if (!scored) {
        fprintf(fp, "## Pseudo labels\n\nNo labelled set has a hidden truth to score its pseudo "
                    "labels against (only the world's sets do); they were not scored.\n\n");
        return;
    }
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
        run_json_num(fp, x->coverage >= 0 ? x->coverage : NAN);
        fprintf(fp, ", \"in_classes_pct\": ");
        run_json_num(fp, x->vocab >= 0 ? x->vocab : NAN);
        fprintf(fp, ", \"headline\": ");
        if (x->nmetrics)
            fprintf(fp, "\"%s\"", x->metric_names[0]);
        else
            fprintf(fp, "null");
        fprintf(fp, ", \"metrics\": {");
        for (int k = 0; k < x->nmetrics; k++) {
            fprintf(fp, "%s\"%s\": ", k ? ", " : "", x->metric_names[k]);
            run_json_num(fp, x->values[k]);
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
            fprintf(fp, ",,\n"); /* no intervals */
        }
    }
}

/* The transfer table: each cell the test headline, the baseline's delta. */
/* An interval in the orientation of the table's differences (the
 * representation's metric minus the baseline's; the bootstrap's is better
 * positive); 0 when there is none. */
static int raw_interval(const run_interval *iv, int lower, double *lo, double *hi)
{
    if (!iv || !iv->ok)
        return 0;
    *lo = lower ? -iv->hi : iv->lo;
    *hi = lower ? -iv->lo : iv->hi;
    return 1;
}

static void transfer_md(FILE *fp, const run_state *r, const run_report_data *d)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers, base = e->baseline;
    fprintf(fp, "## Transfer\n\nEach cell is the test-split headline metric after "
                "fine-tuning the representation end to end, at the learning rate and step "
                "count chosen on the val split; in brackets the difference from the baseline "
                "row (**%s**)%s. ↓ marks metrics where lower is better; under each task, the "
                "number of test images the cells are computed on.\n\n",
            e->reps[base].label,
            d->iv ? " and the paired bootstrap 95% interval of that difference over the test "
                    "images (1000 draws; `*`: it excludes 0; one seed, so the training's own "
                    "randomness is not in it: `seeds = ...` adds it)"
                  : "");
    fprintf(fp, "| representation |");
    for (int ti = 0; ti < nt; ti++)
        fprintf(fp, " %s (%s%s, %ld test) |", e->transfers[ti].name, d->res[ti].metric,
                d->res[ti].lower_better ? " ↓" : "", d->ntest[ti]);
    fprintf(fp, "\n|---|");
    for (int ti = 0; ti < nt; ti++)
        fprintf(fp, "---:|");
    fprintf(fp, "\n");
    for (int ri = 0; ri < nr; ri++) {
        fprintf(fp, "| %s%s |", e->reps[ri].label, ri == base ? " (baseline)" : "");
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
            const run_interval *iv = d->iv ? &d->iv[ri * nt + ti] : NULL;
            double lo, hi;
            if (ri == base)
                fprintf(fp, " %.2f |", x->test);
            else if (raw_interval(iv, x->lower_better, &lo, &hi))
                fprintf(fp, " %.2f (%+.2f; [%+.2f, %+.2f]%s) |", x->test, x->test - y->test, lo,
                        hi, iv->excludes_zero ? " *" : "");
            else
                fprintf(fp, " %.2f (%+.2f) |", x->test, x->test - y->test);
        }
        fprintf(fp, "\n");
    }
    fprintf(fp, "\n![relative transfer gains](fig5-transfer-gains.png)\n\n");
}

/* Each trained teacher's score on its own set's val split. */
static void teachers_md(FILE *fp, const run_state *r, const run_report_data *d)
{
    const must_experiment *e = r->e;
    int any = 0;
    for (int t = 0; t < e->nteachers; t++)
        any |= d->teacher[t].done;
    if (!any)
        return;
    fprintf(fp, "## The teachers\n\nEach teacher on the val split of the set it trained on: "
                "how good its pseudo labels can be at best.\n\n| teacher | task | set | val "
                "images | headline | every metric |\n|---|---|---|---:|---:|---|\n");
    for (int t = 0; t < e->nteachers; t++) {
        const run_tscore *s = &d->teacher[t];
        if (!s->done)
            continue;
        const must_exp_teacher *tc = &e->teachers[t];
        fprintf(fp, "| %s | %s | %s | %ld | %s%s %.2f | ", tc->name, e->tasks[tc->task].name,
                e->data[tc->data].name, s->images, s->names[0], s->lower[0] ? " ↓" : "",
                s->values[0]);
        for (int k = 0; k < s->nmetrics; k++)
            fprintf(fp, "%s%s %.4g", k ? ", " : "", s->names[k], s->values[k]);
        fprintf(fp, " |\n");
    }
    fprintf(fp, "\n");
}

static void figures_md(FILE *fp, const run_report_data *d)
{
    if (d->made2)
        fprintf(fp, "![pseudo labels on unlabelled images](fig2-pseudo-labels.png)\n\n"
                    "*Figure 2*: a few images of the first labelled set; for each teacher, its "
                    "pseudo labels, then the hidden truth, drawn by the task plugins' "
                    "visualizers.\n\n");
    if (d->made4)
        fprintf(fp, "## The student\n\n![student predictions](fig4-student-predictions.png)"
                    "\n\n*Figure 4*: the MuST student's predictions for every task on a few "
                    "test-split images it never trained on, each beside the hidden truth (in the "
                    "student's classes).\n\n");
}

static void chosen_md(FILE *fp, const run_state *r, const run_report_data *d)
{
    const must_experiment *e = r->e;
    int nr = e->nreps, nt = e->ntransfers;
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

/* The loss weights of every student section the run trained. */
static void weights_section(FILE *fp, run_state *r)
{
    const must_experiment *e = r->e;
    int head = 0;
    for (int i = -1; i <= e->nvariants; i++) {
        const must_exp_student *st = i < 0 ? &e->student
                                     : i < e->nvariants ? &e->variants[i] : &e->multitask;
        char unit[MUST_EXP_NAME_MAX + 16];
        run_multi_dirname(e, st, unit, sizeof unit);
        char *model = run_path(r, unit, "model.safetensors", NULL);
        int trained = model && must_file_exists(model) && st->nteachers > 0;
        free(model);
        if (!trained || !run_needs_multi(r, st))
            continue;
        if (!head++)
            fprintf(fp, "## Student loss weights\n\n");
        if (i >= 0 && i < e->nvariants)
            fprintf(fp, "[student.%s] (`must:%s`):\n\n", st->name, st->name);
        else if (i == e->nvariants)
            fprintf(fp, "The supervised multi-task baseline's:\n\n");
        weights_md(fp, r, st, unit);
        fprintf(fp, "\n");
    }
}

static void curves_md(FILE *fp, const run_report_data *d)
{
    if (d->curves.n == 0)
        return;
    fprintf(fp, "## Training curves\n\nFrom each unit's `loss.csv` (and the sweeps' "
                "`eval-STEPS.txt`), drawn into `curves/`:\n\n");
    for (int i = 0; i < d->curves.n; i++)
        fprintf(fp, "![%s](curves/%s)\n\n", d->curves.title[i], d->curves.file[i]);
}

int run_report_write_md(run_state *r, const run_report_data *d, const char *path,
                        must_err *err)
{
    const must_experiment *e = r->e;
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    FILE *fp = a.fp;
    fprintf(fp, "# Results: %s\n\nMade by `must run %s --out %s`.\n\n", e->name, e->file,
            r->out);
    if (e->ntransfers == 0)
        fprintf(fp, "No `[transfer.X]` sections: no transfer table.\n\n");
    else
        transfer_md(fp, r, d);
    teachers_md(fp, r, d);
    quality_md(fp, d->qual, d->nq, e);
    figures_md(fp, d);
    if (e->ntransfers)
        chosen_md(fp, r, d);
    weights_section(fp, r);
    curves_md(fp, d);
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
                run_json_num(fp, x->test_all[k]);
            }
            fprintf(fp, "}");
            double lo, hi;
            const run_interval *iv = d->iv ? &d->iv[ri * nt + ti] : NULL;
            if (raw_interval(iv, x->lower_better, &lo, &hi))
                fprintf(fp, ", \"delta_interval95\": [%.9g, %.9g], \"excludes_zero\": %s", lo, hi,
                        iv->excludes_zero ? "true" : "false");
            fprintf(fp, "}%s\n", ri == nr - 1 && ti == nt - 1 ? "" : ",");
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
                "relative_gain_pct,lr,steps,images,labelled_pct,in_classes_pct,delta_ci95_lo,"
                "delta_ci95_hi\n");
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++) {
            const run_result *x = &d->res[ri * nt + ti], *y = &d->res[base * nt + ti];
            const must_exp_transfer *tr = &e->transfers[ti];
            fprintf(fp, "transfer,%s,%s,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%ld,,,", e->reps[ri].label,
                    tr->name, e->data[tr->data].name, x->metric, x->lower_better, x->val, x->test,
                    x->test - y->test, run_gain(x, y), x->lr, x->steps);
            double lo, hi;
            if (raw_interval(d->iv ? &d->iv[ri * nt + ti] : NULL, x->lower_better, &lo, &hi))
                fprintf(fp, ",%.9g,%.9g\n", lo, hi);
            else
                fprintf(fp, ",,\n");
        }
    quality_csv(fp, d->qual, d->nq);
    return must_afile_commit(&a, err);
}
