/* vocutil.h - a tiny Pascal VOC year folder for the VOC importer's tests
 * (test_voc.c, and voc_fixture.c for import_voc.sh): JPEG images, XML
 * annotations, palette masks written with libpng's full API, ImageSets
 * lists.  What vu_make writes, and what an import must make of it:
 *
 *   id           image  Annotations                      mask  Main   Segmentation
 *   2008_000001  8x6    dog 2 1 5 4, person 6 2 8 6      yes   train  train
 *                       difficult; a <part> of its own
 *   2008_000002  6x5    car 3 2 9 5 (truncated: past     yes   val    val
 *                       the right edge), <filename> wrong
 *   2008_000003  7x7    bird 1 1 7 7, <size> 500x375     no    train  -
 *   2008_000004  5x4    none                             yes   -      train
 *
 * plus trainval.txt in both folders and a per-class list
 * (Main/dog_train.txt) that the importer does not read. */
#ifndef MUST_VOCUTIL_H
#define MUST_VOCUTIL_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/image.h"
#include "must/io.h"

/* dir/rel (rel may hold folders, which are made). */
static inline int vu_text(const char *dir, const char *rel, const char *text)
{
    char path[4096];
    must_err e = {0};
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int rc = must_mkdir_p(path, &e);
    *slash = '/';
    if (!rc)
        rc = must_file_write_atomic(path, text, strlen(text), &e);
    if (rc)
        fprintf(stderr, "vocutil: %s\n", e.msg);
    return rc;
}

/* A w x h RGB JPEG, a gradient that differs with seed. */
static inline int vu_jpeg(const char *path, int w, int h, int seed)
{
    must_image img;
    must_err e = {0};
    int rc = must_image_alloc(&img, w, h, 3, 8, &e);
    uint8_t *p = rc ? NULL : img.pixels;
    for (int i = 0; p && i < w * h * 3; i++)
        p[i] = (uint8_t)(i * 11 + seed * 40);
    if (!rc)
        rc = must_jpeg_write(path, &img, 90, &e);
    if (rc)
        fprintf(stderr, "vocutil: %s\n", e.msg);
    must_image_free(&img);
    return rc;
}

/* VOC's colour map (the devkit's VOClabelcolormap.m): the bits of the index
 * spread over the high bits of R, G and B in turn. */
static inline void vu_colormap(png_color pal[256])
{
    for (int i = 0; i < 256; i++) {
        int r = 0, g = 0, b = 0, c = i;
        for (int j = 0; j < 8; j++, c >>= 3) {
            r |= (c & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
        }
        pal[i] = (png_color){(png_byte)r, (png_byte)g, (png_byte)b};
    }
}

/* A w x h PNG of the values v through libpng's full API: a palette PNG of
 * `bits` (1, 2, 4, 8) bits with VOC's colours (palette = 1), or gray of
 * `bits` bits (palette = 0; 16 bits writes v as 16-bit samples). */
static inline int vu_png(const char *path, int w, int h, const uint8_t *v, int palette, int bits)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *row = malloc((size_t)w * 2);
    if (!info || !row || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        fclose(fp);
        free(row);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bits,
                 palette ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color pal[256];
    vu_colormap(pal);
    if (palette)
        png_set_PLTE(png, info, pal, 1 << bits);
    png_write_info(png, info);
    if (bits < 8)
        png_set_packing(png);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            if (bits == 16) {
                row[2 * x] = 0; /* big-endian: the high byte first */
                row[2 * x + 1] = v[y * w + x];
            } else {
                row[x] = v[y * w + x];
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(fp) == 0 ? 0 : -1;
}

/* The fixture's masks: id 1..4 of vu_make (0 for another). */
static inline void vu_mask_of(int k, int w, int h, uint8_t *m)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t v = 0;
            if (k == 1)
                v = x >= 1 && x <= 4 && y <= 3 ? 12 : x >= 5 && y >= 1 ? 15 : 0;
            else if (k == 2)
                v = y == 0 ? 255 : x >= 2 ? 7 : 0;
            else if (k == 4)
                v = x >= 1 && x <= 3 && y >= 1 && y <= 2 ? 20 : 0;
            m[y * w + x] = v;
        }
    if (k == 1) {
        m[5 * w + 0] = 255; /* void pixels inside and beside the objects */
        m[3 * w + 4] = 255;
    }
}

