/* npy.c - NumPy's .npy files of float32 and float64 arrays (npy-impl.h has
 * the layout).  The header is a Python literal, but only a small part of
 * Python's syntax can describe a plain float array: one dict of three keys
 * whose values are a string, True or False, and a tuple of integers.  That
 * part is parsed here; anything else (a structured dtype's list of fields,
 * an unknown key) is refused by name. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "npy-impl.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* The header being parsed: its bytes, the cursor, the file's name. */
typedef struct hdr {
    const char *name;
    const unsigned char *p;
    size_t len, at;
    must_err *err;
} hdr;

/* An error at the cursor: "NAME: .npy header byte N: ...". */
static int hdr_fail(hdr *h, const char *fmt, ...) MUST_PRINTF(2, 3);
static int hdr_fail(hdr *h, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return must_err_set(h->err, MUST_EFORMAT, "%s: .npy header byte %zu: %s", h->name, h->at,
                        what);
}

static void hdr_blank(hdr *h)
{
    while (h->at < h->len && (h->p[h->at] == ' ' || h->p[h->at] == '\t' ||
                              h->p[h->at] == '\n' || h->p[h->at] == '\r'))
        h->at++;
}

/* The next non-blank byte, or -1 at the end. */
static int hdr_peek(hdr *h)
{
    hdr_blank(h);
    return h->at < h->len ? h->p[h->at] : -1;
}

static int hdr_expect(hdr *h, int c, const char *what)
{
    if (hdr_peek(h) != c)
        return hdr_fail(h, "expected %s", what);
    h->at++;
    return MUST_OK;
}

/* A quoted string ('...' or "...") into out (at most cap - 1 bytes). */
static int hdr_string(hdr *h, char *out, size_t cap, const char *what)
{
    int q = hdr_peek(h);
    if (q != '\'' && q != '"')
        return hdr_fail(h, "expected a quoted string for %s", what);
    size_t start = ++h->at, n = 0;
    while (h->at < h->len && h->p[h->at] != q) {
        if (h->p[h->at] == '\\')
            return hdr_fail(h, "a backslash escape in %s", what);
        h->at++;
    }
    if (h->at >= h->len)
        return hdr_fail(h, "unterminated string in %s", what);
    n = h->at - start;
    if (n >= cap) {
        h->at = start;
        return hdr_fail(h, "string too long for %s", what);
    }
    memcpy(out, h->p + start, n);
    out[n] = '\0';
    h->at++;
    return MUST_OK;
}

/* 1 when the header continues with the word w (a Python name). */
static int hdr_word(hdr *h, const char *w)
{
    size_t n = strlen(w);
    if (hdr_peek(h) < 0 || h->len - h->at < n || memcmp(h->p + h->at, w, n) != 0)
        return 0;
    h->at += n;
    return 1;
}

/* One non-negative integer of the shape (Python 2 wrote a long as "640L"). */
static int hdr_int(hdr *h, size_t *v)
{
    if (hdr_peek(h) < '0' || hdr_peek(h) > '9')
        return hdr_fail(h, "expected a dimension (a whole number >= 0) in 'shape'");
    uint64_t x = 0;
    while (h->at < h->len && h->p[h->at] >= '0' && h->p[h->at] <= '9') {
        unsigned d = (unsigned)(h->p[h->at] - '0');
        if (x > (UINT64_MAX - d) / 10 || 10 * x + d > SIZE_MAX)
            return hdr_fail(h, "a dimension too large for this machine in 'shape'");
        x = 10 * x + d;
        h->at++;
    }
    if (h->at < h->len && h->p[h->at] == 'L')
        h->at++;
    *v = (size_t)x;
    return MUST_OK;
}

/* "()", "(5,)", "(480, 640)", "(480, 640, 3)". */
static int hdr_shape(hdr *h, npy_array *a)
{
    int rc = hdr_expect(h, '(', "'(' to open the tuple of 'shape'");
    a->ndim = 0;
    while (rc == MUST_OK && hdr_peek(h) != ')') {
        if (a->ndim == NPY_MAXDIM)
            return hdr_fail(h, "more dimensions than 32 in 'shape'");
        if ((rc = hdr_int(h, &a->shape[a->ndim])))
            return rc;
        a->ndim++;
        if (hdr_peek(h) == ',')
            h->at++;
        else if (hdr_peek(h) != ')')
            return hdr_fail(h, "expected ',' or ')' in 'shape'");
        else if (a->ndim == 1)
            return hdr_fail(h, "a one-element tuple needs its ',' in 'shape'");
    }
    return rc ? rc : hdr_expect(h, ')', "')'");
}

