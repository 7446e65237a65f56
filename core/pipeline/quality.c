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

#include "must/checkpoint.h"
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

int run_class_map(const must_dataset *from, const must_dataset *to, int kind, int *map,
                  unsigned char *known)
{
    int nf = must_dataset_nclasses(from, kind), nt = must_dataset_nclasses(to, kind), miss = 0;
    if (known)
        memset(known, 0, (size_t)(nt > 0 ? nt : 1));
    for (int c = 0; c < nf; c++) {
        map[c] = -1;
        for (int k = 0; k < nt && map[c] < 0; k++)
            if (!strcmp(must_dataset_class_name(from, kind, c),
                        must_dataset_class_name(to, kind, k)))
                map[c] = k;
        miss += map[c] < 0;
        if (known && map[c] >= 0)
            known[map[c]] = 1;
    }
    return miss;
}

int run_labels_remap(must_labels *g, int kind, const int *map, int nfrom, int nto, must_err *err)
{
    if (!(g->has & MUST_LABEL_BIT(kind)))
        return MUST_OK;
    if (kind == MUST_LABEL_CLASSIFICATION) {
        if (!g->soft) {
            g->cls = g->cls >= 0 && g->cls < nfrom ? map[g->cls] : -1;
            return MUST_OK;
        }
        float *p = calloc((size_t)nto + 1, sizeof *p);
        if (!p)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        double sum = 0;
        for (int c = 0; c < g->nsoft && c < nfrom; c++)
            if (map[c] >= 0) {
                p[map[c]] += g->soft[c];
                sum += g->soft[c];
            }
        int rc = MUST_OK;
        if (sum > 0) {
            for (int k = 0; k < nto; k++)
                p[k] = (float)(p[k] / sum);
            rc = must_labels_set_soft(g, nto, p, err);
        } else {
            free(g->soft);
            g->soft = NULL;
            g->nsoft = 0;
            g->cls = -1;
        }
        free(p);
        return rc;
    }
    if (kind == MUST_LABEL_DETECTION) {
        int n = 0;
        for (int q = 0; q < g->boxes.n; q++) {
            int c = g->boxes.v[q].cls;
            if (c >= 0 && c < nfrom && map[c] >= 0) {
                g->boxes.v[n] = g->boxes.v[q];
                g->boxes.v[n++].cls = map[c];
            }
        }
        g->boxes.n = n;
        return MUST_OK;
    }
    if (kind == MUST_LABEL_SEGMENTATION) {
        size_t n = (size_t)g->seg.height * g->seg.width;
        for (size_t q = 0; q < n; q++) {
            int v = (int)g->seg.data[q];
            if (v >= 0 && v < nfrom)
                g->seg.data[q] = map[v] >= 0 ? (float)map[v] : (float)MUST_SEG_IGNORE;
        }
    }
    return MUST_OK;
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

int run_labelled_parts(run_state *r, int li, must_dataset ***parts, int *n, must_err *err)
{
    const char *set = r->e->data[r->e->label.data[li]].name;
    *parts = NULL;
    *n = 0;
    int rc = MUST_OK;
    for (int p = 0; rc == MUST_OK; p++) {
        char part[32];
        snprintf(part, sizeof part, "part-%03d", p);
        char *dir = run_path(r, "label", set, part);
        char *ini = dir ? must_path_join(dir, "dataset.ini") : NULL;
        int there = ini && must_file_exists(ini);
        free(ini);
        if (!there) {
            free(dir);
            break;
        }
        must_dataset **v = realloc(*parts, (size_t)(*n + 1) * sizeof *v);
        if (!v) {
            free(dir);
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            break;
        }
        *parts = v;
        rc = must_dataset_open(dir, &v[*n], err);
        if (!rc)
            (*n)++;
        free(dir);
    }
    if (!rc && *n == 0)
        rc = must_err_set(err, MUST_ENOTFOUND, "[label] %s: no pseudo-labelled part in %s/label/%s",
                          set, r->out, set);
    if (rc) {
        run_labelled_parts_free(*parts, *n);
        *parts = NULL;
        *n = 0;
    }
    return rc;
}

void run_labelled_parts_free(must_dataset **parts, int n)
{
    for (int i = 0; i < n; i++)
        must_dataset_close(parts[i]);
    free(parts);
}

char *run_truth_dir(const must_dataset *ds)
{
    char *dir = must_path_join(must_dataset_dir(ds), "truth");
    char *ini = dir ? must_path_join(dir, "dataset.ini") : NULL;
    int there = ini && must_file_exists(ini);
    free(ini);
    if (!there) {
        free(dir);
        return NULL;
    }
    return dir;
}

int run_kind_has_classes(int kind)
{
    return kind == MUST_LABEL_CLASSIFICATION || kind == MUST_LABEL_DETECTION ||
           kind == MUST_LABEL_SEGMENTATION;
}

static int score(run_state *r, int li, run_quality *q, must_err *err)
{
    const must_experiment *e = r->e;
    int nt = e->label.nteachers, rc;
    must_dataset *unl, *truth = NULL, **parts = NULL;
    int nparts = 0;
    if ((rc = run_dataset(r, e->label.data[li], &unl, err)))
        return rc;
    char *tdir = run_truth_dir(unl);
    if (!tdir) {
        for (int i = 0; i < nt; i++)
            q[i].status = RUN_Q_NO_TRUTH;
        return MUST_OK;
    }
    pl_model m = {0};
    pl_head heads[PL_MAX_TASKS];
    must_task_eval *ev[PL_MAX_TASKS] = {0};
    int kind[PL_MAX_TASKS], slot[PL_MAX_TASKS], nh = 0, *map[PL_MAX_TASKS] = {0};
    int npc[PL_MAX_TASKS] = {0}, ntc[PL_MAX_TASKS] = {0};
    unsigned char *known[PL_MAX_TASKS] = {0};
    must_labels *guess = NULL;
    int nguess = 0, got = 0;
    unsigned *has = NULL, kinds = 0;
    must_loader *L = NULL;
    double tot[PL_MAX_TASKS] = {0}, cov[PL_MAX_TASKS] = {0};
    double vtot[PL_MAX_TASKS] = {0}, vin[PL_MAX_TASKS] = {0};
    if ((rc = must_dataset_open(tdir, &truth, err)) ||
        (rc = run_labelled_parts(r, li, &parts, &nparts, err)))
        goto out;
    /* Each teacher's kind and what the truth offers for it; the heads that
     * score are built for the truth's classes, so that a class the teacher
     * never learnt counts against its labels as it misleads the student. */
    for (int i = 0; i < nt && !rc; i++) {
        const must_exp_task *spec = &e->tasks[e->teachers[e->label.teachers[i]].task];
        must_task *t = NULL;
        if ((rc = must_task_new(spec->plugin, spec->name, &t, err)))
            break;
        const must_task_ops *ops = must_task_get_ops(t);
        int can = ops->eval_begin && ops->eval_add_labels;
        kind[i] = ops->label_kind;
        must_task_free(t);
        slot[i] = -1;
        if (!can) {
            q[i].status = RUN_Q_CANNOT;
            continue;
        }
        if (!(must_dataset_tasks(truth) & MUST_LABEL_BIT(kind[i])) ||
            !(must_dataset_tasks(parts[0]) & MUST_LABEL_BIT(kind[i]))) {
            q[i].status = RUN_Q_NO_TRUTH;
            continue;
        }
        if (run_kind_has_classes(kind[i])) {
            npc[i] = must_dataset_nclasses(parts[0], kind[i]);
            ntc[i] = must_dataset_nclasses(truth, kind[i]);
            map[i] = calloc((size_t)npc[i] + 1, sizeof *map[i]);
            known[i] = calloc((size_t)ntc[i] + 1, 1);
            if (!map[i] || !known[i]) {
                rc = must_err_set(err, MUST_ENOMEM, "out of memory");
                break;
            }
            if (run_class_map(parts[0], truth, kind[i], map[i], known[i])) {
                q[i].status = RUN_Q_CLASSES;
                continue;
            }
        }
        q[i].status = RUN_Q_OK;
        kinds |= MUST_LABEL_BIT(kind[i]);
        heads[nh].spec = spec;
        heads[nh].classes_from = truth;
        slot[i] = nh++;
    }
    if (rc || !nh || (rc = pl_model_new(e, heads, nh, &m, err)))
        goto out;
    for (int i = 0; i < nt && !rc; i++) {
        if (slot[i] < 0)
            continue;
        must_task *t = m.task[slot[i]];
        int nm = must_task_nmetrics(t);
        q[i].nmetrics = nm < RUN_MAX_METRICS ? nm : RUN_MAX_METRICS;
        for (int k = 0; k < q[i].nmetrics; k++) {
            snprintf(q[i].metric_names[k], sizeof q[i].metric_names[k], "%s",
                     must_task_metric_name(t, k));
            q[i].lower_better[k] = must_task_metric_lower_better(t, k);
        }
        rc = must_task_eval_begin(t, &ev[i], err);
    }
    if (rc)
        goto out;
    /* The truth at its own resolution (the fit to its own size is the
     * identity), where the pseudo labels were written too. */
    int W, H;
    must_dataset_size(truth, &W, &H);
    if (W <= 0 || W != H) {
        rc = must_err_set(err, MUST_EINVAL, "%s: scoring pseudo labels needs square images of "
                                            "one declared size, not %dx%d", tdir, W, H);
        goto out;
    }
    must_loader_opts lo;
    pl_loader_eval(e, -1, W, &lo);
    lo.tasks = kinds;
    guess = calloc((size_t)lo.batch, sizeof *guess);
    has = calloc((size_t)lo.batch, sizeof *has);
    if (!guess || !has) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    nguess = lo.batch;
    for (int i = 0; i < nguess; i++)
        must_labels_init(&guess[i]);
    if ((rc = must_loader_new(&truth, 1, &lo, &L, err)))
        goto out;
    /* Supervised labels the set already had were kept, not guessed. */
    unsigned kept = must_dataset_tasks(unl) & kinds;
    const must_batch *b;
    while (!rc && (got = must_loader_next(L, &b, err)) == 1) {
        for (int i = 0; i < b->n && !rc; i++) {
            const char *id = must_dataset_id(truth, b->example[i]);
            int p = 0, j = -1;
            for (; p < nparts && j < 0; p++)
                j = must_dataset_find(parts[p], id);
            if (j < 0) {
                rc = must_err_set(err, MUST_EINVAL, "image '%s' of %s is in no pseudo-labelled "
                                                    "part of %s/label/%s",
                                  id, tdir, r->out, e->data[e->label.data[li]].name);
                break;
            }
            if ((rc = must_dataset_load(parts[p - 1], j, kinds, NULL, &guess[i], err)))
                break;
            has[i] = b->has[i] & guess[i].has;
            int ui = kept ? must_dataset_find(unl, id) : -1;
            if (ui >= 0) {
                must_labels sup;
                must_labels_init(&sup);
                rc = must_dataset_load(unl, ui, kept, NULL, &sup, err);
                has[i] &= ~sup.has;
                must_labels_free(&sup);
            }
            for (int t = 0; t < nt && !rc; t++) {
                if (!ev[t] || !(has[i] & MUST_LABEL_BIT(kind[t])))
                    continue;
                q[t].images++;
                if (map[t]) {
                    rc = run_labels_remap(&guess[i], kind[t], map[t], npc[t], ntc[t], err);
                    vocab(b, i, kind[t], known[t], ntc[t], &vtot[t], &vin[t]);
                }
                if (kind[t] == MUST_LABEL_SEGMENTATION || kind[t] == MUST_LABEL_DEPTH ||
                    kind[t] == MUST_LABEL_NORMAL)
                    cover(b, i, kind[t], &guess[i], &tot[t], &cov[t]);
            }
        }
        must_batch bb = *b;
        bb.has = has;
        for (int t = 0; t < nt && !rc; t++)
            if (ev[t])
                rc = must_task_eval_add_labels(ev[t], guess, &bb, err);
        for (int i = 0; i < b->n; i++)
            must_labels_free(&guess[i]);
    }
    if (!rc && got < 0)
        rc = got;
    for (int t = 0; t < nt && !rc; t++) {
        if (!ev[t])
            continue;
        if (q[t].images == 0) {
            q[t].status = RUN_Q_EMPTY;
            q[t].nmetrics = 0;
            continue;
        }
        q[t].coverage = tot[t] > 0 ? 100.0 * cov[t] / tot[t] : -1;
        q[t].vocab = vtot[t] > 0 ? 100.0 * vin[t] / vtot[t] : -1;
        rc = must_task_eval_end(ev[t], q[t].values, err);
        ev[t] = NULL;
    }
out:
    for (int t = 0; t < nt; t++) {
        if (ev[t])
            must_task_eval_end(ev[t], NULL, NULL);
        free(map[t]);
        free(known[t]);
    }
    for (int i = 0; i < nguess; i++)
        must_labels_free(&guess[i]);
    free(guess);
    free(has);
    must_loader_free(L);
    pl_model_free(&m);
    run_labelled_parts_free(parts, nparts);
    must_dataset_close(truth);
    free(tdir);
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

void run_quality_print(const run_quality *q, int n)
{
    for (int i = 0; i < n; i++) {
        printf("[label %s] %s pseudo labels vs the hidden truth: ", q[i].set, q[i].teacher);
        if (q[i].status != RUN_Q_OK) {
            printf("not scored (%s)\n", run_quality_status_text(q[i].status));
            continue;
        }
        printf("%s %.2f", q[i].metric_names[0], q[i].values[0]);
        if (q[i].coverage >= 0)
            printf(", labelling %.1f%% of the pixels", q[i].coverage);
        if (q[i].vocab >= 0 && q[i].vocab < 100)
            printf("; %.1f%% of the truth is in its classes", q[i].vocab);
        printf(" (%ld images)\n", q[i].images);
    }
    fflush(stdout);
}
