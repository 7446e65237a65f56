/* test_coco.c - COCO in and out: the polygon rasteriser and the two RLE
 * encodings against masks worked out by hand, dataset.ini's `ids`, an
 * import checked pixel by pixel and box by box, splits, errors that name the
 * file and the JSON path, missing images, and the export's round trip. */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "import/coco-impl.h"
#include "must/dataset.h"
#include "must/import.h"
#include "testutil.h"
#include "datautil.h"

/* ------------------------------------------------------------------------ */
/* Helpers. */

/* $MUST_TEST_TMP/name, emptied and created; static storage per slot. */
static const char *fresh_dir(int slot, const char *name)
{
    static char buf[4][4096];
    snprintf(buf[slot], sizeof buf[slot], "%s/coco/%s", test_tmpdir(), name);
    du_rmrf(buf[slot]);
    must_err e = {0};
    ck_assert_msg(must_mkdir_p(buf[slot], &e) == MUST_OK, "%s", e.msg);
    return buf[slot];
}

/* "a/b" or "a/b/c" (c may be NULL), in one of 8 static buffers used in turn. */
static const char *path3(const char *a, const char *b, const char *c)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8], tmp[4096]; /* a, b or c may be an earlier result */
    snprintf(tmp, sizeof tmp, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    memcpy(p, tmp, sizeof tmp);
    return p;
}
#define join(a, b) path3(a, b, NULL)

static void write_text(const char *path, const char *text)
{
    must_err e = {0};
    ck_assert_msg(must_file_write_atomic(path, text, strlen(text), &e) == MUST_OK, "%s", e.msg);
}

/* A w x h RGB PNG (a gradient). */
static void write_png(const char *path, int w, int h)
{
    must_image img;
    must_err e = {0};
    ck_assert(must_image_alloc(&img, w, h, 3, 8, &e) == MUST_OK);
    uint8_t *p = img.pixels;
    for (int i = 0; i < w * h * 3; i++)
        p[i] = (uint8_t)(i * 5 + w);
    ck_assert_msg(must_png_write(path, &img, &e) == MUST_OK, "%s", e.msg);
    must_image_free(&img);
}

/* The mask as rows of '0'/'1' joined by '|', for messages and comparing. */
static const char *rows(const uint8_t *m, int w, int h)
{
    static char buf[4096];
    size_t n = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            buf[n++] = (char)('0' + m[y * w + x]);
        buf[n++] = y + 1 < h ? '|' : '\0';
    }
    return buf;
}

