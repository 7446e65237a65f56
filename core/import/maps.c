/* maps.c - other sets' depth and normal files as must's label maps: depth
 * in metres with its no-data pixels, normals turned into must's camera
 * frame (docs/dataset-format.md, "Label stores") and renormalised. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps-impl.h"
#include "must/image.h"

/* The map's height and width from a .npy shape (H, W), or (H, W, C) with
 * C = channels (a 2-D shape only when channels is 1); `want` describes the
 * shape expected, for the message. */
static int npy_size(const char *path, const npy_array *a, int channels, const char *want,
                    int *h, int *w, must_err *err)
{
    char shape[256];
    npy_shape_str(a, shape, sizeof shape);
    int ok = (a->ndim == 2 && channels == 1) || (a->ndim == 3 && a->shape[2] == (size_t)channels);
    if (!ok)
        return must_err_set(err, MUST_ESHAPE, "%s: shape %s is not %s", path, shape, want);
    if (a->shape[0] < 1 || a->shape[1] < 1 || a->shape[0] > (1u << 16) || a->shape[1] > (1u << 16))
        return must_err_set(err, MUST_ESHAPE, "%s: shape %s: an image is 1 to 65536 pixels a "
                            "side", path, shape);
    *h = (int)a->shape[0];
    *w = (int)a->shape[1];
    return MUST_OK;
}

/* The scale that stores depth v, rounded up to two significant digits. */
static double scale_for(double v)
{
    double s = v / 65535.0, step = pow(10.0, floor(log10(s)) - 1.0);
    return ceil(s / step * (1.0 - 1e-12)) * step;
}

int imp_depth_from_npy(const char *path, const npy_array *a, double scale, must_map *m,
                       long *invalid, must_err *err)
{
    memset(m, 0, sizeof *m);
    int h, w;
    int rc = npy_size(path, a, 1, "a depth map's (H, W) or (H, W, 1)", &h, &w, err);
    if (rc || (rc = must_map_alloc(m, 1, h, w, err)))
        return rc;
    long bad = 0;
    float fscale = (float)scale;
    for (size_t i = 0; i < (size_t)h * w; i++) {
        double v = a->data[i];
        if (v == 0.0 || !isfinite(v)) {
            bad++;
            continue;
        }
        if (v < 0.0) {
            rc = must_err_set(err, MUST_EINVAL, "%s: depth %g m at (%zu, %zu) is negative (no "
                              "data is 0, NaN or inf)", path, v, i % (size_t)w, i / (size_t)w);
            break;
        }
        /* The writer's own test (float depth over float scale), so that
         * what passes here is stored. */
        float f = (float)v;
        if (!isfinite(f) || (double)f / fscale > IMP_DEPTH_UNITS_MAX) {
            rc = must_err_set(err, MUST_EINVAL, "%s: depth %g m at (%zu, %zu) is past the %g m "
                              "that scale %g stores (a scale of %.2g or more would)", path, v,
                              i % (size_t)w, i / (size_t)w, 65535.0 * fscale, (double)fscale,
                              scale_for(v));
            break;
        }
        m->data[i] = f;
    }
    if (rc)
        must_map_free(m);
    else if (invalid)
        *invalid = bad;
    return rc;
}

int imp_depth_read(const char *path, double scale, must_map *m, long *invalid, must_err *err)
{
    memset(m, 0, sizeof *m);
    if (imp_has_ext(path, ".npy")) {
        npy_array a;
        int rc = npy_read(path, &a, err);
        if (rc == MUST_OK)
            rc = imp_depth_from_npy(path, &a, scale, m, invalid, err);
        npy_free(&a);
        return rc;
    }
    int rc = must_label_read_depth(path, (float)scale, m, err);
    if (rc == MUST_OK && invalid) {
        *invalid = 0;
        for (size_t i = 0; i < (size_t)m->height * m->width; i++)
            *invalid += m->data[i] == 0.0f;
    }
    return rc;
}

/* ---- normals ---- */

/* A direction word: the must axis it lies along and its sign, or -1. */
static int direction(const char *s, size_t n, int *sign)
{
    static const struct {
        const char *word;
        int axis, sign;
    } dirs[] = {{"right", 0, 1},   {"left", 0, -1},    {"down", 1, 1},    {"up", 1, -1},
                {"forward", 2, 1}, {"away", 2, 1},     {"backward", 2, -1}, {"camera", 2, -1}};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (strlen(dirs[i].word) == n && strncmp(s, dirs[i].word, n) == 0) {
            *sign = dirs[i].sign;
            return dirs[i].axis;
        }
    return -1;
}

/* One item "AXIS-DIRECTION" of s (n bytes) into ax; seen_src and seen_to
 * mark the source axes and must axes taken. */
