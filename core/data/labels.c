/* labels.c - label structs in memory and the codecs of docs/dataset-format.md. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "must/image.h"
#include "must/kinds.h"
#include "must/labels.h"

/* ---- maps ---- */

int must_map_alloc(must_map *m, int channels, int height, int width, must_err *err)
{
    memset(m, 0, sizeof *m);
    if (channels <= 0 || height <= 0 || width <= 0 || height > (1 << 16) || width > (1 << 16))
        return must_err_set(err, MUST_EINVAL, "map size %dx%dx%d out of range", channels,
                            height, width);
    m->data = calloc((size_t)channels * height * width, sizeof(float));
    if (!m->data)
        return must_err_set(err, MUST_ENOMEM, "out of memory for a %dx%dx%d map", channels,
                            height, width);
    m->channels = channels;
    m->height = height;
    m->width = width;
    return MUST_OK;
}

void must_map_free(must_map *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

int must_map_copy(must_map *dst, const must_map *src, must_err *err)
{
    int rc = must_map_alloc(dst, src->channels, src->height, src->width, err);
    if (rc == MUST_OK)
        memcpy(dst->data, src->data, (size_t)src->channels * src->height * src->width *
                                         sizeof(float));
    return rc;
}

/* ---- boxes ---- */

int must_boxes_push(must_boxes *b, const must_box *box, must_err *err)
{
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 4;
        must_box *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v)
            return must_err_set(err, MUST_ENOMEM, "out of memory for boxes");
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = *box;
    return MUST_OK;
}

int must_boxes_copy(must_boxes *dst, const must_boxes *src, must_err *err)
{
    dst->n = 0;
    for (int i = 0; i < src->n; i++)
        if (must_boxes_push(dst, &src->v[i], err))
            return MUST_ENOMEM;
    return MUST_OK;
}