static void poly_is(const double *xy, int n, int w, int h, const char *want)
{
    uint8_t m[256] = {0};
    coco_win win;
    coco_win_empty(&win);
    ck_assert(coco_poly_fill(m, w, h, xy, n, &win) == MUST_OK);
    ck_assert_msg(strcmp(rows(m, w, h), want) == 0, "mask %s, want %s", rows(m, w, h), want);
    /* The window holds every pixel set. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            ck_assert(!m[y * w + x] ||
                      (x >= win.x0 && x < win.x1 && y >= win.y0 && y < win.y1));
}

/* ------------------------------------------------------------------------ */
/* The rasteriser.  Expected masks: a pixel (column j, row i) is set when its
 * centre (j + 0.5, i + 0.5) is inside; worked out by hand below.  Every one
 * of these masks is also what cocoapi's rleFrPoly gives (checked once by
 * hand against it; see core/import/coco-impl.h for where the two differ). */

START_TEST(poly_square_and_grid_ties)
{
    /* The square (1,1)-(5,5) in 8x6: centres 1.5..4.5, columns and rows 1..4. */
    const double sq[] = {1, 1, 5, 1, 5, 5, 1, 5};
    poly_is(sq, 4, 8, 6, "00000000|01111000|01111000|01111000|01111000|00000000");
    /* Edges through centres: (1.5,0.5)-(3.5,2.5) in 5x4.  The left edge
     * x = 1.5 passes column 1's centre and the top edge y = 0.5 row 0's:
     * out; the right edge x = 3.5 (column 3) and the bottom y = 2.5 (row
     * 2): in.  So columns 2..3, rows 1..2. */
    const double tie[] = {1.5, 0.5, 3.5, 0.5, 3.5, 2.5, 1.5, 2.5};
    poly_is(tie, 4, 5, 4, "00000|00110|00110|00000");
    /* The same square, points in the other direction: the same pixels. */
    const double rev[] = {1.5, 2.5, 3.5, 2.5, 3.5, 0.5, 1.5, 0.5};
    poly_is(rev, 4, 5, 4, "00000|00110|00110|00000");
}
END_TEST

START_TEST(poly_slanted_outside_and_degenerate)
{
    /* The triangle (2,2), (4.6,2), (2,4.6): inside where x + y < 6.6.
     * Centres (2.5,2.5) 5, (3.5,2.5) 6, (2.5,3.5) 6: in; (3.5,3.5) 7 and
     * (4.5,2.5) 7: out. */
    const double tri[] = {2, 2, 4.6, 2, 2, 4.6};
    poly_is(tri, 3, 6, 5, "000000|000000|001100|001000|000000");
    /* Reaching out of the 6x5 image: (4,3)-(9,7) keeps columns 4..5, rows 3..4. */
    const double out[] = {4, 3, 9, 3, 9, 7, 4, 7};
    poly_is(out, 4, 6, 5, "000000|000000|000000|000011|000011");
    /* Wholly outside, and far outside (no overflow): nothing. */
    const double away[] = {-9, -9, -2, -9, -2, -2};
    poly_is(away, 3, 4, 3, "0000|0000|0000");
    const double huge[] = {-1e300, -1e300, 1e300, -1e300, 1e300, 1e300, -1e300, 1e300};
    poly_is(huge, 4, 4, 3, "1111|1111|1111");
    /* Two points, or one: no area. */
    const double two[] = {0, 0, 4, 3};
    poly_is(two, 2, 4, 3, "0000|0000|0000");
    poly_is(two, 1, 4, 3, "0000|0000|0000");
    /* A bow tie, (0,0) (4,3) (4,0) (0,3): two triangles meeting at (2,1.5),
     * the left one between x = 0 and the diagonals, the right one between
     * the diagonals and x = 4.  Row 0 (y 0.5): the diagonals cross at x 2/3
     * and 10/3, so columns 0 and 3; row 1 (y 1.5): both at x 2, so all;
     * row 2 like row 0. */
    const double bow[] = {0, 0, 4, 3, 4, 0, 0, 3};
    poly_is(bow, 4, 4, 3, "1001|1111|1001");
}
END_TEST

START_TEST(poly_parts_unite)
{
    /* Two overlapping parts of one instance: their union, not their XOR. */
    uint8_t m[64] = {0};
    coco_win win;
    coco_win_empty(&win);
    const double a[] = {0, 0, 3, 0, 3, 2, 0, 2}, b[] = {2, 1, 5, 1, 5, 3, 2, 3};
    ck_assert(coco_poly_fill(m, 6, 4, a, 4, &win) == MUST_OK);
    ck_assert(coco_poly_fill(m, 6, 4, b, 4, &win) == MUST_OK);
    ck_assert_str_eq(rows(m, 6, 4), "111000|111110|001110|000000");
    ck_assert_int_eq(win.x0, 0);
    ck_assert_int_eq(win.x1, 5);
    ck_assert_int_eq(win.y0, 0);
    ck_assert_int_eq(win.y1, 3);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* RLE. */

START_TEST(rle_counts_column_major)
{
    /* 6x5, column-major positions x * 5 + y.  Runs 10 zeros (columns 0-1),
     * 3 ones (column 2, rows 0-2), 2 zeros, 3 ones (column 3, rows 0-2),
     * then 12 zeros: 30 pixels. */
    uint8_t m[30] = {0};
    coco_win win;
    coco_win_empty(&win);
    must_err e = {0};
    const uint32_t c[] = {10, 3, 2, 3, 12};
    ck_assert(coco_rle_fill(m, 6, 5, c, 5, &win, &e) == MUST_OK);
    ck_assert_str_eq(rows(m, 6, 5), "001100|001100|001100|000000|000000");
    ck_assert(win.x0 <= 2 && win.x1 >= 4 && win.y0 == 0 && win.y1 >= 3);
    /* A first run of 0 starts with ones: 1 one (column 0 row 0), 3 zeros,
     * 3 ones over two columns (column 0 row 4, column 1 rows 0-1), 23 zeros. */
    memset(m, 0, sizeof m);
    const uint32_t d[] = {0, 1, 3, 3, 23};
    ck_assert(coco_rle_fill(m, 6, 5, d, 5, &win, &e) == MUST_OK);
    ck_assert_str_eq(rows(m, 6, 5), "110000|010000|000000|000000|100000");
    /* Runs that do not add up to the image. */
    const uint32_t bad[] = {10, 3, 2};
    ck_assert_int_eq(coco_rle_fill(m, 6, 5, bad, 3, &win, &e), MUST_EFORMAT);
    ck_assert_msg(strstr(e.msg, "cover 15 pixels") && strstr(e.msg, "6x5 has 30"), "%s", e.msg);
}
END_TEST

static void decodes_to(const char *s, const uint32_t *want, size_t n)
{
    uint32_t *c = NULL;
    size_t m = 0;
    must_err e = {0};
    ck_assert_msg(coco_rle_decode(s, &c, &m, &e) == MUST_OK, "%s: %s", s, e.msg);
    ck_assert_uint_eq(m, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c[i] == want[i], "%s: run %zu is %u, want %u", s, i, c[i], want[i]);
    free(c);
    char *back = coco_rle_encode(want, n);
    ck_assert_str_eq(back, s);
    free(back);
}

static void refused(const char *s, const char *needle)
{
    uint32_t *c = NULL;
    size_t m = 0;
    must_err e = {0};
    ck_assert_int_eq(coco_rle_decode(s, &c, &m, &e), MUST_EFORMAT);
    ck_assert_msg(strstr(e.msg, needle), "'%s' not in: %s", needle, e.msg);
}

START_TEST(rle_string_by_hand)
{
    /* Runs {16, 4, 1, 4, 5} (the second mask of the import below: column 3
     * rows 1-4 and column 4 rows 1-4 of 6x5).  Written: 16 (5 bits 10000
     * has bit 4 set, which would read as a sign, so two groups: 16 + 32 =
     * 48 -> '`', then 0 -> '0'); 4 -> '4'; 1 -> '1'; from the fourth run on
     * the difference to the run two before: 4 - 4 = 0 -> '0', 5 - 1 = 4 ->
     * '4'.  So "`04104". */
    const uint32_t a[] = {16, 4, 1, 4, 5};
    decodes_to("`04104", a, 5);
    /* {3, 2, 1, 40, 5, 2}: '3' '2' '1'; 40 - 2 = 38 = 1*32 + 6: 6 + 32 ->
     * 'V', 1 -> '1'; 5 - 1 = 4 -> '4'; 2 - 40 = -38: low group 26 + 32 ->
     * 'j', then -2's group 30 (bit 4: negative, ends) -> 'N'. */
    const uint32_t b[] = {3, 2, 1, 40, 5, 2};
    decodes_to("321V14jN", b, 6);
    decodes_to("", b, 0);
    refused("32 1", "character 3 (' ')");
    refused("3V", "ends in the middle");
    refused("0N", "run 2 is -2");
    refused("oooooooo", "longer than 7 characters");
}
END_TEST

START_TEST(rle_string_round_trip)
{
    uint64_t s = 12345;
    for (int it = 0; it < 2000; it++) {
        uint32_t c[24];
        size_t n = (size_t)(it % 24);
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(s >> 33);
            c[i] = it % 3 == 0 ? r % 4 : it % 3 == 1 ? r % 5000 : r;
        }
        char *str = coco_rle_encode(c, n);
        uint32_t *d;
        size_t m;
        must_err e = {0};
        ck_assert_msg(coco_rle_decode(str, &d, &m, &e) == MUST_OK, "%s", e.msg);
        ck_assert_uint_eq(m, n);
        ck_assert(n == 0 || memcmp(c, d, n * sizeof *c) == 0);
        free(d);
        free(str);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* dataset.ini's ids. */

START_TEST(ids_key_round_trip_and_refusals)
{
    const char *dir = fresh_dir(0, "ids");
    const char *classes[] = {"person", "car"};
    const int ids[] = {1, 3};
    must_dataset_spec spec = {.name = "ids", .tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION)};
    spec.task[MUST_LABEL_DETECTION] =
        (must_task_spec){2, classes, MUST_SOURCE_SUPERVISED, NULL, NULL, ids};
    must_dataset_writer *w;
    must_err e = {0};
    ck_assert_msg(must_dataset_writer_new(dir, &spec, &w, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_dataset_writer_commit(w, &e) == MUST_OK, "%s", e.msg);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    const int *got = must_dataset_class_ids(ds, MUST_LABEL_DETECTION);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[1], 3);
    ck_assert_ptr_null(must_dataset_class_ids(ds, MUST_LABEL_SEGMENTATION));
    must_dataset_close(ds);

    /* Refused: a count that is not the classes', a repeated id, a word. */
    static const char *const bad[][2] = {
        {"ids = 1", "ids: 1 ids for 2 classes"},
        {"ids = 4, 4", "id 4 is given twice"},
        {"ids = 1, x", "id 2 is not a whole number"},
        {"ids = 1,", "id 2 is empty"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char ini[512];
        snprintf(ini, sizeof ini, "[dataset]\nname = ids\ntasks = detection\ncount = 0\n\n"
                 "[detection]\nclasses = person, car\nsource = supervised\n%s\n", bad[k][0]);
        write_text(join(dir, "dataset.ini"), ini);
        ds = NULL;
        ck_assert_int_eq(must_dataset_open(dir, &ds, &e), MUST_EFORMAT);
        ck_assert_msg(strstr(e.msg, bad[k][1]) && strstr(e.msg, "dataset.ini:9"),
                      "'%s' not in: %s", bad[k][1], e.msg);
    }
    /* The writer refuses two classes with one id. */
    const int twice[] = {5, 5};
    spec.task[MUST_LABEL_DETECTION].ids = twice;
    ck_assert_int_eq(must_dataset_writer_new(fresh_dir(1, "ids2"), &spec, &w, &e), MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "'person' and 'car' have the same id 5"), "%s", e.msg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The import. */

/* The fixture: three images, categories with gaps listed out of order
 * (person 1, car 3, dog 7 -> classes 0, 1, 2, segmentation values 1, 2,
 * 3).  Image 1 (8x6): a two-part dog listed first (area 4 + 3 pixels) and a
 * car square (16 pixels), which is painted first as the larger.  Image 2
 * (6x5): a crowd of people as counts, a car as a compressed string, a dog
 * polygon and box reaching out of the image, a box of zero width.  Image 3
 * (4x4): no annotations. */
static const char fixture_json[] =
    "{\"images\": [\n"
    "  {\"id\": 1, \"file_name\": \"000000000001.png\", \"width\": 8, \"height\": 6},\n"
    "  {\"id\": 2, \"file_name\": \"000000000002.png\", \"width\": 6, \"height\": 5},\n"
    "  {\"id\": 3, \"file_name\": \"000000000003.png\", \"width\": 4, \"height\": 4}],\n"
    " \"categories\": [{\"id\": 7, \"name\": \"dog\"}, {\"id\": 1, \"name\": \"person\"},\n"
    "                {\"id\": 3, \"name\": \"car\"}],\n"
    " \"annotations\": [\n"
    "  {\"id\": 10, \"image_id\": 1, \"category_id\": 7, \"iscrowd\": 0, \"bbox\": [2, 0, 6, 4],\n"
    "   \"segmentation\": [[6, 0, 8, 0, 8, 2, 6, 2], [2, 2, 4.6, 2, 2, 4.6]]},\n"
    "  {\"id\": 11, \"image_id\": 1, \"category_id\": 3, \"iscrowd\": 0, \"bbox\": [1, 1, 4, 4],\n"
    "   \"segmentation\": [[1, 1, 5, 1, 5, 5, 1, 5]]},\n"
    "  {\"id\": 12, \"image_id\": 2, \"category_id\": 1, \"iscrowd\": 1, \"bbox\": [2, 0, 2, 3],\n"
    "   \"segmentation\": {\"size\": [5, 6], \"counts\": [10, 3, 2, 3, 12]}},\n"
    "  {\"id\": 13, \"image_id\": 2, \"category_id\": 3, \"iscrowd\": 0, \"bbox\": [3, 1, 2, 4],\n"
    "   \"segmentation\": {\"size\": [5, 6], \"counts\": \"`04104\"}},\n"
    "  {\"id\": 14, \"image_id\": 2, \"category_id\": 7, \"iscrowd\": 0,\n"
    "   \"bbox\": [4.5, 3, 5, 4], \"segmentation\": [[4, 3, 9, 3, 9, 7, 4, 7]]},\n"
    "  {\"id\": 15, \"image_id\": 2, \"category_id\": 1, \"iscrowd\": 0, \"bbox\": [1, 1, 0, 2]}]}\n";

/* The fixture's images under dir/images, its JSON at dir/a.json. */
static const char *fixture(const char *dir)
{
    const char *img = join(dir, "images");
    must_err e = {0};
    ck_assert(must_mkdir_p(img, &e) == MUST_OK);
    write_png(join(img, "000000000001.png"), 8, 6);
    write_png(join(img, "000000000002.png"), 6, 5);
    write_png(join(img, "000000000003.png"), 4, 4);
    write_text(join(dir, "a.json"), fixture_json);
    return join(dir, "a.json");
}

/* The class map of image id: rows of values, 'X' for 255. */
static void seg_is(const char *set, const char *id, const char *want)
{
    char path[4096], got[512];
    snprintf(path, sizeof path, "%s/labels/segmentation/%s.png", set, id);
    must_map m = {0};
    must_err e = {0};
    ck_assert_msg(must_label_read_seg(path, &m, &e) == MUST_OK, "%s", e.msg);
    size_t n = 0;
    for (int y = 0; y < m.height; y++) {
        for (int x = 0; x < m.width; x++) {
            float v = m.data[y * m.width + x];
            got[n++] = v == 255.0f ? 'X' : (char)('0' + (int)v);
        }
        got[n++] = y + 1 < m.height ? '|' : '\0';
    }
    must_map_free(&m);
    ck_assert_msg(strcmp(got, want) == 0, "%s: map %s, want %s", id, got, want);
}

static void box_is(const must_box *b, float x0, float y0, float x1, float y1, int cls,
                   int difficult)
{
    ck_assert_msg(b->x0 == x0 && b->y0 == y0 && b->x1 == x1 && b->y1 == y1 && b->cls == cls &&
                      b->difficult == difficult && b->score == 1.0f,
                  "box %g %g %g %g class %d difficult %d, want %g %g %g %g %d %d", b->x0, b->y0,
                  b->x1, b->y1, b->cls, b->difficult, x0, y0, x1, y1, cls, difficult);
}

START_TEST(import_pixels_and_boxes)
{
    const char *dir = fresh_dir(0, "fixture"), *json = fixture(dir);
    const char *set = join(dir, "set");
    must_coco_source src = {json, join(dir, "images"), -1};
    must_coco_opts o;
    must_import_coco_defaults(&o);
    must_coco_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_coco(&src, 1, set, &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.images, 3);
    ck_assert_int_eq(c.common.classes, 3);
    ck_assert_int_eq(c.annotations, 6);
    ck_assert_int_eq(c.boxes, 5);
    ck_assert_int_eq(c.clipped, 1);
    ck_assert_int_eq(c.dropped, 1);
    ck_assert_int_eq(c.crowd, 1);
    ck_assert_int_eq(c.unmasked, 1);

    /* Image 1: the car square (value 2, columns and rows 1..4) first, then
     * the dog (3) on top: its first part columns 6-7 rows 0-1, its
     * triangle (see poly_slanted_outside_and_degenerate) (2,2) (3,2) (2,3). */
    seg_is(set, "000000000001",
           "00000033|02222033|02332000|02322000|02222000|00000000");
    /* Image 2: the car (2; compressed string, see rle_string_by_hand:
     * column 3 rows 1-4, column 4 rows 1-4) first as the largest (8), then
     * the crowd (X; counts, see rle_counts_column_major: columns 2-3 rows
     * 0-2) over it, then the dog (3; columns 4-5 rows 3-4, cut at the
     * image's edge). */
    seg_is(set, "000000000002", "00XX00|00XX20|00XX20|000233|000233");
    seg_is(set, "000000000003", "0000|0000|0000|0000");

    must_dataset *ds;
    ck_assert_msg(must_dataset_open(set, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_DETECTION, 0), "person");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_DETECTION, 2), "dog");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_SEGMENTATION, 0), "background");
    const int *ids = must_dataset_class_ids(ds, MUST_LABEL_DETECTION);
    ck_assert(ids && ids[0] == 1 && ids[1] == 3 && ids[2] == 7);
    ids = must_dataset_class_ids(ds, MUST_LABEL_SEGMENTATION);
    ck_assert(ids && ids[0] == 0 && ids[1] == 1 && ids[2] == 3 && ids[3] == 7);
    /* Boxes: x, y, w, h -> x0 y0 x1 y1, in the file's order. */
    const must_boxes *b = must_dataset_boxes(ds, must_dataset_find(ds, "000000000001"));
    ck_assert_int_eq(b->n, 2);
    box_is(&b->v[0], 2, 0, 8, 4, 2, 0);
    box_is(&b->v[1], 1, 1, 5, 5, 1, 0);
    b = must_dataset_boxes(ds, must_dataset_find(ds, "000000000002"));
    ck_assert_int_eq(b->n, 3);
    box_is(&b->v[0], 2, 0, 4, 3, 0, 1);     /* the crowd: difficult */
    box_is(&b->v[1], 3, 1, 5, 5, 1, 0);
    box_is(&b->v[2], 4.5f, 3, 6, 5, 2, 0); /* 4.5 + 5 and 3 + 4 cut to 6 x 5 */
    ck_assert_int_eq(must_dataset_boxes(ds, must_dataset_find(ds, "000000000003"))->n, 0);
    int w, h;
    must_dataset_size(ds, &w, &h);
    ck_assert_int_eq(w, 0); /* sizes differ */
    must_dataset_close(ds);
}
END_TEST

