/* quality.c - how good were the pseudo labels?  The world renders every
 * unlabelled set with its exact labels beside it (SET/truth/), so each
 * teacher's pseudo labels can be scored against them, image by image, with
 * the teacher's own task plugin's metrics (its eval_add_labels): something
 * the paper, labelling JFT-300M, could not measure.
 *
 * Scores are kept in RUN/label/SET/quality.txt: the label unit's directory
 * is wiped whenever its pseudo labels are redone, so the file never
 * outlives the labels it describes. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "pipeline-impl.h"
#include "run-impl.h"

const char *run_quality_status_text(int status)
{
    switch (status) {
    case RUN_Q_OK:
        return "scored";
    case RUN_Q_NO_TRUTH:
        return "no hidden truth for this set and kind";
    case RUN_Q_CANNOT:
        return "the task plugin cannot score labels (no eval_add_labels)";
    case RUN_Q_CLASSES:
        return "a class of the teacher's is not among the truth's";
    case RUN_Q_EMPTY:
        return "no image carries this teacher's pseudo labels";
    case RUN_Q_UNUSED:
        return "not labelled: no [compare] row needs this set";
    }
    return "?";
}

/* ------------------------------------------------------------------------ */
/* The cache file: one line per teacher of plain words and numbers. */

static int write_cache(const char *path, const run_quality *q, int n, must_err *err)
{
    must_afile a = {0};
    int rc = must_afile_open(&a, path, err);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        fprintf(a.fp, "teacher=%s task=%s plugin=%s status=%d images=%ld coverage=%.9g "
                      "vocab=%.9g",
                q[i].teacher, q[i].task, q[i].plugin, q[i].status, q[i].images, q[i].coverage,
                q[i].vocab);
        for (int k = 0; k < q[i].nmetrics; k++)
            fprintf(a.fp, " metric=%s:%d:%.9g", q[i].metric_names[k], q[i].lower_better[k],
                    q[i].values[k]);
        fprintf(a.fp, "\n");
    }
    return must_afile_commit(&a, err);
}

/* A whole number or a finite one, with nothing after it. */
static int num(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

/* Reads one "key=value" token into x; 0 when it is not one this file
 * writes.  *seen collects the keys every line must have. */
static int read_token(char *tok, run_quality *x, int *seen)
{
    char *v = strchr(tok, '=');
    double d;
    if (!v)
        return 0;
    *v++ = '\0';
    if (!strcmp(tok, "teacher")) {
        *seen |= 1;
        return !strcmp(v, x->teacher);
    }
    if (!strcmp(tok, "task") || !strcmp(tok, "plugin"))
        return !strcmp(v, !strcmp(tok, "task") ? x->task : x->plugin);
    if (!strcmp(tok, "status") || !strcmp(tok, "images")) {
        if (!num(v, &d) || d < 0 || d != (long)d)
            return 0;
        if (tok[0] == 's') {
            *seen |= 2;
            x->status = (int)d;
            return d <= RUN_Q_EMPTY;
        }
        *seen |= 4;
        x->images = (long)d;
        return 1;
    }
    if (!strcmp(tok, "coverage") || !strcmp(tok, "vocab")) {
        if (!num(v, &d) || d > 100)
            return 0;
        *seen |= tok[0] == 'c' ? 8 : 16;
        *(tok[0] == 'c' ? &x->coverage : &x->vocab) = d;
        return 1;
    }
    if (!strcmp(tok, "metric") && x->nmetrics < RUN_MAX_METRICS) {
        char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c1 == v || c1 - v >= (long)sizeof x->metric_names[0] || c2 != c1 + 2 ||
            (c1[1] != '0' && c1[1] != '1') || !num(c2 + 1, &d))
            return 0;
        int k = x->nmetrics++;
        snprintf(x->metric_names[k], sizeof x->metric_names[k], "%.*s", (int)(c1 - v), v);
        x->lower_better[k] = c1[1] == '1';
        x->values[k] = d;
        return 1;
    }
    return 0;
}

/* 1 when the file holds exactly the n teachers of q (names filled), in
 * order, every value well formed; anything else is recomputed. */