static const char vu_xml1[] =
    "<annotation>\n"
    "\t<folder>VOC2012</folder>\n"
    "\t<filename>2008_000001.jpg</filename>\n"
    "\t<source><database>The VOC2008 Database</database></source>\n"
    "\t<size>\n\t\t<width>8</width>\n\t\t<height>6</height>\n\t\t<depth>3</depth>\n\t</size>\n"
    "\t<segmented>1</segmented>\n"
    "\t<object>\n"                                    /* line 11 */
    "\t\t<name>dog</name>\n"
    "\t\t<pose>Left</pose>\n"
    "\t\t<truncated>0</truncated>\n"
    "\t\t<difficult>0</difficult>\n"
    "\t\t<bndbox>\n"
    "\t\t\t<xmin>2</xmin>\n"                          /* line 17 */
    "\t\t\t<ymin>1</ymin>\n"
    "\t\t\t<xmax>5</xmax>\n"
    "\t\t\t<ymax>4</ymax>\n"
    "\t\t</bndbox>\n"
    "\t</object>\n"
    "\t<object>\n"                                    /* line 23 */
    "\t\t<name> person </name>\n"
    "\t\t<difficult>1</difficult>\n"
    "\t\t<bndbox><xmin>6</xmin><ymin>2</ymin><xmax>8</xmax><ymax>6</ymax></bndbox>\n"
    "\t\t<part>\n\t\t\t<name>head</name>\n"
    "\t\t\t<bndbox><xmin>7</xmin><ymin>2</ymin><xmax>8</xmax><ymax>3</ymax></bndbox>\n"
    "\t\t</part>\n"
    "\t</object>\n"
    "</annotation>\n";

static const char vu_xml2[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<annotation>\n"
    "  <filename>2008_999999.jpg</filename>\n"
    "  <size><width>6</width><height>5</height><depth>3</depth></size>\n"
    "  <object>\n"
    "    <name>car</name>\n"
    "    <truncated>1</truncated>\n"
    "    <bndbox><xmin>3</xmin><ymin>2</ymin><xmax>9</xmax><ymax>5</ymax></bndbox>\n"
    "  </object>\n"
    "</annotation>\n";

static const char vu_xml3[] =
    "<annotation><filename>2008_000003.jpg</filename>\n"
    "<size><width>500</width><height>375</height></size>\n"
    "<object><name>bird</name><bndbox>\n"
    "<xmin>1</xmin><ymin>1</ymin><xmax>7</xmax><ymax>7</ymax></bndbox></object>\n"
    "</annotation>\n";

/* The fixture in dir (which is made). */
static inline int vu_make(const char *dir)
{
    static const int size[5][2] = {{0, 0}, {8, 6}, {6, 5}, {7, 7}, {5, 4}};
    char path[4096];
    int rc = vu_text(dir, "Annotations/2008_000001.xml", vu_xml1) ||
             vu_text(dir, "Annotations/2008_000002.xml", vu_xml2) ||
             vu_text(dir, "Annotations/2008_000003.xml", vu_xml3) ||
             vu_text(dir, "ImageSets/Main/train.txt", "2008_000001\n2008_000003\n") ||
             vu_text(dir, "ImageSets/Main/val.txt", "2008_000002\n") ||
             vu_text(dir, "ImageSets/Main/trainval.txt",
                     "2008_000003\n2008_000001\n2008_000002\n") ||
             vu_text(dir, "ImageSets/Main/dog_train.txt", "2008_000001  1\n2008_000003 -1\n") ||
             vu_text(dir, "ImageSets/Segmentation/train.txt", "2008_000001\r\n2008_000004\r\n") ||
             vu_text(dir, "ImageSets/Segmentation/val.txt", "  2008_000002\n\n") ||
             vu_text(dir, "ImageSets/Segmentation/trainval.txt",
                     "2008_000001\n2008_000002\n2008_000004\n") ||
             vu_text(dir, "JPEGImages/.keep", "") || vu_text(dir, "SegmentationClass/.keep", "");
    for (int k = 1; !rc && k <= 4; k++) {
        snprintf(path, sizeof path, "%s/JPEGImages/2008_00000%d.jpg", dir, k);
        rc = vu_jpeg(path, size[k][0], size[k][1], k);
        if (rc || k == 3)
            continue;
        uint8_t m[64];
        vu_mask_of(k, size[k][0], size[k][1], m);
        snprintf(path, sizeof path, "%s/SegmentationClass/2008_00000%d.png", dir, k);
        rc = vu_png(path, size[k][0], size[k][1], m, 1, 8);
    }
    return rc;
}

#endif
