/* figures.c - the paper's Figures 2, 4 and 5, drawn by the project: pseudo
 * labels on unlabelled images, and the student's predictions on held-out
 * ones, each beside the world's hidden truth when the set has one; and the
 * relative transfer gains as bars.  Every label and prediction is drawn by
 * its task plugin's visualizer (the `draw` callback), on a tile of the
 * label's or batch's own size, and the tiles are enlarged onto one sheet. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/draw.h"
#include "must/augment.h"
#include "must/checkpoint.h"
#include "must/io.h"
#include "pipeline-impl.h"
#include "run-impl.h"

#define FIG_ROWS 4
#define FIG_TILE 96
#define FIG_PAD 4
#define FIG_HEAD 32

typedef struct sheet {
    canvas c;
    int cols, rows;
} sheet;

static int tile_x(int col)
{
    return FIG_PAD + col * (FIG_TILE + FIG_PAD);
}

static int tile_y(int row)
{
    return FIG_HEAD + row * (FIG_TILE + FIG_PAD);
}

static int sheet_new(sheet *s, int cols, int rows, const char *title, must_err *err)
{
    s->cols = cols;
    s->rows = rows;
    int w = tile_x(cols), h = tile_y(rows);
    int tw = canvas_text_width(title) + 2 * FIG_PAD;
    int rc = canvas_new(&s->c, w > tw ? w : tw, h, (rgb8){32, 32, 32}, err);
    if (!rc)
        canvas_text(&s->c, FIG_PAD, 5, title, (rgb8){255, 255, 255});
    return rc;
}

/* A column title, cut to the tile's width. */
static void sheet_title(sheet *s, int col, const char *a, const char *b)
{
    char t[160];
    snprintf(t, sizeof t, "%.72s%s%.72s", a, b ? " " : "", b ? b : "");
    t[FIG_TILE / 6] = '\0';
    canvas_text(&s->c, tile_x(col), FIG_HEAD - CANVAS_TEXT_H - 5, t, (rgb8){200, 200, 200});
}

/* Nearest-neighbour enlargement of an 8-bit RGB image into a tile. */
static void sheet_blit(sheet *s, int col, int row, const must_image *img)
{
    const uint8_t *px = img->pixels;
    for (int y = 0; y < FIG_TILE; y++)
        for (int x = 0; x < FIG_TILE; x++) {
            const uint8_t *p =
                px + 3 * ((size_t)(y * img->height / FIG_TILE) * img->width +
                          (size_t)(x * img->width / FIG_TILE));
            canvas_put(&s->c, tile_x(col) + x, tile_y(row) + y, (rgb8){p[0], p[1], p[2]});
        }
}

static void sheet_caption(sheet *s, int col, int row, const char *text)
{
    char t[64];
    snprintf(t, sizeof t, "%s", text);
    t[FIG_TILE / 6 - 1] = '\0';
    int x = tile_x(col), y = tile_y(row) + FIG_TILE - CANVAS_TEXT_H - 2;
    canvas_fill(&s->c, x, y - 1, x + canvas_text_width(t) + 2, y + CANVAS_TEXT_H + 1,
                (rgb8){0, 0, 0});
    canvas_text(&s->c, x + 1, y, t, (rgb8){255, 255, 255});
}

/* (3, H, W) in [0, 1] -> 8-bit RGB. */
static int image_from_map(const must_map *m, must_image *out, must_err *err)
{
    int rc = must_image_alloc(out, m->width, m->height, 3, 8, err);
    if (rc)
        return rc;
    size_t hw = (size_t)m->width * m->height;
    uint8_t *px = out->pixels;
    for (size_t q = 0; q < hw; q++)
        for (int c = 0; c < 3; c++) {
            float v = m->data[c * hw + q];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            px[3 * q + c] = (uint8_t)(v * 255.0f + 0.5f);
        }
    return MUST_OK;
}

