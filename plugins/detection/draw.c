/* draw.c - boxes, class names and scores over an 8-bit RGB image (the
 * paper's Figure 2 and 4 style pictures).  The font is 3x5 pixels, 4 a
 * character, because the training images are 64-128 pixels wide: the
 * program's 5x7 contact-sheet font (core/data/draw.c) would spend 66 of them on
 * "cylinder 0.93". */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "det-impl.h"

/* Five rows of three bits each, the top row in the high bits, leftmost
 * pixel first. */
#define G(a, b, c, d, e) (uint16_t)((a) << 12 | (b) << 9 | (c) << 6 | (d) << 3 | (e))
static uint16_t glyph(char ch)
{
    static const uint16_t digit[10] = {
        G(7, 5, 5, 5, 7), G(2, 6, 2, 2, 7), G(7, 1, 7, 4, 7), G(7, 1, 7, 1, 7), G(5, 5, 7, 1, 1),
        G(7, 4, 7, 1, 7), G(7, 4, 7, 5, 7), G(7, 1, 1, 1, 1), G(7, 5, 7, 5, 7), G(7, 5, 7, 1, 7),
    };
    static const uint16_t letter[26] = {
        G(2, 5, 7, 5, 5), G(6, 5, 6, 5, 6), G(3, 4, 4, 4, 3), G(6, 5, 5, 5, 6), G(7, 4, 6, 4, 7),
        G(7, 4, 6, 4, 4), G(3, 4, 5, 5, 3), G(5, 5, 7, 5, 5), G(7, 2, 2, 2, 7), G(1, 1, 1, 5, 2),
        G(5, 5, 6, 5, 5), G(4, 4, 4, 4, 7), G(5, 7, 7, 5, 5), G(6, 5, 5, 5, 5), G(2, 5, 5, 5, 2),
        G(6, 5, 6, 4, 4), G(2, 5, 5, 6, 3), G(6, 5, 6, 5, 5), G(3, 4, 2, 1, 6), G(7, 2, 2, 2, 2),
        G(5, 5, 5, 5, 7), G(5, 5, 5, 5, 2), G(5, 5, 7, 7, 5), G(5, 5, 2, 5, 5), G(5, 5, 2, 2, 2),
        G(7, 1, 2, 4, 7),
    };
    if (ch >= '0' && ch <= '9')
        return digit[ch - '0'];
    if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
    if (ch >= 'A' && ch <= 'Z')
        return letter[ch - 'A'];
    switch (ch) {
    case ' ': return 0;
    case '.': return G(0, 0, 0, 0, 2);
    case '-': return G(0, 0, 7, 0, 0);
    case '_': return G(0, 0, 0, 0, 7);
    case ':': return G(0, 2, 0, 2, 0);
    default: return G(6, 1, 2, 0, 2); /* '?' */
    }
}
#undef G

#define FONT_H 5

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

static void put(must_image *img, int x, int y, rgb c)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return;
    uint8_t *p = (uint8_t *)img->pixels + 3 * ((size_t)y * img->width + x);
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

static void text(must_image *img, int x, int y, const char *s, rgb c)
{
    for (; *s; s++, x += 4) {
        uint16_t g = glyph(*s);
        for (int r = 0; r < FONT_H; r++)
            for (int k = 0; k < 3; k++)
                if (g & (1u << (14 - 3 * r - k)))
                    put(img, x + k, y + r, c);
    }
}

int det_draw_boxes(must_image *img, const must_box *box, int n, const char *const *names,
                   int nclasses, int show_score, must_err *err)
{
    if (img->channels != 3 || img->depth != 8 || !img->pixels)
        return det_err(err, MUST_EINVAL,
                       "detection draw: need an 8-bit RGB image, got %d channels of %d bits",
                       img->channels, img->depth);
    for (int i = 0; i < n; i++) {
        const must_box *b = &box[i];
        unsigned char cc[3];
        plugin_class_colour(b->cls, cc);
        rgb c = {cc[0], cc[1], cc[2]};
        /* Half-open pixel boxes: the frame runs on the outermost pixels inside. */
        int x0 = (int)floorf(b->x0), y0 = (int)floorf(b->y0);
        int x1 = (int)ceilf(b->x1) - 1, y1 = (int)ceilf(b->y1) - 1;
        for (int x = x0; x <= x1; x++)
            if (!b->difficult || (x & 2)) {
                put(img, x, y0, c);
                put(img, x, y1, c);
            }
        for (int y = y0; y <= y1; y++)
            if (!b->difficult || (y & 2)) {
                put(img, x0, y, c);
                put(img, x1, y, c);
            }
        char s[96];
        int len = names && b->cls >= 0 && b->cls < nclasses
                      ? snprintf(s, sizeof s, "%.40s", names[b->cls])
                      : snprintf(s, sizeof s, "%d", b->cls);
        if (show_score)
            snprintf(s + len, sizeof s - (size_t)len, " %.2f", (double)b->score);
        /* On a black strip above the box, or inside its top when it touches
         * the image's top edge. */
        int tw = 4 * (int)strlen(s) + 1, ty = y0 - FONT_H - 2 >= 0 ? y0 - FONT_H - 2 : y0 + 1;
        for (int y = ty; y < ty + FONT_H + 2; y++)
            for (int x = x0; x < x0 + tw; x++)
                put(img, x, y, (rgb){0, 0, 0});
        text(img, x0 + 1, ty + 1, s, c);
    }
    return MUST_OK;
}