static int read_cache(const char *path, run_quality *q, int n)
{
    char *text = NULL;
    size_t len;
    must_err e = {0};
    if (!must_file_exists(path) || must_file_read(path, &text, &len, &e) != MUST_OK)
        return 0;
    int i = 0, ok = len > 0 && text[len - 1] == '\n';
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && ok; line = strtok_r(NULL, "\n", &save)) {
        if (i >= n) {
            ok = 0;
            break;
        }
        run_quality *x = &q[i++];
        x->nmetrics = 0;
        char *s2 = NULL;
        int seen = 0;
        for (char *tok = strtok_r(line, " ", &s2); tok && ok; tok = strtok_r(NULL, " ", &s2))
            ok = read_token(tok, x, &seen);
        ok = ok && seen == 31 && (x->status == RUN_Q_OK) == (x->nmetrics > 0);
    }
    free(text);
    return ok && i == n;
}

/* ------------------------------------------------------------------------ */
/* Scoring. */

/* Coverage of one dense kind: truth-labelled pixels and those of them the
 * guess labels too. */
static void cover(const must_batch *b, int i, int kind, const must_labels *g, double *tot,
                  double *cov)
{
    int S = b->size;
    size_t hw = (size_t)S * S;
    const must_map *m = kind == MUST_LABEL_SEGMENTATION ? &g->seg
                        : kind == MUST_LABEL_DEPTH      ? &g->depth
                                                        : &g->normal;
    if (m->height != S || m->width != S)
        return; /* the plugin refuses it with a message */
    for (size_t q = 0; q < hw; q++) {
        size_t at = (size_t)i * hw + q;
        int truth = kind == MUST_LABEL_SEGMENTATION ? b->seg[at] != MUST_SEG_IGNORE
                    : kind == MUST_LABEL_DEPTH      ? b->depth[at] > 0.0f
                                                    : b->normal_valid[at] != 0;
        if (!truth)
            continue;
        int labelled = kind == MUST_LABEL_SEGMENTATION ? m->data[q] != MUST_SEG_IGNORE
                       : kind == MUST_LABEL_DEPTH      ? m->data[q] > 0.0f
                                                       : m->data[q] != 0.0f ||
                                                        m->data[hw + q] != 0.0f ||
                                                        m->data[2 * hw + q] != 0.0f;
        *tot += 1;
        *cov += labelled;
    }
}

/* Share of the truth's labels of example i whose class the teacher knows. */
static void vocab(const must_batch *b, int i, int kind, const unsigned char *known, int nt,
                  double *tot, double *in)
{
    if (kind == MUST_LABEL_CLASSIFICATION) {
        int t = b->cls[i];
        if (t < 0 && b->cls_soft) {
            const float *row = b->cls_soft + (size_t)i * b->ncls;
            t = 0;
            for (int k = 1; k < b->ncls; k++)
                t = row[k] > row[t] ? k : t;
        }
        *tot += 1;
        *in += t >= 0 && t < nt && known[t];
    } else if (kind == MUST_LABEL_DETECTION) {
        for (int q = 0; q < b->boxes[i].n; q++) {
            int t = b->boxes[i].v[q].cls;
            *tot += 1;
            *in += t >= 0 && t < nt && known[t];
        }
    } else if (kind == MUST_LABEL_SEGMENTATION) {
        size_t hw = (size_t)b->size * b->size;
        for (size_t q = 0; q < hw; q++) {
            int t = b->seg[(size_t)i * hw + q];
            if (t == MUST_SEG_IGNORE)
                continue;
            *tot += 1;
            *in += t >= 0 && t < nt && known[t];
        }
    }
}

/* The state of scoring one [label] set: per teacher, whether and how it is
 * scored (its head's slot in the model, its class map to the truth's
 * classes), the evaluators, and the running coverage and vocabulary. */
typedef struct scorer {
    run_state *r;
    int li, nt;
    run_quality *q;
    must_dataset *unl, *truth, **parts;
    int nparts;
    char *tdir;
    pl_model m;
    pl_head heads[PL_MAX_TASKS];
    int nh;
    must_task_eval *ev[PL_MAX_TASKS];
    int kind[PL_MAX_TASKS], slot[PL_MAX_TASKS];
    int *map[PL_MAX_TASKS], npc[PL_MAX_TASKS], ntc[PL_MAX_TASKS];
    unsigned char *known[PL_MAX_TASKS];
    unsigned kinds, kept;
    must_labels *guess;
    unsigned *has;
    int nguess;
    must_loader *L;
    double tot[PL_MAX_TASKS], cov[PL_MAX_TASKS], vtot[PL_MAX_TASKS], vin[PL_MAX_TASKS];
} scorer;

