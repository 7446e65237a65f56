/* mkmaps.c - the fixtures of import_maps.sh (`must import depth|normals`):
 *   mkmaps DIR   writes, with images of 8x6 pixels:
 *     images/       a b c d .png, e.PNG, and notes.txt (not an image)
 *     depth/        a.png (16-bit), b.npy <f4 (H, W), c.npy >f8 (H, W, 1),
 *                   d.npy <f8 v2.0, e.png, and readme.md (not a map)
 *     normals/      a.npy <f4, b.png 16-bit, c.png 8-bit, d.npy >f8 v3.0,
 *                   e.npy; the vectors in the x-right,y-up,z-camera frame
 *     depth-some/   a.png, b.npy, and orphan1.npy, orphan2.png (no image)
 *     depth-many/   a.png and x0.npy .. x6.npy (seven without an image)
 *     depth-size/   as depth/, but b.npy is 5x4
 *     depth-far/    as depth/, but a.npy has a pixel 100 m away
 *     depth-dup/    a.png and a.npy
 *     normals-2d/   as normals/, but a.npy is (H, W) */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/image.h"
#include "must/io.h"
#include "npyutil.h"

#define W 8
#define H 6

static char root[2048];

static int fail(const char *what)
{
    fprintf(stderr, "mkmaps: %s\n", what);
    return 1;
}

/* root/sub/name */
static const char *at(const char *sub, const char *name)
{
    static char p[4200];
    snprintf(p, sizeof p, "%s/%s/%s", root, sub, name);
    return p;
}

static int text(const char *sub, const char *name, const char *s)
{
    FILE *fp = fopen(at(sub, name), "w");
    if (!fp)
        return fail(at(sub, name));
    fputs(s, fp);
    return fclose(fp) ? fail(at(sub, name)) : 0;
}

/* An 8-bit RGB image, or a 16-bit gray or RGB map of f(x, y, c). */
static int png(const char *sub, const char *name, int w, int h, int ch, int bits,
               unsigned (*f)(int, int, int))
{
    must_image img = {0};
    must_err e = {0};
    int rc = must_image_alloc(&img, w, h, ch, bits, &e);
    for (int y = 0; !rc && y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                size_t i = ((size_t)y * w + x) * ch + c;
                if (bits == 16)
                    ((uint16_t *)img.pixels)[i] = (uint16_t)f(x, y, c);
                else
                    ((uint8_t *)img.pixels)[i] = (uint8_t)f(x, y, c);
            }
    if (!rc)
        rc = must_png_write(at(sub, name), &img, &e);
    must_image_free(&img);
    return rc ? fail(e.msg) : 0;
}

static unsigned image_px(int x, int y, int c)
{
    return (unsigned)(x * 30 + y * 40 + c * 60) & 255u;
}

/* Depth units: 1.000 m + 1 cm per column + 10 cm per row; (0, 0) no data. */
static unsigned depth_px(int x, int y, int c)
{
    (void)c;
    return x == 0 && y == 0 ? 0u : 1000u + 10u * (unsigned)x + 100u * (unsigned)y;
}

/* A normal tilted by x and y, in x-right,y-up,z-camera; 16- or 8-bit. */
static void normal_at(int x, int y, double n[3])
{
    n[0] = (x - 3.5) / 8.0;
    n[1] = (y - 2.5) / 8.0;
    n[2] = 1.0;
    double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (int c = 0; c < 3; c++)
        n[c] /= len;
}
static unsigned normal16_px(int x, int y, int c)
{
    double n[3];
    normal_at(x, y, n);
    return x == 1 && y == 1 ? 0u : (unsigned)lround((n[c] + 1.0) / 2.0 * 65535.0);
}
static unsigned normal8_px(int x, int y, int c)
{
    double n[3];
    normal_at(x, y, n);
    return (unsigned)lround((n[c] + 1.0) / 2.0 * 255.0);
}

/* A depth .npy of w x h in metres (depth_px / 1000; far puts 100 m at
 * (7, 5)), shape (h, w) or (h, w, 1). */
