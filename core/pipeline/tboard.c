/* tboard.c - TensorBoard event files, written by hand.
 *
 * An event file is a sequence of records (TensorFlow's TFRecord framing):
 *   uint64 length, uint32 masked CRC-32C of those 8 bytes,
 *   length bytes of data, uint32 masked CRC-32C of the data,
 * all little-endian, the mask being ((crc >> 15) | (crc << 17)) + 0xa282ead8.
 * Each record's data is a serialized tensorflow.Event protobuf; of it must
 * writes six fields:
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
 *   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
 *             bytes encoded_image_string = 4; }
 * Why by hand and not protobuf-c: these six fields take four encoders of a
 * few lines (varint, fixed 32 and 64 bits, length-delimited); protobuf-c
 * would add a build-time compiler, TensorFlow's .proto files in the tree
 * and a library, for no field we need beyond them.
 *
 * The events of a unit are kept in memory and written whole, atomically,
 * with every checkpoint (like loss.csv), so the file always matches the
 * checkpoint beside it; a resume keeps the events of the steps it kept. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "pipeline-impl.h"

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), a table computed
 * once. */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t pl_crc32c(const void *p, size_t n)
{
    if (!crc_table[1])
        crc_init();
    const unsigned char *b = p;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ b[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t pl_crc_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- the bytes ---------------------------------------------------------- */

static int put(pl_tb *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        size_t cap = (t->cap ? 2 * t->cap : 4096) + n;
        unsigned char *nb = realloc(t->buf, cap);
        if (!nb)
            return MUST_ENOMEM;
        t->buf = nb;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    return MUST_OK;
}

/* Protobuf encoders into a scratch buffer of a known bound. */
typedef struct pb {
    unsigned char *p;
    size_t n, cap;
} pb;

static void pb_byte(pb *b, unsigned v)
{
    if (b->n < b->cap)
        b->p[b->n] = (unsigned char)v;
    b->n++;
}

static void pb_varint(pb *b, uint64_t v)
{
    do {
        pb_byte(b, (unsigned)(v & 0x7f) | (v > 0x7f ? 0x80u : 0));
        v >>= 7;
    } while (v);
}

static void pb_fixed(pb *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        pb_byte(b, (unsigned)(v >> (8 * i)) & 0xff);
}

/* Field `num` as length-delimited bytes (wire type 2). */
static void pb_bytes(pb *b, int num, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)num << 3 | 2);
    pb_varint(b, n);
    for (size_t i = 0; i < n; i++)
        pb_byte(b, ((const unsigned char *)p)[i]);
}

/* An Event of wall_time, step and one more field already encoded. */
static int record(pl_tb *t, double wall, long step, const pb *body)
{
    size_t cap = body->n + 32;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return MUST_ENOMEM;
    pb e = {buf, 0, cap};
    uint64_t w;
    memcpy(&w, &wall, 8);
    pb_varint(&e, 1 << 3 | 1);
    pb_fixed(&e, w, 8);
    if (step) {
        pb_varint(&e, 2 << 3 | 0);
        pb_varint(&e, (uint64_t)step);
    }
    for (size_t i = 0; i < body->n; i++)
        pb_byte(&e, body->p[i]);
    unsigned char head[12];
    pb h = {head, 0, sizeof head};
    pb_fixed(&h, e.n, 8);
    pb_fixed(&h, pl_crc_mask(pl_crc32c(head, 8)), 4);
    unsigned char tail[4];
    pb tl = {tail, 0, 4};
    pb_fixed(&tl, pl_crc_mask(pl_crc32c(e.p, e.n)), 4);
    int rc = put(t, head, 12);
    if (!rc)
        rc = put(t, e.p, e.n);
    if (!rc)
        rc = put(t, tail, 4);
    free(buf);
    return rc;
}

int pl_tb_version(pl_tb *t, double wall)
{
    unsigned char buf[64];
    pb b = {buf, 0, sizeof buf};
    pb_bytes(&b, 3, "brain.Event:2", 13);
    return record(t, wall, 0, &b);
}