void must_boxes_free(must_boxes *b)
{
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* ---- per-image labels ---- */

void must_labels_init(must_labels *l)
{
    memset(l, 0, sizeof *l);
    l->cls = -1;
}

void must_labels_free(must_labels *l)
{
    free(l->soft);
    must_boxes_free(&l->boxes);
    must_map_free(&l->seg);
    must_map_free(&l->depth);
    must_map_free(&l->normal);
    for (int k = MUST_LABEL_NKINDS; k < MUST_LABEL_MAX_KINDS; k++) {
        const must_label_codec *c = l->ext[k] ? must_label_kind_codec(k) : NULL;
        if (c)
            c->free(l->ext[k]);
    }
    must_labels_init(l);
}

/* The map of a dense built-in kind. */
static must_map *map_of(must_labels *l, int kind)
{
    return kind == MUST_LABEL_SEGMENTATION ? &l->seg
           : kind == MUST_LABEL_DEPTH      ? &l->depth
           : kind == MUST_LABEL_NORMAL     ? &l->normal
                                           : NULL;
}

/* Frees kind's label in l (and clears its bit). */
static void drop_kind(must_labels *l, int kind)
{
    must_map *m = map_of(l, kind);
    if (kind == MUST_LABEL_CLASSIFICATION) {
        free(l->soft);
        l->soft = NULL;
        l->nsoft = 0;
        l->cls = -1;
    } else if (kind == MUST_LABEL_DETECTION) {
        must_boxes_free(&l->boxes);
    } else if (m) {
        must_map_free(m);
    } else if (kind >= MUST_LABEL_NKINDS && kind < MUST_LABEL_MAX_KINDS && l->ext[kind]) {
        const must_label_codec *c = must_label_kind_codec(kind);
        if (c)
            c->free(l->ext[kind]);
        l->ext[kind] = NULL;
    }
    l->has &= ~MUST_LABEL_BIT(kind);
}

void must_labels_move(must_labels *dst, must_labels *src, int kind)
{
    if (kind < 0 || kind >= MUST_LABEL_MAX_KINDS || !(src->has & MUST_LABEL_BIT(kind)))
        return;
    drop_kind(dst, kind);
    must_map *d = map_of(dst, kind), *s = map_of(src, kind);
    if (kind == MUST_LABEL_CLASSIFICATION) {
        dst->cls = src->cls;
        dst->nsoft = src->nsoft;
        dst->soft = src->soft;
        src->soft = NULL;
        src->nsoft = 0;
    } else if (kind == MUST_LABEL_DETECTION) {
        dst->boxes = src->boxes;
        memset(&src->boxes, 0, sizeof src->boxes);
    } else if (d) {
        *d = *s;
        memset(s, 0, sizeof *s);
    } else {
        dst->ext[kind] = src->ext[kind];
        src->ext[kind] = NULL;
    }
    dst->has |= MUST_LABEL_BIT(kind);
    src->has &= ~MUST_LABEL_BIT(kind);
}

int must_labels_copy_kind(must_labels *dst, const must_labels *src, int kind, must_err *err)
{
    if (kind < 0 || kind >= MUST_LABEL_MAX_KINDS || !(src->has & MUST_LABEL_BIT(kind)))
        return MUST_OK;
    drop_kind(dst, kind);
    must_map *d = map_of(dst, kind);
    int rc = MUST_OK;
    if (kind == MUST_LABEL_CLASSIFICATION) {
        if (src->soft)
            rc = must_labels_set_soft(dst, src->nsoft, src->soft, err);
        else
            dst->cls = src->cls;
    } else if (kind == MUST_LABEL_DETECTION) {
        rc = must_boxes_copy(&dst->boxes, &src->boxes, err);
    } else if (d) {
        rc = must_map_copy(d, map_of((must_labels *)src, kind), err);
    } else {
        const must_label_codec *c = must_label_kind_codec(kind);
        rc = c ? c->copy(&dst->ext[kind], src->ext[kind], err)
               : must_err_set(err, MUST_EINVAL, "label kind %d is not registered", kind);
    }
    if (rc == MUST_OK)
        dst->has |= MUST_LABEL_BIT(kind);
    return rc;
}

int must_labels_set_soft(must_labels *l, int k, const float *p, must_err *err)
{
    float *s = malloc((size_t)(k > 0 ? k : 1) * sizeof *s);
    if (!s)
        return must_err_set(err, MUST_ENOMEM, "out of memory for a soft label");
    memcpy(s, p, (size_t)k * sizeof *s);
    free(l->soft);
    l->soft = s;
    l->nsoft = k;
    l->cls = -1;
    l->has |= MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
    return MUST_OK;
}

/* ---- text codecs ---- */

static char *next_field(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p) {
        *s = p;
        return NULL;
    }
    char *start = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    *s = p;
    return start;
}

static int parse_int(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return *s && !*end && errno == 0;
}

static int parse_float(const char *s, float *v)
{
    char *end;
    errno = 0;
    *v = strtof(s, &end);
    return *s && !*end && errno == 0 && isfinite(*v);
}

