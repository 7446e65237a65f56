/* test_checkpoint.c - the safetensors reader and writer, checkpoints, resume. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "must/checkpoint.h"
#include "must/io.h"
#include "must/safetensors.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static char *tmp_path(const char *name)
{
    must_mkdir_p(test_tmpdir(), NULL);
    return must_path_join(test_tmpdir(), name);
}

/* A file of the 8-byte length of hdr, hdr, then data. */
static char *write_st(const char *name, const char *hdr, const void *data, size_t dlen)
{
    size_t hl = strlen(hdr);
    unsigned char *b = malloc(8 + hl + dlen + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    if (dlen)
        memcpy(b + 8 + hl, data, dlen);
    char *path = tmp_path(name);
    ck_assert_int_eq(must_file_write_atomic(path, b, 8 + hl + dlen, NULL), MUST_OK);
    free(b);
    return path;
}

/* Opening path must fail with code, and the message must name the file and
 * contain want (a tensor name or a phrase). */
static void expect_refused(const char *path, int code, const char *want)
{
    must_st *st = (must_st *)1;
    must_err e = {0};
    int rc = must_st_open(path, &st, &e);
    ck_assert_msg(rc == code, "%s: rc %d, expected %d (%s)", path, rc, code, e.msg);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message does not name the file: %s", e.msg);
    if (want)
        ck_assert_msg(strstr(e.msg, want) != NULL, "message lacks '%s': %s", want, e.msg);
}

static void refuse_hdr(const char *hdr, size_t dlen, const char *want)
{
    unsigned char data[64] = {0};
    ck_assert_uint_le(dlen, sizeof data);
    char *p = write_st("bad.safetensors", hdr, data, dlen);
    expect_refused(p, MUST_EFORMAT, want);
    free(p);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---- the low level ------------------------------------------------------ */

START_TEST(round_trip_is_bit_exact)
{
    float a[6] = {1.5f, -0.0f, INFINITY, -INFINITY, 1e-42f /* subnormal */, 3.14159265f};
    float nan_bits;
    uint32_t qnan = 0x7fc12345u;
    memcpy(&nan_bits, &qnan, 4);
    float b[2] = {nan_bits, -7.25f};
    float s = 42.0f;
    int64_t cnt[1] = {-123456789012345LL};
    int64_t sa[2] = {2, 3}, sb[1] = {2};
    must_st_writer *w = must_st_writer_new();
    must_err e = {0};
    ck_assert_int_eq(must_st_writer_add_f32(w, "layer1.0.conv1.weight", 2, sa, a, &e), MUST_OK);
    ck_assert_int_eq(must_st_writer_add_f32(w, "b", 1, sb, b, &e), MUST_OK);
    ck_assert_int_eq(must_st_writer_add_f32(w, "scalar", 0, NULL, &s, &e), MUST_OK);
    ck_assert_int_eq(must_st_writer_add(w, "n", MUST_ST_I64, 0, NULL, cnt, &e), MUST_OK);
    ck_assert_int_eq(must_st_writer_add_f32(w, "b", 1, sb, b, &e), MUST_EINVAL);
    ck_assert_int_eq(must_st_writer_add_f32(w, "__metadata__", 1, sb, b, &e), MUST_EINVAL);
    ck_assert_int_eq(must_st_writer_meta(w, "format", "pt", &e), MUST_OK);
    ck_assert_int_eq(must_st_writer_meta(w, "note", "line 1\nline \"2\" \xc3\xa9", &e), MUST_OK);
    char *path = tmp_path("rt.safetensors");
    ck_assert_msg(must_st_writer_save(w, path, &e) == MUST_OK, "%s", e.msg);
    must_st_writer_free(w);

    must_st *st;
    ck_assert_msg(must_st_open(path, &st, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_st_count(st), 4);
    /* The data is 8-byte aligned after a space-padded header. */
    unsigned char len8[8];
    FILE *fp = fopen(path, "rb");
    ck_assert_uint_eq(fread(len8, 1, 8, fp), 8);
    fclose(fp);
    ck_assert_uint_eq(len8[0] % 8, 0);
    const must_st_tensor *t = must_st_find(st, "layer1.0.conv1.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, MUST_ST_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert(t->shape[0] == 2 && t->shape[1] == 3);
    ck_assert_uint_eq(t->numel, 6);
    float out[6];
    ck_assert_int_eq(must_st_to_f32(st, t, out, &e), MUST_OK);
    ck_assert(memcmp(out, a, sizeof a) == 0);
    ck_assert(memcmp(t->data, a, sizeof a) == 0);
    t = must_st_find(st, "b");
    ck_assert_int_eq(must_st_to_f32(st, t, out, &e), MUST_OK);
    ck_assert(memcmp(out, b, sizeof b) == 0);
    t = must_st_find(st, "scalar");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    t = must_st_find(st, "n");
    int64_t got;
    ck_assert_int_eq(must_st_to_i64(st, t, &got, &e), MUST_OK);
    ck_assert(got == cnt[0]);
    ck_assert_int_eq(must_st_to_i64(st, must_st_find(st, "b"), &got, &e), MUST_EFORMAT);
    ck_assert_ptr_null(must_st_find(st, "nope"));
    ck_assert_str_eq(must_st_meta(st, "format"), "pt");
    ck_assert_str_eq(must_st_meta(st, "note"), "line 1\nline \"2\" \xc3\xa9");
    ck_assert_ptr_null(must_st_meta(st, "absent"));
    ck_assert_int_eq(must_st_meta_count(st), 2);
    /* File order is the order added. */
    ck_assert_str_eq(must_st_get(st, 0)->name, "layer1.0.conv1.weight");
    ck_assert_str_eq(must_st_get(st, 3)->name, "n");
    must_st_close(st);
    free(path);
}
END_TEST

START_TEST(half_types_decode)
{
    /* By hand: 1.0, -2.5, the smallest and largest subnormals, the largest
     * normal, inf, -inf, NaN, -0. */
    const uint16_t h[9] = {0x3C00, 0xC100, 0x0001, 0x03FF, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x8000};
    const float hv[9] = {1.0f, -2.5f, 0x1p-24f, 1023 * 0x1p-24f, 65504.0f, INFINITY, -INFINITY,
                         NAN, -0.0f};
    for (int i = 0; i < 9; i++) {
        float f = must_f16_to_f32(h[i]);
        if (isnan(hv[i]))
            ck_assert(isnan(f));
        else
            ck_assert_msg(f32_bits(f) == f32_bits(hv[i]), "f16 %04x -> %g", h[i], (double)f);
    }
    /* BF16: 1.0, -2.5, a subnormal (2^-133), inf. */
    const uint16_t bf[4] = {0x3F80, 0xC020, 0x0001, 0x7F80};
    const float bv[4] = {1.0f, -2.5f, 0x1p-133f, INFINITY};
    for (int i = 0; i < 4; i++)
        ck_assert(f32_bits(must_bf16_to_f32(bf[i])) == f32_bits(bv[i]));

    /* The same through a file, with I64 and I32 beside them. */
    unsigned char data[18 + 8 + 24 + 8];
    size_t k = 0;
    for (int i = 0; i < 9; i++) {
        data[k++] = (unsigned char)(h[i] & 0xff);
        data[k++] = (unsigned char)(h[i] >> 8);
    }
    for (int i = 0; i < 4; i++) {
        data[k++] = (unsigned char)(bf[i] & 0xff);
        data[k++] = (unsigned char)(bf[i] >> 8);
    }
    const int64_t iv[3] = {7, -3, (int64_t)1 << 40};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 8; b++)
            data[k++] = (unsigned char)((uint64_t)iv[i] >> (8 * b));
    const int32_t jv[2] = {-5, 100000};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 4; b++)
            data[k++] = (unsigned char)((uint32_t)jv[i] >> (8 * b));
    ck_assert_uint_eq(k, sizeof data);
    char *p = write_st("half.safetensors",
                       "{\"h\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0,18]},"
                       "\"bf\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[18,26]},"
                       "\"bn1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[3],"
                       "\"data_offsets\":[26,50]},"
                       "\"j\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[50,58]}}",
                       data, sizeof data);
    must_st *st;
    must_err e = {0};
    ck_assert_msg(must_st_open(p, &st, &e) == MUST_OK, "%s", e.msg);
    float out[9];
    ck_assert_int_eq(must_st_to_f32(st, must_st_find(st, "h"), out, &e), MUST_OK);
    for (int i = 0; i < 9; i++)
        ck_assert(isnan(hv[i]) ? isnan(out[i]) : f32_bits(out[i]) == f32_bits(hv[i]));
    ck_assert_int_eq(must_st_to_f32(st, must_st_find(st, "bf"), out, &e), MUST_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(f32_bits(out[i]) == f32_bits(bv[i]));
    const must_st_tensor *nbt = must_st_find(st, "bn1.num_batches_tracked");
    int64_t iout[3];
    ck_assert_int_eq(must_st_to_i64(st, nbt, iout, &e), MUST_OK);
    ck_assert(iout[0] == 7 && iout[1] == -3 && iout[2] == (int64_t)1 << 40);
    ck_assert_int_eq(must_st_to_f32(st, nbt, out, &e), MUST_OK);
    ck_assert(out[0] == 7.0f && out[1] == -3.0f && out[2] == 1099511627776.0f);
    ck_assert_int_eq(must_st_to_f32(st, must_st_find(st, "j"), out, &e), MUST_OK);
    ck_assert(out[0] == -5.0f && out[1] == 100000.0f);
    ck_assert_int_eq(must_st_to_i64(st, must_st_find(st, "j"), iout, &e), MUST_OK);
    ck_assert(iout[0] == -5 && iout[1] == 100000);
    must_st_close(st);
    free(p);
}
END_TEST

START_TEST(truncated_files_refused)
{
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)i;
    int64_t s1[1] = {16}, s2[2] = {6, 8};
    must_st_writer *w = must_st_writer_new();
    must_st_writer_add_f32(w, "first", 1, s1, v, NULL);
    must_st_writer_add_f32(w, "second", 2, s2, v + 16, NULL);
    must_st_writer_meta(w, "format", "pt", NULL);
    char *full = tmp_path("full.safetensors");
    ck_assert_int_eq(must_st_writer_save(w, full, NULL), MUST_OK);
    must_st_writer_free(w);
    char *buf;
    size_t len;
    ck_assert_int_eq(must_file_read(full, &buf, &len, NULL), MUST_OK);
    size_t hlen = (unsigned char)buf[0] | (size_t)(unsigned char)buf[1] << 8;
    size_t cuts[] = {0, 1, 7, 8, 9, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 3,
                     8 + hlen + 64, 8 + hlen + 64 + 5, len - 1};
    char *p = tmp_path("cut.safetensors");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ck_assert_int_lt(cuts[i], len);
        ck_assert_int_eq(must_file_write_atomic(p, buf, cuts[i], NULL), MUST_OK);
        /* Too short for the length, header cut, or a tensor past the end. */
        const char *want = cuts[i] < 8 ? "too short"
                           : cuts[i] < 8 + hlen ? "exceeds"
                           : cuts[i] < 8 + hlen + 64 ? "first" : "second";
        expect_refused(p, MUST_EFORMAT, want);
    }
    /* The full file is fine; one byte too many is a hole at the end. */
    must_st *st;
    ck_assert_int_eq(must_st_open(full, &st, NULL), MUST_OK);
    must_st_close(st);
    char *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    ck_assert_int_eq(must_file_write_atomic(p, more, len + 1, NULL), MUST_OK);
    expect_refused(p, MUST_EFORMAT, "belong to no tensor");
    free(more);
    free(buf);
    free(p);
    free(full);
}
END_TEST

START_TEST(bad_lengths_refused)
{
    unsigned char b[40] = {0};
    char *p = tmp_path("len.safetensors");
    /* A header length beyond the file. */
    b[0] = 100;
    memcpy(b + 8, "{}", 2);
    ck_assert_int_eq(must_file_write_atomic(p, b, 10, NULL), MUST_OK);
    expect_refused(p, MUST_EFORMAT, "exceeds");
    /* A header length over the 100 MB limit (checked before any allocation). */
    uint64_t big = 200000000u;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(big >> (8 * i));
    ck_assert_int_eq(must_file_write_atomic(p, b, 40, NULL), MUST_OK);
    expect_refused(p, MUST_EFORMAT, "limit");
    for (int i = 0; i < 8; i++)
        b[i] = 0xff;
    ck_assert_int_eq(must_file_write_atomic(p, b, 40, NULL), MUST_OK);
    expect_refused(p, MUST_EFORMAT, "limit");
    /* A missing file. */
    char *q = tmp_path("no-such.safetensors");
    expect_refused(q, MUST_ENOTFOUND, "cannot open");
    /* An empty header and an empty file of tensors are fine. */
    free(p);
    p = write_st("empty.safetensors", "{}", NULL, 0);
    must_st *st;
    ck_assert_int_eq(must_st_open(p, &st, NULL), MUST_OK);
    ck_assert_int_eq(must_st_count(st), 0);
    must_st_close(st);
    free(p);
    free(q);
}
END_TEST

START_TEST(bad_headers_refused)
{
    refuse_hdr("", 0, "not a JSON object");
    refuse_hdr("[1, 2]", 0, "not a JSON object");
    refuse_hdr("{\"a\": [1, }", 0, "invalid JSON");
    refuse_hdr("{\"a\": 1} trailing", 0, "invalid JSON");
    refuse_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
               "invalid JSON");
    refuse_hdr("{\"conv.w\": 3}", 0, "conv.w");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "unknown dtype 'F33'");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "conv.w");
    refuse_hdr("{\"conv.w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
               "non-negative");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
               "conv.w");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4,
               "shape");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
               "\"data_offsets\":[0,4]}}", 4, "dimensions");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
               "\"data_offsets\":[0,4]}}", 4, "too large");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
               "data_offsets");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
               "data_offsets");
    /* Size of shape x dtype differs from end - begin. */
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
               "need 12");
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
               "conv.w");
    /* Out of bounds. */
    refuse_hdr("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8,
               "past the end");
    /* Overlap and hole. */
    refuse_hdr("{\"a.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
               "overlaps tensor 'a.w'");
    refuse_hdr("{\"a.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
               "hole before tensor 'b.w'");
    refuse_hdr("{\"a.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
               "hole before tensor 'a.w'");
    /* Metadata must be strings. */
    refuse_hdr("{\"__metadata__\":{\"epoch\":3}}", 0, "epoch");
    refuse_hdr("{\"__metadata__\":[1]}", 0, "__metadata__");
}
END_TEST

