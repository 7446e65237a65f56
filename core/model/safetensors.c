/* safetensors.c - a checked reader and an atomic writer of safetensors files. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "must/io.h"
#include "must/safetensors.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[MUST_ST_NDTYPES] = {
    [MUST_ST_BOOL] = {"BOOL", 1},       [MUST_ST_U8] = {"U8", 1},
    [MUST_ST_I8] = {"I8", 1},           [MUST_ST_F8_E5M2] = {"F8_E5M2", 1},
    [MUST_ST_F8_E4M3] = {"F8_E4M3", 1}, [MUST_ST_I16] = {"I16", 2},
    [MUST_ST_U16] = {"U16", 2},         [MUST_ST_F16] = {"F16", 2},
    [MUST_ST_BF16] = {"BF16", 2},       [MUST_ST_I32] = {"I32", 4},
    [MUST_ST_U32] = {"U32", 4},         [MUST_ST_F32] = {"F32", 4},
    [MUST_ST_I64] = {"I64", 8},         [MUST_ST_U64] = {"U64", 8},
    [MUST_ST_F64] = {"F64", 8},
};

const char *must_st_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < MUST_ST_NDTYPES ? dtypes[dtype].name : NULL;
}

size_t must_st_dtype_size(int dtype)
{
    return dtype >= 0 && dtype < MUST_ST_NDTYPES ? dtypes[dtype].size : 0;
}

int must_st_dtype_parse(const char *s)
{
    for (int i = 0; i < MUST_ST_NDTYPES; i++)
        if (strcmp(dtypes[i].name, s) == 0)
            return i;
    return -1;
}

/* ---- bytes -------------------------------------------------------------- */

static int host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint64_t le_u(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float must_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in float. */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | mant << 13);
    return bits_f32(sign | (exp + 112u) << 23 | mant << 13);
}

float must_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

/* ---- reading ------------------------------------------------------------ */

struct must_st {
    char *path;
    unsigned char *buf;       /* the whole file */
    size_t size;
    const unsigned char *data; /* the data buffer inside buf */
    size_t data_len;
    must_st_tensor *t;        /* sorted by data offset */
    int n;
    const must_st_tensor **by_name; /* into t, sorted by name */
    char **mkey, **mval;
    int nmeta;
};

void must_st_close(must_st *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++)
        free((char *)st->t[i].name);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->mkey[i]);
        free(st->mval[i]);
    }
    free(st->mkey);
    free(st->mval);
    free(st->t);
    free(st->by_name);
    free(st->buf);
    free(st->path);
    free(st);
}

const char *must_st_path(const must_st *st) { return st->path; }
size_t must_st_file_size(const must_st *st) { return st->size; }
int must_st_count(const must_st *st) { return st->n; }
int must_st_meta_count(const must_st *st) { return st->nmeta; }

const must_st_tensor *must_st_get(const must_st *st, int i)
{
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const char *must_st_meta_key(const must_st *st, int i)
{
    return i >= 0 && i < st->nmeta ? st->mkey[i] : NULL;
}

const char *must_st_meta_value(const must_st *st, int i)
{
    return i >= 0 && i < st->nmeta ? st->mval[i] : NULL;
}

const char *must_st_meta(const must_st *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->mkey[i], key) == 0)
            return st->mval[i];
    return NULL;
}

const must_st_tensor *must_st_find(const must_st *st, const char *name)
{
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0)
            return st->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Formats a shape as "(2, 3)" (scalars "()"). */
static void shape_str(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < len)
        snprintf(buf + k, len - k, ")");
}

/* Reads a JSON integer in [0, limit] into *v. */
static int json_uint(const json_t *j, uint64_t limit, uint64_t *v)
{
    if (!json_is_integer(j))
        return -1;
    json_int_t x = json_integer_value(j);
    if (x < 0 || (uint64_t)x > limit)
        return -1;
    *v = (uint64_t)x;
    return 0;
}