START_TEST(import_one_task_and_splits)
{
    const char *dir = fresh_dir(0, "splits"), *json = fixture(dir);
    /* A second file, for val: one more category (id 2), one image. */
    write_png(path3(dir, "images", "val_a.png"), 3, 3);
    write_text(join(dir, "b.json"),
               "{\"images\": [{\"id\": 1, \"file_name\": \"val_a.png\", \"width\": 3, "
               "\"height\": 3}],\n \"categories\": [{\"id\": 3, \"name\": \"car\"}, "
               "{\"id\": 2, \"name\": \"bicycle\"}],\n \"annotations\": [{\"id\": 1, "
               "\"image_id\": 1, \"category_id\": 2, \"bbox\": [0, 0, 1, 1]}]}\n");
    must_coco_source src[2] = {{json, join(dir, "images"), MUST_SPLIT_TRAIN},
                               {join(dir, "b.json"), join(dir, "images"), MUST_SPLIT_VAL}};
    must_coco_opts o;
    must_import_coco_defaults(&o);
    o.tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    must_coco_counts c;
    must_err e = {0};
    const char *set = join(dir, "set");
    ck_assert_msg(must_import_coco(src, 2, set, &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 3);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.common.classes, 4);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(set, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_uint_eq(must_dataset_tasks(ds), MUST_LABEL_BIT(MUST_LABEL_DETECTION));
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_DETECTION, 1), "bicycle");
    const int *idx;
    ck_assert_int_eq(must_dataset_split(ds, MUST_SPLIT_VAL, &idx), 1);
    ck_assert_str_eq(must_dataset_id(ds, idx[0]), "val_a");
    /* Class 1 is bicycle now, car 2. */
    const must_boxes *b = must_dataset_boxes(ds, idx[0]);
    ck_assert(b->n == 1 && b->v[0].cls == 1);
    must_dataset_close(ds);

    /* Seeded: 10 images, val 0.2 and test 0.3 -> 2 and 3; the same seed
     * the same split. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"categories\": [{\"id\": 1, \"name\": "
                                "\"a\"}], \"images\": [");
    for (int i = 0; i < 10; i++) {
        char name[64];
        snprintf(name, sizeof name, "s%d.png", i);
        write_png(path3(dir, "images", name), 2, 2);
        n += (size_t)snprintf(big + n, sizeof big - n, "%s{\"id\": %d, \"file_name\": \"%s\", "
                              "\"width\": 2, \"height\": 2}", i ? ", " : "", i, name);
    }
    snprintf(big + n, sizeof big - n, "]}");
    write_text(join(dir, "c.json"), big);
    must_coco_source s1 = {join(dir, "c.json"), join(dir, "images"), -1};
    o.common.val = 0.2;
    o.common.test = 0.3;
    o.common.seed = 9;
    ck_assert_msg(must_import_coco(&s1, 1, join(dir, "seeded"), &o, &c, &e) == MUST_OK, "%s",
                  e.msg);
    ck_assert(c.common.split[0] == 5 && c.common.split[1] == 2 && c.common.split[2] == 3);
    ck_assert_int_eq(c.annotations, 0);
    ck_assert_msg(must_import_coco(&s1, 1, join(dir, "seeded2"), &o, &c, &e) == MUST_OK, "%s",
                  e.msg);
    char *x, *y;
    ck_assert(must_file_read(path3(dir, "seeded", "splits/val.txt"), &x, NULL, &e) == 0);
    ck_assert(must_file_read(path3(dir, "seeded2", "splits/val.txt"), &y, NULL, &e) == 0);
    ck_assert_str_eq(x, y);
    free(x);
    free(y);
}
END_TEST

/* The fixture with `from` replaced by `to` (from NULL: to is the whole
 * file) fails to import, naming needle. */