/* ---- checkpoints -------------------------------------------------------- */

/* A backbone set and a head set, values from seed. */
typedef struct model {
    must_params *bb, *head;
    must_tensor *conv, *bn_w, *bn_b, *bn_rm, *bn_rv, *fc_w, *fc_b;
} model;

static void model_init(model *m, uint64_t seed, int conv_in)
{
    m->bb = must_params_new("");
    m->conv = must_params_add4(m->bb, "conv1.weight", 4, conv_in, 3, 3, MUST_T_PARAM);
    m->bn_w = must_params_add4(m->bb, "bn1.weight", 4, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    m->bn_b = must_params_add4(m->bb, "bn1.bias", 4, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    m->bn_rm = must_params_add4(m->bb, "bn1.running_mean", 4, 0, 0, 0, MUST_T_BUFFER);
    m->bn_rv = must_params_add4(m->bb, "bn1.running_var", 4, 0, 0, 0, MUST_T_BUFFER);
    m->head = must_params_new("heads.cls.");
    m->fc_w = must_params_add4(m->head, "fc.weight", 2, 4, 0, 0, MUST_T_PARAM);
    m->fc_b = must_params_add4(m->head, "fc.bias", 2, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    ck_assert_int_eq(must_params_alloc(m->bb, NULL), MUST_OK);
    ck_assert_int_eq(must_params_alloc(m->head, NULL), MUST_OK);
    must_rng r;
    must_rng_seed(&r, seed);
    must_init_uniform(m->conv, &r, -1, 1);
    must_init_uniform(m->bn_w, &r, 0.5f, 1.5f);
    must_init_uniform(m->bn_b, &r, -1, 1);
    must_init_uniform(m->bn_rm, &r, -1, 1);
    must_init_uniform(m->bn_rv, &r, 0.5f, 2);
    must_init_uniform(m->fc_w, &r, -1, 1);
    must_init_uniform(m->fc_b, &r, -1, 1);
}

static void model_free(model *m)
{
    must_params_free(m->bb);
    must_params_free(m->head);
}

static int same_values(must_params *a, must_params *b)
{
    return must_params_numel(a, 0) == must_params_numel(b, 0) &&
           memcmp(must_params_data(a), must_params_data(b),
                  must_params_numel(a, 0) * sizeof(float)) == 0;
}

START_TEST(checkpoint_round_trip)
{
    model a, b;
    model_init(&a, 1, 3);
    model_init(&b, 2, 3);
    must_rng r, r2;
    must_rng_seed(&r, 77);
    must_rng_u64(&r);
    const char *cfg = "[train]\nlr = 0.1\nsteps = 100\n";
    must_ckpt_save_opts so = {.rng = &r, .config = cfg, .step = 1234};
    must_params *sets_a[2] = {a.bb, a.head}, *sets_b[2] = {b.bb, b.head};
    char *p = tmp_path("ckpt.safetensors");
    must_err e = {0};
    ck_assert_msg(must_ckpt_save(p, sets_a, 2, &so, &e) == MUST_OK, "%s", e.msg);
    ck_assert(!same_values(a.bb, b.bb));
    must_ckpt_report rep;
    must_ckpt_load_opts lo = {MUST_CKPT_STRICT, NULL, &r2};
    ck_assert_msg(must_ckpt_load(p, sets_b, 2, &lo, &rep, &e) == MUST_OK, "%s", e.msg);
    ck_assert(same_values(a.bb, b.bb));
    ck_assert(same_values(a.head, b.head));
    ck_assert_int_eq(rep.n_loaded, 7);
    ck_assert_int_eq(rep.n_missing, 0);
    ck_assert_int_eq(rep.n_unexpected, 0);
    ck_assert_int_eq(rep.step, 1234);
    ck_assert_str_eq(rep.config, cfg);
    ck_assert_int_eq(rep.has_rng, 1);
    ck_assert_int_eq(rep.has_optim, 0);
    ck_assert(memcmp(&r, &r2, sizeof r) == 0);
    must_ckpt_report_free(&rep);
    /* The names are the model's full dotted names. */
    must_st *st;
    ck_assert_int_eq(must_st_open(p, &st, NULL), MUST_OK);
    ck_assert_ptr_nonnull(must_st_find(st, "heads.cls.fc.weight"));
    ck_assert_ptr_nonnull(must_st_find(st, "bn1.running_var"));
    ck_assert_str_eq(must_st_meta(st, "format"), "pt");
    must_st_close(st);
    /* An optimizer requested from a file without one. */
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_ADAMW);
    must_optim *o = must_optim_new(&oc, sets_b, 2, NULL);
    must_ckpt_load_opts lo2 = {MUST_CKPT_STRICT, o, NULL};
    ck_assert_int_eq(must_ckpt_load(p, sets_b, 2, &lo2, NULL, &e), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "optimizer"));
    must_optim_free(o);
    /* RNG text round trip and refusal. */
    char buf[68];
    must_ckpt_rng_format(&r, buf);
    ck_assert_uint_eq(strlen(buf), 67);
    ck_assert_int_eq(must_ckpt_rng_parse(buf, &r2), MUST_OK);
    ck_assert(memcmp(&r, &r2, sizeof r) == 0);
    buf[20] = 'g';
    ck_assert_int_eq(must_ckpt_rng_parse(buf, &r2), MUST_EFORMAT);
    ck_assert_int_eq(must_ckpt_rng_parse("0:1:2:3", &r2), MUST_EFORMAT);
    model_free(&a);
    model_free(&b);
    free(p);
}
END_TEST

START_TEST(partial_loads_reported)
{
    model a, b;
    model_init(&a, 1, 3);
    model_init(&b, 2, 3);
    char *p = tmp_path("partial.safetensors");
    must_err e = {0};
    /* The file has backbone + head; b loads the backbone alone. */
    must_params *both[2] = {a.bb, a.head};
    ck_assert_int_eq(must_ckpt_save(p, both, 2, NULL, &e), MUST_OK);
    must_ckpt_report rep;
    float before = b.conv->data[0];
    ck_assert_int_eq(must_ckpt_load(p, &b.bb, 1, NULL, &rep, &e), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    ck_assert_ptr_nonnull(strstr(e.msg, "2 unexpected"));
    ck_assert_ptr_nonnull(strstr(e.msg, "heads.cls.fc.weight"));
    ck_assert_ptr_nonnull(strstr(e.msg, "heads.cls.fc.bias"));
    ck_assert_int_eq(rep.n_unexpected, 2);
    ck_assert(b.conv->data[0] == before); /* a refused load changes nothing */
    must_ckpt_report_free(&rep);
    must_ckpt_load_opts lo = {MUST_CKPT_ALLOW_MISSING, NULL, NULL};
    ck_assert_int_eq(must_ckpt_load(p, &b.bb, 1, &lo, NULL, &e), MUST_ENOTFOUND);
    lo.flags = MUST_CKPT_ALLOW_UNEXPECTED;
    ck_assert_msg(must_ckpt_load(p, &b.bb, 1, &lo, &rep, &e) == MUST_OK, "%s", e.msg);
    ck_assert(same_values(a.bb, b.bb));
    ck_assert(!same_values(a.head, b.head));
    ck_assert_int_eq(rep.n_loaded, 5);
    ck_assert_int_eq(rep.n_unexpected, 2);
    ck_assert_str_eq(rep.unexpected[0], "heads.cls.fc.weight");
    must_ckpt_report_free(&rep);

    /* The file has the backbone only; loading both sets misses the head. */
    ck_assert_int_eq(must_ckpt_save(p, &a.bb, 1, NULL, &e), MUST_OK);
    must_params *sets_b[2] = {b.bb, b.head};
    ck_assert_int_eq(must_ckpt_load(p, sets_b, 2, NULL, &rep, &e), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "2 tensors of the model are not in the file"));
    ck_assert_ptr_nonnull(strstr(e.msg, "heads.cls.fc.bias"));
    ck_assert_int_eq(rep.n_missing, 2);
    must_ckpt_report_free(&rep);
    lo.flags = MUST_CKPT_ALLOW_PARTIAL;
    ck_assert_int_eq(must_ckpt_load(p, sets_b, 2, &lo, &rep, &e), MUST_OK);
    ck_assert_int_eq(rep.n_missing, 2);
    ck_assert_str_eq(rep.missing[1], "heads.cls.fc.bias");
    must_ckpt_report_free(&rep);

    /* Long lists are cut in the message but complete in the report. */
    must_params *many = must_params_new("block.");
    for (int i = 0; i < 200; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "t%03d.weight", i);
        must_params_add4(many, nm, 1, 0, 0, 0, MUST_T_PARAM);
    }
    must_params_alloc(many, NULL);
    ck_assert_int_eq(must_ckpt_load(p, &many, 1, NULL, &rep, &e), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "200 tensors of the model"));
    ck_assert_ptr_nonnull(strstr(e.msg, "block.t000.weight"));
    ck_assert_ptr_nonnull(strstr(e.msg, "more"));
    ck_assert_ptr_nonnull(strstr(e.msg, "5 unexpected tensors"));
    ck_assert_int_eq(rep.n_missing, 200);
    ck_assert_str_eq(rep.missing[199], "block.t199.weight");
    must_ckpt_report_free(&rep);
    must_params_free(many);
    model_free(&a);
    model_free(&b);
    free(p);
}
END_TEST