/* A Summary of one Value whose tag and payload field are given. */
static int summary(pl_tb *t, double wall, long step, const char *tag, const pb *payload)
{
    size_t tl = strlen(tag), cap = payload->n + tl + 48;
    unsigned char *vbuf = malloc(cap), *sbuf = malloc(cap + 16);
    int rc = MUST_ENOMEM;
    if (vbuf && sbuf) {
        pb v = {vbuf, 0, cap};
        pb_bytes(&v, 1, tag, tl);
        for (size_t i = 0; i < payload->n; i++)
            pb_byte(&v, payload->p[i]);
        pb s = {sbuf, 0, cap + 16}, ev = {NULL, 0, 0};
        pb_bytes(&s, 1, v.p, v.n);
        /* The Event's summary field (5) around it. */
        unsigned char *ebuf = malloc(s.n + 16);
        if (ebuf) {
            ev.p = ebuf;
            ev.cap = s.n + 16;
            pb_bytes(&ev, 5, s.p, s.n);
            rc = record(t, wall, step, &ev);
            free(ebuf);
        }
    }
    free(vbuf);
    free(sbuf);
    return rc;
}

int pl_tb_scalar(pl_tb *t, double wall, long step, const char *tag, float v)
{
    unsigned char buf[8];
    pb p = {buf, 0, sizeof buf};
    uint32_t bits;
    memcpy(&bits, &v, 4);
    pb_varint(&p, 2 << 3 | 5);
    pb_fixed(&p, bits, 4);
    return summary(t, wall, step, tag, &p);
}

int pl_tb_image(pl_tb *t, double wall, long step, const char *tag, int w, int h,
                const void *png, size_t n)
{
    size_t cap = n + 48;
    unsigned char *ibuf = malloc(cap), *pbuf = malloc(cap + 16);
    int rc = MUST_ENOMEM;
    if (ibuf && pbuf) {
        pb img = {ibuf, 0, cap}, p = {pbuf, 0, cap + 16};
        pb_varint(&img, 1 << 3);
        pb_varint(&img, (uint64_t)h);
        pb_varint(&img, 2 << 3);
        pb_varint(&img, (uint64_t)w);
        pb_varint(&img, 3 << 3);
        pb_varint(&img, 3); /* colorspace: RGB */
        pb_bytes(&img, 4, png, n);
        pb_bytes(&p, 4, img.p, img.n);
        rc = summary(t, wall, step, tag, &p);
    }
    free(ibuf);
    free(pbuf);
    return rc;
}

/* ---- files -------------------------------------------------------------- */

void pl_tb_free(pl_tb *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}

int pl_tb_write(const pl_tb *t, const char *path, must_err *err)
{
    return must_file_write_atomic(path, t->buf, t->len, err);
}

/* The step of one record's Event (0 when it has none). */
static long event_step(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key = 0;
        for (int s = 0; i < n; s += 7) {
            key |= (uint64_t)(p[i] & 0x7f) << s;
            if (!(p[i++] & 0x80))
                break;
        }
        if ((key & 7) == 0) {
            uint64_t v = 0;
            for (int s = 0; i < n; s += 7) {
                v |= (uint64_t)(p[i] & 0x7f) << s;
                if (!(p[i++] & 0x80))
                    break;
            }
            if (key >> 3 == 2)
                return (long)v;
        } else if ((key & 7) == 1) {
            i += 8;
        } else {
            return 0; /* the step comes before any other field */
        }
    }
    return 0;
}

int pl_tb_reload(pl_tb *t, const char *path, long upto)
{
    char *text = NULL;
    size_t len = 0;
    must_err e = {0};
    if (!must_file_exists(path) || must_file_read(path, &text, &len, &e))
        return MUST_OK;
    const unsigned char *b = (const unsigned char *)text;
    int rc = MUST_OK;
    for (size_t at = 0; at + 16 <= len && !rc;) {
        uint64_t n = 0;
        for (int k = 0; k < 8; k++)
            n |= (uint64_t)b[at + k] << (8 * k);
        if (n > len - at - 16)
            break; /* a record cut short: what follows is lost anyway */
        if (event_step(b + at + 12, (size_t)n) <= upto)
            rc = put(t, b + at, (size_t)n + 16);
        at += (size_t)n + 16;
    }
    free(text);
    return rc;
}
