/* dataset_check.c - `must dataset check`: every problem of a set, then a summary per task. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset-impl.h"
#include "must/kinds.h"

/* Unit length within this: the unit16 encoding is good to ~3e-5. */
#define NORMAL_TOL 1e-3

typedef struct stats {
    long long *cls_count;   /* classification: per class (argmax for soft) */
    int cls_hard, cls_soft;
    long long *det_count;   /* detection: per class */
    long long boxes, difficult;
    int det_images;
    double score_sum;
    long long *seg_pix;     /* segmentation: per class, [K] = ignore */
    long long seg_total;
    long long depth_valid, depth_total;
    double depth_min, depth_max, depth_sum;
    long long normal_valid, normal_total;
    double normal_dev;
    int min_w, min_h, max_w, max_h, decoded;
    double tally[MUST_LABEL_MAX_KINDS][MUST_LABEL_TALLY]; /* registered kinds' codecs' */
    int tallied[MUST_LABEL_MAX_KINDS];                     /* labels tallied per kind */
} stats;

static void summary(ds_sink *s, const char *fmt, ...) MUST_PRINTF(2, 3);
static void summary(ds_sink *s, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->report(s->user, 0, line);
}

static void check_boxes(const must_dataset *ds, ds_sink *s, int i, int w, int h)
{
    if (!ds->boxes || ds->width) /* declared sizes were checked at open */
        return;
    const must_boxes *b = &ds->boxes[i];
    for (int j = 0; j < b->n; j++)
        if (b->v[j].x1 > (float)w || b->v[j].y1 > (float)h) {
            char *path = ds_path(ds, "labels", "detection", ".txt");
            ds_issue(ds, s, MUST_EFORMAT, path ? path : "labels/detection.txt",
                     ds->box_lines[i][j], "box of '%s' (%g %g %g %g) leaves the %dx%d image",
                     ds->ids[i], b->v[j].x0, b->v[j].y0, b->v[j].x1, b->v[j].y1, w, h);
            free(path);
        }
}

static void check_seg(const must_dataset *ds, ds_sink *s, stats *st, const char *path,
                      const must_map *m)
{
    int k = ds->t[MUST_LABEL_SEGMENTATION].nclasses;
    size_t n = (size_t)m->width * m->height, bad = 0, first = 0;
    for (size_t p = 0; p < n; p++) {
        int v = (int)m->data[p];
        if (v == MUST_SEG_IGNORE)
            st->seg_pix[k]++;
        else if (v < k)
            st->seg_pix[v]++;
        else if (bad++ == 0)
            first = p;
    }
    st->seg_total += (long long)n;
    if (bad)
        ds_issue(ds, s, MUST_EFORMAT, path, 0,
                 "%zu pixel%s with a class out of 0..%d and not 255 (first: %d at x %zu, y %zu)",
                 bad, bad == 1 ? "" : "s", k - 1, (int)m->data[first], first % (size_t)m->width,
                 first / (size_t)m->width);
}

static void check_depth(stats *st, const must_map *m)
{
    size_t n = (size_t)m->width * m->height;
    for (size_t p = 0; p < n; p++) {
        double v = m->data[p];
        if (v <= 0.0)
            continue;
        if (st->depth_valid == 0 || v < st->depth_min)
            st->depth_min = v;
        if (st->depth_valid == 0 || v > st->depth_max)
            st->depth_max = v;
        st->depth_valid++;
        st->depth_sum += v;
    }
    st->depth_total += (long long)n;
}