START_TEST(shape_mismatch_refused)
{
    model a, b;
    model_init(&a, 1, 3);
    model_init(&b, 2, 5);
    char *p = tmp_path("shape.safetensors");
    must_err e = {0};
    ck_assert_int_eq(must_ckpt_save(p, &a.bb, 1, NULL, &e), MUST_OK);
    float before = b.bn_w->data[0];
    must_ckpt_load_opts lo = {MUST_CKPT_ALLOW_PARTIAL, NULL, NULL};
    ck_assert_int_eq(must_ckpt_load(p, &b.bb, 1, &lo, NULL, &e), MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    ck_assert_ptr_nonnull(strstr(e.msg, "conv1.weight"));
    ck_assert_ptr_nonnull(strstr(e.msg, "(4, 3, 3, 3)"));
    ck_assert_ptr_nonnull(strstr(e.msg, "(4, 5, 3, 3)"));
    ck_assert(b.bn_w->data[0] == before);
    model_free(&a);
    model_free(&b);
    free(p);
}
END_TEST

/* A weight that is NaN or infinite is refused on load, naming the tensor
 * and the element, and nothing of the model changes. */
START_TEST(nonfinite_weights_refused)
{
    model a, b;
    model_init(&a, 1, 3);
    model_init(&b, 2, 3);
    char *p = tmp_path("nan.safetensors");
    must_err e = {0};
    for (int k = 0; k < 2; k++) {
        a.bn_w->data[1] = k ? INFINITY : NAN;
        ck_assert_int_eq(must_ckpt_save(p, &a.bb, 1, NULL, &e), MUST_OK);
        float before = b.bn_w->data[0];
        ck_assert_int_eq(must_ckpt_load(p, &b.bb, 1, NULL, NULL, &e), MUST_ENUMERIC);
        ck_assert_ptr_nonnull(strstr(e.msg, p));
        ck_assert_msg(strstr(e.msg, a.bn_w->name) && strstr(e.msg, "element 1"), "%s", e.msg);
        ck_assert_ptr_nonnull(strstr(e.msg, k ? "an infinity" : "NaN"));
        ck_assert(b.bn_w->data[0] == before);
    }
    model_free(&a);
    model_free(&b);
    free(p);
}
END_TEST

START_TEST(bad_saves_refused)
{
    model a;
    model_init(&a, 1, 3);
    char *p = tmp_path("dup.safetensors");
    must_err e = {0};
    must_params *twice[2] = {a.bb, a.bb};
    ck_assert_int_eq(must_ckpt_save(p, twice, 2, NULL, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "conv1.weight"));
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    /* Loading into two sets that share names is ambiguous. */
    ck_assert_int_eq(must_ckpt_save(p, &a.bb, 1, NULL, &e), MUST_OK);
    ck_assert_int_eq(must_ckpt_load(p, twice, 2, NULL, NULL, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "two tensors"));
    must_params *r = must_params_new("__optim__.");
    must_params_add4(r, "x", 1, 0, 0, 0, MUST_T_PARAM);
    must_params_alloc(r, NULL);
    ck_assert_int_eq(must_ckpt_save(p, &r, 1, NULL, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "reserved"));
    /* A config that is not UTF-8 text. */
    must_ckpt_save_opts so = {.config = "bad \xff byte", .step = -1};
    ck_assert_int_eq(must_ckpt_save(p, &a.bb, 1, &so, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "must.config"));
    must_params_free(r);
    model_free(&a);
    free(p);
}
END_TEST

/* A toy training step: gradients from the weights and the RNG (so that
 * both must be restored for the continuation to match). */
static void toy_grads(model *m, must_rng *r)
{
    must_params *sets[2] = {m->bb, m->head};
    for (int s = 0; s < 2; s++) {
        float *w = must_params_data(sets[s]), *g = must_params_grad(sets[s]);
        for (size_t i = 0; i < must_params_numel(sets[s], 1); i++)
            g[i] = 0.5f * w[i] * w[i] - 0.2f + 0.1f * must_rng_normal(r);
    }
    /* BN running stats move like a buffer would. */
    for (int i = 0; i < 4; i++)
        m->bn_rm->data[i] = 0.9f * m->bn_rm->data[i] + 0.1f * must_rng_uniform(r);
}

static void resume_case(const must_optim_config *oc)
{
    model a, b;
    model_init(&a, 1, 3);
    model_init(&b, 9, 3);
    must_params *sa[2] = {a.bb, a.head}, *sb[2] = {b.bb, b.head};
    must_rng ra, rb;
    must_rng_seed(&ra, 5);
    must_rng_seed(&rb, 6);
    must_err e = {0};
    must_optim *oa = must_optim_new(oc, sa, 2, &e);
    must_optim *ob = must_optim_new(oc, sb, 2, &e);
    ck_assert_ptr_nonnull(oa);
    ck_assert_ptr_nonnull(ob);
    char *p = tmp_path("resume.safetensors");
    for (int s = 0; s < 10; s++) {
        if (s == 4) {
            must_ckpt_save_opts so = {.optim = oa, .rng = &ra, .config = "[x]\n", .step = s};
            ck_assert_msg(must_ckpt_save(p, sa, 2, &so, &e) == MUST_OK, "%s", e.msg);
            must_ckpt_report rep;
            must_ckpt_load_opts lo = {MUST_CKPT_STRICT, ob, &rb};
            ck_assert_msg(must_ckpt_load(p, sb, 2, &lo, &rep, &e) == MUST_OK, "%s", e.msg);
            ck_assert_int_eq(rep.step, 4);
            ck_assert_int_eq(rep.has_optim, 1);
            ck_assert_int_eq(must_optim_get_step(ob), 4);
            must_ckpt_report_free(&rep);
        }
        toy_grads(&a, &ra);
        ck_assert_int_eq(must_optim_step(oa, NULL, &e), MUST_OK);
        if (s >= 4) {
            toy_grads(&b, &rb);
            ck_assert_int_eq(must_optim_step(ob, NULL, &e), MUST_OK);
        }
    }
    /* Stopping and resuming gives the same bits as not stopping. */
    ck_assert(same_values(a.bb, b.bb));
    ck_assert(same_values(a.head, b.head));
    ck_assert(memcmp(&ra, &rb, sizeof ra) == 0);
    for (int i = 0; i < must_optim_state_count(oa); i++)
        ck_assert(memcmp(must_optim_state_get(oa, i)->data, must_optim_state_get(ob, i)->data,
                         must_optim_state_get(oa, i)->param->numel * sizeof(float)) == 0);

    /* An optimizer of the other kind is refused. */
    must_optim_config other;
    must_optim_config_default(&other, oc->kind == MUST_OPTIM_SGD ? MUST_OPTIM_ADAMW
                                                                 : MUST_OPTIM_SGD);
    other.momentum = 0.9;
    must_optim *oo = must_optim_new(&other, sb, 2, &e);
    must_ckpt_load_opts lo = {MUST_CKPT_STRICT, oo, NULL};
    ck_assert_int_eq(must_ckpt_load(p, sb, 2, &lo, NULL, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, must_optim_kind_name(oc->kind)));
    must_optim_free(oo);
    /* A weights-only load of the same file ignores the optimizer entries. */
    ck_assert_msg(must_ckpt_load(p, sb, 2, NULL, NULL, &e) == MUST_OK, "%s", e.msg);
    /* An optimizer over the backbone alone finds the head's state
     * unexpected (strict) or ignores it (allow-unexpected). */
    must_optim *obb = must_optim_new(oc, &b.bb, 1, &e);
    lo.optim = obb;
    ck_assert_int_eq(must_ckpt_load(p, &b.bb, 1, &lo, NULL, &e), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "__optim__."));
    lo.flags = MUST_CKPT_ALLOW_UNEXPECTED;
    ck_assert_msg(must_ckpt_load(p, &b.bb, 1, &lo, NULL, &e) == MUST_OK, "%s", e.msg);
    must_optim_free(obb);
    must_optim_free(oa);
    must_optim_free(ob);
    model_free(&a);
    model_free(&b);
    free(p);
}

