/* curves.c - training curves as pictures: each trained unit's loss.csv
 * (the total and every task's loss on a log scale, the learning rate, the
 * learned loss weights when there are any), and each downstream task's
 * validation metric over the sweep's steps, one line per representation at
 * its chosen learning rate.  Written to RUN/curves/ and shown in
 * report.md. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/draw.h"
#include "must/io.h"
#include "run-impl.h"

#define CURVE_W 560
#define PANEL_H 130
#define MAX_SERIES 24

typedef struct series {
    char name[48];
    double *x, *y;
    int n;
} series;

static const rgb8 ink = {0, 0, 0}, grid = {200, 200, 200}, paper = {255, 255, 255};

/* The finite range of the series (log10 of positive values when logy). */
static int range(const series *s, int ns, int logy, double *lo, double *hi, double *xmax)
{
    int any = 0;
    *xmax = 1;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v) || (logy && !(v > 0)))
                continue;
            v = logy ? log10(v) : v;
            *lo = any && *lo < v ? *lo : v;
            *hi = any && *hi > v ? *hi : v;
            *xmax = s[k].x[i] > *xmax ? s[k].x[i] : *xmax;
            any = 1;
        }
    if (any && *hi - *lo < 1e-9) {
        *hi += 0.5;
        *lo -= 0.5;
    }
    return any;
}

/* One panel at (x0, y0) of the canvas: a title, its legend, a frame, the
 * y range written at its corners, the series as lines. */
static void panel(canvas *c, int y0, const char *title, const series *s, int ns, int logy)
{
    int left = 56, top = y0 + 12 + 10 * ((ns + 3) / 4), w = CURVE_W - left - 10;
    int h = PANEL_H - (top - y0) - 14;
    canvas_text(c, 4, y0, title, ink);
    for (int k = 0; k < ns; k++) {
        int lx = left + (k % 4) * 125, ly = y0 + 10 + 10 * (k / 4);
        canvas_fill(c, lx, ly + 1, lx + 8, ly + 6, draw_class_colour(k));
        canvas_text(c, lx + 11, ly, s[k].name, ink);
    }
    canvas_frame(c, left, top, left + w, top + h, grid, 0);
    double lo = 0, hi = 1, xmax = 1;
    if (!range(s, ns, logy, &lo, &hi, &xmax))
        return;
    char lab[32];
    snprintf(lab, sizeof lab, "%.3g", logy ? pow(10, hi) : hi);
    canvas_text(c, 2, top, lab, ink);
    snprintf(lab, sizeof lab, "%.3g", logy ? pow(10, lo) : lo);
    canvas_text(c, 2, top + h - CANVAS_TEXT_H, lab, ink);
    snprintf(lab, sizeof lab, "%.0f", xmax);
    canvas_text(c, left + w - canvas_text_width(lab), top + h + 3, lab, ink);
    for (int k = 0; k < ns; k++) {
        int px = -1, py = -1;
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v) || (logy && !(v > 0))) {
                px = -1;
                continue;
            }
            v = logy ? log10(v) : v;
            int x = left + (int)lround(s[k].x[i] / xmax * w);
            int y = top + h - (int)lround((v - lo) / (hi - lo) * h);
            if (px >= 0)
                canvas_line(c, px, py, x, y, draw_class_colour(k));
            else
                canvas_put(c, x, y, draw_class_colour(k));
            px = x;
            py = y;
        }
    }
}

/* A CSV of numbers with a header row: columns, their names, rows. */
typedef struct table {
    char names[MAX_SERIES + 3][48];
    int ncols, nrows;
    double *v; /* nrows x ncols */
} table;

