/* plugin-util.h - small helpers every built-in task plugin shares
 * (header-only, so that each plugin stays one self-contained .so).  The
 * entry point and its host check are public, for plugins built outside the
 * tree too: MUST_TASK_PLUGIN and must_task_check_host in must/task.h. */
#ifndef MUST_PLUGIN_UTIL_H
#define MUST_PLUGIN_UTIL_H

#include <math.h>
#include <string.h>

#include "must/task.h"

/* 1 when example i counts for the loss or the metrics: its mask entry
 * (when a mask is given) is non-zero and the batch carries the kind for
 * it. */
static inline int plugin_counts(const must_batch *b, const float *example_mask, int i, int kind)
{
    return (!example_mask || example_mask[i] != 0.0f) && (b->has[i] & MUST_LABEL_BIT(kind));
}

/* PyTorch's nn.Linear initialisation: weight (out, in), then bias, uniform
 * in +-1/sqrt(in), drawn from r in that order. */
static inline void plugin_init_linear(const must_host *h, must_rng *r, must_tensor *w,
                                      must_tensor *b)
{
    float bound = 1.0f / sqrtf((float)w->shape[1]);
    h->init_uniform(w, r, -bound, bound);
    h->init_uniform(b, r, -bound, bound);
}

/* A distinct colour for class k (the visualizers' palette): a few
 * hand-picked colours, then a hash. */
static inline void plugin_class_colour(int k, unsigned char rgb[3])
{
    static const unsigned char base[8][3] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25},
                                             {0, 130, 200},  {245, 130, 48}, {145, 30, 180},
                                             {70, 240, 240}, {240, 50, 230}};
    if (k >= 0 && k < 8) {
        memcpy(rgb, base[k], 3);
        return;
    }
    unsigned x = (unsigned)k * 2654435761u;
    rgb[0] = (unsigned char)(64 + (x >> 8) % 192);
    rgb[1] = (unsigned char)(64 + (x >> 16) % 192);
    rgb[2] = (unsigned char)(64 + (x >> 24) % 192);
}

/* Blends colour c over pixel (x, y) of an 8-bit RGB image with weight a. */
static inline void plugin_blend(must_image *img, int x, int y, const unsigned char c[3], float a)
{
    unsigned char *p = (unsigned char *)img->pixels + 3 * ((size_t)y * img->width + x);
    for (int k = 0; k < 3; k++)
        p[k] = (unsigned char)((1.0f - a) * (float)p[k] + a * (float)c[k] + 0.5f);
}

/* The source pixel of map (mw x mh) under image pixel (x, y) of an image
 * (iw x ih): nearest, so that a map drawn over an image of another size
 * lines up. */
static inline size_t plugin_map_index(int x, int y, int iw, int ih, int mw, int mh)
{
    int mx = (int)((long)x * mw / iw), my = (int)((long)y * mh / ih);
    return (size_t)my * (size_t)mw + (size_t)mx;
}

#endif