static void scorer_free(scorer *s)
{
    for (int t = 0; t < s->nt; t++) {
        if (s->ev[t])
            must_task_eval_end(s->ev[t], NULL, NULL);
        free(s->map[t]);
        free(s->known[t]);
    }
    for (int i = 0; i < s->nguess; i++)
        must_labels_free(&s->guess[i]);
    free(s->guess);
    free(s->has);
    must_loader_free(s->L);
    pl_model_free(&s->m);
    run_labelled_parts_free(s->parts, s->nparts);
    must_dataset_close(s->truth);
    free(s->tdir);
}

/* Whether teacher i's labels can be scored, and a head for it when so:
 * built for the truth's classes, so that a class the teacher never learnt
 * counts against its labels as it misleads the student. */
static int score_plan_one(scorer *s, int i, must_err *err)
{
    const must_experiment *e = s->r->e;
    const must_exp_task *spec = &e->tasks[e->teachers[e->label.teachers[i]].task];
    run_quality *q = &s->q[i];
    must_task *t = NULL;
    int rc = must_task_new(spec->plugin, spec->name, &t, err);
    if (rc)
        return rc;
    const must_task_ops *ops = must_task_get_ops(t);
    int can = ops->eval_begin && ops->eval_add_labels, k = s->kind[i] = ops->label_kind;
    must_task_free(t);
    s->slot[i] = -1;
    if (!can) {
        q->status = RUN_Q_CANNOT;
        return MUST_OK;
    }
    if (!(must_dataset_tasks(s->truth) & MUST_LABEL_BIT(k)) ||
        !(must_dataset_tasks(s->parts[0]) & MUST_LABEL_BIT(k))) {
        q->status = RUN_Q_NO_TRUTH;
        return MUST_OK;
    }
    if (run_kind_has_classes(k)) {
        s->npc[i] = must_dataset_nclasses(s->parts[0], k);
        s->ntc[i] = must_dataset_nclasses(s->truth, k);
        s->map[i] = calloc((size_t)s->npc[i] + 1, sizeof *s->map[i]);
        s->known[i] = calloc((size_t)s->ntc[i] + 1, 1);
        if (!s->map[i] || !s->known[i])
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        if (run_class_map(s->parts[0], s->truth, k, s->map[i], s->known[i])) {
            q->status = RUN_Q_CLASSES;
            return MUST_OK;
        }
    }
    q->status = RUN_Q_OK;
    s->kinds |= MUST_LABEL_BIT(k);
    s->heads[s->nh].spec = spec;
    s->heads[s->nh].classes_from = s->truth;
    s->slot[i] = s->nh++;
    return MUST_OK;
}

/* The model of every scored head, their metric names, their evaluators. */
static int score_begin(scorer *s, must_err *err)
{
    int rc = pl_model_new(s->r->e, s->heads, s->nh, &s->m, err);
    for (int i = 0; i < s->nt && !rc; i++) {
        if (s->slot[i] < 0)
            continue;
        must_task *t = s->m.task[s->slot[i]];
        run_quality *q = &s->q[i];
        int nm = must_task_nmetrics(t);
        q->nmetrics = nm < RUN_MAX_METRICS ? nm : RUN_MAX_METRICS;
        for (int k = 0; k < q->nmetrics; k++) {
            snprintf(q->metric_names[k], sizeof q->metric_names[k], "%s",
                     must_task_metric_name(t, k));
            q->lower_better[k] = must_task_metric_lower_better(t, k);
        }
        rc = must_task_eval_begin(t, &s->ev[i], err);
    }
    return rc;
}

/* A loader over the truth at its own resolution (the fit to its own size
 * is the identity), where the pseudo labels were written too. */
