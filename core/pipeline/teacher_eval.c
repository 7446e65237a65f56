/* teacher_eval.c - each teacher's own score on the val split of the set it
 * trained on, for the report (how good were the teachers before they
 * labelled anything?).  Cached in RUN/teachers/NAME/val.txt, which goes
 * with the teacher's unit when it is redone. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/checkpoint.h"
#include "must/io.h"
#include "run-impl.h"

/* "metrics a b", "lower 0 1", "val x y", "images N"; 0 when missing or
 * malformed (then it is computed again). */
static int read_cache(const char *path, run_tscore *s)
{
    char *text = NULL;
    size_t len;
    must_err e = {0};
    if (!must_file_exists(path) || must_file_read(path, &text, &len, &e))
        return 0;
    char *save = NULL, *save2 = NULL, *line = strtok_r(text, "\n", &save);
    int ok = line && strncmp(line, "metrics ", 8) == 0;
    s->nmetrics = 0;
    for (char *tok = ok ? strtok_r(line + 8, " ", &save2) : NULL;
         tok && s->nmetrics < RUN_MAX_METRICS; tok = strtok_r(NULL, " ", &save2))
        snprintf(s->names[s->nmetrics++], sizeof s->names[0], "%s", tok);
    line = ok ? strtok_r(NULL, "\n", &save) : NULL;
    ok = ok && line && strncmp(line, "lower ", 6) == 0;
    for (int k = 0; ok && k < s->nmetrics; k++)
        s->lower[k] = line[6 + 2 * k] == '1';
    line = ok ? strtok_r(NULL, "\n", &save) : NULL;
    ok = ok && line && strncmp(line, "val ", 4) == 0;
    char *p = ok ? line + 4 : NULL;
    for (int k = 0; ok && k < s->nmetrics; k++) {
        char *end;
        s->values[k] = strtod(p, &end);
        ok = end != p;
        p = end;
    }
    line = ok ? strtok_r(NULL, "\n", &save) : NULL;
    ok = ok && line && sscanf(line, "images %ld", &s->images) == 1;
    free(text);
    return ok && s->nmetrics > 0;
}

static int write_cache(const char *path, const run_tscore *s, must_err *err)
{
    char text[4096];
    size_t u = (size_t)snprintf(text, sizeof text, "metrics");
    for (int k = 0; k < s->nmetrics; k++)
        u += (size_t)snprintf(text + u, sizeof text - u, " %s", s->names[k]);
    u += (size_t)snprintf(text + u, sizeof text - u, "\nlower");
    for (int k = 0; k < s->nmetrics; k++)
        u += (size_t)snprintf(text + u, sizeof text - u, " %d", s->lower[k] != 0);
    u += (size_t)snprintf(text + u, sizeof text - u, "\nval");
    for (int k = 0; k < s->nmetrics; k++)
        u += (size_t)snprintf(text + u, sizeof text - u, " %.9g", s->values[k]);
    u += (size_t)snprintf(text + u, sizeof text - u, "\nimages %ld\n", s->images);
    return must_file_write_atomic(path, text, u, err);
}

/* Teacher t's model on its set's val split. */
static int evaluate(run_state *r, int t, run_tscore *s, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_teacher *tc = &e->teachers[t];
    must_dataset *ds;
    pl_model m = {0};
    char *model = run_path(r, "teachers", tc->name, "model.safetensors");
    int rc = model ? run_dataset(r, tc->data, &ds, err)
                   : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc) {
        pl_head h = {&e->tasks[tc->task], ds};
        rc = pl_model_new(e, &h, 1, &m, err);
    }
    if (!rc)
        rc = must_ckpt_load(model, m.sets, m.nsets, NULL, NULL, err);
    const int *idx;
    s->images = rc ? 0 : must_dataset_split(ds, MUST_SPLIT_VAL, &idx);
    if (!rc && s->images > 0) {
        s->nmetrics = must_task_nmetrics(m.task[0]);
        s->nmetrics = s->nmetrics < RUN_MAX_METRICS ? s->nmetrics : RUN_MAX_METRICS;
        for (int k = 0; k < s->nmetrics; k++) {
            snprintf(s->names[k], sizeof s->names[k], "%s", must_task_metric_name(m.task[0], k));
            s->lower[k] = must_task_metric_lower_better(m.task[0], k);
        }
        double v[64];
        if (!(rc = pl_evaluate(e, &m, 0, ds, MUST_SPLIT_VAL, v, err)))
            memcpy(s->values, v, (size_t)s->nmetrics * sizeof *v);
    }
    if (m.bb)
        pl_model_free(&m);
    free(model);
    return rc;
}

int run_teacher_score(run_state *r, int t, run_tscore *s, must_err *err)
{
    const char *name = r->e->teachers[t].name;
    char *cache = run_path(r, "teachers", name, "val.txt");
    int rc = MUST_OK;
    memset(s, 0, sizeof *s);
    if (!cache)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (read_cache(cache, s)) {
        s->done = 1;
    } else if (!(rc = evaluate(r, t, s, err))) {
        s->done = s->nmetrics > 0;
        if (s->done)
            rc = write_cache(cache, s, err);
    }
    if (rc)
        must_err_prefix(err, "teacher %s on its val split", name);
    free(cache);
    return rc;
}

int run_teacher_scores(run_state *r, run_tscore *scores, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
    for (int t = 0; t < e->nteachers && !rc; t++) {
        run_tscore *s = &scores[t];
        memset(s, 0, sizeof *s);
        const char *name = e->teachers[t].name;
        if (!r->need_teacher[t] || !run_done_at(r, r->teacher_hash[t], "teachers", name, NULL))
            continue;
        rc = run_teacher_score(r, t, s, err);
    }
    return rc;
}
