/* sheet.c - a contact sheet of a dataset: one row per image, the image
 * with its boxes and class name, then each map label (segmentation over
 * the image, depth as a colour ramp, normals as RGB); `must dataset show`
 * draws it. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "draw.h"
#include "must/dataset.h"

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

static rgb8 px_of(const must_map *im, int x, int y)
{
    size_t n = (size_t)im->width * im->height, i = (size_t)y * im->width + x;
    rgb8 c;
    c.r = (uint8_t)lrintf(clamp01(im->data[i]) * 255.0f);
    c.g = (uint8_t)lrintf(clamp01(im->data[n + i]) * 255.0f);
    c.b = (uint8_t)lrintf(clamp01(im->data[2 * n + i]) * 255.0f);
    return c;
}

/* Depth colours: near (t = 0) red, through green, far (t = 1) blue. */
static rgb8 ramp(float t)
{
    t = clamp01(t);
    rgb8 c = {(uint8_t)(255.0f * clamp01(1.5f - 3.0f * t)),
              (uint8_t)(255.0f * clamp01(1.5f - fabsf(3.0f * t - 1.5f))),
              (uint8_t)(255.0f * clamp01(3.0f * t - 1.5f))};
    return c;
}

typedef struct tile {
    int x, y, size;   /* where on the sheet */
    float f;          /* tile pixels per image pixel */
    int ox, oy;       /* the image's offset inside the tile */
    int w, h;         /* image size */
} tile;

/* Source pixel under tile pixel (tx, ty), or 0 when in the margin. */
static int src_of(const tile *t, int tx, int ty, int *x, int *y)
{
    *x = (int)floorf(((float)tx - (float)t->ox + 0.5f) / t->f);
    *y = (int)floorf(((float)ty - (float)t->oy + 0.5f) / t->f);
    return tx >= t->ox && ty >= t->oy && *x >= 0 && *y >= 0 && *x < t->w && *y < t->h;
}

static void draw_image_tile(canvas *c, const tile *t, const must_map *im,
                            const must_dataset *ds, const must_labels *l)
{
    for (int ty = 0; ty < t->size; ty++)
        for (int tx = 0; tx < t->size; tx++) {
            int x, y;
            if (src_of(t, tx, ty, &x, &y))
                canvas_put(c, t->x + tx, t->y + ty, px_of(im, x, y));
        }
    if (!(l->has & MUST_LABEL_BIT(MUST_LABEL_DETECTION)))
        return;
    for (int i = 0; i < l->boxes.n; i++) {
        const must_box *b = &l->boxes.v[i];
        rgb8 col = draw_class_colour(b->cls);
        int x0 = t->x + t->ox + (int)lrintf(b->x0 * t->f), y0 = t->y + t->oy + (int)lrintf(b->y0 * t->f);
        int x1 = t->x + t->ox + (int)lrintf(b->x1 * t->f) - 1, y1 = t->y + t->oy + (int)lrintf(b->y1 * t->f) - 1;
        canvas_frame(c, x0, y0, x1, y1, col, b->difficult);
        char text[96];
        const char *name = must_dataset_class_name(ds, MUST_LABEL_DETECTION, b->cls);
        if (b->score < 1.0f)
            snprintf(text, sizeof text, "%s %.2f", name ? name : "?", (double)b->score);
        else
            snprintf(text, sizeof text, "%s", name ? name : "?");
        int ty = y0 - CANVAS_TEXT_H - 1 >= t->y ? y0 - CANVAS_TEXT_H - 1 : y0 + 2;
        int w = canvas_text_width(text);
        canvas_fill(c, x0, ty - 1, x0 + w + 2, ty + CANVAS_TEXT_H + 1, (rgb8){0, 0, 0});
        canvas_text(c, x0 + 1, ty, text, col);
    }
}