static int score_loader(scorer *s, must_err *err)
{
    int W, H;
    must_dataset_size(s->truth, &W, &H);
    if (W <= 0 || W != H)
        return must_err_set(err, MUST_EINVAL, "%s: scoring pseudo labels needs square images "
                                              "of one declared size, not %dx%d",
                            s->tdir, W, H);
    must_loader_opts lo;
    pl_loader_eval(s->r->e, -1, W, &lo);
    lo.tasks = s->kinds;
    s->guess = calloc((size_t)lo.batch, sizeof *s->guess);
    s->has = calloc((size_t)lo.batch, sizeof *s->has);
    if (!s->guess || !s->has)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    s->nguess = lo.batch;
    for (int i = 0; i < s->nguess; i++)
        must_labels_init(&s->guess[i]);
    /* Supervised labels the set already had were kept, not guessed. */
    s->kept = must_dataset_tasks(s->unl) & s->kinds;
    return must_loader_new(&s->truth, 1, &lo, &s->L, err);
}

/* Example i of a truth batch: its pseudo labels found in the parts, minus
 * the kinds the set had supervised, mapped to the truth's classes, with
 * coverage and vocabulary counted. */
static int score_example(scorer *s, const must_batch *b, int i, must_err *err)
{
    const must_experiment *e = s->r->e;
    const char *id = must_dataset_id(s->truth, b->example[i]);
    int p = 0, j = -1, rc;
    for (; p < s->nparts && j < 0; p++)
        j = must_dataset_find(s->parts[p], id);
    if (j < 0)
        return must_err_set(err, MUST_EINVAL, "image '%s' of %s is in no pseudo-labelled part "
                                              "of %s/label/%s",
                            id, s->tdir, s->r->out, e->data[e->label.data[s->li]].name);
    must_labels *g = &s->guess[i];
    if ((rc = must_dataset_load(s->parts[p - 1], j, s->kinds, NULL, g, err)))
        return rc;
    s->has[i] = b->has[i] & g->has;
    int ui = s->kept ? must_dataset_find(s->unl, id) : -1;
    if (ui >= 0) {
        must_labels sup;
        must_labels_init(&sup);
        rc = must_dataset_load(s->unl, ui, s->kept, NULL, &sup, err);
        s->has[i] &= ~sup.has;
        must_labels_free(&sup);
    }
    for (int t = 0; t < s->nt && !rc; t++) {
        int k = s->kind[t];
        if (!s->ev[t] || !(s->has[i] & MUST_LABEL_BIT(k)))
            continue;
        s->q[t].images++;
        if (s->map[t]) {
            rc = run_labels_remap(g, k, s->map[t], s->npc[t], s->ntc[t], err);
            vocab(b, i, k, s->known[t], s->ntc[t], &s->vtot[t], &s->vin[t]);
        }
        if (k == MUST_LABEL_SEGMENTATION || k == MUST_LABEL_DEPTH || k == MUST_LABEL_NORMAL)
            cover(b, i, k, g, &s->tot[t], &s->cov[t]);
    }
    return rc;
}

static int score_batch(scorer *s, const must_batch *b, must_err *err)
{
    int rc = MUST_OK;
    for (int i = 0; i < b->n && !rc; i++)
        rc = score_example(s, b, i, err);
    must_batch bb = *b;
    bb.has = s->has;
    for (int t = 0; t < s->nt && !rc; t++)
        if (s->ev[t])
            rc = must_task_eval_add_labels(s->ev[t], s->guess, &bb, err);
    for (int i = 0; i < b->n; i++)
        must_labels_free(&s->guess[i]);
    return rc;
}

/* Each scored teacher's metrics, coverage and vocabulary. */
static int score_end(scorer *s, must_err *err)
{
    int rc = MUST_OK;
    for (int t = 0; t < s->nt && !rc; t++) {
        run_quality *q = &s->q[t];
        if (!s->ev[t])
            continue;
        if (q->images == 0) {
            q->status = RUN_Q_EMPTY;
            q->nmetrics = 0;
            continue;
        }
        q->coverage = s->tot[t] > 0 ? 100.0 * s->cov[t] / s->tot[t] : -1;
        q->vocab = s->vtot[t] > 0 ? 100.0 * s->vin[t] / s->vtot[t] : -1;
        rc = must_task_eval_end(s->ev[t], q->values, err);
        s->ev[t] = NULL;
    }
    return rc;
}