/* The value of key into a; seen marks the keys already read. */
static int hdr_value(hdr *h, const char *key, npy_array *a, unsigned *seen)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    int k = 0;
    while (k < 3 && strcmp(key, keys[k]) != 0)
        k++;
    if (k == 3)
        return must_err_set(h->err, MUST_EFORMAT, "%s: .npy header: unknown key '%s' (a plain "
                            "array has 'descr', 'fortran_order' and 'shape')", h->name, key);
    if (*seen & (1u << k))
        return must_err_set(h->err, MUST_EFORMAT, "%s: .npy header: key '%s' given twice",
                            h->name, key);
    *seen |= 1u << k;
    if (k == 0) {
        if (hdr_peek(h) == '[')
            return hdr_fail(h, "'descr' is a list of fields (a structured array), not a "
                            "float dtype");
        return hdr_string(h, a->descr, sizeof a->descr, "'descr'");
    }
    if (k == 1) {
        if (hdr_word(h, "True"))
            a->fortran_order = 1;
        else if (hdr_word(h, "False"))
            a->fortran_order = 0;
        else
            return hdr_fail(h, "expected True or False for 'fortran_order'");
        return MUST_OK;
    }
    return hdr_shape(h, a);
}

/* The dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }". */
static int parse_header(hdr *h, npy_array *a)
{
    unsigned seen = 0;
    int rc = hdr_expect(h, '{', "'{' (the header is a Python dict)");
    while (rc == MUST_OK && hdr_peek(h) != '}') {
        char key[32];
        if ((rc = hdr_string(h, key, sizeof key, "a key")) ||
            (rc = hdr_expect(h, ':', "':' after the key")) || (rc = hdr_value(h, key, a, &seen)))
            return rc;
        if (hdr_peek(h) == ',')
            h->at++;
        else if (hdr_peek(h) != '}')
            return hdr_fail(h, "expected ',' or '}' after the value of '%s'", key);
    }
    if (rc || (rc = hdr_expect(h, '}', "'}'")))
        return rc;
    if (hdr_peek(h) >= 0)
        return hdr_fail(h, "more after the dict's '}' than the blank padding");
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; k++)
        if (!(seen & (1u << k)))
            return must_err_set(h->err, MUST_EFORMAT, "%s: .npy header: no '%s'", h->name,
                                keys[k]);
    return MUST_OK;
}

void npy_shape_str(const npy_array *a, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < a->ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%zu", i ? ", " : "", a->shape[i]);
    if (n < len)
        snprintf(buf + n, len - n, a->ndim == 1 ? ",)" : ")");
}

/* Element bytes as a double: size 4 or 8, big or little endian.  Built from
 * the bytes' values, so the host's own byte order does not matter. */
