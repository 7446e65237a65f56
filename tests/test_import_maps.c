/* test_import_maps.c - the .npy reader (files written byte by byte: every
 * version, dtype and byte order, both orders, and the files it refuses),
 * the depth and normal conversions pixel by pixel against values worked out
 * by hand, the axis conventions, pairing by stem, and whole imports read
 * back through the dataset reader. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "data/npy-impl.h"
#include "import/maps-impl.h"
#include "must/dataset.h"
#include "must/image.h"
#include "must/import.h"
#include "must/io.h"
#include "npyutil.h"
#include "testutil.h"
#include "datautil.h"

/* $MUST_TEST_TMP/import_maps_c/name (static storage, one at a time). */
static const char *tmp(const char *name)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/import_maps_c", test_tmpdir());
    must_err e = {0};
    ck_assert_int_eq(must_mkdir_p(p, &e), MUST_OK);
    snprintf(p, sizeof p, "%s/import_maps_c/%s", test_tmpdir(), name);
    return p;
}

/* tmp(name), emptied: a directory of its own for one test. */
static const char *fresh(const char *name)
{
    const char *p = tmp(name);
    du_rmrf(p);
    must_err e = {0};
    ck_assert_int_eq(must_mkdir_p(p, &e), MUST_OK);
    return p;
}

/* Writes the bytes and reads them back as a .npy file. */
static int read_bytes(const char *name, const unsigned char *b, size_t len, npy_array *a,
                      must_err *e)
{
    const char *p = tmp(name);
    ck_assert_int_eq(nu_write(p, b, len), 0);
    return npy_read(p, a, e);
}

/* A file from a dict and values (see nu_build). */
static int read_dict(const char *name, int major, const char *dict, const char *descr,
                     const double *v, size_t n, npy_array *a, must_err *e)
{
    size_t len;
    unsigned char *b = nu_build(major, dict, descr, v, n, &len);
    ck_assert_ptr_nonnull(b);
    int rc = read_bytes(name, b, len, a, e);
    free(b);
    return rc;
}

#define ck_assert_has(msg, text) \
    ck_assert_msg(strstr((msg), (text)) != NULL, "'%s' not in '%s'", (text), (msg))

/* ---- the reader ---- */

START_TEST(npy_versions_dtypes_and_byte_orders)
{
    static const struct {
        int major;
        const char *descr;
    } kinds[] = {{1, "<f4"}, {1, ">f4"}, {2, "<f8"}, {2, ">f8"}, {3, "<f4"}, {3, ">f8"}};
    const double v[6] = {1.5, -2.25, 0.0, 1e-3, 65535.0, -0.1};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                 kinds[k].descr);
        npy_array a;
        must_err e = {0};
        ck_assert_int_eq(read_dict("v.npy", kinds[k].major, dict, kinds[k].descr, v, 6, &a, &e),
                         MUST_OK);
        ck_assert_int_eq(a.major, kinds[k].major);
        ck_assert_str_eq(a.descr, kinds[k].descr);
        ck_assert_int_eq(a.ndim, 2);
        ck_assert_uint_eq(a.shape[0], 2);
        ck_assert_uint_eq(a.shape[1], 3);
        ck_assert_uint_eq(a.count, 6);
        int f4 = kinds[k].descr[2] == '4';
        for (int i = 0; i < 6; i++) /* exact: float32 values as float32 rounds them */
            ck_assert_msg(a.data[i] == (f4 ? (double)(float)v[i] : v[i]), "%s value %d: %.17g",
                          kinds[k].descr, i, a.data[i]);
        npy_free(&a);
    }
}
END_TEST

START_TEST(npy_3d_and_header_forms)
{
    double v[12];
    for (int i = 0; i < 12; i++)
        v[i] = i * 0.5;
    static const struct {
        const char *dict;
        int ndim;
        size_t shape[3], count;
    } forms[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }", 3, {2, 2, 3}, 12},
        /* another key order, double quotes, no trailing comma, blanks */
        {"{ \"shape\" : ( 2 , 6 ) ,\"descr\":\"<f4\", \"fortran_order\":False}", 2, {2, 6}, 12},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }", 1, {12}, 12},
        /* Python 2 wrote longs with an L */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }", 2, {3, 4}, 12},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, {0}, 1},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", 2, {0, 4}, 0},
    };
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        npy_array a;
        must_err e = {0};
        int rc = read_dict("h.npy", 1, forms[k].dict, "<f4", v, forms[k].count, &a, &e);
        ck_assert_msg(rc == MUST_OK, "%s: %s", forms[k].dict, e.msg);
        ck_assert_int_eq(a.ndim, forms[k].ndim);
        for (int d = 0; d < a.ndim; d++)
            ck_assert_uint_eq(a.shape[d], forms[k].shape[d]);
        ck_assert_uint_eq(a.count, forms[k].count);
        for (size_t i = 0; i < a.count; i++)
            ck_assert(a.data[i] == v[i]);
        npy_free(&a);
    }
    char s[64];
    npy_array a = {.ndim = 1, .shape = {5}};
    npy_shape_str(&a, s, sizeof s);
    ck_assert_str_eq(s, "(5,)");
}
END_TEST