static void bad_json(const char *from, const char *to, int code, const char *needle)
{
    const char *dir = fresh_dir(2, "bad");
    char buf[8192];
    if (from) {
        char *text = strdup(fixture_json), *at = strstr(text, from);
        ck_assert_msg(at, "'%s' not in the fixture", from);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
        free(text);
    } else {
        snprintf(buf, sizeof buf, "%s", to);
    }
    fixture(dir);
    write_text(join(dir, "a.json"), buf);
    must_coco_source src = {join(dir, "a.json"), join(dir, "images"), -1};
    must_coco_counts c;
    must_err e = {0};
    ck_assert_int_eq(must_import_coco(&src, 1, join(dir, "set"), NULL, &c, &e), code);
    ck_assert_msg(strstr(e.msg, needle) && strstr(e.msg, "a.json"), "'%s' not in: %s", needle,
                  e.msg);
    struct stat st;
    ck_assert_msg(stat(path3(dir, "set", "dataset.ini"), &st) != 0, "a set was written");
}

START_TEST(import_errors_name_file_and_path)
{
    bad_json("[1, 1, 0, 2]", "[1, 1, 0]", MUST_EFORMAT,
             "annotations[5].bbox: not an array of 4 numbers");
    bad_json("[4.5, 3, 5, 4]", "[4.5, 3, -5, 4]", MUST_EFORMAT,
             "annotations[4].bbox: width -5 and height 4 cannot be negative");
    bad_json("\"category_id\": 7, \"iscrowd\": 0,\n", "\"category_id\": 8, \"iscrowd\": 0,\n",
             MUST_EFORMAT, "annotations[4].category_id: no category has id 8");
    bad_json("\"image_id\": 2, \"category_id\": 1, \"iscrowd\": 1", "\"image_id\": 9, "
             "\"category_id\": 1, \"iscrowd\": 1", MUST_EFORMAT,
             "annotations[2].image_id: no image of this file has id 9");
    bad_json("\"iscrowd\": 1", "\"iscrowd\": 2", MUST_EFORMAT, "annotations[2].iscrowd");
    bad_json("\"file_name\": \"000000000003.png\"", "\"file_name\": 3", MUST_EFORMAT,
             "images[2].file_name: not a string");
    bad_json("\"file_name\": \"000000000003.png\"", "\"file_name\": \"../x.png\"",
             MUST_EFORMAT, "images[2].file_name: '../x.png' is not a path inside");
    bad_json("\"width\": 6", "\"width\": 0", MUST_EFORMAT,
             "images[1].width: not a whole number in 1..65536");
    bad_json("{\"id\": 3, \"name\": \"car\"}", "{\"id\": \"3\", \"name\": \"car\"}",
             MUST_EFORMAT, "categories[2].id: not a whole number");
    bad_json("{\"id\": 3, \"name\": \"car\"}", "{\"id\": 7, \"name\": \"car\"}", MUST_EFORMAT,
             "id 7 is 'car' here but 'dog' in");
    bad_json("{\"id\": 3, \"name\": \"car\"}", "{\"id\": 3, \"name\": \"dog\"}", MUST_EFORMAT,
             "categories[0].name: 'dog' is also the name of category 3");
    bad_json("{\"id\": 3, \"name\": \"car\"}", "{\"id\": 1, \"name\": \"person\"}",
             MUST_EFORMAT, "categories[2].id: 1 is categories[1]'s as well");
    bad_json("{\"id\": 3, \"name\": \"car\"}", "{\"id\": 3, \"name\": \"a;b\"}", MUST_EFORMAT,
             "categories[2].name: 'a;b'");
    bad_json("\"counts\": \"`04104\"", "\"counts\": \"`0410\"", MUST_EFORMAT,
             "annotations[3].segmentation.counts: the runs cover 25 pixels");
    bad_json("\"counts\": \"`04104\"", "\"counts\": \"`04 104\"", MUST_EFORMAT,
             "annotations[3].segmentation.counts: character 4");
    bad_json("\"size\": [5, 6], \"counts\": [10", "\"size\": [6, 5], \"counts\": [10",
             MUST_EFORMAT, "annotations[2].segmentation.size: [6, 5], but its image");
    bad_json("[[4, 3, 9, 3, 9, 7, 4, 7]]", "[[4, 3, 9, 3, 9, 7, 4]]", MUST_EFORMAT,
             "annotations[4].segmentation[0]: not a polygon");
    bad_json("[[4, 3, 9, 3, 9, 7, 4, 7]]", "[[4, 3, 9, 3, \"9\", 7, 4, 7]]", MUST_EFORMAT,
             "annotations[4].segmentation[0][4]: not a number");
    bad_json("[[4, 3, 9, 3, 9, 7, 4, 7]]", "7", MUST_EFORMAT,
             "annotations[4].segmentation: neither polygons nor an RLE object");
    /* Not JSON: jansson's line and column (that of the stray "x"'s last
     * character; a file cut short: its end). */
    bad_json("\"width\": 6,", "\"width\": 6 \"x\",", MUST_EFORMAT,
             "a.json:3:59: not valid JSON: '}' expected near '\"x\"'");
    bad_json("\"width\": 4, \"height\": 4}],", "\"width\": 4,", MUST_EFORMAT,
             "a.json:19:0: not valid JSON");
    bad_json(NULL, "[1, 2]\n", MUST_EFORMAT, "a.json: the top level is not an object");
    bad_json(NULL, "{\"images\": {}}\n", MUST_EFORMAT, "a.json: images: not an array");
    bad_json(NULL, "{\"images\": [], \"categories\": []}\n", MUST_EFORMAT,
             "a.json: no categories");
}
END_TEST