START_TEST(resume_sgd_is_bit_identical)
{
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.momentum = 0.9;
    oc.nesterov = 1;
    oc.weight_decay = 1e-4;
    oc.sched = MUST_SCHED_COSINE;
    oc.warmup_steps = 2;
    oc.total_steps = 10;
    oc.clip_norm = 1.0;
    resume_case(&oc);
}
END_TEST

START_TEST(resume_adamw_is_bit_identical)
{
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_ADAMW);
    oc.lr = 0.01;
    oc.sched = MUST_SCHED_STEP;
    oc.step_every = 3;
    resume_case(&oc);
}
END_TEST

/* ---- PyTorch fixtures (tests/data/make_torchvision_tiny.py) ------------- */

static char *fixture(const char *name)
{
    const char *src = getenv("MUST_SRCDIR");
    char *d = must_path_join(src && *src ? src : ".", "tests/data");
    char *p = must_path_join(d, name);
    free(d);
    return p;
}

/* The state_dict index k of each tensor, as the script enumerates it. */
static const struct {
    const char *name;
    int k;
    int shape[4];
} tv[] = {
    {"conv1.weight", 0, {4, 3, 3, 3}},
    {"bn1.weight", 1, {4, 0, 0, 0}},
    {"bn1.bias", 2, {4, 0, 0, 0}},
    {"bn1.running_mean", 3, {4, 0, 0, 0}},
    {"bn1.running_var", 4, {4, 0, 0, 0}},
    {"layer1.0.conv1.weight", 6, {4, 4, 1, 1}},
    {"layer1.0.bn1.weight", 7, {4, 0, 0, 0}},
    {"layer1.0.bn1.bias", 8, {4, 0, 0, 0}},
    {"layer1.0.bn1.running_mean", 9, {4, 0, 0, 0}},
    {"layer1.0.bn1.running_var", 10, {4, 0, 0, 0}},
    {"fc.weight", 12, {2, 4, 0, 0}},
    {"fc.bias", 13, {2, 0, 0, 0}},
};
#define NTV (int)(sizeof tv / sizeof tv[0])