static void draw_map_tile(canvas *c, const tile *t, int kind, const must_map *m,
                          const must_map *im)
{
    float lo = 0.0f, hi = 0.0f;
    size_t n = (size_t)m->width * m->height;
    if (kind == MUST_LABEL_DEPTH) {
        int any = 0;
        for (size_t i = 0; i < n; i++)
            if (m->data[i] > 0.0f) {
                lo = any ? fminf(lo, m->data[i]) : m->data[i];
                hi = any ? fmaxf(hi, m->data[i]) : m->data[i];
                any = 1;
            }
    }
    for (int ty = 0; ty < t->size; ty++)
        for (int tx = 0; tx < t->size; tx++) {
            int x, y;
            if (!src_of(t, tx, ty, &x, &y))
                continue;
            size_t i = (size_t)y * m->width + x;
            rgb8 col = {0, 0, 0};
            if (kind == MUST_LABEL_SEGMENTATION) {
                int v = (int)m->data[i];
                rgb8 p = px_of(im, x, y);
                rgb8 k = v == MUST_SEG_IGNORE ? (rgb8){255, 255, 255} : draw_class_colour(v);
                col.r = (uint8_t)((2 * k.r + p.r) / 3);
                col.g = (uint8_t)((2 * k.g + p.g) / 3);
                col.b = (uint8_t)((2 * k.b + p.b) / 3);
            } else if (kind == MUST_LABEL_DEPTH) {
                if (m->data[i] > 0.0f)
                    col = ramp(hi > lo ? (m->data[i] - lo) / (hi - lo) : 0.5f);
            } else {
                float nx = m->data[i], ny = m->data[n + i], nz = m->data[2 * n + i];
                if (nx != 0.0f || ny != 0.0f || nz != 0.0f) {
                    col.r = (uint8_t)lrintf((nx + 1.0f) * 127.5f);
                    col.g = (uint8_t)lrintf((ny + 1.0f) * 127.5f);
                    col.b = (uint8_t)lrintf((nz + 1.0f) * 127.5f);
                }
            }
            canvas_put(c, t->x + tx, t->y + ty, col);
        }
    if (kind == MUST_LABEL_DEPTH && hi > 0.0f) {
        char text[64];
        snprintf(text, sizeof text, "%.2f-%.2fM", (double)lo, (double)hi);
        canvas_fill(c, t->x, t->y + t->size - CANVAS_TEXT_H - 2, t->x + canvas_text_width(text) + 2,
                    t->y + t->size, (rgb8){0, 0, 0});
        canvas_text(c, t->x + 1, t->y + t->size - CANVAS_TEXT_H - 1, text, (rgb8){255, 255, 255});
    }
}

/* The row's caption: the image id and its class (the most likely one of a
 * soft label, with its probability). */
static void caption(const must_dataset *ds, int index, const must_labels *l, char *text,
                    size_t len)
{
    int k = must_dataset_nclasses(ds, MUST_LABEL_CLASSIFICATION);
    const char *id = must_dataset_id(ds, index);
    if ((l->has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) && l->soft) {
        int best = 0;
        for (int j = 1; j < k; j++)
            if (l->soft[j] > l->soft[best])
                best = j;
        snprintf(text, len, "%s  %s %.2f (soft)", id,
                 must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, best),
                 (double)l->soft[best]);
    } else if (l->has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        snprintf(text, len, "%s  %s", id,
                 must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, l->cls));
    } else {
        snprintf(text, len, "%s", id);
    }
}

typedef struct sheet {
    canvas c;
    int pad, strip, head, size;
    int kinds[4], ncols; /* column 0: the image; then the map kinds present */
} sheet;