int must_label_parse_cls(char *line, int nclasses, const char **id, int *cls, float *soft,
                         must_err *err)
{
    char *s = line;
    char *f = next_field(&s);
    *id = f;
    *cls = -1;
    if (!f)
        return must_err_set(err, MUST_EFORMAT, "empty line");
    char *c = next_field(&s);
    if (!c)
        return must_err_set(err, MUST_EFORMAT, "'%s' has no class", f);
    if (strcmp(c, "soft") == 0) {
        double sum = 0.0;
        int k = 0;
        char *p;
        while ((p = next_field(&s))) {
            float v;
            if (k == nclasses)
                return must_err_set(err, MUST_EFORMAT,
                                    "soft label of '%s' has more than %d values", f, nclasses);
            if (!parse_float(p, &v) || v < 0.0f || v > 1.0f)
                return must_err_set(err, MUST_EFORMAT,
                                    "soft label of '%s': value %d '%s' is not a number in [0, 1]",
                                    f, k, p);
            soft[k++] = v;
            sum += v;
        }
        if (k != nclasses)
            return must_err_set(err, MUST_EFORMAT, "soft label of '%s' has %d values, want %d",
                                f, k, nclasses);
        if (fabs(sum - 1.0) > 1e-3)
            return must_err_set(err, MUST_EFORMAT, "soft label of '%s' sums to %.6g, not 1", f,
                                sum);
        return MUST_OK;
    }
    long v;
    if (!parse_int(c, &v))
        return must_err_set(err, MUST_EFORMAT, "class '%s' of '%s' is not a whole number", c, f);
    if (v < 0 || v >= nclasses)
        return must_err_set(err, MUST_EFORMAT, "class %ld of '%s' out of range 0..%d", v, f,
                            nclasses - 1);
    if (next_field(&s))
        return must_err_set(err, MUST_EFORMAT, "extra fields after the class of '%s'", f);
    *cls = (int)v;
    return MUST_OK;
}

int must_label_parse_box(char *line, int nclasses, const char **id, must_box *box,
                         must_err *err)
{
    static const char *const names[] = {"x0", "y0", "x1", "y1", "class", "score", "difficult"};
    char *s = line, *f[8];
    int n = 0;
    char *p;
    while ((p = next_field(&s)))
        if (n++ < 8)
            f[n - 1] = p;
    *id = n ? f[0] : NULL;
    if (n == 0)
        return must_err_set(err, MUST_EFORMAT, "empty line");
    if (n < 7 || n > 8)
        return must_err_set(err, MUST_EFORMAT,
                            "box of '%s' has %d fields, want 'id x0 y0 x1 y1 class score "
                            "[difficult]'", f[0], n);
    float c[4];
    for (int i = 0; i < 4; i++)
        if (!parse_float(f[1 + i], &c[i]))
            return must_err_set(err, MUST_EFORMAT, "box of '%s': %s '%s' is not a number", f[0],
                                names[i], f[1 + i]);
    long cls, diff = 0;
    float score;
    if (!parse_int(f[5], &cls))
        return must_err_set(err, MUST_EFORMAT, "box of '%s': class '%s' is not a whole number",
                            f[0], f[5]);
    if (!parse_float(f[6], &score))
        return must_err_set(err, MUST_EFORMAT, "box of '%s': score '%s' is not a number", f[0],
                            f[6]);
    if (n == 8 && (!parse_int(f[7], &diff) || (diff != 0 && diff != 1)))
        return must_err_set(err, MUST_EFORMAT, "box of '%s': difficult '%s' is not 0 or 1", f[0],
                            f[7]);
    if (c[0] < 0.0f || c[1] < 0.0f || !(c[0] < c[2]) || !(c[1] < c[3]))
        return must_err_set(err, MUST_EFORMAT,
                            "box of '%s' (%g %g %g %g) breaks 0 <= x0 < x1, 0 <= y0 < y1", f[0],
                            c[0], c[1], c[2], c[3]);
    if (cls < 0 || cls >= nclasses)
        return must_err_set(err, MUST_EFORMAT, "box of '%s': class %ld out of range 0..%d", f[0],
                            cls, nclasses - 1);
    if (score < 0.0f || score > 1.0f)
        return must_err_set(err, MUST_EFORMAT, "box of '%s': score %g not in [0, 1]", f[0],
                            score);
    box->x0 = c[0];
    box->y0 = c[1];
    box->x1 = c[2];
    box->y1 = c[3];
    box->cls = (int)cls;
    box->score = score;
    box->difficult = (int)diff;
    return MUST_OK;
}

/* The shortest %g form that reads back to v: labels stay readable
 * ("0.25", not "0.250000000") and round trips stay exact. */
