/* coco_mask.c - COCO's masks: polygons rasterised by pixel centre, and run-length
 * encodings (the counts list and cocoapi's compressed string) decoded. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coco-impl.h"

void coco_win_empty(coco_win *win)
{
    win->x0 = win->y0 = INT32_MAX;
    win->x1 = win->y1 = INT32_MIN;
}

static void win_add(coco_win *win, int x0, int x1, int y)
{
    if (x0 < win->x0)
        win->x0 = x0;
    if (x1 > win->x1)
        win->x1 = x1;
    if (y < win->y0)
        win->y0 = y;
    if (y + 1 > win->y1)
        win->y1 = y + 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The first column whose centre lies right of x (j + 0.5 > x), clamped to
 * 0..w: a huge coordinate must not overflow the int. */
static int col_after(double x, int w)
{
    double j = floor(x - 0.5) + 1.0;
    return j < 0.0 ? 0 : j > (double)w ? w : (int)j;
}

int coco_poly_fill(uint8_t *mask, int w, int h, const double *xy, int n, coco_win *win)
{
    if (n < 3)
        return MUST_OK;
    double ymin = xy[1], ymax = xy[1];
    for (int k = 1; k < n; k++) {
        ymin = fmin(ymin, xy[2 * k + 1]);
        ymax = fmax(ymax, xy[2 * k + 1]);
    }
    double *xs = malloc((size_t)n * sizeof *xs);
    if (!xs)
        return MUST_ENOMEM;
    /* Rows whose centre may lie inside: ymin < i + 0.5 <= ymax. */
    int i0 = ymin - 0.5 < 0.0 ? 0 : ymin - 0.5 > (double)h ? h : (int)floor(ymin - 0.5);
    int i1 = ymax - 0.5 < 0.0 ? -1 : ymax - 0.5 >= (double)h ? h - 1 : (int)floor(ymax - 0.5);
    for (int i = i0; i <= i1; i++) {
        double yc = i + 0.5;
        int nx = 0;
        /* An edge crosses the row when its ends lie on either side of the
         * centre line, an end on the line counting as below it: the line
         * is taken an infinitesimal above the centres. */
        for (int k = 0; k < n; k++) {
            const double *a = xy + 2 * k, *b = xy + 2 * ((k + 1) % n);
            if ((a[1] < yc) != (b[1] < yc))
                xs[nx++] = a[0] + (yc - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
        }
        if (nx > 1) /* qsort's base may not be NULL, even for none */
            qsort(xs, (size_t)nx, sizeof *xs, cmp_double);
        /* Inside: centres in (xs[2t], xs[2t+1]] (the centre taken an
         * infinitesimal to the left). */
        for (int t = 0; t + 1 < nx; t += 2) {
            int j0 = col_after(xs[t], w), j1 = col_after(xs[t + 1], w);
            if (j0 >= j1)
                continue;
            memset(mask + (size_t)i * (size_t)w + (size_t)j0, 1, (size_t)(j1 - j0));
            win_add(win, j0, j1, i);
        }
    }
    free(xs);
    return MUST_OK;
}

int coco_rle_fill(uint8_t *mask, int w, int h, const uint32_t *counts, size_t m, coco_win *win,
                  must_err *err)
{
    uint64_t total = (uint64_t)w * (uint64_t)h, sum = 0;
    for (size_t r = 0; r < m; r++)
        sum += counts[r];
    if (sum != total)
        return must_err_set(err, MUST_EFORMAT, "the runs cover %llu pixels, the image %dx%d has "
                            "%llu", (unsigned long long)sum, w, h, (unsigned long long)total);
    /* Column-major: the run goes down column x from row y, on into the next
     * columns. */
    int x = 0, y = 0;
    for (size_t r = 0; r < m; r++) {
        uint32_t left = counts[r];
        if (r % 2 == 1 && left > 0) {
            int last_x = (int)(((uint64_t)x * (uint64_t)h + (uint64_t)y + left - 1) /
                               (uint64_t)h);
            win_add(win, x, last_x + 1, last_x > x ? 0 : y);
            win_add(win, x, x + 1, last_x > x ? h - 1 : y + (int)left - 1);
        }
        while (left > 0) {
            uint32_t step = (uint32_t)(h - y) < left ? (uint32_t)(h - y) : left;
            if (r % 2 == 1)
                for (uint32_t t = 0; t < step; t++)
                    mask[(size_t)(y + (int)t) * (size_t)w + (size_t)x] = 1;
            left -= step;
            y += (int)step;
            if (y == h)
                y = 0, x++;
        }
    }
    return MUST_OK;
}

int coco_rle_decode(const char *s, uint32_t **counts, size_t *m, must_err *err)
{
    size_t len = strlen(s), n = 0;
    uint32_t *c = malloc((len ? len : 1) * sizeof *c);
    if (!c)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (size_t p = 0; p < len;) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len) {
                free(c);
                return must_err_set(err, MUST_EFORMAT, "run %zu ends in the middle (at "
                                    "character %zu)", n + 1, p);
            }
            int ch = (unsigned char)s[p];
            if (ch < 48 || ch > 111) {
                free(c);
                return must_err_set(err, MUST_EFORMAT, "character %zu ('%c') is not one of "
                                    "'0'..'o'", p + 1, ch);
            }
            if (k == 7) {
                free(c);
                return must_err_set(err, MUST_EFORMAT, "run %zu is longer than 7 characters",
                                    n + 1);
            }
            ch -= 48;
            x |= (int64_t)(ch & 0x1f) << (5 * k);
            more = ch & 0x20;
            p++, k++;
            if (!more && (ch & 0x10)) /* negative: sign-extend */
                x -= (int64_t)1 << (5 * k);
        }
        if (n > 2)
            x += c[n - 2];
        if (x < 0 || x > (int64_t)UINT32_MAX) {
            free(c);
            return must_err_set(err, MUST_EFORMAT, "run %zu is %lld, not a pixel count", n + 1,
                                (long long)x);
        }
        c[n++] = (uint32_t)x;
    }
    *counts = c;
    *m = n;
    return MUST_OK;
}

char *coco_rle_encode(const uint32_t *counts, size_t m)
{
    char *s = malloc(m * 8 + 1), *o = s;
    if (!s)
        return NULL;
    for (size_t r = 0; r < m; r++) {
        int64_t x = counts[r];
        if (r > 2)
            x -= counts[r - 2];
        for (int more = 1; more;) {
            int ch = (int)(x & 0x1f);
            x >>= 5; /* arithmetic: a negative difference keeps its sign */
            more = (ch & 0x10) ? x != -1 : x != 0;
            *o++ = (char)(48 + (more ? ch | 0x20 : ch));
        }
    }
    *o = '\0';
    return s;
}
