/* voc_labels.c - a VOC annotation's boxes and a VOC class map as must's
 * labels: the coordinate convention, clipping, and the values a mask may
 * hold. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/png-impl.h"
#include "voc-impl.h"

/* The error for an object whose coordinate k (xmin ymin xmax ymax) leaves
 * no pixel of the box in the w x h image, or 0 when it has one. */
static int outside(const char *path, const voc_object *o, int w, int h, must_err *err)
{
    static const char *const names[4] = {"xmin", "ymin", "xmax", "ymax"};
    const double v[4] = {o->xmin, o->ymin, o->xmax, o->ymax};
    int k = -1;
    if (o->xmin > o->xmax || o->ymin > o->ymax) {
        k = o->xmin > o->xmax ? 0 : 1;
        return must_err_set(err, MUST_EFORMAT, "%s:%ld: <%s> %g is past <%s> %g: an empty box",
                            path, o->coord_line[k], names[k], v[k], names[k + 2], v[k + 2]);
    }
    /* 1-based: the first pixel is 1 and the last one w. */
    if (o->xmin - 1.0 >= w)
        k = 0;
    else if (o->ymin - 1.0 >= h)
        k = 1;
    else if (o->xmax <= 0.0)
        k = 2;
    else if (o->ymax <= 0.0)
        k = 3;
    if (k < 0)
        return MUST_OK;
    return must_err_set(err, MUST_EFORMAT, "%s:%ld: <%s> %g lies outside the %dx%d image "
                        "(VOC's pixels are 1..%d across, 1..%d down), and the box with it",
                        path, o->coord_line[k], names[k], v[k], w, h, w, h);
}

int voc_boxes(const char *path, const voc_annotation *a, int w, int h, must_boxes *out,
              voc_box_counts *c, must_err *err)
{
    for (int i = 0; i < a->nobj; i++) {
        const voc_object *o = &a->obj[i];
        int rc = outside(path, o, w, h, err);
        if (rc)
            return rc;
        /* 1-based inclusive to 0-based half-open: pixel xmin (from 1) is
         * pixel xmin - 1 (from 0), and the box ends after pixel xmax. */
        double x0 = o->xmin - 1.0, y0 = o->ymin - 1.0, x1 = o->xmax, y1 = o->ymax;
        double cx0 = fmax(x0, 0.0), cy0 = fmax(y0, 0.0);
        double cx1 = fmin(x1, (double)w), cy1 = fmin(y1, (double)h);
        if (cx0 != x0 || cy0 != y0 || cx1 != x1 || cy1 != y1) {
            if (!c->clipped++)
                c->clipped_line = o->line;
        }
        must_box b = {(float)cx0, (float)cy0, (float)cx1, (float)cy1, o->cls, 1.0f,
                      o->difficult};
        if ((rc = must_boxes_push(out, &b, err)))
            return rc;
        c->boxes++;
        c->difficult += o->difficult;
    }
    return MUST_OK;
}

int voc_mask_read(const char *path, const char *image, int w, int h, must_map *seg,
                  long *void_pixels, must_err *err)
{
    must_image img;
    memset(seg, 0, sizeof *seg);
    int rc = must_png_read_index(path, &img, NULL, err);
    if (rc)
        return rc;
    if (img.width != w || img.height != h)
        rc = must_err_set(err, MUST_EFORMAT, "%s: a %dx%d mask for the %dx%d image %s", path,
                          img.width, img.height, w, h, image);
    if (!rc)
        rc = must_map_alloc(seg, 1, h, w, err);
    const uint8_t *p = img.pixels;
    long voids = 0;
    for (size_t i = 0, n = (size_t)w * (size_t)h; !rc && i < n; i++) {
        if (p[i] > VOC_NCLASSES && p[i] != MUST_SEG_IGNORE)
            rc = must_err_set(err, MUST_EFORMAT, "%s: pixel (%zu, %zu) holds %d, where VOC's "
                              "masks hold 0 (background), 1-%d (the classes) and 255 (void)",
                              path, i % (size_t)w, i / (size_t)w, p[i], VOC_NCLASSES);
        seg->data[i] = p[i];
        voids += p[i] == MUST_SEG_IGNORE;
    }
    must_image_free(&img);
    if (rc)
        must_map_free(seg);
    else if (void_pixels)
        *void_pixels = voids;
    return rc;
}