/* Reads the raw samples: the codec hides partly-zero pixels as invalid. */
static void check_normal(const must_dataset *ds, ds_sink *s, stats *st, const char *path,
                         int w, int h)
{
    must_image img = {0};
    must_err e = {0};
    int c, d, iw, ih;
    if (must_png_info(path, &iw, &ih, &c, &d, &e) == MUST_OK && (c != 3 || d != 16))
        must_err_set(&e, MUST_EFORMAT, "%s: a normal label must be a 16-bit RGB PNG, not %d-bit "
                     "with %d channel%s", path, d, c, c == 1 ? "" : "s");
    if (e.code || must_png_read(path, &img, 3, 16, &e)) {
        ds_issue(ds, s, e.code, NULL, 0, "%s", e.msg);
        return;
    }
    if (img.width != w || img.height != h) {
        ds_issue(ds, s, MUST_ESHAPE, path, 0, "label is %dx%d but its image is %dx%d", img.width,
                 img.height, w, h);
        must_image_free(&img);
        return;
    }
    const uint16_t *q = img.pixels;
    size_t n = (size_t)w * h, partial = 0, nonunit = 0, fp = 0, fu = 0;
    double worst = 0.0;
    for (size_t p = 0; p < n; p++, q += 3) {
        int zeros = (q[0] == 0) + (q[1] == 0) + (q[2] == 0);
        if (zeros == 3)
            continue;
        if (zeros) {
            if (partial++ == 0)
                fp = p;
            continue;
        }
        double x = must_normal_decode(q[0]), y = must_normal_decode(q[1]),
               z = must_normal_decode(q[2]);
        double dev = fabs(sqrt(x * x + y * y + z * z) - 1.0);
        if (dev > st->normal_dev)
            st->normal_dev = dev;
        if (dev > NORMAL_TOL) {
            if (nonunit++ == 0 || dev > worst) {
                fu = p;
                worst = dev;
            }
            continue;
        }
        st->normal_valid++;
    }
    st->normal_total += (long long)n;
    if (partial)
        ds_issue(ds, s, MUST_EFORMAT, path, 0,
                 "%zu pixel%s with some but not all channels 0 (first at x %zu, y %zu): 0 in "
                 "every channel means invalid, 0 in one is corrupt", partial,
                 partial == 1 ? "" : "s", fp % (size_t)w, fp / (size_t)w);
    if (nonunit)
        ds_issue(ds, s, MUST_EFORMAT, path, 0,
                 "%zu normal%s not of unit length (worst: |n| off by %.3g at x %zu, y %zu)",
                 nonunit, nonunit == 1 ? "" : "s", worst, fu % (size_t)w, fu / (size_t)w);
    must_image_free(&img);
}

/* A registered kind's label of image i (w x h): its file read by the codec
 * (a text store was read, and reported on, at open), then tallied. */
static void check_registered(const must_dataset *ds, ds_sink *s, stats *st, int k, int i, int w,
                             int h)
{
    const must_label_codec *c = must_label_kind_codec(k);
    const ds_task *t = &ds->t[k];
    if (!c)
        return;
    void *obj = NULL;
    const void *label = t->labels ? t->labels[i] : NULL;
    if (c->store == MUST_STORE_FILES) {
        char *lp = must_dataset_label_path(ds, k, i);
        must_label_file f = {.path = lp, .id = ds->ids[i], .width = w, .height = h,
                             .conf = t->conf, .kind = k};
        must_err e = {0};
        if (lp && c->read(&f, &obj, &e))
            ds_issue(ds, s, e.code, lp, 0, "%s", e.msg);
        free(lp);
        label = obj;
    }
    if (label && c->tally) {
        c->tally(label, st->tally[k]);
        st->tallied[k]++;
    }
    if (obj)
        c->free(obj);
}

static void check_image(const must_dataset *ds, ds_sink *s, stats *st, int i)
{
    char *path = must_dataset_image_path(ds, i);
    must_image img = {0};
    must_err e = {0};
    if (!path)
        return;
    if (must_image_read(path, &img, 3, 8, &e)) {
        ds_issue(ds, s, e.code, NULL, 0, "%s", e.msg);
        free(path);
        return;
    }
    int w = img.width, h = img.height;
    must_image_free(&img);
    if (st->decoded++ == 0) {
        st->min_w = st->max_w = w;
        st->min_h = st->max_h = h;
    }
    st->min_w = w < st->min_w ? w : st->min_w;
    st->max_w = w > st->max_w ? w : st->max_w;
    st->min_h = h < st->min_h ? h : st->min_h;
    st->max_h = h > st->max_h ? h : st->max_h;
    if (ds->width && (w != ds->width || h != ds->height))
        ds_issue(ds, s, MUST_ESHAPE, path, 0, "image is %dx%d but dataset.ini says %dx%d", w, h,
                 ds->width, ds->height);
    free(path);
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION))
        check_boxes(ds, s, i, w, h);
    for (int k = MUST_LABEL_NKINDS; k < MUST_LABEL_MAX_KINDS; k++)
        if (ds->tasks & MUST_LABEL_BIT(k))
            check_registered(ds, s, st, k, i, w, h);
    for (int k = MUST_LABEL_SEGMENTATION; k <= MUST_LABEL_NORMAL; k++) {
        if (!(ds->tasks & MUST_LABEL_BIT(k)))
            continue;
        char *lp = must_dataset_label_path(ds, k, i);
        if (!lp)
            return;
        if (k == MUST_LABEL_NORMAL) {
            check_normal(ds, s, st, lp, w, h);
            free(lp);
            continue;
        }
        must_map m = {0};
        must_err le = {0};
        int rc = k == MUST_LABEL_SEGMENTATION
                     ? must_label_read_seg(lp, &m, &le)
                     : must_label_read_depth(lp, ds->t[k].scale > 0 ? ds->t[k].scale : 1.0f,
                                             &m, &le);
        if (rc) {
            ds_issue(ds, s, rc, NULL, 0, "%s", le.msg);
        } else if (m.width != w || m.height != h) {
            ds_issue(ds, s, MUST_ESHAPE, lp, 0, "label is %dx%d but its image is %dx%d", m.width,
                     m.height, w, h);
        } else if (k == MUST_LABEL_SEGMENTATION) {
            check_seg(ds, s, st, lp, &m);
        } else {
            check_depth(st, &m);
        }
        must_map_free(&m);
        free(lp);
    }
}