START_TEST(import_missing_images)
{
    const char *dir = fresh_dir(0, "missing"), *json = fixture(dir);
    remove(path3(dir, "images", "000000000002.png"));
    remove(path3(dir, "images", "000000000003.png"));
    must_coco_source src = {json, join(dir, "images"), -1};
    must_coco_opts o;
    must_import_coco_defaults(&o);
    must_coco_counts c;
    must_err e = {0};
    ck_assert_int_eq(must_import_coco(&src, 1, join(dir, "set"), &o, &c, &e), MUST_ENOTFOUND);
    ck_assert_msg(strstr(e.msg, "2 of the 3 images") && strstr(e.msg, "000000000002.png") &&
                      strstr(e.msg, "000000000003.png"), "%s", e.msg);
    o.skip_missing = 1;
    ck_assert_msg(must_import_coco(&src, 1, join(dir, "set"), &o, &c, &e) == MUST_OK, "%s",
                  e.msg);
    ck_assert_int_eq(c.common.images, 1);
    ck_assert_int_eq(c.common.skipped, 2);
    ck_assert_int_eq(c.annotations, 2); /* image 1's only */
}
END_TEST

START_TEST(import_error_while_writing_leaves_no_set)
{
    /* The JSON says 8x6, the file is 7x6: found at the file's header, after
     * the set was begun; no dataset.ini is left. */
    const char *dir = fresh_dir(0, "late"), *json = fixture(dir);
    write_png(path3(dir, "images", "000000000001.png"), 7, 6);
    must_coco_source src = {json, join(dir, "images"), -1};
    must_coco_counts c;
    must_err e = {0};
    ck_assert_int_eq(must_import_coco(&src, 1, join(dir, "set"), NULL, &c, &e), MUST_EFORMAT);
    ck_assert_msg(strstr(e.msg, "a.json: images[0]") && strstr(e.msg, "8 x 6") &&
                      strstr(e.msg, "is 7 x 6"), "%s", e.msg);
    struct stat st;
    ck_assert(stat(path3(dir, "set", "dataset.ini"), &st) != 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The export. */

static json_t *load(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j, "%s:%d: %s", path, je.line, je.text);
    return j;
}

static double num(const json_t *a, size_t i)
{
    return json_number_value(json_array_get(a, i));
}

START_TEST(export_gives_the_boxes_back)
{
    const char *dir = fresh_dir(0, "export"), *json = fixture(dir);
    must_coco_source src = {json, join(dir, "images"), -1};
    must_coco_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_coco(&src, 1, join(dir, "set"), NULL, &c, &e) == MUST_OK, "%s",
                  e.msg);
    must_coco_export_counts x;
    ck_assert_msg(must_export_coco(join(dir, "set"), join(dir, "out.json"), &x, &e) == MUST_OK,
                  "%s", e.msg);
    ck_assert(x.images == 3 && x.categories == 3 && x.annotations == 5 && !x.scores);
    json_t *in = load(json), *out = load(join(dir, "out.json"));
    /* Categories: the original ids, ascending. */
    json_t *cats = json_object_get(out, "categories");
    ck_assert_int_eq(json_array_size(cats), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(cats, 2), "id")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cats, 2), "name")), "dog");
    /* Images: COCO's ids (the numbers of the file names) and sizes. */
    json_t *im = json_array_get(json_object_get(out, "images"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(im, "id")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(im, "file_name")), "000000000002.png");
    ck_assert_int_eq(json_integer_value(json_object_get(im, "width")), 6);
    /* Annotations: the input's, less the zero-area box, the one reaching
     * out cut to the image. */
    json_t *ia = json_object_get(in, "annotations"), *oa = json_object_get(out, "annotations");
    ck_assert_int_eq(json_array_size(oa), 5);
    for (size_t k = 0; k < 5; k++) {
        const json_t *a = json_array_get(ia, k), *b = json_array_get(oa, k);
        json_t *ab = json_object_get(a, "bbox"), *bb = json_object_get(b, "bbox");
        double want[4] = {num(ab, 0), num(ab, 1), num(ab, 2), num(ab, 3)};
        if (k == 4)
            want[2] = 1.5, want[3] = 2; /* 4.5 + 5 and 3 + 4 cut to 6 x 5 */
        for (size_t i = 0; i < 4; i++)
            ck_assert_msg(num(bb, i) == want[i], "annotation %zu bbox[%zu] %g, want %g", k, i,
                          num(bb, i), want[i]);
        ck_assert_int_eq(json_integer_value(json_object_get(b, "category_id")),
                         json_integer_value(json_object_get(a, "category_id")));
        ck_assert_int_eq(json_integer_value(json_object_get(b, "image_id")),
                         json_integer_value(json_object_get(a, "image_id")));
        ck_assert_int_eq(json_integer_value(json_object_get(b, "iscrowd")),
                         json_integer_value(json_object_get(a, "iscrowd")));
        ck_assert_float_near(json_number_value(json_object_get(b, "area")), want[2] * want[3],
                             1e-9);
        ck_assert_ptr_null(json_object_get(b, "score"));
    }
    json_decref(in);
    json_decref(out);
    /* A set without detection has nothing to export. */
    must_coco_opts o;
    must_import_coco_defaults(&o);
    o.tasks = MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    ck_assert(must_import_coco(&src, 1, join(dir, "seg"), &o, &c, &e) == MUST_OK);
    ck_assert_int_eq(must_export_coco(join(dir, "seg"), join(dir, "x.json"), NULL, &e),
                     MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "no detection labels"), "%s", e.msg);
}
END_TEST