static int score(run_state *r, int li, run_quality *q, must_err *err)
{
    const must_experiment *e = r->e;
    scorer *s = calloc(1, sizeof *s);
    if (!s)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    s->r = r;
    s->li = li;
    s->nt = e->label.nteachers;
    s->q = q;
    int rc = run_dataset(r, e->label.data[li], &s->unl, err), got = 0;
    if (!rc && !(s->tdir = run_truth_dir(s->unl))) {
        for (int i = 0; i < s->nt; i++)
            q[i].status = RUN_Q_NO_TRUTH;
        free(s);
        return MUST_OK;
    }
    if (!rc && !(rc = must_dataset_open(s->tdir, &s->truth, err)))
        rc = run_labelled_parts(r, li, &s->parts, &s->nparts, err);
    for (int i = 0; i < s->nt && !rc; i++)
        rc = score_plan_one(s, i, err);
    if (!rc && s->nh && !(rc = score_begin(s, err)) && !(rc = score_loader(s, err))) {
        const must_batch *b;
        while (!rc && (got = must_loader_next(s->L, &b, err)) == 1)
            rc = score_batch(s, b, err);
        if (!rc && got < 0)
            rc = got;
        if (!rc)
            rc = score_end(s, err);
    }
    scorer_free(s);
    free(s);
    return rc;
}

/* Names filled, nothing scored. */
static void quality_init(const run_state *r, int li, run_quality *q)
{
    const must_experiment *e = r->e;
    const char *set = e->data[e->label.data[li]].name;
    for (int i = 0; i < e->label.nteachers; i++) {
        const must_exp_teacher *t = &e->teachers[e->label.teachers[i]];
        memset(&q[i], 0, sizeof q[i]);
        snprintf(q[i].set, sizeof q[i].set, "%s", set);
        snprintf(q[i].teacher, sizeof q[i].teacher, "%s", t->name);
        snprintf(q[i].task, sizeof q[i].task, "%s", e->tasks[t->task].name);
        snprintf(q[i].plugin, sizeof q[i].plugin, "%s", e->tasks[t->task].plugin);
        q[i].coverage = -1;
        q[i].vocab = -1;
    }
}

int run_quality_unused(const run_state *r, int li, run_quality *q)
{
    quality_init(r, li, q);
    for (int i = 0; i < r->e->label.nteachers; i++)
        q[i].status = RUN_Q_UNUSED;
    return MUST_OK;
}

int run_quality_set(run_state *r, int li, run_quality *q, must_err *err)
{
    const char *set = r->e->data[r->e->label.data[li]].name;
    int nt = r->e->label.nteachers;
    if (nt > PL_MAX_TASKS) /* q has room for PL_MAX_TASKS; labelling refused them anyway */
        return must_err_set(err, MUST_EINVAL, "more than %d teachers", PL_MAX_TASKS);
    quality_init(r, li, q);
    char *path = run_path(r, "label", set, "quality.txt");
    if (!path)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = MUST_OK;
    if (!read_cache(path, q, nt)) {
        quality_init(r, li, q); /* a partly read cache leaves nothing behind */
        rc = score(r, li, q, err);
        if (rc)
            must_err_prefix(err, "pseudo-label quality of %s", set);
        else
            rc = write_cache(path, q, nt, err);
    }
    free(path);
    return rc;
}

void run_quality_say(const run_state *r, const run_quality *q, int n)
{
    for (int i = 0; i < n; i++) {
        char line[1024];
        size_t u = (size_t)snprintf(line, sizeof line,
                                    "[label %s] %s pseudo labels vs the hidden truth: ", q[i].set,
                                    q[i].teacher);
        if (q[i].status != RUN_Q_OK) {
            pl_say(&r->events, "%snot scored (%s)", line, run_quality_status_text(q[i].status));
            continue;
        }
        u += (size_t)snprintf(line + u, sizeof line - u, "%s %.2f", q[i].metric_names[0],
                              q[i].values[0]);
        if (q[i].coverage >= 0 && u < sizeof line)
            u += (size_t)snprintf(line + u, sizeof line - u, ", labelling %.1f%% of the pixels",
                                  q[i].coverage);
        if (q[i].vocab >= 0 && q[i].vocab < 100 && u < sizeof line)
            u += (size_t)snprintf(line + u, sizeof line - u,
                                  "; %.1f%% of the truth is in its classes", q[i].vocab);
        pl_say(&r->events, "%s (%ld images)", line, q[i].images);
    }
}