static void class_list(char *buf, size_t len, const must_dataset *ds, int kind,
                       const long long *count, long long total, int percent)
{
    const ds_task *t = &ds->t[kind];
    size_t k = 0;
    buf[0] = '\0';
    for (int c = 0; c < t->nclasses && k + 1 < len; c++) {
        if (c == 24) {
            snprintf(buf + k, len - k, ", ... (%d more)", t->nclasses - c);
            return;
        }
        int r = percent ? snprintf(buf + k, len - k, "%s%s %.1f%%", c ? ", " : "", t->classes[c],
                                   total ? 100.0 * (double)count[c] / (double)total : 0.0)
                        : snprintf(buf + k, len - k, "%s%s %lld", c ? ", " : "", t->classes[c],
                                   count[c]);
        if (r < 0)
            return;
        k += (size_t)r;
    }
}

static const char *source_str(const ds_task *t, char *buf, size_t len)
{
    if (t->source == MUST_SOURCE_PSEUDO)
        snprintf(buf, len, "pseudo from %s", t->teacher ? t->teacher : "?");
    else
        snprintf(buf, len, "supervised");
    return buf;
}

/* The registered kinds' summary lines: their codecs' words on the tallies. */
static void registered_summary(const must_dataset *ds, ds_sink *s, const stats *st)
{
    char src[512], text[2048];
    for (int k = MUST_LABEL_NKINDS; k < MUST_LABEL_MAX_KINDS; k++) {
        const must_label_codec *c = must_label_kind_codec(k);
        if (!(ds->tasks & MUST_LABEL_BIT(k)) || !c)
            continue;
        if (c->summary)
            c->summary(st->tally[k], st->tallied[k], text, sizeof text);
        else
            snprintf(text, sizeof text, "%d labels read", st->tallied[k]);
        char store[160];
        must_label_kind_store(k, store, sizeof store);
        summary(s, "  %s (%s; %s): %s", must_label_kind_name(k),
                source_str(&ds->t[k], src, sizeof src), store, text);
    }
}

static void print_summary(const must_dataset *ds, ds_sink *s, const stats *st)
{
    char list[2048], src[512];
    int assigned = ds->nsplit[0] + ds->nsplit[1] + ds->nsplit[2];
    char size[64];
    if (st->decoded == 0)
        snprintf(size, sizeof size, "none decoded");
    else if (st->min_w == st->max_w && st->min_h == st->max_h)
        snprintf(size, sizeof size, "%dx%d", st->min_w, st->min_h);
    else
        snprintf(size, sizeof size, "%d..%d x %d..%d", st->min_w, st->max_w, st->min_h,
                 st->max_h);
    summary(s, "dataset \"%s\" at %s: %d images (%s); splits: train %d, val %d, test %d, in none %d",
            ds->name, ds->dir, ds->n, size, ds->nsplit[0], ds->nsplit[1], ds->nsplit[2],
            ds->n - assigned);
    const ds_task *t;
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        t = &ds->t[MUST_LABEL_CLASSIFICATION];
        class_list(list, sizeof list, ds, MUST_LABEL_CLASSIFICATION, st->cls_count, 0, 0);
        summary(s, "  classification (%s): %d classes; %d hard, %d soft labels; by class%s: %s",
                source_str(t, src, sizeof src), t->nclasses, st->cls_hard, st->cls_soft,
                st->cls_soft ? " (argmax of soft)" : "", list);
    }
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION)) {
        t = &ds->t[MUST_LABEL_DETECTION];
        class_list(list, sizeof list, ds, MUST_LABEL_DETECTION, st->det_count, 0, 0);
        summary(s, "  detection (%s): %d classes; %lld boxes on %d images (%d without), %lld "
                "difficult, mean score %.3f; by class: %s", source_str(t, src, sizeof src),
                t->nclasses, st->boxes, st->det_images, ds->n - st->det_images, st->difficult,
                st->boxes ? st->score_sum / (double)st->boxes : 0.0, list);
    }
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)) {
        t = &ds->t[MUST_LABEL_SEGMENTATION];
        class_list(list, sizeof list, ds, MUST_LABEL_SEGMENTATION, st->seg_pix, st->seg_total, 1);
        summary(s, "  segmentation (%s): %d classes; pixels: %s; ignore %.1f%%",
                source_str(t, src, sizeof src), t->nclasses, list,
                st->seg_total ? 100.0 * (double)st->seg_pix[t->nclasses] / (double)st->seg_total
                              : 0.0);
    }
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_DEPTH)) {
        t = &ds->t[MUST_LABEL_DEPTH];
        summary(s, "  depth (%s, %g m per unit): data in %.1f%% of pixels, %.4g..%.4g m, mean "
                "%.4g m", source_str(t, src, sizeof src), t->scale,
                st->depth_total ? 100.0 * (double)st->depth_valid / (double)st->depth_total : 0.0,
                st->depth_min, st->depth_max,
                st->depth_valid ? st->depth_sum / (double)st->depth_valid : 0.0);
    }
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_NORMAL)) {
        t = &ds->t[MUST_LABEL_NORMAL];
        summary(s, "  normal (%s, %s): valid in %.1f%% of pixels, largest | |n| - 1 | %.2g",
                source_str(t, src, sizeof src), MUST_NORMAL_ENCODING,
                st->normal_total ? 100.0 * (double)st->normal_valid / (double)st->normal_total
                                 : 0.0, st->normal_dev);
    }
}

