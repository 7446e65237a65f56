/* world_preview.c - `must world preview`: a contact sheet of a domain,
 * straight from the renderer, for tuning a domain before generating it.
 *
 * One row per image: the image with its boxes, the segmentation in the
 * domain's classes (what its set or its truth/ carries), depth (near
 * bright, far dark, sky black) and normals ((n + 1) / 2 as RGB, sky black).
 * `must dataset show` draws a written set; this needs no set. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/image.h"
#include "must/world.h"

typedef struct sheet {
    uint8_t *px;
    int w, h;
} sheet;

static void put(sheet *s, int x, int y, const uint8_t *c)
{
    if (x < 0 || y < 0 || x >= s->w || y >= s->h)
        return;
    memcpy(s->px + 3 * ((size_t)y * s->w + x), c, 3);
}

/* A fixed colour per class: golden-angle hues, so neighbours differ. */
static void class_colour(int k, uint8_t *c)
{
    if (k == 0) {
        c[0] = c[1] = c[2] = 0;
        return;
    }
    if (k == 255) {
        c[0] = c[1] = c[2] = 255;
        return;
    }
    float h = (float)((k * 137) % 360) / 60.0f, v = k % 2 ? 0.95f : 0.75f, s = 0.75f;
    int i = (int)h;
    float f = h - (float)i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float r = v, g = t, b = p;
    switch (i) {
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    case 5: r = v, g = p, b = q; break;
    default: break;
    }
    c[0] = (uint8_t)(r * 255), c[1] = (uint8_t)(g * 255), c[2] = (uint8_t)(b * 255);
}

/* Near = bright yellow, far = dark violet, relative to the image's range. */
static void depth_colour(float z, float lo, float hi, uint8_t *c)
{
    if (z <= 0.0f) {
        c[0] = c[1] = c[2] = 0;
        return;
    }
    float t = hi > lo ? (z - lo) / (hi - lo) : 0.0f;
    static const float stops[3][3] = {{250, 230, 80}, {200, 60, 80}, {40, 10, 90}};
    int k = t < 0.5f ? 0 : 1;
    float u = t < 0.5f ? 2 * t : 2 * t - 1;
    for (int i = 0; i < 3; i++)
        c[i] = (uint8_t)(stops[k][i] + (stops[k + 1][i] - stops[k][i]) * u);
}

static void draw_box(sheet *s, int ox, int oy, int scale, const int *b, const uint8_t *c)
{
    int x0 = ox + b[0] * scale, y0 = oy + b[1] * scale;
    int x1 = ox + b[2] * scale - 1, y1 = oy + b[3] * scale - 1;
    for (int x = x0; x <= x1; x++) {
        put(s, x, y0, c);
        put(s, x, y1, c);
    }
    for (int y = y0; y <= y1; y++) {
        put(s, x0, y, c);
        put(s, x1, y, c);
    }
}

static void draw_row(sheet *s, int row, const must_world_frame *f, const must_world_domain *d,
                     int scale, int pad)
{
    int S = f->size, T = S * scale + pad;
    int oy = pad + row * T;
    float lo = 1e30f, hi = 0.0f;
    for (int q = 0; q < S * S; q++)
        if (f->depth[q] > 0.0f) {
            lo = f->depth[q] < lo ? f->depth[q] : lo;
            hi = f->depth[q] > hi ? f->depth[q] : hi;
        }
    for (int i = 0; i < S * scale; i++)
        for (int j = 0; j < S * scale; j++) {
            int q = (i / scale) * S + j / scale;
            uint8_t c[3];
            put(s, pad + j, oy + i, &f->rgb[3 * q]);
            int seg = must_world_domain_seg_class(d, f->semantic[q]);
            class_colour(seg, c);
            put(s, pad + T + j, oy + i, c);
            depth_colour(f->depth[q], lo, hi, c);
            put(s, pad + 2 * T + j, oy + i, c);
            const float *n = &f->normal[3 * q];
            for (int k = 0; k < 3; k++)
                c[k] = f->depth[q] > 0.0f ? (uint8_t)((n[k] + 1.0f) * 127.5f) : 0;
            put(s, pad + 3 * T + j, oy + i, c);
        }
    for (int k = 0; k < f->n_objects; k++) {
        const must_world_objstat *o = &f->objs[k];
        if (o->visible < f->min_pixels)
            continue;
        uint8_t c[3];
        class_colour(must_world_domain_seg_class(d, MUST_WORLD_SEM_OBJECT(o->category)), c);
        draw_box(s, pad, oy, scale, o->vbox, c);
        /* the box again on the mask, in white, to show it hugs the pixels */
        static const uint8_t white[3] = {255, 255, 255};
        draw_box(s, pad + T, oy, scale, o->vbox, white);
    }
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: must world preview --domain NAME --out FILE.png [--count N] [--size S]\n"
                "                          [--scale K] [--seed K] [--first I]\n"
                "\n"
                "Renders images first..first+N-1 of a domain (default 4 images of 64 pixels,\n"
                "drawn 2x) into one PNG: per row the image with its boxes, the segmentation\n"
                "with the boxes in white, depth (near bright) and normals ((n + 1) / 2).\n");
}

int must_cmd_world_preview(int argc, char **argv)
{
    const char *cmd = "world preview", *name = NULL, *out = NULL;
    int count = 4, size = 64, scale = 2, first = 0, seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *iv = NULL, lo = 1, hi = 0;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--domain") == 0 || strcmp(a, "--out") == 0) {
            if (!v)
                return must_cli_usage_error(cmd, "%s needs a value", a);
            *(a[2] == 'd' ? &name : &out) = v;
            i++;
            continue;
        } else if (strcmp(a, "--count") == 0) {
            iv = &count, hi = 64;
        } else if (strcmp(a, "--size") == 0) {
            iv = &size, lo = 8, hi = 512;
        } else if (strcmp(a, "--scale") == 0) {
            iv = &scale, hi = 8;
        } else if (strcmp(a, "--first") == 0) {
            iv = &first, lo = 0, hi = 1000000;
        } else if (strcmp(a, "--seed") == 0) {
            iv = &seed, lo = 0, hi = 2147483647;
        } else {
            return must_cli_usage_error(cmd, "unknown option '%s'", a);
        }
        if ((*iv = must_cli_int(cmd, a, v, lo, hi)) < 0)
            return 2;
        i++;
    }
    if (!name || !out)
        return must_cli_usage_error(cmd, "--domain and --out are required");
    must_err err = {0};
    must_world_domain *d;
    if (must_world_domain_load(name, &d, &err)) {
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        return 1;
    }
    const int pad = 4, T = size * scale + pad;
    must_image im;
    must_world_frame f;
    int rc = must_image_alloc(&im, pad + 4 * T, pad + count * T, 3, 8, &err);
    if (!rc && (rc = must_world_frame_alloc(&f, size, &err)) != MUST_OK)
        must_image_free(&im);
    if (rc) {
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        must_world_domain_free(d);
        return 1;
    }
    memset(im.pixels, 40, must_image_bytes(&im));
    sheet s = {im.pixels, im.width, im.height};
    for (int r = 0; r < count && !rc; r++) {
        rc = must_world_render_index(d, (uint64_t)seed, (uint64_t)(first + r), &f, NULL, &err);
        if (!rc)
            draw_row(&s, r, &f, d, scale, pad);
    }
    if (!rc)
        rc = must_png_write(out, &im, &err);
    if (rc)
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
    must_world_frame_free(&f);
    must_image_free(&im);
    must_world_domain_free(d);
    return rc ? 1 : 0;
}
