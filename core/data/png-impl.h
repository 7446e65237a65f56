/* png-impl.h - a PNG's stored sample values, untouched (private to libmust).
 *
 * must_png_read (png.c) goes through libpng's simplified API, which turns a
 * palette PNG into the palette's colours.  A class map saved as a palette
 * PNG (Pascal VOC's SegmentationClass/<id>.png, and many tools' masks)
 * holds its labels in the palette *indices*: the colours are only how a
 * viewer shows them.  Reading the indices keeps the labels exact whatever
 * palette the file carries (a tool that rewrote the palette, two classes of
 * one colour, a shortened palette), where mapping colours back would need
 * the one palette the file was meant to have.  png_index.c reads them with
 * libpng's full API. */
#ifndef MUST_PNG_IMPL_H
#define MUST_PNG_IMPL_H

#include <stdio.h>

#include "must/image.h"

/* Reads a palette PNG (1, 2, 4 or 8 bits) as its palette indices, or a gray
 * PNG of up to 8 bits as its values, into img: 1 channel, 8 bits, the
 * values as stored (no gamma, no transparency, no scaling of 1-4 bit gray).
 * *paletted (may be NULL) says which it was.  Colour, gray+alpha and 16-bit
 * files are an error naming the file and what it holds; so are corrupt or
 * truncated ones (libpng's message). */
int must_png_read_index(const char *path, must_image *img, int *paletted, must_err *err);

/* Walks the chunks of the PNG open as fp (png_chunks.c) and refuses, naming
 * the file, the chunk and its place, one that claims more bytes than the
 * file has left: libpng would allocate the claim before finding the data
 * missing.  A file cut short at a chunk boundary is left to libpng.  fp is
 * back at the start after. */
int must_png_check_chunks(const char *path, FILE *fp, must_err *err);

#endif