/* Checks one entry of the header and fills t (name left to the caller). */
static int parse_entry(must_st *st, const char *name, json_t *val, must_st_tensor *t,
                       must_err *err)
{
    const char *path = st->path;
#define BAD(fmt, ...) \
    must_err_set(err, MUST_EFORMAT, "%s: tensor '%s': " fmt, path, name, __VA_ARGS__)
    if (!json_is_object(val))
        return BAD("%s", "entry is not a JSON object");
    json_t *jd = json_object_get(val, "dtype");
    if (!json_is_string(jd))
        return BAD("%s", "no \"dtype\" string");
    t->dtype = must_st_dtype_parse(json_string_value(jd));
    if (t->dtype < 0)
        return BAD("unknown dtype '%s'", json_string_value(jd));
    json_t *js = json_object_get(val, "shape");
    if (!json_is_array(js))
        return BAD("%s", "no \"shape\" list");
    size_t nd = json_array_size(js);
    if (nd > MUST_ST_MAX_DIMS)
        return BAD("%zu dimensions (at most %d supported)", nd, MUST_ST_MAX_DIMS);
    t->ndim = (int)nd;
    int has_zero = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (json_uint(json_array_get(js, i), INT64_MAX, &d))
            return BAD("shape entry %zu is not a non-negative integer", i);
        t->shape[i] = (int64_t)d;
        has_zero |= d == 0;
    }
    size_t esize = dtypes[t->dtype].size, numel = has_zero ? 0 : 1;
    char sh[160];
    shape_str(t->shape, t->ndim, sh, sizeof sh);
    for (size_t i = 0; i < nd && numel; i++) {
        if (numel > SIZE_MAX / esize / (uint64_t)t->shape[i])
            return BAD("shape %s is too large", sh);
        numel *= (size_t)t->shape[i];
    }
    t->numel = numel;
    json_t *jo = json_object_get(val, "data_offsets");
    uint64_t b, e;
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        json_uint(json_array_get(jo, 0), SIZE_MAX, &b) ||
        json_uint(json_array_get(jo, 1), SIZE_MAX, &e) || b > e)
        return BAD("%s", "\"data_offsets\" must be [begin, end] with 0 <= begin <= end");
    if (e - b != numel * esize)
        return BAD("data_offsets [%llu, %llu) hold %llu bytes but dtype %s and shape %s need "
                   "%zu", (unsigned long long)b, (unsigned long long)e,
                   (unsigned long long)(e - b), dtypes[t->dtype].name, sh, numel * esize);
    if (e > st->data_len)
        return BAD("data_offsets [%llu, %llu) lie past the end of the %zu-byte data buffer",
                   (unsigned long long)b, (unsigned long long)e, st->data_len);
#undef BAD
    t->begin = (size_t)b;
    t->end = (size_t)e;
    t->data = st->data + b;
    return MUST_OK;
}

static int parse_meta(must_st *st, json_t *meta, must_err *err)
{
    if (!json_is_object(meta))
        return must_err_set(err, MUST_EFORMAT, "%s: \"__metadata__\" is not a JSON object",
                            st->path);
    size_t n = json_object_size(meta);
    st->mkey = calloc(n ? n : 1, sizeof *st->mkey);
    st->mval = calloc(n ? n : 1, sizeof *st->mval);
    if (!st->mkey || !st->mval)
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", st->path);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return must_err_set(err, MUST_EFORMAT,
                                "%s: metadata '%s' is not a string", st->path, k);
        st->mkey[st->nmeta] = dup_str(k);
        st->mval[st->nmeta] = dup_str(json_string_value(v));
        st->nmeta++;
        if (!st->mkey[st->nmeta - 1] || !st->mval[st->nmeta - 1])
            return must_err_set(err, MUST_ENOMEM, "%s: out of memory", st->path);
    }
    return MUST_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const must_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const must_st_tensor *const *)a)->name,
                  (*(const must_st_tensor *const *)b)->name);
}

/* The buffer must be covered exactly: sorted by offset, each tensor starts
 * where the previous one ended and the last ends at the buffer's end. */
static int check_coverage(must_st *st, must_err *err)
{
    if (st->n > 1) /* qsort's base may not be NULL, even for none */
        qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_offset);
    size_t at = 0;
    for (int i = 0; i < st->n; i++) {
        const must_st_tensor *t = &st->t[i];
        if (t->begin > at)
            return must_err_set(err, MUST_EFORMAT,
                                "%s: bytes [%zu, %zu) of the data buffer belong to no tensor "
                                "(a hole before tensor '%s')", st->path, at, t->begin, t->name);
        if (t->begin < at)
            return must_err_set(err, MUST_EFORMAT,
                                "%s: tensor '%s' at [%zu, %zu) overlaps tensor '%s' at [%zu, %zu)",
                                st->path, t->name, t->begin, t->end, st->t[i - 1].name,
                                st->t[i - 1].begin, st->t[i - 1].end);
        at = t->end;
    }
    if (at != st->data_len)
        return must_err_set(err, MUST_EFORMAT,
                            "%s: the last %zu bytes of the data buffer belong to no tensor",
                            st->path, st->data_len - at);
    return MUST_OK;
}