START_TEST(export_pseudo_labels_with_scores)
{
    /* A pseudo-labelled set of two images named without numbers: ids 1..2,
     * categories 1..K, every annotation with its score. */
    const char *dir = fresh_dir(0, "pseudo"), *set = join(dir, "set");
    const char *classes[] = {"a", "b"};
    must_dataset_spec spec = {.name = "p", .tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION)};
    spec.task[MUST_LABEL_DETECTION] =
        (must_task_spec){2, classes, MUST_SOURCE_PSEUDO, "t.safetensors", NULL, NULL};
    must_dataset_writer *w;
    must_err e = {0};
    ck_assert(must_dataset_writer_new(set, &spec, &w, &e) == MUST_OK);
    must_image img;
    ck_assert(must_image_alloc(&img, 10, 8, 3, 8, &e) == MUST_OK);
    must_labels l;
    must_labels_init(&l);
    l.has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    must_box b = {1.25f, 2, 7.5f, 8, 1, 0.75f, 0};
    ck_assert(must_boxes_push(&l.boxes, &b, &e) == MUST_OK);
    ck_assert(must_dataset_writer_add(w, "cat", -1, &img, &l, &e) == MUST_OK);
    must_labels_free(&l);
    must_labels_init(&l);
    l.has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    ck_assert(must_dataset_writer_add(w, "dog", -1, &img, &l, &e) == MUST_OK);
    must_image_free(&img);
    ck_assert(must_dataset_writer_commit(w, &e) == MUST_OK);
    must_coco_export_counts x;
    ck_assert_msg(must_export_coco(set, join(dir, "p.json"), &x, &e) == MUST_OK, "%s", e.msg);
    ck_assert(x.scores && x.annotations == 1 && x.images == 2);
    json_t *out = load(join(dir, "p.json"));
    json_t *a = json_array_get(json_object_get(out, "annotations"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "category_id")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "image_id")), 1);
    ck_assert(json_number_value(json_object_get(a, "score")) == 0.75);
    json_t *bb = json_object_get(a, "bbox");
    ck_assert(num(bb, 0) == 1.25 && num(bb, 1) == 2 && num(bb, 2) == 6.25 && num(bb, 3) == 6);
    json_t *im = json_array_get(json_object_get(out, "images"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(im, "id")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(im, "height")), 8);
    json_decref(out);
}
END_TEST