static void fmt_float(char *buf, size_t len, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, len, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

int must_label_write_cls(FILE *fp, const char *id, int cls, int k, const float *soft)
{
    if (cls >= 0) {
        if (fprintf(fp, "%s %d\n", id, cls) < 0)
            return MUST_EIO;
        return MUST_OK;
    }
    if (fprintf(fp, "%s soft", id) < 0)
        return MUST_EIO;
    for (int i = 0; i < k; i++) {
        char b[32];
        fmt_float(b, sizeof b, soft[i]);
        if (fprintf(fp, " %s", b) < 0)
            return MUST_EIO;
    }
    return fputc('\n', fp) == EOF ? MUST_EIO : MUST_OK;
}

int must_label_write_box(FILE *fp, const char *id, const must_box *box)
{
    char c[5][32];
    fmt_float(c[0], sizeof c[0], box->x0);
    fmt_float(c[1], sizeof c[1], box->y0);
    fmt_float(c[2], sizeof c[2], box->x1);
    fmt_float(c[3], sizeof c[3], box->y1);
    fmt_float(c[4], sizeof c[4], box->score);
    int r = fprintf(fp, "%s %s %s %s %s %d %s%s\n", id, c[0], c[1], c[2], c[3], box->cls, c[4],
                    box->difficult ? " 1" : "");
    return r < 0 ? MUST_EIO : MUST_OK;
}

/* ---- PNG codecs ---- */

/* Reads a PNG that must be stored as exactly `channels` x `depth` bits. */
static int read_exact(const char *path, const char *what, int channels, int depth,
                      must_image *img, must_err *err)
{
    int w, h, c, d;
    int rc = must_png_info(path, &w, &h, &c, &d, err);
    if (rc)
        return rc;
    if (c != channels || d != depth)
        return must_err_set(err, MUST_EFORMAT, "%s: a %s label must be a %d-bit %s PNG, not %d-bit "
                            "with %d channel%s", path, what, depth, channels == 1 ? "gray" : "RGB",
                            d, c, c == 1 ? "" : "s");
    return must_png_read(path, img, channels, depth, err);
}

int must_label_read_seg(const char *path, must_map *m, must_err *err)
{
    must_image img = {0};
    int rc = read_exact(path, "segmentation", 1, 8, &img, err);
    if (rc)
        return rc;
    rc = must_map_alloc(m, 1, img.height, img.width, err);
    if (rc == MUST_OK) {
        const uint8_t *p = img.pixels;
        size_t n = (size_t)img.width * img.height;
        for (size_t i = 0; i < n; i++)
            m->data[i] = (float)p[i];
    }
    must_image_free(&img);
    return rc;
}

int must_label_write_seg(const char *path, const must_map *m, must_err *err)
{
    if (m->channels != 1)
        return must_err_set(err, MUST_EINVAL, "%s: a segmentation map has 1 channel, not %d",
                            path, m->channels);
    must_image img = {0};
    int rc = must_image_alloc(&img, m->width, m->height, 1, 8, err);
    if (rc)
        return rc;
    uint8_t *p = img.pixels;
    size_t n = (size_t)m->width * m->height;
    for (size_t i = 0; i < n; i++) {
        float v = m->data[i];
        if (!(v >= 0.0f && v <= 255.0f) || v != floorf(v)) {
            must_image_free(&img);
            return must_err_set(err, MUST_EINVAL,
                                "%s: segmentation value %g at (%zu, %zu) is not a class id in "
                                "0..255", path, v, i % m->width, i / m->width);
        }
        p[i] = (uint8_t)v;
    }
    rc = must_png_write(path, &img, err);
    must_image_free(&img);
    return rc;
}

int must_label_read_depth(const char *path, float scale, must_map *m, must_err *err)
{
    if (!(scale > 0.0f) || !isfinite(scale))
        return must_err_set(err, MUST_EINVAL, "%s: depth scale %g is not positive", path, scale);
    must_image img = {0};
    int rc = read_exact(path, "depth", 1, 16, &img, err);
    if (rc)
        return rc;
    rc = must_map_alloc(m, 1, img.height, img.width, err);
    if (rc == MUST_OK) {
        const uint16_t *p = img.pixels;
        size_t n = (size_t)img.width * img.height;
        for (size_t i = 0; i < n; i++)
            m->data[i] = (float)p[i] * scale;
    }
    must_image_free(&img);
    return rc;
}

int must_label_write_depth(const char *path, const must_map *m, float scale, must_err *err)
{
    if (!(scale > 0.0f) || !isfinite(scale))
        return must_err_set(err, MUST_EINVAL, "%s: depth scale %g is not positive", path, scale);
    if (m->channels != 1)
        return must_err_set(err, MUST_EINVAL, "%s: a depth map has 1 channel, not %d", path,
                            m->channels);
    must_image img = {0};
    int rc = must_image_alloc(&img, m->width, m->height, 1, 16, err);
    if (rc)
        return rc;
    uint16_t *p = img.pixels;
    size_t n = (size_t)m->width * m->height;
    for (size_t i = 0; i < n; i++) {
        float v = m->data[i];
        double u = (double)v / scale;
        if (!isfinite(v) || v < 0.0f || u > 65535.49) {
            must_image_free(&img);
            return must_err_set(err, MUST_EINVAL,
                                "%s: depth %g m at (%zu, %zu) is not storable with scale %g "
                                "(0 to %g m)", path, v, i % m->width, i / m->width, scale,
                                65535.0 * scale);
        }
        long q = lround(u);
        p[i] = (uint16_t)(v > 0.0f && q == 0 ? 1 : q);
    }
    rc = must_png_write(path, &img, err);
    must_image_free(&img);
    return rc;
}

int must_label_read_normal(const char *path, must_map *m, must_err *err)
{
    must_image img = {0};
    int rc = read_exact(path, "normal", 3, 16, &img, err);
    if (rc)
        return rc;
    rc = must_map_alloc(m, 3, img.height, img.width, err);
    if (rc == MUST_OK) {
        const uint16_t *p = img.pixels;
        size_t n = (size_t)img.width * img.height;
        for (size_t i = 0; i < n; i++) {
            const uint16_t *q = p + 3 * i;
            if (q[0] == 0 || q[1] == 0 || q[2] == 0)
                continue; /* invalid: stays (0, 0, 0) */
            for (int c = 0; c < 3; c++)
                m->data[c * n + i] = must_normal_decode(q[c]);
        }
    }
    must_image_free(&img);
    return rc;
}

int must_label_write_normal(const char *path, const must_map *m, must_err *err)
{
    if (m->channels != 3)
        return must_err_set(err, MUST_EINVAL, "%s: a normal map has 3 channels, not %d", path,
                            m->channels);
    must_image img = {0};
    int rc = must_image_alloc(&img, m->width, m->height, 3, 16, err);
    if (rc)
        return rc;
    uint16_t *p = img.pixels;
    size_t n = (size_t)m->width * m->height;
    for (size_t i = 0; i < n; i++) {
        float v[3] = {m->data[i], m->data[n + i], m->data[2 * n + i]};
        if (!isfinite(v[0]) || !isfinite(v[1]) || !isfinite(v[2])) {
            must_image_free(&img);
            return must_err_set(err, MUST_EINVAL, "%s: normal at (%zu, %zu) is not finite", path,
                                i % m->width, i / m->width);
        }
        double len = sqrt((double)v[0] * v[0] + (double)v[1] * v[1] + (double)v[2] * v[2]);
        for (int c = 0; c < 3; c++)
            p[3 * i + c] = len > 0.0 ? must_normal_encode((float)(v[c] / len)) : 0;
    }
    rc = must_png_write(path, &img, err);
    must_image_free(&img);
    return rc;
}