/* Example i of a batch, undoing the normalisation. */
static int image_from_batch(const must_batch *b, int i, must_image *out, must_err *err)
{
    static const float mean[3] = {MUST_IMAGE_MEAN_R, MUST_IMAGE_MEAN_G, MUST_IMAGE_MEAN_B};
    static const float sd[3] = {MUST_IMAGE_STD_R, MUST_IMAGE_STD_G, MUST_IMAGE_STD_B};
    int S = b->size;
    int rc = must_image_alloc(out, S, S, 3, 8, err);
    if (rc)
        return rc;
    size_t hw = (size_t)S * S;
    const float *x = b->images + (size_t)i * 3 * hw;
    uint8_t *px = out->pixels;
    for (size_t q = 0; q < hw; q++)
        for (int c = 0; c < 3; c++) {
            float v = x[c * hw + q] * sd[c] + mean[c];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            px[3 * q + c] = (uint8_t)(v * 255.0f + 0.5f);
        }
    return MUST_OK;
}

/* Draws a label (pred NULL) or example i's prediction over a copy of base
 * into tile (col, row). */
/* A classification tile's class name as its caption: the visualiser only
 * paints the class's colour, which a reader cannot decode.  The label's
 * class (the likeliest of a soft one), or the prediction's. */
static int class_caption(sheet *s, int col, int row, const pl_model *m, int head,
                         const must_labels *label, void *pred, const must_batch *b, int i,
                         must_err *err)
{
    must_task *t = m->task[head];
    if (must_task_get_ops(t)->label_kind != MUST_LABEL_CLASSIFICATION)
        return MUST_OK;
    must_labels tmp;
    must_labels_init(&tmp);
    int rc = MUST_OK;
    if (!label && pred) {
        rc = must_task_pseudo_label(t, pred, b, i, &tmp, err);
        label = &tmp;
    }
    if (label && !(label->has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)))
        label = NULL;
    int c = label ? label->cls : -1;
    for (int k = 0; label && label->soft && k < label->nsoft; k++)
        if (c < 0 || label->soft[k] > label->soft[c])
            c = k;
    const pl_head_desc *d = &m->desc[head];
    if (!rc && label)
        sheet_caption(s, col, row, c >= 0 && c < d->nclasses ? d->classes[c] : "?");
    must_labels_free(&tmp);
    return rc;
}

static int draw_tile(sheet *s, int col, int row, const must_image *base, const pl_model *m,
                     int head, const must_labels *label, void *pred, const must_batch *b, int i,
                     must_err *err)
{
    must_task *t = m->task[head];
    must_image img = {0};
    int rc = must_image_alloc(&img, base->width, base->height, 3, 8, err);
    if (rc)
        return rc;
    memcpy(img.pixels, base->pixels, must_image_bytes(base));
    if (!must_task_get_ops(t)->draw) {
        sheet_blit(s, col, row, &img);
        sheet_caption(s, col, row, "no visualizer");
    } else if (!(rc = must_task_draw(t, &img, label, pred, b, i, err)))
        sheet_blit(s, col, row, &img);
    must_image_free(&img);
    return rc ? rc : class_caption(s, col, row, m, head, label, pred, b, i, err);
}

/* ------------------------------------------------------------------------ */
/* Figure 2: pseudo labels on unlabelled images. */