static double load(const unsigned char *b, int size, int big)
{
    uint64_t u = 0;
    for (int i = 0; i < size; i++)
        u |= (uint64_t)b[big ? size - 1 - i : i] << (8 * i);
    if (size == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* The values, in C order whatever the file's order. */
static void convert(npy_array *a, const unsigned char *src, int size, int big)
{
    if (!a->fortran_order || a->ndim < 2) {
        for (size_t i = 0; i < a->count; i++)
            a->data[i] = load(src + i * (size_t)size, size, big);
        return;
    }
    /* Walk the C-order index (last axis fastest), keeping the element's
     * Fortran-order offset (first axis fastest) alongside. */
    size_t idx[NPY_MAXDIM] = {0}, stride[NPY_MAXDIM], off = 0;
    stride[0] = 1;
    for (int k = 1; k < a->ndim; k++)
        stride[k] = stride[k - 1] * a->shape[k - 1];
    for (size_t i = 0; i < a->count; i++) {
        a->data[i] = load(src + off * (size_t)size, size, big);
        for (int k = a->ndim - 1; k >= 0; k--) {
            off += stride[k];
            if (++idx[k] < a->shape[k])
                break;
            off -= stride[k] * a->shape[k];
            idx[k] = 0;
        }
    }
}

/* Magic, version and header length: *off gets where the header starts. */
static int preamble(const char *name, const unsigned char *buf, size_t len, npy_array *a,
                    size_t *off, size_t *hlen, must_err *err)
{
    if (len < 8 || memcmp(buf, npy_magic, sizeof npy_magic) != 0)
        return must_err_set(err, MUST_EFORMAT, "%s: not a .npy file (it does not start with "
                            "the bytes \\x93NUMPY)", name);
    a->major = buf[6];
    a->minor = buf[7];
    if (a->major < 1 || a->major > 3 || a->minor != 0)
        return must_err_set(err, MUST_EFORMAT, "%s: .npy format version %d.%d is not one this "
                            "reader knows (1.0, 2.0, 3.0)", name, a->major, a->minor);
    size_t lsize = a->major == 1 ? 2 : 4;
    if (len < 8 + lsize)
        return must_err_set(err, MUST_EFORMAT, "%s: truncated: %zu bytes end inside the .npy "
                            "preamble", name, len);
    *hlen = 0;
    for (size_t i = 0; i < lsize; i++)
        *hlen |= (size_t)buf[8 + i] << (8 * i);
    *off = 8 + lsize;
    if (*hlen > NPY_HEADER_MAX)
        return must_err_set(err, MUST_EFORMAT, "%s: .npy header of %zu bytes is longer than the "
                            "%d this reader takes (a float array's is under 200)", name, *hlen,
                            NPY_HEADER_MAX);
    if (*hlen > len - *off)
        return must_err_set(err, MUST_EFORMAT, "%s: truncated: the .npy header is %zu bytes "
                            "but the file ends %zu bytes after its start", name, *hlen,
                            len - *off);
    return MUST_OK;
}

/* The element size of descr (4 or 8) and its byte order, or an error. */
static int dtype(const char *name, const npy_array *a, int *size, int *big, must_err *err)
{
    static const char *const ok[4] = {"<f4", ">f4", "<f8", ">f8"};
    for (int i = 0; i < 4; i++)
        if (strcmp(a->descr, ok[i]) == 0) {
            *size = i < 2 ? 4 : 8;
            *big = i % 2;
            return MUST_OK;
        }
    return must_err_set(err, MUST_EFORMAT, "%s: dtype '%s' is not float32 or float64 (this "
                        "reader takes '<f4', '>f4', '<f8' and '>f8')", name, a->descr);
}

int npy_parse(const char *name, const unsigned char *buf, size_t len, npy_array *a,
              must_err *err)
{
    memset(a, 0, sizeof *a);
    size_t off = 0, hlen = 0;
    int size = 4, big = 0;
    int rc = preamble(name, buf, len, a, &off, &hlen, err);
    hdr h = {.name = name, .p = buf + off, .len = hlen, .err = err};
    if (rc || (rc = parse_header(&h, a)) || (rc = dtype(name, a, &size, &big, err))) {
        memset(a, 0, sizeof *a);
        return rc;
    }
    char shape[64 + 22 * NPY_MAXDIM];
    npy_shape_str(a, shape, sizeof shape);
    a->count = 1;
    for (int k = 0; k < a->ndim; k++) {
        if (a->shape[k] && a->count > SIZE_MAX / sizeof(double) / a->shape[k]) {
            memset(a, 0, sizeof *a);
            return must_err_set(err, MUST_EFORMAT, "%s: .npy shape %s has more elements than "
                                "this machine can address", name, shape);
        }
        a->count *= a->shape[k];
    }
    size_t need = a->count * (size_t)size, have = len - off - hlen;
    if (need != have) {
        rc = must_err_set(err, MUST_EFORMAT, need > have
                              ? "%s: truncated: shape %s of '%s' needs %zu bytes of data, %zu "
                                "follow the header"
                              : "%s: shape %s of '%s' needs %zu bytes of data, but %zu follow "
                                "the header", name, shape, a->descr, need, have);
        memset(a, 0, sizeof *a);
        return rc;
    }
    if (a->count && !(a->data = malloc(a->count * sizeof *a->data))) {
        memset(a, 0, sizeof *a);
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory for shape %s", name, shape);
    }
    convert(a, buf + off + hlen, size, big);
    return MUST_OK;
}

int npy_read(const char *path, npy_array *a, must_err *err)
{
    memset(a, 0, sizeof *a);
    char *buf;
    size_t len;
    int rc = must_file_read(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = npy_parse(path, (const unsigned char *)buf, len, a, err);
    free(buf);
    return rc;
}

void npy_free(npy_array *a)
{
    if (a) {
        free(a->data);
        memset(a, 0, sizeof *a);
    }
}
