/* draw.c - the contact sheet's canvas, rectangles and bitmap font. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "draw.h"

int canvas_new(canvas *c, int w, int h, rgb8 bg, must_err *err)
{
    c->w = w;
    c->h = h;
    c->rgb = malloc((size_t)w * h * 3);
    if (!c->rgb)
        return must_err_set(err, MUST_ENOMEM, "out of memory for a %dx%d sheet", w, h);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        c->rgb[3 * i] = bg.r;
        c->rgb[3 * i + 1] = bg.g;
        c->rgb[3 * i + 2] = bg.b;
    }
    return MUST_OK;
}

void canvas_free(canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
}

void canvas_put(canvas *c, int x, int y, rgb8 col)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->rgb + 3 * ((size_t)y * c->w + x);
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

void canvas_fill(canvas *c, int x0, int y0, int x1, int y1, rgb8 col)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            canvas_put(c, x, y, col);
}

void canvas_line(canvas *c, int x0, int y0, int x1, int y1, rgb8 col)
{
    /* Bresenham: one pixel per step along the longer axis. */
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        canvas_put(c, x0, y0, col);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void canvas_frame(canvas *c, int x0, int y0, int x1, int y1, rgb8 col, int dotted)
{
    for (int x = x0; x <= x1; x++)
        if (!dotted || (x & 2)) {
            canvas_put(c, x, y0, col);
            canvas_put(c, x, y1, col);
        }
    for (int y = y0; y <= y1; y++)
        if (!dotted || (y & 2)) {
            canvas_put(c, x0, y, col);
            canvas_put(c, x1, y, col);
        }
}

/* Rows of 5 bits, the leftmost pixel in bit 4. */
static const struct {
    char ch;
    uint8_t row[7];
} font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
};

static const uint8_t *glyph(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
    const uint8_t *q = NULL;
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++) {
        if (font[i].ch == ch)
            return font[i].row;
        if (font[i].ch == '?')
            q = font[i].row;
    }
    return q;
}

int canvas_text_width(const char *s)
{
    int n = (int)strlen(s);
    return n ? 6 * n - 1 : 0;
}

int canvas_text(canvas *c, int x, int y, const char *s, rgb8 col)
{
    int x0 = x;
    for (; *s; s++, x += 6) {
        const uint8_t *g = glyph(*s);
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (g[r] & (0x10 >> b))
                    canvas_put(c, x + b, y + r, col);
    }
    return x - x0;
}

rgb8 draw_class_colour(int k)
{
    static const rgb8 pal[12] = {
        {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
        {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230},
        {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {170, 110, 40},
    };
    rgb8 c = pal[(k < 0 ? -k : k) % 12];
    if (k >= 12) { /* darker shades for the next rounds */
        int f = 4 + (k / 12) % 3;
        c.r = (uint8_t)(c.r * 3 / f);
        c.g = (uint8_t)(c.g * 3 / f);
        c.b = (uint8_t)(c.b * 3 / f);
    }
    return c;
}

int canvas_write_png(const canvas *c, const char *path, must_err *err)
{
    must_image img = {.width = c->w, .height = c->h, .channels = 3, .depth = 8, .pixels = c->rgb};
    return must_png_write(path, &img, err);
}