static int depth_npy(const char *sub, const char *name, int major, const char *descr, int w,
                     int h, int three, int far)
{
    double v[W * H];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            v[y * w + x] = depth_px(x, y, 0) / 1000.0;
    if (w > 2)
        v[2] = NAN; /* (2, 0): no data as well */
    if (far)
        v[h * w - 1] = 100.0;
    char shape[64];
    snprintf(shape, sizeof shape, three ? "(%d, %d, 1)" : "(%d, %d)", h, w);
    return nu_save(at(sub, name), major, descr, shape, v, (size_t)(w * h)) ? fail(at(sub, name))
                                                                            : 0;
}

static int normal_npy(const char *sub, const char *name, int major, const char *descr, int flat)
{
    double v[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            normal_at(x, y, v + 3 * (y * W + x));
    memset(v, 0, 3 * sizeof *v); /* (0, 0): a zero vector, invalid */
    char shape[64];
    snprintf(shape, sizeof shape, flat ? "(%d, %d)" : "(%d, %d, 3)", H, W);
    return nu_save(at(sub, name), major, descr, shape, v, flat ? W * H : W * H * 3)
               ? fail(at(sub, name))
               : 0;
}

/* The depth maps of depth/ into sub, a.npy instead of a.png when far. */
static int depth_set(const char *sub, int far, int small_b)
{
    int rc = far ? depth_npy(sub, "a.npy", 1, "<f4", W, H, 0, 1)
                 : png(sub, "a.png", W, H, 1, 16, depth_px);
    if (!rc)
        rc = small_b ? depth_npy(sub, "b.npy", 1, "<f4", 5, 4, 0, 0)
                     : depth_npy(sub, "b.npy", 1, "<f4", W, H, 0, 0);
    if (!rc)
        rc = depth_npy(sub, "c.npy", 1, ">f8", W, H, 1, 0);
    if (!rc)
        rc = depth_npy(sub, "d.npy", 2, "<f8", W, H, 0, 0);
    if (!rc)
        rc = png(sub, "e.png", W, H, 1, 16, depth_px);
    return rc;
}

static int normal_set(const char *sub, int flat_a)
{
    int rc = normal_npy(sub, "a.npy", 1, "<f4", flat_a);
    if (!rc)
        rc = png(sub, "b.png", W, H, 3, 16, normal16_px);
    if (!rc)
        rc = png(sub, "c.png", W, H, 3, 8, normal8_px);
    if (!rc)
        rc = normal_npy(sub, "d.npy", 3, ">f8", 0);
    if (!rc)
        rc = normal_npy(sub, "e.npy", 1, "<f8", 0);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkmaps DIR\n");
        return 2;
    }
    snprintf(root, sizeof root, "%s", argv[1]);
    static const char *const subs[] = {"images",     "depth",      "normals",   "depth-some",
                                       "depth-many", "depth-size", "depth-far", "depth-dup",
                                       "normals-2d"};
    must_err e = {0};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char d[4200];
        snprintf(d, sizeof d, "%s/%s", root, subs[i]);
        if (must_mkdir_p(d, &e))
            return fail(e.msg);
    }
    static const char *const imgs[] = {"a.png", "b.png", "c.png", "d.png", "e.PNG"};
    for (int i = 0; i < 5; i++)
        if (png("images", imgs[i], W, H, 3, 8, image_px))
            return 1;
    if (text("images", "notes.txt", "not an image\n") || depth_set("depth", 0, 0) ||
        text("depth", "readme.md", "not a map\n") || normal_set("normals", 0) ||
        png("depth-some", "a.png", W, H, 1, 16, depth_px) ||
        depth_npy("depth-some", "b.npy", 1, "<f4", W, H, 0, 0) ||
        depth_npy("depth-some", "orphan1.npy", 1, "<f4", W, H, 0, 0) ||
        png("depth-some", "orphan2.png", W, H, 1, 16, depth_px) ||
        png("depth-many", "a.png", W, H, 1, 16, depth_px) || depth_set("depth-size", 0, 1) ||
        depth_set("depth-far", 1, 0) || png("depth-dup", "a.png", W, H, 1, 16, depth_px) ||
        depth_npy("depth-dup", "a.npy", 1, "<f4", W, H, 0, 0) || normal_set("normals-2d", 1))
        return 1;
    for (int i = 0; i < 7; i++) {
        char name[32];
        snprintf(name, sizeof name, "x%d.npy", i);
        if (depth_npy("depth-many", name, 1, "<f4", W, H, 0, 0))
            return 1;
    }
    return 0;
}