START_TEST(npy_fortran_order_is_transposed)
{
    /* A 2x3 array [[0 1 2] [3 4 5]] in Fortran order: columns first. */
    const double f2[6] = {0, 3, 1, 4, 2, 5};
    npy_array a;
    must_err e = {0};
    ck_assert_int_eq(read_dict("f2.npy", 1, "{'descr': '<f8', 'fortran_order': True, "
                               "'shape': (2, 3), }", "<f8", f2, 6, &a, &e), MUST_OK);
    ck_assert_int_eq(a.fortran_order, 1);
    for (int i = 0; i < 6; i++)
        ck_assert(a.data[i] == i);
    npy_free(&a);
    /* A 2x2x3 array whose element (i, j, k) is 100i + 10j + k, Fortran order:
     * offset i + 2j + 4k. */
    double f3[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                f3[i + 2 * j + 4 * k] = 100 * i + 10 * j + k;
    ck_assert_int_eq(read_dict("f3.npy", 2, "{'descr': '>f4', 'fortran_order': True, "
                               "'shape': (2, 2, 3), }", ">f4", f3, 12, &a, &e), MUST_OK);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                ck_assert_msg(a.data[(i * 2 + j) * 3 + k] == 100 * i + 10 * j + k,
                              "(%d, %d, %d) = %g", i, j, k, a.data[(i * 2 + j) * 3 + k]);
    npy_free(&a);
}
END_TEST

/* A good file's bytes, to break. */
static unsigned char *good(size_t *len, int major)
{
    const double v[6] = {1, 2, 3, 4, 5, 6};
    return nu_build(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", "<f4",
                    v, 6, len);
}

START_TEST(npy_broken_preambles_are_named)
{
    size_t len;
    unsigned char *b = good(&len, 1);
    npy_array a;
    must_err e = {0};
    const char *p = tmp("bad.npy");

    b[5] = 'Z';
    ck_assert_int_eq(read_bytes("bad.npy", b, len, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, p);
    ck_assert_has(e.msg, "not a .npy file (it does not start with the bytes \\x93NUMPY)");
    b[5] = 'Y';
    ck_assert_int_eq(read_bytes("bad.npy", b, 5, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "not a .npy file");
    b[6] = 4;
    ck_assert_int_eq(read_bytes("bad.npy", b, len, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "version 4.0 is not one this reader knows (1.0, 2.0, 3.0)");
    b[6] = 1;
    b[7] = 1;
    ck_assert_int_eq(read_bytes("bad.npy", b, len, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "version 1.1");
    b[7] = 0;
    ck_assert_int_eq(read_bytes("bad.npy", b, 9, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "truncated: 9 bytes end inside the .npy preamble");
    /* The header runs past the end of the file. */
    ck_assert_int_eq(read_bytes("bad.npy", b, 40, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "truncated: the .npy header is 118 bytes but the file ends 30 bytes");
    free(b);

    /* Version 2.0: a 4-byte header length, here far too long. */
    b = good(&len, 2);
    ck_assert_int_eq(read_bytes("bad.npy", b, 11, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "truncated: 11 bytes end inside the .npy preamble");
    b[10] = 1; /* 65536 + 116 */
    ck_assert_int_eq(read_bytes("bad.npy", b, len, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, ".npy header of 65652 bytes is longer than the 10000 this reader takes");
    b[10] = 0;
    b[11] = 0x80; /* 2 GiB */
    ck_assert_int_eq(read_bytes("bad.npy", b, len, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "longer than the 10000");
    free(b);
}
END_TEST

START_TEST(npy_broken_data_is_named)
{
    size_t len;
    unsigned char *b = good(&len, 1);
    npy_array a;
    must_err e = {0};
    ck_assert_int_eq(read_bytes("short.npy", b, len - 1, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "short.npy: truncated: shape (2, 3) of '<f4' needs 24 bytes of data, "
                         "23 follow the header");
    ck_assert_ptr_null(a.data);
    unsigned char *longer = calloc(len + 4, 1);
    memcpy(longer, b, len);
    ck_assert_int_eq(read_bytes("long.npy", longer, len + 4, &a, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "long.npy: shape (2, 3) of '<f4' needs 24 bytes of data, but 28 follow");
    free(longer);
    free(b);
}
END_TEST

START_TEST(npy_broken_headers_are_named)
{
    static const struct {
        const char *dict, *why;
    } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
         "4294967296), }", "shape (4294967296, 4294967296, 4294967296) has more elements than "
                           "this machine can address"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
         "a dimension too large for this machine in 'shape'"},
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
         "dtype '<i4' is not float32 or float64 (this reader takes '<f4', '>f4', '<f8' and "
         "'>f8')"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", "dtype '|u1'"},
        {"{'descr': [('r', '<f4')], 'fortran_order': False, 'shape': (2, 3), }",
         "header byte 10: 'descr' is a list of fields (a structured array)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'colour': 'red'}",
         ".npy header: unknown key 'colour'"},
        {"{'descr': '<f4', 'fortran_order': False}", ".npy header: no 'shape'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
         "key 'descr' given twice"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}",
         "header byte 34: expected True or False for 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x",
         "more after the dict's '}' than the blank padding"},
        {"[1, 2]", "header byte 0: expected '{' (the header is a Python dict)"},
        {"{'descr: '<f4'}", "expected ':' after the key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}",
         "a one-element tuple needs its ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3)}", "expected a dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2; 3)}", "expected ',' or ')'"},
        {"{'descr': '<f4' 'fortran_order': False}", "expected ',' or '}' after the value of "
                                                    "'descr'"},
        {"{'descr': '<f4\\n'}", "a backslash escape in 'descr'"},
        {"{'descr': '<f4", "unterminated string in 'descr'"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        npy_array a;
        must_err e = {0};
        int rc = read_dict("hdr.npy", 1, bad[k].dict, "<f4", NULL, 0, &a, &e);
        ck_assert_msg(rc == MUST_EFORMAT, "%s: accepted", bad[k].dict);
        ck_assert_has(e.msg, tmp("hdr.npy"));
        ck_assert_has(e.msg, bad[k].why);
        ck_assert_ptr_null(a.data);
    }
    npy_array a;
    must_err e = {0};
    ck_assert_int_eq(npy_read(tmp("nowhere.npy"), &a, &e), MUST_ENOTFOUND);
    ck_assert_has(e.msg, "nowhere.npy");
}
END_TEST

/* ---- depth ---- */

START_TEST(depth_from_npy_by_hand)
{
    const double v[6] = {1.5, 0.0, NAN, INFINITY, -INFINITY, 0.0004};
    npy_array a = {.ndim = 2, .shape = {2, 3}, .count = 6, .data = (double *)v};
    must_map m;
    long bad = -1;
    must_err e = {0};
    ck_assert_int_eq(imp_depth_from_npy("d.npy", &a, 0.001, &m, &bad, &e), MUST_OK);
    ck_assert_int_eq(m.channels, 1);
    ck_assert_int_eq(m.height, 2);
    ck_assert_int_eq(m.width, 3);
    const float want[6] = {1.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0004f};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(m.data[i] == want[i], "pixel %d: %g", i, m.data[i]);
    ck_assert_int_eq(bad, 4);
    must_map_free(&m);

    /* (H, W, 1) is a depth map too; (H, W, 2) is not. */
    a.ndim = 3;
    a.shape[0] = 3;
    a.shape[1] = 2;
    a.shape[2] = 1;
    ck_assert_int_eq(imp_depth_from_npy("d.npy", &a, 0.001, &m, NULL, &e), MUST_OK);
    ck_assert_int_eq(m.height, 3);
    ck_assert_int_eq(m.width, 2);
    must_map_free(&m);
    a.shape[0] = 3;
    a.shape[1] = 1;
    a.shape[2] = 2;
    ck_assert_int_eq(imp_depth_from_npy("d.npy", &a, 0.001, &m, NULL, &e), MUST_ESHAPE);
    ck_assert_has(e.msg, "d.npy: shape (3, 1, 2) is not a depth map's (H, W) or (H, W, 1)");

    /* Negative depths, and depths past what the scale stores, name the pixel. */
    const double neg[4] = {1.0, -0.5, 2.0, 3.0};
    npy_array b = {.ndim = 2, .shape = {2, 2}, .count = 4, .data = (double *)neg};
    ck_assert_int_eq(imp_depth_from_npy("n.npy", &b, 0.001, &m, NULL, &e), MUST_EINVAL);
    ck_assert_has(e.msg, "n.npy: depth -0.5 m at (1, 0) is negative (no data is 0, NaN or inf)");
    const double far[4] = {1.0, 65.535, 2.0, 70.0};
    b.data = (double *)far;
    ck_assert_int_eq(imp_depth_from_npy("f.npy", &b, 0.001, &m, NULL, &e), MUST_EINVAL);
    ck_assert_has(e.msg, "f.npy: depth 70 m at (1, 1) is past the 65.535 m that scale 0.001 "
                         "stores (a scale of 0.0011 or more would)");
    ck_assert_int_eq(imp_depth_from_npy("f.npy", &b, 0.0011, &m, NULL, &e), MUST_OK);
    must_map_free(&m);
}
END_TEST

static int write_png(const char *path, int w, int h, int ch, int bits, const unsigned *v)
{
    must_image img = {0};
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&img, w, h, ch, bits, &e), MUST_OK);
    for (int i = 0; i < w * h * ch; i++) {
        if (bits == 16)
            ((uint16_t *)img.pixels)[i] = (uint16_t)v[i];
        else
            ((uint8_t *)img.pixels)[i] = (uint8_t)v[i];
    }
    int rc = must_png_write(path, &img, &e);
    must_image_free(&img);
    return rc;
}

START_TEST(depth_from_png_by_hand)
{
    const unsigned v[6] = {0, 1, 1000, 65535, 2, 3};
    const char *p = tmp("d16.png");
    ck_assert_int_eq(write_png(p, 3, 2, 1, 16, v), MUST_OK);
    must_map m;
    long bad = -1;
    must_err e = {0};
    ck_assert_int_eq(imp_depth_read(p, 0.002, &m, &bad, &e), MUST_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(m.data[i], (float)v[i] * 0.002f);
    ck_assert_int_eq(bad, 1);
    must_map_free(&m);
    /* An 8-bit map has no metres in it. */
    p = tmp("d8.png");
    ck_assert_int_eq(write_png(p, 3, 2, 1, 8, v), MUST_OK);
    ck_assert_int_eq(imp_depth_read(p, 0.001, &m, &bad, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "d8.png: a depth label must be a 16-bit gray PNG");
}
END_TEST

/* ---- normals ---- */

START_TEST(conventions_parse)
{
    static const struct {
        const char *spec;
        int to[3], sign[3];
    } good_specs[] = {
        {NULL, {0, 1, 2}, {1, 1, 1}},
        {"", {0, 1, 2}, {1, 1, 1}},
        {"must", {0, 1, 2}, {1, 1, 1}},
        {"opencv", {0, 1, 2}, {1, 1, 1}},
        {"x-right,y-down,z-forward", {0, 1, 2}, {1, 1, 1}},
        {"opengl", {0, 1, 2}, {1, -1, -1}},
        {"x-right,y-up,z-camera", {0, 1, 2}, {1, -1, -1}},
        {"y-up, x-right, z-backward", {0, 1, 2}, {1, -1, -1}},
        {"x-forward,y-right,z-down", {2, 0, 1}, {1, 1, 1}},
        {"x-left,y-away,z-up", {0, 2, 1}, {-1, 1, -1}},
    };
    for (size_t k = 0; k < sizeof good_specs / sizeof good_specs[0]; k++) {
        imp_axes ax;
        must_err e = {0};
        ck_assert_msg(imp_axes_parse(good_specs[k].spec, &ax, &e) == MUST_OK, "%s: %s",
                      good_specs[k].spec ? good_specs[k].spec : "NULL", e.msg);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(ax.to[i], good_specs[k].to[i]);
            ck_assert_int_eq(ax.sign[i], good_specs[k].sign[i]);
        }
    }
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"x-right,y-right,z-camera", "two axes lie along must's x (right-left)"},
        {"x-right,x-up,z-camera", "x is given twice"},
        {"x-right,y-up", "x, y and z each need a direction"},
        {"x-right,y-up,z-camera,w-up", "more than three axes"},
        {"x-right,y-upward,z-camera", "'y-upward' is not AXIS-DIRECTION"},
        {"w-right,y-up,z-camera", "'w-right' is not AXIS-DIRECTION"},
        {"xright,y-up,z-camera", "'xright' is not AXIS-DIRECTION"},
        {"directx", "'directx' is not AXIS-DIRECTION"},
        {"x-right,,z-camera", "'' is not AXIS-DIRECTION"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        imp_axes ax;
        must_err e = {0};
        ck_assert_msg(imp_axes_parse(bad[k].spec, &ax, &e) == MUST_EINVAL, "%s accepted",
                      bad[k].spec);
        ck_assert_has(e.msg, bad[k].spec);
        ck_assert_has(e.msg, bad[k].why);
    }
}
END_TEST

static void ck_vec(const float *got, double x, double y, double z, double tol)
{
    ck_assert_float_near(got[0], x, tol);
    ck_assert_float_near(got[1], y, tol);
    ck_assert_float_near(got[2], z, tol);
}

START_TEST(normal_conversions_by_hand)
{
    imp_axes gl, cv, perm;
    must_err e = {0};
    ck_assert_int_eq(imp_axes_parse("opengl", &gl, &e), MUST_OK);
    ck_assert_int_eq(imp_axes_parse(NULL, &cv, &e), MUST_OK);
    ck_assert_int_eq(imp_axes_parse("x-forward,y-right,z-down", &perm, &e), MUST_OK);
    float o[3];
    /* A unit vector: y and z change sign from OpenGL's frame to must's. */
    ck_assert_int_eq(imp_normal_convert(&gl, (double[3]){0.36, 0.48, 0.8}, o), 1);
    ck_vec(o, 0.36, -0.48, -0.8, 1e-7);
    /* Renormalised: (0, 3, 4) has length 5. */
    ck_assert_int_eq(imp_normal_convert(&cv, (double[3]){0.0, 3.0, 4.0}, o), 1);
    ck_vec(o, 0.0, 0.6, 0.8, 1e-7);
    /* Permuted: the source's y is must's x, its z must's y, its x must's z. */
    ck_assert_int_eq(imp_normal_convert(&perm, (double[3]){1.0, 2.0, 2.0}, o), 1);
    ck_vec(o, 2.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 1e-7);
    /* A surface facing an OpenGL camera faces must's camera: z < 0. */
    ck_assert_int_eq(imp_normal_convert(&gl, (double[3]){0.0, 0.0, 1.0}, o), 1);
    ck_vec(o, 0.0, 0.0, -1.0, 0.0);
    /* Invalid: zero, NaN, inf. */
    ck_assert_int_eq(imp_normal_convert(&gl, (double[3]){0.0, 0.0, 0.0}, o), 0);
    ck_vec(o, 0.0, 0.0, 0.0, 0.0);
    ck_assert_int_eq(imp_normal_convert(&gl, (double[3]){NAN, 0.0, 1.0}, o), 0);
    ck_vec(o, 0.0, 0.0, 0.0, 0.0);
    ck_assert_int_eq(imp_normal_convert(&gl, (double[3]){0.0, INFINITY, 1.0}, o), 0);

    /* A (2, 2, 3) array, pixel by pixel. */
    const double v[12] = {0.36, 0.48, 0.8, 0, 0, 0, 0, 0, 2, 1, NAN, 0};
    npy_array a = {.ndim = 3, .shape = {2, 2, 3}, .count = 12, .data = (double *)v};
    must_map m;
    long bad = -1;
    ck_assert_int_eq(imp_normal_from_npy("n.npy", &a, &gl, &m, &bad, &e), MUST_OK);
    ck_assert_int_eq(m.channels, 3);
    ck_assert_int_eq(bad, 2);
    const double want[4][3] = {{0.36, -0.48, -0.8}, {0, 0, 0}, {0, 0, -1}, {0, 0, 0}};
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            ck_assert_float_near(m.data[c * 4 + i], want[i][c], 1e-7);
    must_map_free(&m);
    a.shape[2] = 1;
    a.count = 4;
    ck_assert_int_eq(imp_normal_from_npy("n.npy", &a, &gl, &m, &bad, &e), MUST_ESHAPE);
    ck_assert_has(e.msg, "n.npy: shape (2, 2, 1) is not a normal map's (H, W, 3)");
}
END_TEST

START_TEST(normal_pngs_by_hand)
{
    imp_axes cv;
    must_err e = {0};
    ck_assert_int_eq(imp_axes_parse(NULL, &cv, &e), MUST_OK);
    /* 16 bits: (1, -1, 1); invalid 0 0 0; mid-grey (invalid); (1, ~0, ~0). */
    const unsigned v16[12] = {65535, 0, 65535, 0, 0, 0, 32768, 32768, 32767, 65535, 32768, 32768};
    const char *p = tmp("n16.png");
    ck_assert_int_eq(write_png(p, 2, 2, 3, 16, v16), MUST_OK);
    must_map m;
    long bad = -1;
    ck_assert_int_eq(imp_normal_read(p, &cv, &m, &bad, &e), MUST_OK);
    ck_assert_int_eq(bad, 2);
    double r3 = 1.0 / sqrt(3.0), t = 1.0 / 65535.0; /* 32768 decodes to t */
    double want[4][3] = {{r3, -r3, r3}, {0, 0, 0}, {0, 0, 0}, {1, t, t}};
    double l3 = sqrt(1.0 + 2.0 * t * t);
    for (int c = 0; c < 3; c++)
        want[3][c] /= l3;
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            ck_assert_float_near(m.data[c * 4 + i], want[i][c], 1e-7);
    must_map_free(&m);
    /* 8 bits: (255, 0, 128) is (1, -1, 1/255) before renormalising. */
    const unsigned v8[3] = {255, 0, 128};
    p = tmp("n8.png");
    ck_assert_int_eq(write_png(p, 1, 1, 3, 8, v8), MUST_OK);
    ck_assert_int_eq(imp_normal_read(p, &cv, &m, &bad, &e), MUST_OK);
    ck_assert_int_eq(bad, 0);
    double z = 1.0 / 255.0, l = sqrt(2.0 + z * z);
    ck_vec(m.data, 1.0 / l, -1.0 / l, z / l, 1e-7);
    must_map_free(&m);
    /* A gray PNG is not a normal map. */
    p = tmp("n1.png");
    ck_assert_int_eq(write_png(p, 1, 1, 1, 16, v8), MUST_OK);
    ck_assert_int_eq(imp_normal_read(p, &cv, &m, &bad, &e), MUST_EFORMAT);
    ck_assert_has(e.msg, "n1.png: a normal map PNG is RGB (8 or 16 bits), not 1 channel");
}
END_TEST

/* ---- pairing ---- */

static void touch(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
}

static char notes[2048];
static void keep_note(void *user, const char *line)
{
    (void)user;
    strncat(notes, line, sizeof notes - strlen(notes) - 2);
    strcat(notes, "\n");
}

START_TEST(pairing_by_stem)
{
    char im[4096], mp[4096];
    snprintf(im, sizeof im, "%s", fresh("pair-images"));
    snprintf(mp, sizeof mp, "%s", fresh("pair-maps"));
    must_err e = {0};
    static const char *const ims[] = {"a.png", "b.JPG", "c.jpeg", "d.png", "notes.txt", "c-1.png"};
    static const char *const mps[] = {"a.npy", "b.png", "c.NPY", "e.npy", "x.txt", "c-1.npy"};
    for (int i = 0; i < 6; i++) {
        touch(im, ims[i]);
        touch(mp, mps[i]);
    }
    static const char *const exts[] = {".png", ".npy", NULL};
    imp_pairs p;
    ck_assert_int_eq(imp_pair_dirs(im, mp, exts, "depth map", 0, NULL, &p, &e), MUST_EINVAL);
    ck_assert_has(e.msg, "1 image without a depth map in ");
    ck_assert_has(e.msg, "pair-maps: d.png; 1 depth map without an image in ");
    ck_assert_has(e.msg, "pair-images: e.npy (skip the unpaired files");
    must_import_opts o;
    must_import_defaults(&o);
    o.note = keep_note;
    notes[0] = '\0';
    ck_assert_int_eq(imp_pair_dirs(im, mp, exts, "depth map", 1, &o, &p, &e), MUST_OK);
    ck_assert_has(notes, "warning: left out 1 image without a depth map in ");
    ck_assert_has(notes, "warning: left out 1 depth map without an image in ");
    ck_assert_int_eq(p.n, 4);
    ck_assert_int_eq(p.skipped, 2);
    ck_assert_int_eq(p.unpaired_images, 1);
    ck_assert_int_eq(p.unpaired_maps, 1);
    /* In byte order of the stems: "c" before "c-1" (the names' order is the
     * other way round: '-' sorts before '.'). */
    static const char *const want[4][3] = {{"a", "a.png", "a.npy"},
                                           {"b", "b.JPG", "b.png"},
                                           {"c", "c.jpeg", "c.NPY"},
                                           {"c-1", "c-1.png", "c-1.npy"}};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(p.v[i].stem, want[i][0]);
        ck_assert_str_eq(p.v[i].image, want[i][1]);
        ck_assert_str_eq(p.v[i].map, want[i][2]);
    }
    imp_pairs_free(&p);
    /* One stem twice in a folder. */
    touch(im, "a.jpg");
    ck_assert_int_eq(imp_pair_dirs(im, mp, exts, "depth map", 1, &o, &p, &e), MUST_EINVAL);
    ck_assert_has(e.msg, "pair-images: a.jpg and a.png have the same stem 'a'");
    /* No pair at all. */
    static const char *const none[] = {".none", NULL};
    ck_assert_int_eq(imp_pair_dirs(tmp("pair-maps"), mp, none, "depth map", 1, &o, &p, &e),
                     MUST_EINVAL);
    ck_assert_has(e.msg, "has a depth map in");
}
END_TEST

/* ---- whole imports, read back ---- */

/* images/{a,b}.png of 3x2 pixels in dir. */
static void two_images(const char *dir)
{
    char p[4200];
    must_err e = {0};
    snprintf(p, sizeof p, "%s/images", dir);
    ck_assert_int_eq(must_mkdir_p(p, &e), MUST_OK);
    unsigned px[18];
    for (int i = 0; i < 18; i++)
        px[i] = (unsigned)(i * 13);
    snprintf(p, sizeof p, "%s/images/a.png", dir);
    ck_assert_int_eq(write_png(p, 3, 2, 3, 8, px), MUST_OK);
    snprintf(p, sizeof p, "%s/images/b.png", dir);
    ck_assert_int_eq(write_png(p, 3, 2, 3, 8, px), MUST_OK);
}

START_TEST(depth_import_reads_back)
{
    char dir[4096], p[4400], out[4200];
    snprintf(dir, sizeof dir, "%s", fresh("dimp"));
    two_images(dir);
    must_err e = {0};
    snprintf(p, sizeof p, "%s/depth", dir);
    ck_assert_int_eq(must_mkdir_p(p, &e), MUST_OK);
    /* a: metres in a .npy (0.0004 m stays data: 1 unit, not 0); b: units in a PNG. */
    const double a[6] = {1.2344, 0.0, 2.5, NAN, 0.0004, 10.0};
    snprintf(p, sizeof p, "%s/depth/a.npy", dir);
    ck_assert_int_eq(nu_save(p, 1, ">f8", "(2, 3)", a, 6), 0);
    const unsigned b[6] = {0, 1, 500, 1000, 65535, 7};
    snprintf(p, sizeof p, "%s/depth/b.png", dir);
    ck_assert_int_eq(write_png(p, 3, 2, 1, 16, b), MUST_OK);

    must_import_maps m;
    must_import_maps_defaults(&m);
    char images[4200], maps[4200];
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(maps, sizeof maps, "%s/depth", dir);
    m.images = images;
    m.maps = maps;
    m.scale = 0.002;
    must_import_opts o;
    must_import_defaults(&o);
    o.val = o.test = 0.0;
    o.note = keep_note;
    notes[0] = '\0';
    must_import_counts c;
    snprintf(out, sizeof out, "%s/out", dir);
    ck_assert_msg(must_import_depth(&m, out, &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.images, 2);
    ck_assert_int_eq(c.split[MUST_SPLIT_TRAIN], 2);
    ck_assert_has(notes, "3 of 12 pixels (25.0%) have no depth");

    must_dataset *ds;
    ck_assert_int_eq(must_dataset_open(out, &ds, &e), MUST_OK);
    ck_assert_float_eq(must_dataset_depth_scale(ds), 0.002f);
    /* a: round(metres / 0.002) units, a positive depth never 0 units. */
    const unsigned units_a[6] = {617, 0, 1250, 0, 1, 5000};
    for (int k = 0; k < 2; k++) {
        must_labels l;
        must_labels_init(&l);
        int idx = must_dataset_find(ds, k ? "b" : "a");
        ck_assert_int_eq(must_dataset_load(ds, idx, MUST_LABEL_BIT(MUST_LABEL_DEPTH), NULL, &l,
                                           &e), MUST_OK);
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq(l.depth.data[i], (float)(k ? b[i] : units_a[i]) * 0.002f);
        must_labels_free(&l);
    }
    must_dataset_close(ds);

    /* The same import again: OUT is a set already. */
    ck_assert_int_eq(must_import_depth(&m, out, &o, &c, &e), MUST_EINVAL);
}
END_TEST

START_TEST(normal_import_reads_back)
{
    char dir[4096], p[4400], out[4200];
    snprintf(dir, sizeof dir, "%s", fresh("nimp"));
    two_images(dir);
    must_err e = {0};
    snprintf(p, sizeof p, "%s/normals", dir);
    ck_assert_int_eq(must_mkdir_p(p, &e), MUST_OK);
    const double a[18] = {0, 0, 1, 0.36, 0.48, 0.8, 0, 0, 0, 0, 2, 0, -3, 0, 4, 0, 0, -1};
    snprintf(p, sizeof p, "%s/normals/a.npy", dir);
    ck_assert_int_eq(nu_save(p, 3, "<f4", "(2, 3, 3)", a, 18), 0);
    snprintf(p, sizeof p, "%s/normals/b.npy", dir);
    ck_assert_int_eq(nu_save(p, 1, "<f8", "(2, 3, 3)", a, 18), 0);

    must_import_maps m;
    must_import_maps_defaults(&m);
    char images[4200], maps[4200];
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(maps, sizeof maps, "%s/normals", dir);
    m.images = images;
    m.maps = maps;
    m.convention = "x-right,y-up,z-camera";
    must_import_counts c;
    snprintf(out, sizeof out, "%s/out", dir);
    ck_assert_msg(must_import_normals(&m, out, NULL, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.images, 2);

    must_dataset *ds;
    ck_assert_int_eq(must_dataset_open(out, &ds, &e), MUST_OK);
    const double want[6][3] = {{0, 0, -1},     {0.36, -0.48, -0.8}, {0, 0, 0},
                               {0, -1, 0},     {-0.6, 0, -0.8},     {0, 0, 1}};
    for (int k = 0; k < 2; k++) {
        must_labels l;
        must_labels_init(&l);
        ck_assert_int_eq(must_dataset_load(ds, k, MUST_LABEL_BIT(MUST_LABEL_NORMAL), NULL, &l,
                                           &e), MUST_OK);
        for (int i = 0; i < 6; i++)
            for (int ch = 0; ch < 3; ch++) /* unit16 steps are 2 / 65534 */
                ck_assert_float_near(l.normal.data[ch * 6 + i], want[i][ch], 1.5 / 65534.0);
        must_labels_free(&l);
    }
    must_dataset_close(ds);

    /* A convention that is not one; a size mismatch names both files. */
    m.convention = "x-right,y-up";
    snprintf(out, sizeof out, "%s/out2", dir);
    ck_assert_int_eq(must_import_normals(&m, out, NULL, &c, &e), MUST_EINVAL);
    ck_assert_has(e.msg, "normal convention 'x-right,y-up'");
    m.convention = NULL;
    snprintf(p, sizeof p, "%s/normals/b.npy", dir);
    ck_assert_int_eq(nu_save(p, 1, "<f8", "(3, 2, 3)", a, 18), 0);
    ck_assert_int_eq(must_import_normals(&m, out, NULL, &c, &e), MUST_ESHAPE);
    ck_assert_has(e.msg, "images/b.png and its normal map ");
    ck_assert_has(e.msg, "normals/b.npy differ in size");
    ck_assert_has(e.msg, "is 3x2 but its normal map is 2x3");
    snprintf(p, sizeof p, "%s/dataset.ini", out);
    ck_assert(!must_file_exists(p));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("import_maps");
    TCase *tc = tcase_create("npy");
    tcase_add_test(tc, npy_versions_dtypes_and_byte_orders);
    tcase_add_test(tc, npy_3d_and_header_forms);
    tcase_add_test(tc, npy_fortran_order_is_transposed);
    tcase_add_test(tc, npy_broken_preambles_are_named);
    tcase_add_test(tc, npy_broken_data_is_named);
    tcase_add_test(tc, npy_broken_headers_are_named);
    suite_add_tcase(s, tc);
    tc = tcase_create("maps");
    tcase_add_test(tc, depth_from_npy_by_hand);
    tcase_add_test(tc, depth_from_png_by_hand);
    tcase_add_test(tc, conventions_parse);
    tcase_add_test(tc, normal_conversions_by_hand);
    tcase_add_test(tc, normal_pngs_by_hand);
    suite_add_tcase(s, tc);
    tc = tcase_create("import");
    tcase_add_test(tc, pairing_by_stem);
    tcase_add_test(tc, depth_import_reads_back);
    tcase_add_test(tc, normal_import_reads_back);
    suite_add_tcase(s, tc);
    return test_run(s);
}