static int parse_header(must_st *st, const char *hdr, size_t len, must_err *err)
{
    if (len == 0 || hdr[0] != '{')
        return must_err_set(err, MUST_EFORMAT, "%s: the header is not a JSON object", st->path);
    json_error_t je;
    json_t *root = json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return must_err_set(err, MUST_EFORMAT, "%s: invalid JSON header: %s (line %d, column %d)",
                            st->path, je.text, je.line, je.column);
    int rc = MUST_OK;
    if (!json_is_object(root)) {
        rc = must_err_set(err, MUST_EFORMAT, "%s: the header is not a JSON object", st->path);
        goto out;
    }
    size_t n = json_object_size(root);
    st->t = calloc(n ? n : 1, sizeof *st->t);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    if (!st->t || !st->by_name) {
        rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", st->path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_meta(st, val, err)))
                goto out;
            continue;
        }
        must_st_tensor *t = &st->t[st->n];
        if ((rc = parse_entry(st, key, val, t, err)))
            goto out;
        if (!(t->name = dup_str(key))) {
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", st->path);
            goto out;
        }
        st->n++;
    }
    if ((rc = check_coverage(st, err)))
        goto out;
    for (int i = 0; i < st->n; i++)
        st->by_name[i] = &st->t[i];
    if (st->n > 1) /* qsort's base may not be NULL, even for none */
        qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name);
out:
    json_decref(root);
    return rc;
}

int must_st_open(const char *path, must_st **out, must_err *err)
{
    *out = NULL;
    int rc;
    must_st *st = calloc(1, sizeof *st);
    if (!st || !(st->path = dup_str(path))) {
        free(st);
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        rc = must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                          "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = must_err_set(err, MUST_EIO, "%s: not a regular file", path);
        goto fail;
    }
    st->size = (size_t)sb.st_size;
    unsigned char lenb[8];
    if (st->size < 8) {
        rc = must_err_set(err, MUST_EFORMAT,
                          "%s: %zu bytes is too short for a safetensors file (8-byte header "
                          "length first)", path, st->size);
        goto fail;
    }
    if (fread(lenb, 1, 8, fp) != 8) {
        rc = must_err_set(err, MUST_EIO, "%s: read failed", path);
        goto fail;
    }
    uint64_t hlen = le_u(lenb, 8);
    /* Both limits are checked before anything is allocated from hlen. */
    if (hlen > MUST_ST_MAX_HEADER) {
        rc = must_err_set(err, MUST_EFORMAT,
                          "%s: header length %llu is over the %u-byte limit", path,
                          (unsigned long long)hlen, MUST_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > st->size - 8) {
        rc = must_err_set(err, MUST_EFORMAT,
                          "%s: header length %llu exceeds the %zu bytes that follow it "
                          "(truncated file?)", path, (unsigned long long)hlen, st->size - 8);
        goto fail;
    }
    st->buf = malloc(st->size);
    if (!st->buf) {
        rc = must_err_set(err, MUST_ENOMEM, "%s: cannot allocate %zu bytes", path, st->size);
        goto fail;
    }
    memcpy(st->buf, lenb, 8);
    if (fread(st->buf + 8, 1, st->size - 8, fp) != st->size - 8) {
        rc = must_err_set(err, MUST_EIO, "%s: short read (file changed while reading?)", path);
        goto fail;
    }
    fclose(fp);
    fp = NULL;
    st->data = st->buf + 8 + hlen;
    st->data_len = st->size - 8 - (size_t)hlen;
    if ((rc = parse_header(st, (const char *)st->buf + 8, (size_t)hlen, err)))
        goto fail;
    *out = st;
    return MUST_OK;
fail:
    if (fp)
        fclose(fp);
    must_st_close(st);
    return rc;
}

int must_st_to_f32(const must_st *st, const must_st_tensor *t, float *out, must_err *err)
{
    const unsigned char *p = t->data;
    size_t n = t->numel;
    switch (t->dtype) {
    case MUST_ST_F32:
        if (host_is_le()) {
            memcpy(out, p, n * 4);
        } else {
            for (size_t i = 0; i < n; i++)
                out[i] = bits_f32((uint32_t)le_u(p + 4 * i, 4));
        }
        return MUST_OK;
    case MUST_ST_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = must_f16_to_f32((uint16_t)le_u(p + 2 * i, 2));
        return MUST_OK;
    case MUST_ST_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = must_bf16_to_f32((uint16_t)le_u(p + 2 * i, 2));
        return MUST_OK;
    case MUST_ST_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = le_u(p + 8 * i, 8);
            double d;
            memcpy(&d, &u, sizeof d);
            out[i] = (float)d;
        }
        return MUST_OK;
    case MUST_ST_F8_E4M3:
    case MUST_ST_F8_E5M2:
        break;
    default: {
        /* Integers: widen through int64 (U64 through uint64). */
        size_t es = dtypes[t->dtype].size;
        int is_signed = t->dtype == MUST_ST_I8 || t->dtype == MUST_ST_I16 ||
                        t->dtype == MUST_ST_I32 || t->dtype == MUST_ST_I64;
        for (size_t i = 0; i < n; i++) {
            uint64_t u = le_u(p + es * i, (int)es);
            if (is_signed && es < 8 && (u >> (8 * es - 1)) & 1)
                u |= ~(uint64_t)0 << (8 * es); /* sign-extend */
            out[i] = is_signed ? (float)(int64_t)u : (float)u;
        }
        return MUST_OK;
    }
    }
    return must_err_set(err, MUST_EFORMAT, "%s: tensor '%s': cannot convert dtype %s to F32",
                        st->path, t->name, dtypes[t->dtype].name);
}