static must_params *tv_model(must_tensor **ts, int with_counters)
{
    must_params *p = must_params_new("");
    for (int i = 0; i < NTV; i++) {
        unsigned fl = strstr(tv[i].name, "running") ? MUST_T_BUFFER : MUST_T_PARAM;
        ts[i] = must_params_add4(p, tv[i].name, tv[i].shape[0], tv[i].shape[1], tv[i].shape[2],
                                 tv[i].shape[3], fl);
    }
    if (with_counters) {
        ts[NTV] = must_params_add4(p, "bn1.num_batches_tracked", 1, 0, 0, 0, MUST_T_BUFFER);
        ts[NTV + 1] =
            must_params_add4(p, "layer1.0.bn1.num_batches_tracked", 1, 0, 0, 0, MUST_T_BUFFER);
    }
    ck_assert_int_eq(must_params_alloc(p, NULL), MUST_OK);
    return p;
}

START_TEST(pytorch_file_loads)
{
    const char *files[2] = {"torchvision_tiny.safetensors", "torchvision_tiny_f16.safetensors"};
    for (int f = 0; f < 2; f++) {
        char *path = fixture(files[f]);
        must_tensor *ts[NTV + 2];
        must_params *p = tv_model(ts, 0);
        must_ckpt_report rep;
        must_err e = {0};
        ck_assert_msg(must_ckpt_load(path, &p, 1, NULL, &rep, &e) == MUST_OK, "%s", e.msg);
        ck_assert_int_eq(rep.n_loaded, NTV);
        ck_assert_int_eq(rep.n_ignored, 2); /* the I64 BN counters */
        ck_assert_int_eq(rep.step, -1);
        must_ckpt_report_free(&rep);
        for (int i = 0; i < NTV; i++)
            for (size_t j = 0; j < ts[i]->numel; j++) {
                double want = (tv[i].k + 1) + (double)j / 64;
                /* In BF16, 14 + 1/64 rounds to 14 (8 significant bits). */
                if (f == 1 && tv[i].k == 13 && j == 1)
                    want = 14.0;
                ck_assert_msg(ts[i]->data[j] == (float)want, "%s %s[%zu] = %g, want %g",
                              files[f], tv[i].name, j, (double)ts[i]->data[j], want);
            }
        must_params_free(p);
        /* A model that keeps the counters gets them, I64 to float. */
        p = tv_model(ts, 1);
        ck_assert_msg(must_ckpt_load(path, &p, 1, NULL, &rep, &e) == MUST_OK, "%s", e.msg);
        ck_assert_int_eq(rep.n_ignored, 0);
        ck_assert(ts[NTV]->data[0] == 7.0f && ts[NTV + 1]->data[0] == 7.0f);
        must_ckpt_report_free(&rep);
        must_params_free(p);
        free(path);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("safetensors");
    tcase_add_test(tc, round_trip_is_bit_exact);
    tcase_add_test(tc, half_types_decode);
    tcase_add_test(tc, truncated_files_refused);
    tcase_add_test(tc, bad_lengths_refused);
    tcase_add_test(tc, bad_headers_refused);
    suite_add_tcase(s, tc);
    TCase *tk = tcase_create("checkpoint");
    tcase_add_test(tk, checkpoint_round_trip);
    tcase_add_test(tk, partial_loads_reported);
    tcase_add_test(tk, shape_mismatch_refused);
    tcase_add_test(tk, bad_saves_refused);
    tcase_add_test(tk, resume_sgd_is_bit_identical);
    tcase_add_test(tk, resume_adamw_is_bit_identical);
    tcase_add_test(tk, pytorch_file_loads);
    tcase_add_test(tk, nonfinite_weights_refused);
    suite_add_tcase(s, tk);
    return test_run(s);
}