int run_fig2(run_state *r, const char *path, int *made, must_err *err)
{
    const must_experiment *e = r->e;
    int nt = e->label.nteachers, rc, nparts = 0;
    *made = 0;
    if (e->label.ndata == 0 || nt == 0 || nt > PL_MAX_TASKS || !r->need_label[0])
        return MUST_OK;
    must_dataset *unl, *truth = NULL, **parts = NULL;
    if ((rc = run_dataset(r, e->label.data[0], &unl, err)) ||
        (rc = run_labelled_parts(r, 0, &parts, &nparts, err)))
        return rc;
    char *tdir = run_truth_dir(unl);
    pl_model m = {0};
    sheet sh = {0};
    int *map[PL_MAX_TASKS] = {0}, kind[PL_MAX_TASKS], nfrom[PL_MAX_TASKS] = {0};
    must_map im = {0};
    must_labels lab, tl;
    must_labels_init(&lab);
    must_labels_init(&tl);
    must_image base = {0};
    if (tdir && (rc = must_dataset_open(tdir, &truth, err)))
        goto out;
    /* Heads only for their visualizers; built for the truth's classes when
     * there is a truth, so that a class has one colour in both columns. */
    pl_head heads[PL_MAX_TASKS];
    for (int i = 0; i < nt; i++) {
        heads[i].spec = &e->tasks[e->teachers[e->label.teachers[i]].task];
        heads[i].classes_from = parts[0];
    }
    if ((rc = pl_model_new(e, heads, nt, &m, err)))
        goto out;
    unsigned kinds = 0;
    int usable_truth = truth != NULL;
    for (int i = 0; i < nt; i++) {
        kind[i] = must_task_get_ops(m.task[i])->label_kind;
        kinds |= MUST_LABEL_BIT(kind[i]);
        if (truth && !(must_dataset_tasks(truth) & MUST_LABEL_BIT(kind[i])))
            usable_truth = 0;
    }
    if (usable_truth) {
        for (int i = 0; i < nt && !rc; i++) {
            heads[i].classes_from = truth;
            if (!run_kind_has_classes(kind[i]))
                continue;
            nfrom[i] = must_dataset_nclasses(parts[0], kind[i]);
            if (!(map[i] = calloc((size_t)nfrom[i] + 1, sizeof *map[i])))
                rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            else if (run_class_map(parts[0], truth, kind[i], map[i], NULL))
                usable_truth = 0; /* a teacher class the truth lacks: draw without it */
        }
        pl_model_free(&m);
        if (!usable_truth)
            for (int i = 0; i < nt; i++) {
                heads[i].classes_from = parts[0];
                free(map[i]);
                map[i] = NULL;
            }
        if (rc || (rc = pl_model_new(e, heads, nt, &m, err)))
            goto out;
    }
    int N = must_dataset_count(unl), rows = N < FIG_ROWS ? N : FIG_ROWS;
    int per = usable_truth ? 2 : 1;
    char title[256];
    snprintf(title, sizeof title, "Pseudo labels on %s%s", e->data[e->label.data[0]].name,
             usable_truth ? ", each beside the hidden truth" : "");
    if (rows == 0 || (rc = sheet_new(&sh, 1 + nt * per, rows, title, err)))
        goto out;
    sheet_title(&sh, 0, "image", NULL);
    for (int i = 0; i < nt; i++) {
        sheet_title(&sh, 1 + i * per, e->teachers[e->label.teachers[i]].name, "pseudo");
        if (usable_truth)
            sheet_title(&sh, 2 + i * per, "truth", NULL);
    }
    for (int row = 0; row < rows && !rc; row++) {
        /* Spread over the set, whose images come from every domain. */
        const char *id = must_dataset_id(unl, (int)((long)row * N / rows));
        int p = 0, j = -1;
        for (; p < nparts && j < 0; p++)
            j = must_dataset_find(parts[p], id);
        if (j < 0) {
            rc = must_err_set(err, MUST_EINVAL, "figure 2: image '%s' is in no pseudo-labelled "
                                                "part", id);
            break;
        }
        if ((rc = must_dataset_load(parts[p - 1], j, kinds, &im, &lab, err)) ||
            (rc = image_from_map(&im, &base, err)))
            break;
        int ti = truth ? must_dataset_find(truth, id) : -1;
        if (usable_truth && ti >= 0)
            rc = must_dataset_load(truth, ti, kinds, NULL, &tl, err);
        for (int i = 0; i < nt && !rc; i++)
            if (map[i])
                rc = run_labels_remap(&lab, kind[i], map[i], nfrom[i],
                                      must_dataset_nclasses(truth, kind[i]), err);
        sheet_blit(&sh, 0, row, &base);
        sheet_caption(&sh, 0, row, id);
        for (int i = 0; i < nt && !rc; i++) {
            rc = draw_tile(&sh, 1 + i * per, row, &base, &m, i, &lab, NULL, NULL, 0, err);
            if (!rc && usable_truth && ti >= 0)
                rc = draw_tile(&sh, 2 + i * per, row, &base, &m, i, &tl, NULL, NULL, 0, err);
        }
        must_image_free(&base);
        must_map_free(&im);
        must_labels_free(&lab);
        must_labels_free(&tl);
    }
    if (!rc && (rc = canvas_write_png(&sh.c, path, err)) == MUST_OK)
        *made = 1;
out:
    if (rc)
        must_err_prefix(err, "figure 2 (%s)", path);
    canvas_free(&sh.c);
    must_image_free(&base);
    must_map_free(&im);
    must_labels_free(&lab);
    must_labels_free(&tl);
    for (int i = 0; i < nt; i++)
        free(map[i]);
    pl_model_free(&m);
    must_dataset_close(truth);
    free(tdir);
    run_labelled_parts_free(parts, nparts);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Figure 4: the student's predictions on held-out images. */

int run_fig4(run_state *r, const char *path, int *made, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_student *s = &e->student;
    int ns = s->nteachers, rc = MUST_OK;
    *made = 0;
    char *model = run_path(r, "student", "model.safetensors", NULL);
    if (!model)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (ns == 0 || ns > PL_MAX_TASKS || e->label.ndata == 0 || !must_file_exists(model)) {
        free(model);
        return MUST_OK;
    }
    must_dataset *unl, *truth = NULL, *ds;
    char *tdir = NULL;
    pl_model m = {0};
    sheet sh = {0};
    must_loader *L = NULL;
    must_ctx *ctx = NULL;
    const must_dataset *tsets[PL_MAX_TASKS];
    int *map[PL_MAX_TASKS] = {0}, kind[PL_MAX_TASKS];
    must_map im = {0};
    must_labels tl;
    must_labels_init(&tl);
    must_image base = {0}, native = {0};
    if ((rc = run_dataset(r, e->label.data[0], &unl, err)))
        goto out;
    tdir = run_truth_dir(unl);
    if (tdir && (rc = must_dataset_open(tdir, &truth, err)))
        goto out;
    ds = truth ? truth : unl;
    pl_head heads[PL_MAX_TASKS];
    for (int i = 0; i < ns && !rc; i++) {
        const must_exp_teacher *t = &e->teachers[s->teachers[i]];
        must_dataset *tds;
        rc = run_dataset(r, t->data, &tds, err);
        tsets[i] = tds;
        heads[i].spec = &e->tasks[t->task];
        heads[i].classes_from = tds;
    }
    must_ckpt_load_opts lo = {0};
    if (rc || (rc = pl_model_new(e, heads, ns, &m, err)) ||
        (rc = must_ckpt_load(model, m.sets, m.nsets, &lo, NULL, err)))
        goto out;
    unsigned kinds = 0;
    for (int i = 0; i < ns && !rc; i++) {
        kind[i] = must_task_get_ops(m.task[i])->label_kind;
        kinds |= MUST_LABEL_BIT(kind[i]);
        /* The truth in the student's classes, so that colours agree (a
         * class the student never learnt is left unlabelled). */
        if (truth && run_kind_has_classes(kind[i])) {
            int nf = must_dataset_nclasses(truth, kind[i]);
            if (!(map[i] = calloc((size_t)nf + 1, sizeof *map[i])))
                rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            else
                run_class_map(truth, tsets[i], kind[i], map[i], NULL);
        }
    }
    int usable_truth = truth && (must_dataset_tasks(truth) & kinds) == kinds;
    /* Held out: the student trains on the pseudo-labelled train split. */
    const int *idx;
    int ntest = must_dataset_split(ds, MUST_SPLIT_TEST, &idx);
    int rows = ntest < FIG_ROWS ? ntest : FIG_ROWS, per = usable_truth ? 2 : 1;
    if (rc || rows == 0)
        goto out;
    must_loader_opts o;
    pl_loader_eval(e, MUST_SPLIT_TEST, e->image_size, &o);
    o.batch = rows;
    o.tasks = 0;
    if (!(ctx = must_ctx_new(e->threads))) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    const must_batch *b;
    if ((rc = must_loader_new(&ds, 1, &o, &L, err)))
        goto out;
    if ((rc = must_loader_next(L, &b, err)) != 1) {
        rc = rc ? rc : must_err_set(err, MUST_EINVAL, "no test image");
        goto out;
    }
    void *preds[PL_MAX_TASKS];
    if ((rc = pl_model_forward(&m, ctx, b, preds))) {
        rc = must_err_set(err, rc, "%s", must_ctx_error(ctx)->msg);
        goto out;
    }
    char title[256];
    snprintf(title, sizeof title, "MuST student on held-out %s test images%s",
             e->data[e->label.data[0]].name, usable_truth ? ", each beside the hidden truth" : "");
    if ((rc = sheet_new(&sh, 1 + ns * per, b->n, title, err)))
        goto out;
    sheet_title(&sh, 0, "image", NULL);
    for (int i = 0; i < ns; i++) {
        sheet_title(&sh, 1 + i * per, must_task_name(m.task[i]), NULL);
        if (usable_truth)
            sheet_title(&sh, 2 + i * per, "truth", NULL);
    }
    for (int row = 0; row < b->n && !rc; row++) {
        int ex = b->example[row];
        if ((rc = image_from_batch(b, row, &base, err)))
            break;
        sheet_blit(&sh, 0, row, &base);
        sheet_caption(&sh, 0, row, must_dataset_id(ds, ex));
        if (usable_truth && !(rc = must_dataset_load(truth, ex, kinds, &im, &tl, err)))
            rc = image_from_map(&im, &native, err);
        for (int i = 0; i < ns && !rc; i++)
            if (usable_truth && map[i])
                rc = run_labels_remap(&tl, kind[i], map[i], must_dataset_nclasses(truth, kind[i]),
                                      must_dataset_nclasses(tsets[i], kind[i]), err);
        for (int i = 0; i < ns && !rc; i++) {
            rc = draw_tile(&sh, 1 + i * per, row, &base, &m, i, NULL, preds[i], b, row, err);
            if (!rc && usable_truth)
                rc = draw_tile(&sh, 2 + i * per, row, &native, &m, i, &tl, NULL, NULL, 0,
                               err);
        }
        must_image_free(&base);
        must_image_free(&native);
        must_map_free(&im);
        must_labels_free(&tl);
    }
    if (!rc && (rc = canvas_write_png(&sh.c, path, err)) == MUST_OK)
        *made = 1;
out:
    if (rc)
        must_err_prefix(err, "figure 4 (%s)", path);
    canvas_free(&sh.c);
    must_image_free(&base);
    must_image_free(&native);
    must_map_free(&im);
    must_labels_free(&tl);
    for (int i = 0; i < ns; i++)
        free(map[i]);
    must_loader_free(L);
    must_ctx_free(ctx);
    pl_model_free(&m);
    must_dataset_close(truth);
    free(tdir);
    free(model);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Figure 5: relative transfer gains over the baseline. */

double run_gain(const run_result *x, const run_result *base)
{
    if (fabs(base->test) < 1e-12)
        return 0;
    double g = (x->test - base->test) / fabs(base->test) * 100.0;
    return x->lower_better ? -g : g;
}

int run_fig5(const must_experiment *e, const run_result *res, const char *path, must_err *err)
{
    int nr = e->nreps, nt = e->ntransfers, bw = 10, gap = 14;
    /* Sized to its names: every task's name under its group, every
     * representation's in the legend. */
    int longest_task = 0, longest_rep = 0;
    for (int ti = 0; ti < nt; ti++) {
        int w = canvas_text_width(e->transfers[ti].name);
        longest_task = w > longest_task ? w : longest_task;
    }
    for (int ri = 0; ri < nr; ri++) {
        int w = canvas_text_width(e->reps[ri].label);
        longest_rep = w > longest_rep ? w : longest_rep;
    }
    int groupw = (nr - 1) * bw + gap, left = 40, top = 24, ph = 160;
    if (groupw < longest_task + 8)
        groupw = longest_task + 8;
    int W = left + nt * groupw + 20, Hh = top + ph + 40 + 12 * nr;
    if (W < 16 + longest_rep + 8)
        W = 16 + longest_rep + 8;
    if (W < canvas_text_width("relative gain vs baseline, percent") + 8)
        W = canvas_text_width("relative gain vs baseline, percent") + 8;
    canvas c;
    rgb8 white = {255, 255, 255}, black = {0, 0, 0}, grey = {170, 170, 170};
    int rc = canvas_new(&c, W, Hh, white, err);
    if (rc)
        return rc;
    double maxabs = 1;
    for (int ri = 0; ri < nr; ri++)
        for (int ti = 0; ti < nt; ti++)
            if (ri != e->baseline) {
                double g = fabs(run_gain(&res[ri * nt + ti], &res[e->baseline * nt + ti]));
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
            double g = run_gain(&res[ri * nt + ti], &res[e->baseline * nt + ti]);
            int hpx = (int)lround(g / maxabs * (ph / 2));
            rgb8 col = draw_class_colour(ri);
            if (hpx >= 0)
                canvas_fill(&c, x + k * bw, zero - hpx, x + k * bw + bw - 2, zero, col);
            else
                canvas_fill(&c, x + k * bw, zero + 1, x + k * bw + bw - 2, zero + 1 - hpx, col);
            k++;
        }
        canvas_text(&c, x, top + ph + 6, e->transfers[ti].name, black);
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