int must_st_to_i64(const must_st *st, const must_st_tensor *t, int64_t *out, must_err *err)
{
    const unsigned char *p = t->data;
    size_t es = dtypes[t->dtype].size;
    int is_signed = 0;
    switch (t->dtype) {
    case MUST_ST_I8:
    case MUST_ST_I16:
    case MUST_ST_I32:
    case MUST_ST_I64:
        is_signed = 1;
        break;
    case MUST_ST_BOOL:
    case MUST_ST_U8:
    case MUST_ST_U16:
    case MUST_ST_U32:
    case MUST_ST_U64:
        break;
    default:
        return must_err_set(err, MUST_EFORMAT,
                            "%s: tensor '%s': dtype %s is not an integer type", st->path,
                            t->name, dtypes[t->dtype].name);
    }
    for (size_t i = 0; i < t->numel; i++) {
        uint64_t u = le_u(p + es * i, (int)es);
        if (is_signed && es < 8 && (u >> (8 * es - 1)) & 1)
            u |= ~(uint64_t)0 << (8 * es);
        if (!is_signed && u > (uint64_t)INT64_MAX)
            return must_err_set(err, MUST_EFORMAT,
                                "%s: tensor '%s': value %llu at %zu does not fit in I64",
                                st->path, t->name, (unsigned long long)u, i);
        out[i] = (int64_t)u;
    }
    return MUST_OK;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct wentry {
    char *name;
    int dtype, ndim;
    int64_t shape[MUST_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} wentry;

struct must_st_writer {
    wentry *e;
    int n, cap;
    char **mkey, **mval;
    int nmeta, mcap;
};

must_st_writer *must_st_writer_new(void)
{
    return calloc(1, sizeof(must_st_writer));
}

void must_st_writer_free(must_st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free(w->e[i].name);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->mkey[i]);
        free(w->mval[i]);
    }
    free(w->e);
    free(w->mkey);
    free(w->mval);
    free(w);
}

int must_st_writer_add(must_st_writer *w, const char *name, int dtype, int ndim,
                       const int64_t *shape, const void *data, must_err *err)
{
    if (!name || strcmp(name, "__metadata__") == 0)
        return must_err_set(err, MUST_EINVAL, "safetensors: '%s' is not a tensor name",
                            name ? name : "(null)");
    if (!must_st_dtype_name(dtype))
        return must_err_set(err, MUST_EINVAL, "safetensors: tensor '%s': unknown dtype %d",
                            name, dtype);
    if (ndim < 0 || ndim > MUST_ST_MAX_DIMS)
        return must_err_set(err, MUST_EINVAL, "safetensors: tensor '%s': %d dimensions", name,
                            ndim);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return must_err_set(err, MUST_EINVAL,
                                "safetensors: tensor '%s': negative dimension %lld", name,
                                (long long)shape[i]);
        numel *= (size_t)shape[i];
    }
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return must_err_set(err, MUST_EINVAL, "safetensors: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        int nc = w->cap ? 2 * w->cap : 64;
        wentry *ne = realloc(w->e, (size_t)nc * sizeof *ne);
        if (!ne)
            return must_err_set(err, MUST_ENOMEM, "safetensors: out of memory");
        w->e = ne;
        w->cap = nc;
    }
    wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = dup_str(name)))
        return must_err_set(err, MUST_ENOMEM, "safetensors: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = numel * dtypes[dtype].size;
    w->n++;
    return MUST_OK;
}

int must_st_writer_add_f32(must_st_writer *w, const char *name, int ndim, const int64_t *shape,
                           const float *data, must_err *err)
{
    return must_st_writer_add(w, name, MUST_ST_F32, ndim, shape, data, err);
}

