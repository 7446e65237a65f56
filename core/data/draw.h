/* draw.h - a tiny RGB canvas for contact sheets: rectangles and a 5x7 bitmap font
 * (private to libmust: the contact sheets, the figures, the curves). */
#ifndef MUST_DRAW_H
#define MUST_DRAW_H

#include <stdint.h>

#include "must/image.h"

typedef struct canvas {
    int w, h;
    uint8_t *rgb; /* (H, W, 3) */
} canvas;

typedef struct rgb8 {
    uint8_t r, g, b;
} rgb8;

int canvas_new(canvas *c, int w, int h, rgb8 bg, must_err *err);
void canvas_free(canvas *c);
/* Pixels outside the canvas are skipped, so callers need not clip. */
void canvas_put(canvas *c, int x, int y, rgb8 col);
void canvas_fill(canvas *c, int x0, int y0, int x1, int y1, rgb8 col);      /* [x0, x1) */
void canvas_frame(canvas *c, int x0, int y0, int x1, int y1, rgb8 col, int dotted);
/* A one-pixel line from (x0, y0) to (x1, y1), both ends included. */
void canvas_line(canvas *c, int x0, int y0, int x1, int y1, rgb8 col);
/* Text in the 5x7 font, 6 pixels a character, top-left at (x, y); lower
 * case prints as upper case, unknown characters as '?'.  Returns the width. */
int canvas_text(canvas *c, int x, int y, const char *s, rgb8 col);
int canvas_text_width(const char *s);
#define CANVAS_TEXT_H 7

/* A distinct colour for class k. */
rgb8 draw_class_colour(int k);

/* Writes the canvas as an 8-bit RGB PNG (atomically). */
int canvas_write_png(const canvas *c, const char *path, must_err *err);

#endif