START_TEST(export_import_keeps_every_float)
{
    /* Boxes at awkward coordinates (x0 + w rarely lands on x1 in float
     * unless w is written with care): export, import, the same floats. */
    const char *dir = fresh_dir(0, "floats"), *set = join(dir, "set");
    const char *classes[] = {"a"};
    must_dataset_spec spec = {.name = "f", .tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION)};
    spec.task[MUST_LABEL_DETECTION] =
        (must_task_spec){1, classes, MUST_SOURCE_SUPERVISED, NULL, NULL, NULL};
    must_dataset_writer *w;
    must_err e = {0};
    ck_assert(must_dataset_writer_new(set, &spec, &w, &e) == MUST_OK);
    must_image img;
    ck_assert(must_image_alloc(&img, 640, 480, 1, 8, &e) == MUST_OK);
    must_labels l;
    must_labels_init(&l);
    l.has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    uint64_t r = 7;
    for (int k = 0; k < 500; k++) {
        float v[4];
        for (int i = 0; i < 4; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            v[i] = (float)((r >> 11) % 64000) / 100.0f * (i % 2 ? 0.75f : 1.0f);
        }
        must_box b = {fminf(v[0], v[2]), fminf(v[1], v[3]), fmaxf(v[0], v[2]),
                      fmaxf(v[1], v[3]), 0, 1.0f, 0};
        if (b.x0 < b.x1 && b.y0 < b.y1)
            ck_assert(must_boxes_push(&l.boxes, &b, &e) == MUST_OK);
    }
    ck_assert(must_dataset_writer_add(w, "img1", -1, &img, &l, &e) == MUST_OK);
    must_image_free(&img);
    ck_assert(must_dataset_writer_commit(w, &e) == MUST_OK);
    ck_assert_msg(must_export_coco(set, join(dir, "f.json"), NULL, &e) == MUST_OK, "%s", e.msg);
    must_coco_source src = {join(dir, "f.json"), path3(set, "images", NULL), -1};
    must_coco_opts o;
    must_import_coco_defaults(&o);
    o.tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    must_coco_counts c;
    ck_assert_msg(must_import_coco(&src, 1, join(dir, "back"), &o, &c, &e) == MUST_OK, "%s",
                  e.msg);
    ck_assert_int_eq(c.clipped, 0);
    must_dataset *ds;
    ck_assert(must_dataset_open(join(dir, "back"), &ds, &e) == MUST_OK);
    const must_boxes *b = must_dataset_boxes(ds, 0);
    ck_assert_int_eq(b->n, l.boxes.n);
    for (int k = 0; k < b->n; k++) {
        const must_box *x = &b->v[k], *y = &l.boxes.v[k];
        ck_assert_msg(x->x0 == y->x0 && x->y0 == y->y0 && x->x1 == y->x1 && x->y1 == y->y1,
                      "box %d: %.9g %.9g %.9g %.9g came back as %.9g %.9g %.9g %.9g", k, y->x0,
                      y->y0, y->x1, y->y1, x->x0, x->y0, x->x1, x->y1);
    }
    must_dataset_close(ds);
    must_labels_free(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("coco");
    TCase *tc = tcase_create("coco");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, poly_square_and_grid_ties);
    tcase_add_test(tc, poly_slanted_outside_and_degenerate);
    tcase_add_test(tc, poly_parts_unite);
    tcase_add_test(tc, rle_counts_column_major);
    tcase_add_test(tc, rle_string_by_hand);
    tcase_add_test(tc, rle_string_round_trip);
    tcase_add_test(tc, ids_key_round_trip_and_refusals);
    tcase_add_test(tc, import_pixels_and_boxes);
    tcase_add_test(tc, import_one_task_and_splits);
    tcase_add_test(tc, import_errors_name_file_and_path);
    tcase_add_test(tc, import_missing_images);
    tcase_add_test(tc, import_error_while_writing_leaves_no_set);
    tcase_add_test(tc, export_gives_the_boxes_back);
    tcase_add_test(tc, export_pseudo_labels_with_scores);
    tcase_add_test(tc, export_import_keeps_every_float);
    suite_add_tcase(s, tc);
    return test_run(s);
}