int must_st_writer_meta(must_st_writer *w, const char *key, const char *value, must_err *err)
{
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->mkey[i], key) == 0) {
            char *v = dup_str(value);
            if (!v)
                return must_err_set(err, MUST_ENOMEM, "safetensors: out of memory");
            free(w->mval[i]);
            w->mval[i] = v;
            return MUST_OK;
        }
    if (w->nmeta == w->mcap) {
        int nc = w->mcap ? 2 * w->mcap : 8;
        char **nk = realloc(w->mkey, (size_t)nc * sizeof *nk);
        if (!nk)
            return must_err_set(err, MUST_ENOMEM, "safetensors: out of memory");
        w->mkey = nk;
        char **nv = realloc(w->mval, (size_t)nc * sizeof *nv);
        if (!nv)
            return must_err_set(err, MUST_ENOMEM, "safetensors: out of memory");
        w->mval = nv;
        w->mcap = nc;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return must_err_set(err, MUST_ENOMEM, "safetensors: out of memory");
    }
    w->mkey[w->nmeta] = k;
    w->mval[w->nmeta] = v;
    w->nmeta++;
    return MUST_OK;
}

/* Builds the JSON header; *hdr is malloc'd. */
static int build_header(const must_st_writer *w, const char *path, char **hdr, must_err *err)
{
    int rc = MUST_OK;
    json_t *root = json_object();
    if (!root)
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    if (w->nmeta > 0) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta)) {
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        for (int i = 0; i < w->nmeta; i++) {
            json_t *s = json_string(w->mval[i]);
            if (!s || json_object_set_new(meta, w->mkey[i], s)) {
                rc = must_err_set(err, MUST_EINVAL,
                                  "%s: metadata '%s' is not valid UTF-8 text", path, w->mkey[i]);
                goto out;
            }
        }
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const wentry *e = &w->e[i];
        json_t *shape = json_array();
        int bad = !shape;
        for (int d = 0; !bad && d < e->ndim; d++)
            bad = json_array_append_new(shape, json_integer((json_int_t)e->shape[d])) != 0;
        if (bad) {
            json_decref(shape);
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        /* "o" hands shape over to ent, on failure too. */
        json_t *ent = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtypes[e->dtype].name, "shape",
                                shape, "data_offsets", (json_int_t)off,
                                (json_int_t)(off + e->nbytes));
        if (!ent) {
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        if (json_object_set_new(root, e->name, ent)) {
            rc = must_err_set(err, MUST_EINVAL, "%s: tensor name '%s' is not valid UTF-8", path,
                              e->name);
            goto out;
        }
        off += e->nbytes;
    }
    *hdr = json_dumps(root, JSON_COMPACT);
    if (!*hdr)
        rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
out:
    json_decref(root);
    return rc;
}

/* Writes n bytes of elements of size es in little-endian order. */
static int write_le(FILE *fp, const unsigned char *p, size_t n, size_t es)
{
    if (es == 1 || host_is_le())
        return n == 0 || fwrite(p, 1, n, fp) == n ? 0 : -1;
    unsigned char tmp[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i += es) {
        for (size_t b = 0; b < es; b++)
            tmp[k + b] = p[i + es - 1 - b];
        k += es;
        if (k == sizeof tmp || i + es == n) {
            if (fwrite(tmp, 1, k, fp) != k)
                return -1;
            k = 0;
        }
    }
    return 0;
}

int must_st_writer_save(must_st_writer *w, const char *path, must_err *err)
{
    char *hdr = NULL;
    int rc = build_header(w, path, &hdr, err);
    if (rc)
        return rc;
    size_t hlen = strlen(hdr);
    size_t pad = (8 - hlen % 8) % 8;
    uint64_t total = hlen + pad;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)(total >> (8 * i));
    must_afile af;
    if ((rc = must_afile_open(&af, path, err))) {
        free(hdr);
        return rc;
    }
    int bad = fwrite(lenb, 1, 8, af.fp) != 8 || fwrite(hdr, 1, hlen, af.fp) != hlen;
    for (size_t i = 0; i < pad && !bad; i++)
        bad = fputc(' ', af.fp) == EOF;
    for (int i = 0; i < w->n && !bad; i++)
        bad = write_le(af.fp, w->e[i].data, w->e[i].nbytes, dtypes[w->e[i].dtype].size) != 0;
    free(hdr);
    if (bad) {
        rc = must_err_set(err, MUST_EIO, "%s: write failed: %s", path, strerror(errno));
        must_afile_abort(&af);
        return rc;
    }
    return must_afile_commit(&af, err);
}