static int axes_item(const char *spec, const char *s, size_t n, imp_axes *ax, unsigned *seen_src,
                     unsigned *seen_to, must_err *err)
{
    static const char names[] = "xyz";
    while (n && *s == ' ')
        s++, n--;
    while (n && s[n - 1] == ' ')
        n--;
    int src = n > 2 && s[1] == '-' ? (s[0] == 'x' ? 0 : s[0] == 'y' ? 1 : s[0] == 'z' ? 2 : -1)
                                   : -1;
    int sign = 0, to = src < 0 ? -1 : direction(s + 2, n - 2, &sign);
    if (src < 0 || to < 0)
        return must_err_set(err, MUST_EINVAL, "normal convention '%s': '%.*s' is not AXIS-"
                            "DIRECTION (x, y or z; right, left, up, down, forward, away, "
                            "backward or camera)", spec, (int)n, s);
    if (*seen_src & (1u << src))
        return must_err_set(err, MUST_EINVAL, "normal convention '%s': %c is given twice", spec,
                            names[src]);
    if (*seen_to & (1u << to))
        return must_err_set(err, MUST_EINVAL, "normal convention '%s': two axes lie along "
                            "must's %c (%s)", spec, names[to],
                            to == 0 ? "right-left" : to == 1 ? "down-up" : "forward-backward");
    *seen_src |= 1u << src;
    *seen_to |= 1u << to;
    ax->to[src] = to;
    ax->sign[src] = sign;
    return MUST_OK;
}

int imp_axes_parse(const char *spec, imp_axes *ax, must_err *err)
{
    const char *s = spec;
    if (!s || !*s || strcmp(s, "must") == 0 || strcmp(s, "opencv") == 0)
        s = "x-right,y-down,z-forward";
    else if (strcmp(s, "opengl") == 0)
        s = "x-right,y-up,z-camera";
    unsigned seen_src = 0, seen_to = 0;
    int items = 0;
    for (const char *p = s;; items++) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (items == 3)
            return must_err_set(err, MUST_EINVAL, "normal convention '%s': more than three "
                                "axes", spec);
        int rc = axes_item(spec, p, n, ax, &seen_src, &seen_to, err);
        if (rc)
            return rc;
        if (!end) {
            items++;
            break;
        }
        p = end + 1;
    }
    if (items != 3)
        return must_err_set(err, MUST_EINVAL, "normal convention '%s': x, y and z each need a "
                            "direction (e.g. x-right,y-up,z-camera)", spec);
    return MUST_OK;
}

int imp_normal_convert(const imp_axes *ax, const double src[3], float out[3])
{
    double v[3] = {0.0, 0.0, 0.0};
    for (int i = 0; i < 3; i++)
        v[ax->to[i]] += ax->sign[i] * src[i];
    double len = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (!isfinite(len) || len == 0.0) {
        out[0] = out[1] = out[2] = 0.0f;
        return 0;
    }
    for (int c = 0; c < 3; c++)
        out[c] = (float)(v[c] / len);
    return 1;
}

/* Stores pixel i of an (3, H, W) map. */
static void put(must_map *m, size_t i, const float v[3])
{
    size_t n = (size_t)m->height * m->width;
    for (int c = 0; c < 3; c++)
        m->data[c * n + i] = v[c];
}

int imp_normal_from_npy(const char *path, const npy_array *a, const imp_axes *ax, must_map *m,
                        long *invalid, must_err *err)
{
    memset(m, 0, sizeof *m);
    int h, w;
    int rc = npy_size(path, a, 3, "a normal map's (H, W, 3)", &h, &w, err);
    if (rc || (rc = must_map_alloc(m, 3, h, w, err)))
        return rc;
    long bad = 0;
    for (size_t i = 0; i < (size_t)h * w; i++) {
        float v[3];
        bad += !imp_normal_convert(ax, a->data + 3 * i, v);
        put(m, i, v);
    }
    if (invalid)
        *invalid = bad;
    return MUST_OK;
}

/* An 8- or 16-bit RGB PNG of (n + 1) / 2 * V. */
static int normal_png(const char *path, const imp_axes *ax, must_map *m, long *invalid,
                      must_err *err)
{
    int w, h, c, d;
    int rc = must_png_info(path, &w, &h, &c, &d, err);
    if (rc)
        return rc;
    if (c != 3)
        return must_err_set(err, MUST_EFORMAT, "%s: a normal map PNG is RGB (8 or 16 bits), "
                            "not %d channel%s", path, c, c == 1 ? "" : "s");
    must_image img = {0};
    if ((rc = must_png_read(path, &img, 3, d, err)) || (rc = must_map_alloc(m, 3, h, w, err))) {
        must_image_free(&img);
        return rc;
    }
    long bad = 0;
    double top = d == 16 ? 65535.0 : 255.0;
    for (size_t i = 0; i < (size_t)h * w; i++) {
        unsigned s[3];
        for (int k = 0; k < 3; k++)
            s[k] = d == 16 ? ((const uint16_t *)img.pixels)[3 * i + k]
                           : ((const uint8_t *)img.pixels)[3 * i + k];
        double n[3];
        for (int k = 0; k < 3; k++)
            n[k] = s[k] / top * 2.0 - 1.0;
        float v[3] = {0.0f, 0.0f, 0.0f};
        int ok = (s[0] | s[1] | s[2]) != 0 && n[0] * n[0] + n[1] * n[1] + n[2] * n[2] >= 0.25 &&
                 imp_normal_convert(ax, n, v);
        bad += !ok;
        put(m, i, v);
    }
    must_image_free(&img);
    if (invalid)
        *invalid = bad;
    return MUST_OK;
}

int imp_normal_read(const char *path, const imp_axes *ax, must_map *m, long *invalid,
                    must_err *err)
{
    memset(m, 0, sizeof *m);
    if (!imp_has_ext(path, ".npy"))
        return normal_png(path, ax, m, invalid, err);
    npy_array a;
    int rc = npy_read(path, &a, err);
    if (rc == MUST_OK)
        rc = imp_normal_from_npy(path, &a, ax, m, invalid, err);
    npy_free(&a);
    return rc;
}