/* One row: the caption, the image tile, a tile per map kind. */
static int draw_row(sheet *s, const must_dataset *ds, int index, int row, must_err *err)
{
    must_map im = {0};
    must_labels l;
    must_labels_init(&l);
    int rc = must_dataset_load((must_dataset *)ds, index, MUST_LABEL_ALL, &im, &l, err);
    if (rc)
        return rc;
    int y = s->head + row * (s->strip + s->size + s->pad);
    char text[256];
    caption(ds, index, &l, text, sizeof text);
    canvas_text(&s->c, s->pad, y + 2, text, (rgb8){255, 255, 255});
    tile t = {.y = y + s->strip, .size = s->size, .w = im.width, .h = im.height};
    t.f = (float)s->size / (float)(im.width > im.height ? im.width : im.height);
    t.ox = (s->size - (int)lrintf((float)im.width * t.f)) / 2;
    t.oy = (s->size - (int)lrintf((float)im.height * t.f)) / 2;
    for (int col = 0; col < s->ncols; col++) {
        int kind = s->kinds[col];
        t.x = s->pad + col * (s->size + s->pad);
        canvas_fill(&s->c, t.x, t.y, t.x + s->size, t.y + s->size, (rgb8){0, 0, 0});
        if (col == 0)
            draw_image_tile(&s->c, &t, &im, ds, &l);
        else
            draw_map_tile(&s->c, &t, kind,
                          kind == MUST_LABEL_SEGMENTATION ? &l.seg
                          : kind == MUST_LABEL_DEPTH      ? &l.depth
                                                          : &l.normal,
                          &im);
    }
    must_map_free(&im);
    must_labels_free(&l);
    return MUST_OK;
}

void must_sheet_defaults(must_sheet_opts *o)
{
    o->start = 0;
    o->count = 8;
    o->split = -1;
    o->tile = 128;
}

int must_dataset_draw_sheet(must_dataset *ds, const must_sheet_opts *o, const char *png_path,
                            int *rows_out, must_err *err)
{
    const int *idx = NULL;
    int split = o->split, start = o->start;
    int avail = split >= 0 ? must_dataset_split(ds, split, &idx) : must_dataset_count(ds);
    int rows = avail - start < o->count ? avail - start : o->count;
    if (rows <= 0)
        return must_err_set(err, MUST_EINVAL, "%s has %d images%s%s; nothing from %d on",
                            must_dataset_dir(ds), avail, split >= 0 ? " in " : "",
                            split >= 0 ? must_split_name(split) : "", start);
    if (o->tile < 8 || o->tile > 4096)
        return must_err_set(err, MUST_EINVAL, "sheet: tile size %d is not in 8..4096", o->tile);
    /* Two header rows: the set's name, then each column's label kind (a
     * long name would run into the column titles on one row). */
    sheet s = {.pad = 4, .strip = CANVAS_TEXT_H + 4, .head = 2 * CANVAS_TEXT_H + 9,
               .size = o->tile};
    unsigned tasks = must_dataset_tasks(ds);
    s.kinds[0] = -1;
    s.ncols = 1;
    for (int k = MUST_LABEL_SEGMENTATION; k <= MUST_LABEL_NORMAL; k++)
        if (tasks & MUST_LABEL_BIT(k))
            s.kinds[s.ncols++] = k;
    int rc = canvas_new(&s.c, s.pad + s.ncols * (s.size + s.pad),
                        s.head + rows * (s.strip + s.size + s.pad), (rgb8){40, 40, 40}, err);
    if (rc)
        return rc;
    canvas_text(&s.c, s.pad, 3, must_dataset_name(ds), (rgb8){255, 255, 255});
    for (int col = 1; col < s.ncols; col++)
        canvas_text(&s.c, s.pad + col * (s.size + s.pad), CANVAS_TEXT_H + 6,
                    must_label_kind_name(s.kinds[col]),
                    (rgb8){200, 200, 200});
    for (int r = 0; r < rows && rc == MUST_OK; r++)
        rc = draw_row(&s, ds, idx ? idx[start + r] : start + r, r, err);
    if (rc == MUST_OK)
        rc = canvas_write_png(&s.c, png_path, err);
    canvas_free(&s.c);
    if (rc == MUST_OK && rows_out)
        *rows_out = rows;
    return rc;
}
