/* npyutil.h - .npy files written byte by byte for the tests (no NumPy
 * needed): the magic, the version, the header length, the header dict
 * padded with blanks to a multiple of 64 bytes and ended by '\n', then the
 * values in the byte order the dtype names. */
#ifndef MUST_NPYUTIL_H
#define MUST_NPYUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element v as a float32 (size 4) or float64 (8), big or little endian,
 * into out. */
static inline void nu_put(unsigned char *out, double v, int size, int big)
{
    uint64_t u;
    if (size == 4) {
        float f = (float)v;
        uint32_t u32;
        memcpy(&u32, &f, sizeof f);
        u = u32;
    } else {
        memcpy(&u, &v, sizeof u);
    }
    for (int i = 0; i < size; i++)
        out[big ? size - 1 - i : i] = (unsigned char)(u >> (8 * i));
}

/* A whole file in a malloc'd buffer (*len bytes): version major.0, the
 * dict text as given, then n values of descr ('<f4', '>f4', '<f8', '>f8';
 * any other descr writes 4-byte little-endian floats) in the order given. */
static inline unsigned char *nu_build(int major, const char *dict, const char *descr,
                                      const double *v, size_t n, size_t *len)
{
    int size = descr[2] == '8' ? 8 : 4, big = descr[0] == '>';
    size_t lsize = major == 1 ? 2 : 4, pre = 8 + lsize, hlen = strlen(dict) + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    *len = pre + hlen + n * (size_t)size;
    unsigned char *b = malloc(*len);
    if (!b)
        return NULL;
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < lsize; i++)
        b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, strlen(dict));
    b[pre + hlen - 1] = '\n';
    for (size_t i = 0; i < n; i++)
        nu_put(b + pre + hlen + i * (size_t)size, v[i], size, big);
    return b;
}

/* Writes len bytes to path; 0 on success. */
static inline int nu_write(const char *path, const unsigned char *b, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int bad = fwrite(b, 1, len, fp) != len;
    return fclose(fp) != 0 || bad ? -1 : 0;
}

/* An array file with numpy's usual header: shape given as its Python text
 * ("(4, 6)"), C order. */
static inline int nu_save(const char *path, int major, const char *descr, const char *shape,
                          const double *v, size_t n)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    size_t len;
    unsigned char *b = nu_build(major, dict, descr, v, n, &len);
    int rc = b ? nu_write(path, b, len) : -1;
    free(b);
    return rc;
}

#endif
