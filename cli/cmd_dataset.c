/* cmd_dataset.c - `must dataset check|show`: validate a set, or draw its labels. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/draw.h"
#include "must/dataset.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must dataset check DIR...\n"
            "       must dataset show DIR --out FILE.png [--count N] [--start I]\n"
            "                        [--split train|val|test] [--tile PX]\n\n"
            "check: validates every file of each set (dataset.ini, images, splits, labels;\n"
            "  docs/dataset-format.md), prints every problem on stderr naming the file and\n"
            "  line, then a summary per task on stdout.  Exit status 1 when any problem.\n"
            "show:  draws a contact sheet: one row per image (N, default 8, from image I of\n"
            "  the split or of the whole set), the image with its boxes and class, then its\n"
            "  segmentation over the image, depth and normal maps; tiles PX (default 128).\n");
}

static void print_report(void *user, int is_problem, const char *line)
{
    (void)user;
    if (is_problem)
        fprintf(stderr, "error: %s\n", line);
    else
        printf("%s\n", line);
}

static int cmd_check(int argc, char **argv)
{
    int ndirs = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return must_cli_usage_error("dataset check", "unknown option '%s'", argv[i]);
    }
    for (int i = 1; i < argc; i++) {
        int problems;
        must_err e = {0};
        ndirs++;
        if (must_dataset_check(argv[i], print_report, NULL, &problems, &e)) {
            fprintf(stderr, "must dataset check: %s\n", e.msg);
            bad = 1;
            continue;
        }
        if (problems) {
            printf("%s: %d problem%s\n", argv[i], problems, problems == 1 ? "" : "s");
            bad = 1;
        } else {
            printf("%s: ok\n", argv[i]);
        }
        fflush(stdout);
    }
    if (!ndirs)
        return must_cli_usage_error("dataset check", "no dataset directory given");
    return bad;
}

/* ---- show ---- */

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

static int cmd_show(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    const char *split_name = NULL;
    int count = 8, start = 0, split = -1, size = 128;
    const must_cli_opt opts[] = {{"--out", MUST_CLI_STR, &out, 0, 0},
                                 {"--count", MUST_CLI_INT, &count, 1, 256},
                                 {"--start", MUST_CLI_INT, &start, 0, 1 << 30},
                                 {"--tile", MUST_CLI_INT, &size, 32, 1024},
                                 {"--split", MUST_CLI_STR, &split_name, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int prc = must_cli_parse("dataset show", argc, argv, opts, &dir, 1, NULL);
    if (prc == 1)
        usage(stdout);
    if (prc)
        return prc == 1 ? 0 : prc;
    if (split_name && (split = must_split_parse(split_name)) < 0)
        return must_cli_usage_error("dataset show", "--split: '%s' is not train, val or test",
                                    split_name);
    if (!dir || !out)
        return must_cli_usage_error("dataset show", "needs DIR and --out FILE.png");
    must_dataset *ds;
    must_err e = {0};
    if (must_dataset_open(dir, &ds, &e)) {
        fprintf(stderr, "must dataset show: %s\n", e.msg);
        return 1;
    }
    const int *idx = NULL;
    int avail = split >= 0 ? must_dataset_split(ds, split, &idx) : must_dataset_count(ds);
    int rows = avail - start < count ? avail - start : count;
    if (rows <= 0) {
        fprintf(stderr, "must dataset show: %s has %d images%s%s; nothing from %d on\n", dir,
                avail, split >= 0 ? " in " : "", split >= 0 ? must_split_name(split) : "", start);
        must_dataset_close(ds);
        return 1;
    }
    unsigned tasks = must_dataset_tasks(ds);
    int kinds[4] = {-1}, ncols = 1;
    for (int k = MUST_LABEL_SEGMENTATION; k <= MUST_LABEL_NORMAL; k++)
        if (tasks & MUST_LABEL_BIT(k))
            kinds[ncols++] = k;
    const int pad = 4, strip = CANVAS_TEXT_H + 4, head = CANVAS_TEXT_H + 6;
    canvas c;
    int rc = canvas_new(&c, pad + ncols * (size + pad), head + rows * (strip + size + pad),
                        (rgb8){40, 40, 40}, &e);
    if (rc) {
        fprintf(stderr, "must dataset show: %s\n", e.msg);
        must_dataset_close(ds);
        return 1;
    }
    char title[256];
    snprintf(title, sizeof title, "%s", must_dataset_name(ds));
    canvas_text(&c, pad, 3, title, (rgb8){255, 255, 255});
    for (int col = 1; col < ncols; col++)
        canvas_text(&c, pad + col * (size + pad), 3, must_label_kind_name(kinds[col]),
                    (rgb8){200, 200, 200});
    for (int r = 0; r < rows && rc == MUST_OK; r++) {
        int index = idx ? idx[start + r] : start + r;
        must_map im = {0};
        must_labels l;
        must_labels_init(&l);
        if ((rc = must_dataset_load(ds, index, MUST_LABEL_ALL, &im, &l, &e)))
            break;
        int y = head + r * (strip + size + pad);
        char text[256];
        int k = must_dataset_nclasses(ds, MUST_LABEL_CLASSIFICATION);
        if ((l.has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) && l.soft) {
            int best = 0;
            for (int j = 1; j < k; j++)
                if (l.soft[j] > l.soft[best])
                    best = j;
            snprintf(text, sizeof text, "%s  %s %.2f (soft)", must_dataset_id(ds, index),
                     must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, best),
                     (double)l.soft[best]);
        } else if (l.has & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
            snprintf(text, sizeof text, "%s  %s", must_dataset_id(ds, index),
                     must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, l.cls));
        } else {
            snprintf(text, sizeof text, "%s", must_dataset_id(ds, index));
        }
        canvas_text(&c, pad, y + 2, text, (rgb8){255, 255, 255});
        tile t = {.y = y + strip, .size = size, .w = im.width, .h = im.height};
        t.f = (float)size / (float)(im.width > im.height ? im.width : im.height);
        t.ox = (size - (int)lrintf((float)im.width * t.f)) / 2;
        t.oy = (size - (int)lrintf((float)im.height * t.f)) / 2;
        for (int col = 0; col < ncols; col++) {
            t.x = pad + col * (size + pad);
            canvas_fill(&c, t.x, t.y, t.x + size, t.y + size, (rgb8){0, 0, 0});
            if (col == 0)
                draw_image_tile(&c, &t, &im, ds, &l);
            else
                draw_map_tile(&c, &t, kinds[col],
                              kinds[col] == MUST_LABEL_SEGMENTATION ? &l.seg
                              : kinds[col] == MUST_LABEL_DEPTH      ? &l.depth
                                                                    : &l.normal,
                              &im);
        }
        must_map_free(&im);
        must_labels_free(&l);
    }
    if (rc == MUST_OK)
        rc = canvas_write_png(&c, out, &e);
    canvas_free(&c);
    must_dataset_close(ds);
    if (rc) {
        fprintf(stderr, "must dataset show: %s\n", e.msg);
        return 1;
    }
    printf("%s: %d image%s of %s\n", out, rows, rows == 1 ? "" : "s", dir);
    return 0;
}

int must_cmd_dataset(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"check", cmd_check}, {"show", cmd_show}, {NULL, NULL}};
    return must_cli_dispatch("dataset", "subcommand", argc, argv, subs, usage);
}