int must_dataset_check(const char *dir, must_dataset_report_fn report, void *user,
                       int *problems, must_err *err)
{
    must_err local = {0};
    ds_sink sink = {.err = err ? err : &local, .report = report, .user = user};
    must_dataset *ds = NULL;
    *problems = 0;
    int rc = ds_read(dir, &sink, &ds);
    if (rc || !ds)
        return rc ? rc : MUST_ENOMEM;
    stats st = {0};
    size_t kc = (size_t)ds->t[MUST_LABEL_CLASSIFICATION].nclasses + 1,
           kd = (size_t)ds->t[MUST_LABEL_DETECTION].nclasses + 1,
           ks = (size_t)ds->t[MUST_LABEL_SEGMENTATION].nclasses + 1;
    st.cls_count = calloc(kc, sizeof *st.cls_count);
    st.det_count = calloc(kd, sizeof *st.det_count);
    st.seg_pix = calloc(ks, sizeof *st.seg_pix);
    if (!st.cls_count || !st.det_count || !st.seg_pix) {
        rc = must_err_set(sink.err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    if (ds->cls && ds->has_cls) {
        int k = (int)kc - 1;
        for (int i = 0; i < ds->n; i++) {
            if (!ds->has_cls[i])
                continue;
            int c = ds->cls[i];
            if (c < 0 && ds->soft) {
                st.cls_soft++;
                const float *p = ds->soft + (size_t)i * k;
                c = 0;
                for (int j = 1; j < k; j++)
                    if (p[j] > p[c])
                        c = j;
            } else {
                st.cls_hard++;
            }
            if (c >= 0 && c < k)
                st.cls_count[c]++;
        }
    }
    if (ds->boxes)
        for (int i = 0; i < ds->n; i++) {
            const must_boxes *b = &ds->boxes[i];
            st.det_images += b->n > 0;
            for (int j = 0; j < b->n; j++) {
                st.boxes++;
                st.difficult += b->v[j].difficult;
                st.score_sum += b->v[j].score;
                if (b->v[j].cls >= 0 && b->v[j].cls < (int)kd - 1)
                    st.det_count[b->v[j].cls]++;
            }
        }
    /* A set of nothing trains nothing: an import that matched no file, or
     * images given a name the format does not read (.jpeg, .PNG). */
    if (ds->listed && ds->n == 0)
        ds_issue(ds, &sink, MUST_EFORMAT, NULL, 0, "%s/images holds no images (<id>.png or "
                 "<id>.jpg)", ds->dir);
    for (int i = 0; i < ds->n; i++)
        check_image(ds, &sink, &st, i);
    print_summary(ds, &sink, &st);
    registered_summary(ds, &sink, &st);
out:
    free(st.cls_count);
    free(st.det_count);
    free(st.seg_pix);
    *problems = sink.problems;
    must_dataset_close(ds);
    return rc;
}