static int read_table(const char *path, table *t, must_err *err)
{
    char *text = NULL;
    size_t len;
    memset(t, 0, sizeof *t);
    int rc = must_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    char *line = text, *nl = strchr(line, '\n');
    for (char *f = line; f && f < (nl ? nl : line + len) && t->ncols < MAX_SERIES + 3;) {
        char *comma = strchr(f, ',');
        size_t n = (size_t)((comma && (!nl || comma < nl) ? comma : nl ? nl : line + len) - f);
        snprintf(t->names[t->ncols++], sizeof t->names[0], "%.*s", (int)n, f);
        f = comma && (!nl || comma < nl) ? comma + 1 : NULL;
    }
    long rows = 0;
    for (char *p = nl; p; p = strchr(p + 1, '\n'))
        rows++;
    t->v = calloc((size_t)(rows + 1) * (size_t)t->ncols, sizeof *t->v);
    if (!t->v) {
        free(text);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (char *p = nl ? nl + 1 : NULL; p && *p; t->nrows++) {
        for (int k = 0; k < t->ncols; k++) {
            char *end;
            t->v[t->nrows * t->ncols + k] = strtod(p, &end);
            p = *end == ',' ? end + 1 : end;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    free(text);
    return MUST_OK;
}

/* Column k of the table as a series over column 0 (the step). */
static void column(const table *t, int k, series *s, double *xs, double *ys)
{
    snprintf(s->name, sizeof s->name, "%s", t->names[k]);
    s->x = xs;
    s->y = ys;
    s->n = t->nrows;
    for (int i = 0; i < t->nrows; i++) {
        xs[i] = t->v[i * t->ncols];
        ys[i] = t->v[i * t->ncols + k];
    }
}

/* RUN/<unit>/loss.csv drawn into png: losses, learning rate, weights. */
static int draw_losses(const char *csv, const char *png, const char *title, must_err *err)
{
    table t;
    int rc = read_table(csv, &t, err);
    if (rc)
        return rc;
    series loss[MAX_SERIES], lr, wts[MAX_SERIES];
    int nl = 0, nw = 0, n = t.nrows > 0 ? t.nrows : 1;
    double *buf = calloc((size_t)(2 * t.ncols + 2) * (size_t)n, sizeof *buf);
    canvas c = {0};
    if (!buf) {
        free(t.v);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int k = 1; k < t.ncols; k++) {
        double *xs = buf + (size_t)(2 * k) * n, *ys = xs + n;
        if (k == 1)
            column(&t, k, &lr, xs, ys);
        else if (strncmp(t.names[k], "weight_", 7) == 0)
            column(&t, k, &wts[nw++], xs, ys);
        else
            column(&t, k, &loss[nl++], xs, ys);
    }
    int panels = 2 + (nw > 0);
    if (!(rc = canvas_new(&c, CURVE_W, 16 + panels * PANEL_H, paper, err))) {
        canvas_text(&c, 4, 3, title, ink);
        panel(&c, 16, "loss (log scale), the total weighted", loss, nl, 1);
        panel(&c, 16 + PANEL_H, "learning rate", &lr, 1, 0);
        if (nw)
            panel(&c, 16 + 2 * PANEL_H, "learned loss weights", wts, nw, 0);
        rc = canvas_write_png(&c, png, err);
    }
    canvas_free(&c);
    free(buf);
    free(t.v);
    return rc;
}

/* Records a curve written to RUN/curves/file. */
static void add_curve(run_curves *out, const char *file, const char *title)
{
    if (out->n >= RUN_MAX_CURVES)
        return;
    snprintf(out->file[out->n], sizeof out->file[0], "%s", file);
    snprintf(out->title[out->n], sizeof out->title[0], "%s", title);
    out->n++;
}

/* The loss curve of the unit in RUN/dir, when it trained. */
static int unit_curve(run_state *r, const char *dir, const char *name, const char *title,
                      run_curves *out, must_err *err)
{
    char *csv = run_path(r, dir, "loss.csv", NULL);
    char file[96];
    snprintf(file, sizeof file, "%s.png", name);
    char *png = run_path(r, "curves", file, NULL);
    int rc = csv && png ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc && must_file_exists(csv) && !(rc = draw_losses(csv, png, title, err)))
        add_curve(out, file, title);
    free(csv);
    free(png);
    return rc;
}

/* Transfer ti: each representation's validation headline over the sweep's
 * steps, at the learning rate it chose. */
static int transfer_curve(run_state *r, int ti, const run_result *res, run_curves *out,
                          must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_transfer *tr = &e->transfers[ti];
    int nr = e->nreps < MAX_SERIES ? e->nreps : MAX_SERIES, rc = MUST_OK;
    series s[MAX_SERIES];
    double *buf = calloc((size_t)(2 * nr * tr->nsteps) + 1, sizeof *buf);
    if (!buf)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int ri = 0; ri < nr; ri++) {
        const run_result *x = &res[ri * e->ntransfers + ti];
        char repdir[160], lrd[64];
        run_rep_dirname(&e->reps[ri], repdir, sizeof repdir);
        int li = 0;
        while (li < tr->nlr - 1 && tr->lrs[li] != x->lr)
            li++;
        run_lr_dirname(tr, li, lrd, sizeof lrd);
        char *dir = run_path(r, "transfer", repdir, tr->name), *ldir = NULL;
        ldir = dir ? must_path_join(dir, lrd) : NULL;
        snprintf(s[ri].name, sizeof s[ri].name, "%s", e->reps[ri].label);
        s[ri].x = buf + (size_t)(2 * ri) * tr->nsteps;
        s[ri].y = s[ri].x + tr->nsteps;
        s[ri].n = 0;
        for (int si = 0; ldir && si < tr->nsteps; si++) {
            double val[RUN_MAX_METRICS], test[RUN_MAX_METRICS];
            if (run_read_eval(ldir, tr->steps[si], 1, val, test))
                continue;
            s[ri].x[s[ri].n] = (double)tr->steps[si];
            s[ri].y[s[ri].n++] = val[0];
        }
        free(ldir);
        free(dir);
    }
    char file[96], title[160], head[120];
    snprintf(file, sizeof file, "transfer-%s.png", tr->name);
    snprintf(title, sizeof title, "%s: val %s over the sweep's steps, at each row's chosen lr",
             tr->name, res[ti].metric);
    snprintf(head, sizeof head, "val %s", res[ti].metric);
    char *png = run_path(r, "curves", file, NULL);
    canvas c = {0};
    if (!png)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    else if (!(rc = canvas_new(&c, CURVE_W, 16 + PANEL_H + 10 * (nr / 4), paper, err))) {
        canvas_text(&c, 4, 3, title, ink);
        panel(&c, 16, head, s, nr, 0);
        if (!(rc = canvas_write_png(&c, png, err)))
            add_curve(out, file, title);
    }
    canvas_free(&c);
    free(png);
    free(buf);
    return rc;
}

int run_draw_curves(run_state *r, const run_result *res, run_curves *out, must_err *err)
{
    const must_experiment *e = r->e;
    memset(out, 0, sizeof *out);
    char *dir = run_path(r, "curves", NULL, NULL);
    int rc = dir ? must_mkdir_p(dir, err) : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(dir);
    for (int t = 0; t < e->nteachers && !rc; t++) {
        char unit[MUST_EXP_NAME_MAX + 16], title[200];
        snprintf(unit, sizeof unit, "teachers/%s", e->teachers[t].name);
        snprintf(title, sizeof title, "teacher %s: training loss", e->teachers[t].name);
        char name[MUST_EXP_NAME_MAX + 16];
        snprintf(name, sizeof name, "teacher-%s", e->teachers[t].name);
        rc = unit_curve(r, unit, name, title, out, err);
    }
    for (int i = 0; i < run_nmulti(e) && !rc; i++) {
        const must_exp_student *st = run_multi_at(e, i);
        char nm[MUST_EXP_NAME_MAX + 16], title[200];
        run_multi_dirname(e, st, nm, sizeof nm);
        snprintf(title, sizeof title, "%s: training loss", nm);
        rc = unit_curve(r, nm, nm, title, out, err);
    }
    for (int ti = 0; ti < e->ntransfers && !rc; ti++)
        rc = transfer_curve(r, ti, res, out, err);
    return rc;
}
