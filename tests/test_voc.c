/* test_voc.c - Pascal VOC in: a palette PNG's indices, annotation files
 * read with libxml2 (and refused: malformed, elements missing, a class not
 * among the 20, a DOCTYPE), the 1-based boxes converted and clipped, masks,
 * the ImageSets lists, and whole imports of tests/vocutil.h's folder read
 * back box by box and pixel by pixel.  Without libxml2 the parts that need
 * no XML run, then the suite reports a skip (77) that says why. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/png-impl.h"
#include "import/voc-impl.h"
#include "must/dataset.h"
#include "must/import.h"
#include "testutil.h"
#include "datautil.h"
#include "vocutil.h"

#define DET MUST_LABEL_BIT(MUST_LABEL_DETECTION)
#define SEG MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)

/* ------------------------------------------------------------------------ */
/* Helpers. */

/* $MUST_TEST_TMP/voc/name, emptied and created; static storage per slot. */
static const char *fresh_dir(int slot, const char *name)
{
    static char buf[4][4096];
    snprintf(buf[slot], sizeof buf[slot], "%s/voc/%s", test_tmpdir(), name);
    du_rmrf(buf[slot]);
    must_err e = {0};
    ck_assert_msg(must_mkdir_p(buf[slot], &e) == MUST_OK, "%s", e.msg);
    return buf[slot];
}

/* "a/b", in one of 8 static buffers used in turn. */
static const char *join(const char *a, const char *b)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8], tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/%s", a, b);
    memcpy(p, tmp, sizeof tmp);
    return p;
}

/* The fixture in a fresh directory. */
static const char *fixture(int slot, const char *name)
{
    const char *d = fresh_dir(slot, name);
    ck_assert_msg(vu_make(d) == 0, "cannot make the fixture in %s", d);
    return d;
}

static void put(const char *dir, const char *rel, const char *text)
{
    ck_assert_msg(vu_text(dir, rel, text) == 0, "cannot write %s/%s", dir, rel);
}

static void rm(const char *dir, const char *rel)
{
    ck_assert_msg(remove(join(dir, rel)) == 0, "cannot remove %s/%s", dir, rel);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void has_text(const char *msg, const char *want)
{
    ck_assert_msg(strstr(msg, want) != NULL, "'%s' not in: %s", want, msg);
}

/* Notes an import gives, joined by '\n'. */
static char notes[8192];
static void collect(void *user, const char *line)
{
    (void)user;
    size_t n = strlen(notes);
    snprintf(notes + n, sizeof notes - n, "%s\n", line);
}

static must_voc_opts opts(unsigned tasks)
{
    must_voc_opts o;
    must_import_voc_defaults(&o);
    o.tasks = tasks;
    o.common.note = collect;
    notes[0] = '\0';
    return o;
}

/* An import that must fail with a message holding want; nothing may be
 * taken for a set in out afterwards. */
static void import_fails(const char *dir, const char *out, const must_voc_opts *o,
                         const char *want)
{
    must_err e = {0};
    ck_assert_msg(must_import_voc(dir, out, o, NULL, &e) != MUST_OK, "imported, want '%s'",
                  want);
    has_text(e.msg, want);
    ck_assert_msg(!must_file_exists(join(out, "dataset.ini")), "%s/dataset.ini written", out);
}

/* ------------------------------------------------------------------------ */
/* A PNG's indices (needs no XML). */

static void read_index_is(const char *path, const uint8_t *want, int w, int h, int paletted)
{
    must_image img;
    must_err e = {0};
    int pal = -1;
    ck_assert_msg(must_png_read_index(path, &img, &pal, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(img.width, w);
    ck_assert_int_eq(img.height, h);
    ck_assert_int_eq(img.channels, 1);
    ck_assert_int_eq(img.depth, 8);
    ck_assert_int_eq(pal, paletted);
    const uint8_t *p = img.pixels;
    for (int i = 0; i < w * h; i++)
        ck_assert_msg(p[i] == want[i], "%s: pixel %d is %d, want %d", path, i, p[i], want[i]);
    must_image_free(&img);
}

START_TEST(png_index_palette_and_gray)
{
    const char *d = fresh_dir(0, "png");
    /* 0, a class, 255 (void) and every index in between in a palette PNG:
     * the indices come back, not VOC's colours (index 12 is (64, 0, 128),
     * whose gray or red would be another number). */
    uint8_t v[5 * 3] = {0, 12, 255, 1, 20, 21, 128, 254, 7, 15, 0, 255, 3, 2, 1};
    ck_assert_int_eq(vu_png(join(d, "p8.png"), 5, 3, v, 1, 8), 0);
    read_index_is(join(d, "p8.png"), v, 5, 3, 1);
    /* 4, 2 and 1-bit palettes: one byte per index, not scaled. */
    uint8_t small[7 * 2] = {0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0};
    for (int bits = 1; bits <= 4; bits *= 2) {
        char name[32];
        snprintf(name, sizeof name, "p%d.png", bits);
        ck_assert_int_eq(vu_png(join(d, name), 7, 2, small, 1, bits), 0);
        read_index_is(join(d, name), small, 7, 2, 1);
    }
    uint8_t four[6] = {0, 15, 3, 9, 12, 1};
    ck_assert_int_eq(vu_png(join(d, "p4b.png"), 3, 2, four, 1, 4), 0);
    read_index_is(join(d, "p4b.png"), four, 3, 2, 1);
    /* Gray masks (SegmentationClassAug's) read as their values; 4-bit gray
     * is not stretched to 0..255 as a picture would be. */
    ck_assert_int_eq(vu_png(join(d, "g8.png"), 5, 3, v, 0, 8), 0);
    read_index_is(join(d, "g8.png"), v, 5, 3, 0);
    ck_assert_int_eq(vu_png(join(d, "g4.png"), 3, 2, four, 0, 4), 0);
    read_index_is(join(d, "g4.png"), four, 3, 2, 0);
}
END_TEST

START_TEST(png_index_refusals)
{
    const char *d = fresh_dir(0, "png-bad");
    must_image img;
    must_err e = {0};
    uint8_t v[4] = {1, 2, 3, 4};
    /* 16-bit gray and RGB hold no indices. */
    ck_assert_int_eq(vu_png(join(d, "g16.png"), 2, 2, v, 0, 16), 0);
    ck_assert_int_eq(must_png_read_index(join(d, "g16.png"), &img, NULL, &e), MUST_EFORMAT);
    has_text(e.msg, "g16.png: a 16-bit gray PNG, where a class map of palette indices");
    must_image rgb;
    ck_assert(must_image_alloc(&rgb, 2, 2, 3, 8, &e) == MUST_OK);
    ck_assert(must_png_write(join(d, "rgb.png"), &rgb, &e) == MUST_OK);
    must_image_free(&rgb);
    ck_assert_int_eq(must_png_read_index(join(d, "rgb.png"), &img, NULL, &e), MUST_EFORMAT);
    has_text(e.msg, "rgb.png: a 8-bit RGB PNG");
    ck_assert_ptr_null(img.pixels);
    /* Cut off in its image data; not a PNG; not there. */
    uint8_t big[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        big[i] = (uint8_t)(i * 37 % 251);
    ck_assert_int_eq(vu_png(join(d, "cut.png"), 64, 64, big, 1, 8), 0);
    struct stat st;
    ck_assert_int_eq(stat(join(d, "cut.png"), &st), 0);
    ck_assert_int_eq(truncate(join(d, "cut.png"), st.st_size / 2), 0);
    ck_assert_int_eq(must_png_read_index(join(d, "cut.png"), &img, NULL, &e), MUST_EFORMAT);
    has_text(e.msg, "cut.png: corrupt PNG: ");
    ck_assert_ptr_null(img.pixels);
    put(d, "text.png", "not a png at all");
    ck_assert_int_eq(must_png_read_index(join(d, "text.png"), &img, NULL, &e), MUST_EFORMAT);
    has_text(e.msg, "text.png: not a PNG file");
    ck_assert_int_eq(must_png_read_index(join(d, "none.png"), &img, NULL, &e), MUST_ENOTFOUND);
}
END_TEST

/* Masks: values 0..20 and 255, the image's size. */
START_TEST(mask_values_and_size)
{
    const char *d = fixture(0, "mask");
    must_map m;
    must_err e = {0};
    long voids = -1;
    const char *p1 = join(d, "SegmentationClass/2008_000001.png");
    ck_assert_msg(voc_mask_read(p1, "img", 8, 6, &m, &voids, &e) == MUST_OK, "%s", e.msg);
    uint8_t want[48];
    vu_mask_of(1, 8, 6, want);
    ck_assert_int_eq(m.channels, 1);
    for (int i = 0; i < 48; i++)
        ck_assert_msg(m.data[i] == (float)want[i], "pixel %d: %g, want %d", i, m.data[i],
                      want[i]);
    ck_assert_int_eq(voids, 2);
    must_map_free(&m);
    ck_assert_int_eq(voc_mask_read(p1, "JPEGImages/x.jpg", 7, 6, &m, NULL, &e), MUST_EFORMAT);
    has_text(e.msg, "2008_000001.png: a 8x6 mask for the 7x6 image JPEGImages/x.jpg");
    uint8_t bad[6] = {0, 20, 255, 0, 21, 0};
    ck_assert_int_eq(vu_png(join(d, "bad.png"), 3, 2, bad, 1, 8), 0);
    ck_assert_int_eq(voc_mask_read(join(d, "bad.png"), "i", 3, 2, &m, NULL, &e), MUST_EFORMAT);
    has_text(e.msg, "bad.png: pixel (1, 1) holds 21, where VOC's masks hold 0 (background), "
                    "1-20 (the classes) and 255 (void)");
    ck_assert_ptr_null(m.data);
}
END_TEST

#ifndef HAVE_LIBXML2

/* Without libxml2 the import says so, and why. */
START_TEST(import_says_no_libxml2)
{
    const char *d = fixture(0, "noxml");
    must_voc_opts o = opts(0);
    import_fails(d, join(d, "out"), &o, "this build of must has no Pascal VOC import: it was "
                 "configured without libxml2");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("voc");
    TCase *tc = tcase_create("voc");
    tcase_add_test(tc, png_index_palette_and_gray);
    tcase_add_test(tc, png_index_refusals);
    tcase_add_test(tc, mask_values_and_size);
    tcase_add_test(tc, import_says_no_libxml2);
    suite_add_tcase(s, tc);
    if (test_run(s) != EXIT_SUCCESS)
        return EXIT_FAILURE;
    printf("SKIP: test_voc: this build has no libxml2 (configure did not find libxml-2.0, or "
           "--without-libxml2), so must import voc cannot read XML; only the PNG indices and "
           "masks were tested\n");
    return 77;
}

#else

/* ------------------------------------------------------------------------ */
/* Annotation files. */

START_TEST(xml_reads_the_fixture)
{
    const char *d = fixture(0, "xml");
    voc_annotation a;
    must_err e = {0};
    ck_assert_msg(voc_xml_read(join(d, "Annotations/2008_000001.xml"), &a, &e) == MUST_OK,
                  "%s", e.msg);
    ck_assert_str_eq(a.filename, "2008_000001.jpg");
    ck_assert_int_eq(a.width, 8);
    ck_assert_int_eq(a.height, 6);
    ck_assert_int_eq(a.size_line, 5);
    ck_assert_int_eq(a.nobj, 2);
    const voc_object *o = &a.obj[0];
    ck_assert_str_eq(voc_classes[o->cls], "dog");
    ck_assert_int_eq(o->cls, 11);
    ck_assert(o->xmin == 2 && o->ymin == 1 && o->xmax == 5 && o->ymax == 4);
    ck_assert_int_eq(o->line, 11);
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(o->coord_line[k], 17 + k);
    ck_assert_int_eq(o->difficult, 0);
    /* " person " trimmed; the <part>'s own name and box are not the object's. */
    o = &a.obj[1];
    ck_assert_int_eq(o->cls, 14);
    ck_assert(o->xmin == 6 && o->ymin == 2 && o->xmax == 8 && o->ymax == 6);
    ck_assert_int_eq(o->difficult, 1);
    ck_assert_int_eq(o->line, 23);
    voc_annotation_free(&a);
    /* No <difficult>: 0; <filename> as written. */
    ck_assert(voc_xml_read(join(d, "Annotations/2008_000002.xml"), &a, &e) == MUST_OK);
    ck_assert_str_eq(a.filename, "2008_999999.jpg");
    ck_assert_int_eq(a.nobj, 1);
    ck_assert_int_eq(a.obj[0].difficult, 0);
    ck_assert_int_eq(a.obj[0].cls, 6);
    voc_annotation_free(&a);
    /* The 20 classes in the devkit's order. */
    ck_assert_str_eq(voc_classes[0], "aeroplane");
    ck_assert_str_eq(voc_classes[10], "diningtable");
    ck_assert_str_eq(voc_classes[15], "pottedplant");
    ck_assert_str_eq(voc_classes[19], "tvmonitor");
}
END_TEST

/* The file's text and what its error must say ("F" stands for the path). */
struct bad_xml {
    const char *text, *want;
};

START_TEST(xml_errors_name_file_and_line)
{
    const char *d = fresh_dir(0, "xml-bad");
    static const char obj[] = "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                              "<xmax>2</xmax><ymax>2</ymax></bndbox></object>";
    char text[1024];
    const struct bad_xml cases[] = {
        /* Cut off inside an element, and not XML at all: libxml2's line. */
        {"<annotation>\n<object>\n<name>cat</name>\n<bndbox><xmin>1",
         ":4: not well-formed XML: "},
        {"hello, world\n", ":1: not well-formed XML: Start tag expected"},
        {"<annotation>\n<object><name>dog</name></objet>\n</annotation>\n",
         ":2: not well-formed XML: Opening and ending tag mismatch: object"},
        {"", ":1: not well-formed XML: "},
        /* Elements missing or twice: the element's line. */
        {"<annotation>\n<object>\n<bndbox><xmin>1</xmin></bndbox>\n</object>\n</annotation>",
         ":2: <object> has no <name>"},
        {"<annotation><object><name>cat</name>\n<bndbox>\n<ymin>1</ymin><xmax>2</xmax>"
         "<ymax>2</ymax></bndbox></object></annotation>", ":2: <bndbox> has no <xmin>"},
        {"<annotation><object><name>cat</name>\n</object></annotation>",
         ":1: <object> has no <bndbox>"},
        {"<annotation><object><name>cat</name><bndbox><xmin>1</xmin>\n<xmin>1</xmin><ymin>1"
         "</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
         ":2: a second <xmin> in <bndbox> (the first at line 1)"},
        /* Values. */
        {"<annotation>\n<object><name>cat</name><bndbox>\n<xmin>1</xmin>\n<ymin>1</ymin>\n"
         "<xmax>12a</xmax><ymax>2</ymax></bndbox></object></annotation>",
         ":5: <xmax> '12a' is not a number"},
        {"<annotation><object><name>cat</name><bndbox><xmin></xmin></bndbox></object>"
         "</annotation>", ":1: <xmin> '' is not a number"},
        {"<annotation>\n\n<object>\n<name>unicorn</name>\n</object></annotation>",
         ":4: <name> 'unicorn' is not one of the 20 Pascal VOC classes"},
        {"<annotation><object><name>Cat</name></object></annotation>",
         ":1: <name> 'Cat' is not one of the 20"},
        {"<annotation><object><name>cat</name>\n<difficult>2</difficult></object>"
         "</annotation>", ":2: <difficult> 2 is not 0 or 1"},
        {"<annotation><size><width>5</width></size></annotation>", ":1: <size> has no <height>"},
        {"<?xml version=\"1.0\"?>\n<voc/>\n", ":2: the root element is <voc>, not <annotation>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        put(d, "a.xml", cases[i].text);
        voc_annotation a;
        must_err e = {0};
        ck_assert_msg(voc_xml_read(join(d, "a.xml"), &a, &e) == MUST_EFORMAT,
                      "case %zu read, want '%s'", i, cases[i].want);
        snprintf(text, sizeof text, "%s%s", join(d, "a.xml"), cases[i].want);
        ck_assert_msg(strncmp(e.msg, text, strlen(text)) == 0, "case %zu: '%s', want '%s'", i,
                      e.msg, text);
        ck_assert_int_eq(a.nobj, 0);
        ck_assert_ptr_null(a.obj);
    }
    /* A good object after them still reads: the file is fine around it. */
    snprintf(text, sizeof text, "<annotation>%s%s</annotation>", obj, obj);
    put(d, "a.xml", text);
    voc_annotation a;
    must_err e = {0};
    ck_assert_msg(voc_xml_read(join(d, "a.xml"), &a, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(a.nobj, 2);
    voc_annotation_free(&a);
    /* Not there. */
    ck_assert_int_eq(voc_xml_read(join(d, "none.xml"), &a, &e), MUST_ENOTFOUND);
}
END_TEST

/* A DOCTYPE is refused before any entity in it is declared: an external
 * one would read another file into <name>, a nested internal one would
 * multiply ("billion laughs"). */
START_TEST(xml_refuses_doctype_and_entities)
{
    const char *d = fresh_dir(0, "xml-xxe");
    put(d, "secret.txt", "cat");
    char text[2048];
    snprintf(text, sizeof text,
             "<?xml version=\"1.0\"?>\n<!DOCTYPE annotation [\n<!ENTITY x SYSTEM \"file://%s\">"
             "\n]>\n<annotation><object><name>&x;</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
             "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>\n",
             join(d, "secret.txt"));
    put(d, "xxe.xml", text);
    voc_annotation a;
    must_err e = {0};
    ck_assert_int_eq(voc_xml_read(join(d, "xxe.xml"), &a, &e), MUST_EFORMAT);
    has_text(e.msg, "xxe.xml:2: a document type declaration (<!DOCTYPE>): refused");
    put(d, "lol.xml",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "]>\n<annotation><filename>&lol3;</filename></annotation>\n");
    ck_assert_int_eq(voc_xml_read(join(d, "lol.xml"), &a, &e), MUST_EFORMAT);
    has_text(e.msg, "lol.xml:2: a document type declaration");
    /* An entity used without a declaration is an error, not a lookup. */
    put(d, "undeclared.xml", "<annotation><filename>&x;</filename></annotation>");
    ck_assert_int_eq(voc_xml_read(join(d, "undeclared.xml"), &a, &e), MUST_EFORMAT);
    has_text(e.msg, "undeclared.xml:1: not well-formed XML: Entity 'x' not defined");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Boxes: 1-based inclusive to 0-based half-open, clipped. */

static voc_object object(int cls, double x0, double y0, double x1, double y1, int difficult)
{
    voc_object o = {.cls = cls, .xmin = x0, .ymin = y0, .xmax = x1, .ymax = y1, .line = 7,
                    .coord_line = {8, 9, 10, 11}, .difficult = difficult};
    return o;
}

static void box_is(const must_box *b, float x0, float y0, float x1, float y1, int cls, int diff)
{
    ck_assert_msg(b->x0 == x0 && b->y0 == y0 && b->x1 == x1 && b->y1 == y1,
                  "box %g %g %g %g, want %g %g %g %g", b->x0, b->y0, b->x1, b->y1, x0, y0, x1,
                  y1);
    ck_assert_int_eq(b->cls, cls);
    ck_assert_int_eq(b->difficult, diff);
    ck_assert(b->score == 1.0f);
}

START_TEST(boxes_convert_and_clip)
{
    voc_object objs[] = {
        object(3, 1, 1, 10, 8, 0),     /* the whole 10 x 8 image */
        object(4, 3, 5, 3, 5, 1),      /* one pixel: (2, 4) counting from 0 */
        object(5, 0, -2, 4, 3, 0),     /* past the top left: clipped */
        object(6, 7.5, 2, 12, 9, 0),   /* decimals; past the bottom right: clipped */
    };
    voc_annotation a = {.nobj = 4, .obj = objs};
    must_boxes b = {0};
    voc_box_counts c = {0};
    must_err e = {0};
    ck_assert_msg(voc_boxes("a.xml", &a, 10, 8, &b, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(b.n, 4);
    box_is(&b.v[0], 0, 0, 10, 8, 3, 0);
    box_is(&b.v[1], 2, 4, 3, 5, 4, 1);
    box_is(&b.v[2], 0, 0, 4, 3, 5, 0);
    box_is(&b.v[3], 6.5f, 1, 10, 8, 6, 0);
    ck_assert_int_eq(c.boxes, 4);
    ck_assert_int_eq(c.difficult, 1);
    ck_assert_int_eq(c.clipped, 2);
    ck_assert_int_eq(c.clipped_line, 7);
    must_boxes_free(&b);
    /* Refused: no pixel in the image, or an empty box; the coordinate's line. */
    const struct {
        voc_object o;
        const char *want;
    } bad[] = {
        {object(0, 11, 1, 12, 2, 0), "a.xml:8: <xmin> 11 lies outside the 10x8 image (VOC's "
                                     "pixels are 1..10 across, 1..8 down)"},
        {object(0, 1, 9, 2, 12, 0), "a.xml:9: <ymin> 9 lies outside the 10x8 image"},
        {object(0, -5, 1, 0, 2, 0), "a.xml:10: <xmax> 0 lies outside"},
        {object(0, 1, -3, 2, -1, 0), "a.xml:11: <ymax> -1 lies outside"},
        {object(0, 5, 1, 4, 2, 0), "a.xml:8: <xmin> 5 is past <xmax> 4: an empty box"},
        {object(0, 1, 3, 2, 2.5, 0), "a.xml:9: <ymin> 3 is past <ymax> 2.5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        voc_annotation one = {.nobj = 1, .obj = (voc_object *)&bad[i].o};
        ck_assert_int_eq(voc_boxes("a.xml", &one, 10, 8, &b, &c, &e), MUST_EFORMAT);
        has_text(e.msg, bad[i].want);
        ck_assert_int_eq(b.n, 0);
    }
    must_boxes_free(&b);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The lists. */

START_TEST(lists_give_ids_and_splits)
{
    const char *d = fixture(0, "lists");
    voc_ids s;
    must_err e = {0};
    ck_assert_msg(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(s.listed, 1);
    ck_assert_int_eq(s.n, 3);
    const char *ids[3] = {"2008_000001", "2008_000002", "2008_000003"};
    const int split[3] = {MUST_SPLIT_TRAIN, MUST_SPLIT_VAL, MUST_SPLIT_TRAIN};
    const long line[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(s.id[i], ids[i]);
        ck_assert_int_eq(s.split[i], split[i]);
        ck_assert_int_eq(s.line[i], line[i]);
        ck_assert_int_eq(s.has[i], 1);
    }
    voc_ids_free(&s);
    /* Segmentation: CRLF lines, blanks and blank lines. */
    ck_assert_msg(voc_ids_read(d, MUST_LABEL_SEGMENTATION, &s, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.id[2], "2008_000004");
    ck_assert_int_eq(s.split[2], MUST_SPLIT_TRAIN);
    ck_assert_int_eq(s.line[2], 2);
    ck_assert_int_eq(s.split[1], MUST_SPLIT_VAL);
    voc_ids_free(&s);
    /* A listed image without its label file: there, has = 0. */
    put(d, "ImageSets/Main/test.txt", "2009_000010\n");
    ck_assert(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e) == MUST_OK);
    ck_assert_int_eq(s.n, 4);
    ck_assert_str_eq(s.id[3], "2009_000010");
    ck_assert_int_eq(s.split[3], MUST_SPLIT_TEST);
    ck_assert_int_eq(s.has[3], 0);
    voc_ids_free(&s);
    /* trainval.txt alone: train or val by the seed. */
    rm(d, "ImageSets/Main/train.txt");
    rm(d, "ImageSets/Main/val.txt");
    ck_assert(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e) == MUST_OK);
    ck_assert_int_eq(s.n, 4);
    ck_assert_int_eq(s.split[0], VOC_SPLIT_TRAINVAL);
    ck_assert_int_eq(s.line[0], 2);
    ck_assert_int_eq(s.split[2], VOC_SPLIT_TRAINVAL);
    ck_assert_int_eq(s.split[3], MUST_SPLIT_TEST);
    voc_ids_free(&s);
    /* No list: every annotation, seeded. */
    put(d, "Annotations/notes.txt", "not an annotation");
    du_rmrf(join(d, "ImageSets/Main"));
    ck_assert(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e) == MUST_OK);
    ck_assert_int_eq(s.listed, 0);
    ck_assert_int_eq(s.n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(s.id[i], ids[i]);
        ck_assert_int_eq(s.split[i], VOC_SPLIT_SEEDED);
    }
    voc_ids_free(&s);
}
END_TEST

START_TEST(lists_refused)
{
    const char *d = fixture(0, "lists-bad");
    const char *main_ = join(d, "ImageSets/Main");
    char want[4096];
    voc_ids s;
    must_err e = {0};
    /* trainval.txt without an id of train.txt, and with one of neither. */
    put(d, "ImageSets/Main/trainval.txt", "2008_000001\n2008_000002\n");
    ck_assert_int_eq(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e), MUST_EFORMAT);
    snprintf(want, sizeof want, "%s/train.txt:2: '2008_000003' is not in %s/trainval.txt",
             main_, main_);
    has_text(e.msg, want);
    put(d, "ImageSets/Main/trainval.txt", "2008_000001\n2008_000002\n2008_000003\n2008_000009\n");
    ck_assert_int_eq(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e), MUST_EFORMAT);
    snprintf(want, sizeof want, "%s/trainval.txt:4: '2008_000009' is in neither train.txt nor "
             "val.txt", main_);
    has_text(e.msg, want);
    /* An image in two lists. */
    put(d, "ImageSets/Main/trainval.txt", "2008_000001\n2008_000002\n2008_000003\n");
    put(d, "ImageSets/Main/test.txt", "2008_000005\n2008_000002\n");
    ck_assert_int_eq(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e), MUST_EFORMAT);
    has_text(e.msg, "'2008_000002' is listed again");
    has_text(e.msg, ": an image is in one split");
    put(d, "ImageSets/Main/test.txt", "2008_000005\n");
    /* A line that is not an id (a per-class list's "id 1" included). */
    put(d, "ImageSets/Main/val.txt", "2008_000002\n2008_000004  1\n");
    ck_assert_int_eq(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e), MUST_EFORMAT);
    snprintf(want, sizeof want, "%s/val.txt:2: '2008_000004  1' is not an image id", main_);
    has_text(e.msg, want);
    put(d, "ImageSets/Main/val.txt", ".hidden\n");
    ck_assert_int_eq(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e), MUST_EFORMAT);
    has_text(e.msg, "val.txt:1: '.hidden' is not an image id");
    /* Without lists, an annotation whose name is no id. */
    du_rmrf(main_);
    put(d, "Annotations/bad name.xml", "<annotation/>");
    ck_assert_int_eq(voc_ids_read(d, MUST_LABEL_DETECTION, &s, &e), MUST_EFORMAT);
    has_text(e.msg, "Annotations/bad name.xml: 'bad name' is not an image id");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Whole imports, read back. */

/* must dataset check's problems on stderr, its summary dropped. */
static void report(void *user, int is_problem, const char *line)
{
    (void)user;
    if (is_problem)
        fprintf(stderr, "check: %s\n", line);
}

static must_dataset *open_set(const char *dir)
{
    must_dataset *ds;
    must_err e = {0};
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    int problems = -1;
    ck_assert(must_dataset_check(dir, report, NULL, &problems, &e) == MUST_OK);
    ck_assert_int_eq(problems, 0);
    return ds;
}

static int split_of(const must_dataset *ds, const char *id)
{
    int i = must_dataset_find(ds, id);
    ck_assert_msg(i >= 0, "no image %s", id);
    for (int s = 0; s < MUST_NSPLITS; s++) {
        const int *idx;
        int n = must_dataset_split(ds, s, &idx);
        for (int k = 0; k < n; k++)
            if (idx[k] == i)
                return s;
    }
    return -1;
}

/* The mask of id in the set is the fixture's mask k, pixel by pixel. */
static void mask_is(const must_dataset *ds, const char *id, int k, int w, int h)
{
    char *path = must_dataset_label_path(ds, MUST_LABEL_SEGMENTATION, must_dataset_find(ds, id));
    must_map m;
    must_err e = {0};
    ck_assert_msg(must_label_read_seg(path, &m, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(m.width, w);
    ck_assert_int_eq(m.height, h);
    uint8_t want[64];
    vu_mask_of(k, w, h, want);
    for (int i = 0; i < w * h; i++)
        ck_assert_msg(m.data[i] == (float)want[i], "%s: pixel (%d, %d) is %g, want %d", id,
                      i % w, i / w, m.data[i], want[i]);
    must_map_free(&m);
    free(path);
}

/* The image was copied byte for byte. */
static void copied(const char *dir, const must_dataset *ds, const char *id)
{
    char rel[64], *a, *b;
    size_t na, nb;
    must_err e = {0};
    snprintf(rel, sizeof rel, "JPEGImages/%s.jpg", id);
    char *path = must_dataset_image_path(ds, must_dataset_find(ds, id));
    ck_assert(must_file_read(join(dir, rel), &a, &na, &e) == MUST_OK);
    ck_assert(must_file_read(path, &b, &nb, &e) == MUST_OK);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "%s differs from %s", path, rel);
    ck_assert_str_eq(path + strlen(path) - 4, ".jpg");
    free(a);
    free(b);
    free(path);
}

START_TEST(import_both_kinds)
{
    const char *d = fixture(0, "both"), *out = join(fresh_dir(1, "both-out"), "set");
    must_voc_opts o = opts(0);
    must_voc_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_voc(d, out, &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.tasks, DET | SEG);
    ck_assert_int_eq(c.common.images, 2);
    ck_assert_int_eq(c.common.classes, 20);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TEST], 0);
    ck_assert_int_eq(c.boxes, 3);
    ck_assert_int_eq(c.difficult, 1);
    ck_assert_int_eq(c.clipped, 1);
    ck_assert_int_eq(c.no_annotation, 1);
    ck_assert_int_eq(c.no_mask, 1);
    ck_assert_int_eq(c.filename_mismatch, 1);
    ck_assert_int_eq(c.size_mismatch, 0);
    ck_assert_int_eq(c.void_pixels, 2 + 6);
    has_text(notes, "left out 1 image without an annotation (Annotations/<id>.xml, listed in "
                    "ImageSets/Main): 2008_000004 (a set has every label of its kinds: "
                    "--tasks segmentation imports them)");
    has_text(notes, "left out 1 image without a mask (SegmentationClass/<id>.png, listed in "
                    "ImageSets/Segmentation): 2008_000003");
    has_text(notes, "clipped 1 box to its image (the first: ");
    has_text(notes, "Annotations/2008_000002.xml:5)");
    has_text(notes, "1 annotation names another image in <filename> than <id>.jpg, which is "
                    "used (the first: ");
    has_text(notes, "2008_000002.xml: '2008_999999.jpg')");

    must_dataset *ds = open_set(out);
    ck_assert_int_eq(must_dataset_count(ds), 2);
    ck_assert_int_eq(must_dataset_nclasses(ds, MUST_LABEL_DETECTION), 20);
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_DETECTION, 0), "aeroplane");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_DETECTION, 11), "dog");
    ck_assert_int_eq(must_dataset_nclasses(ds, MUST_LABEL_SEGMENTATION), 21);
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_SEGMENTATION, 0), "background");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_SEGMENTATION, 12), "dog");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_SEGMENTATION, 20), "tvmonitor");
    ck_assert_ptr_null(must_dataset_class_ids(ds, MUST_LABEL_DETECTION));
    /* dog 2 1 5 4 (1-based inclusive) covers pixels 1..4 x 0..3: 1 0 5 4. */
    const must_boxes *b = must_dataset_boxes(ds, must_dataset_find(ds, "2008_000001"));
    ck_assert_int_eq(b->n, 2);
    box_is(&b->v[0], 1, 0, 5, 4, 11, 0);
    box_is(&b->v[1], 5, 1, 8, 6, 14, 1);
    /* car 3 2 9 5 on the 6x5 image: 2 1 9 5, cut to 2 1 6 5. */
    b = must_dataset_boxes(ds, must_dataset_find(ds, "2008_000002"));
    ck_assert_int_eq(b->n, 1);
    box_is(&b->v[0], 2, 1, 6, 5, 6, 0);
    mask_is(ds, "2008_000001", 1, 8, 6);
    mask_is(ds, "2008_000002", 2, 6, 5);
    ck_assert_int_eq(split_of(ds, "2008_000001"), MUST_SPLIT_TRAIN);
    ck_assert_int_eq(split_of(ds, "2008_000002"), MUST_SPLIT_VAL);
    copied(d, ds, "2008_000001");
    copied(d, ds, "2008_000002");
    must_dataset_close(ds);
}
END_TEST

START_TEST(import_one_kind)
{
    const char *d = fixture(0, "one"), *outs = fresh_dir(1, "one-out");
    must_voc_opts o = opts(DET);
    must_voc_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_voc(d, join(outs, "det"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.tasks, DET);
    ck_assert_int_eq(c.common.images, 3);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 2);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.boxes, 4);
    ck_assert_int_eq(c.size_mismatch, 1);
    ck_assert_int_eq(c.no_annotation + c.no_mask, 0);
    has_text(notes, "1 annotation gives another <size> than the image's, which is used (the "
                    "first: ");
    has_text(notes, "2008_000003.xml:2: 500x375, ");
    has_text(notes, "2008_000003.jpg is 7x7)");
    must_dataset *ds = open_set(join(outs, "det"));
    ck_assert_int_eq(must_dataset_tasks(ds), DET);
    const must_boxes *b = must_dataset_boxes(ds, must_dataset_find(ds, "2008_000003"));
    ck_assert_int_eq(b->n, 1);
    box_is(&b->v[0], 0, 0, 7, 7, 2, 0);
    must_dataset_close(ds);

    /* Segmentation alone: an image with a mask and no annotation. */
    o = opts(SEG);
    ck_assert_msg(must_import_voc(d, join(outs, "seg"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.images, 3);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 2);
    ck_assert_int_eq(c.boxes, 0);
    ck_assert_str_eq(notes, "");
    ds = open_set(join(outs, "seg"));
    ck_assert_int_eq(must_dataset_tasks(ds), SEG);
    mask_is(ds, "2008_000004", 4, 5, 4);
    mask_is(ds, "2008_000001", 1, 8, 6);
    ck_assert_int_eq(split_of(ds, "2008_000004"), MUST_SPLIT_TRAIN);
    must_dataset_close(ds);

    /* Only detection's folder: that is the default then. */
    du_rmrf(join(d, "SegmentationClass"));
    o = opts(0);
    ck_assert_msg(must_import_voc(d, join(outs, "auto"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.tasks, DET);
    ck_assert_int_eq(c.common.images, 3);
    o = opts(SEG);
    import_fails(d, join(outs, "noseg"), &o, "/SegmentationClass: no such folder, which "
                 "segmentation needs");
}
END_TEST

/* Reads splits/<name>.txt of a set into buf. */
static void read_split(const char *set, const char *name, char *buf, size_t size)
{
    char rel[64], *text = NULL;
    size_t n = 0;
    must_err e = {0};
    snprintf(rel, sizeof rel, "splits/%s.txt", name);
    buf[0] = '\0';
    if (must_file_exists(join(set, rel)) && must_file_read(join(set, rel), &text, &n, &e) == 0)
        snprintf(buf, size, "%.*s", (int)n, text);
    free(text);
}

START_TEST(import_seeded_splits)
{
    const char *d = fixture(0, "seeded"), *outs = fresh_dir(1, "seeded-out");
    du_rmrf(join(d, "ImageSets"));
    must_voc_opts o = opts(DET);
    o.common.val = 0.34;
    o.common.test = 0.34;
    o.common.seed = 3;
    must_voc_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_voc(d, join(outs, "a"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TEST], 1);
    ck_assert_msg(must_import_voc(d, join(outs, "b"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    const char *names[3] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++) {
        char a[256], b[256];
        read_split(join(outs, "a"), names[s], a, sizeof a);
        read_split(join(outs, "b"), names[s], b, sizeof b);
        ck_assert_str_eq(a, b);
    }
    /* Both kinds, no list for either: over the images with both. */
    o = opts(0);
    o.common.val = 0.5;
    o.common.test = 0;
    ck_assert_msg(must_import_voc(d, join(outs, "both"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.images, 2);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 1);

    /* trainval.txt alone: --val of it to val, none to test; test.txt's to test. */
    d = fixture(0, "trainval");
    rm(d, "ImageSets/Main/train.txt");
    rm(d, "ImageSets/Main/val.txt");
    put(d, "ImageSets/Main/test.txt", "2008_000003\n");
    put(d, "ImageSets/Main/trainval.txt", "2008_000001\n2008_000002\n");
    o = opts(DET);
    o.common.val = 0.5;
    o.common.test = 0.5; /* not used: the lists say which images are test */
    ck_assert_msg(must_import_voc(d, join(outs, "tv"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TEST], 1);
    must_dataset *ds = open_set(join(outs, "tv"));
    ck_assert_int_eq(split_of(ds, "2008_000003"), MUST_SPLIT_TEST);
    must_dataset_close(ds);
    /* With segmentation's lists, trainval's images take their split there. */
    o = opts(0);
    ck_assert_msg(must_import_voc(d, join(outs, "tv2"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_TRAIN], 1);
    ck_assert_int_eq(c.common.split[MUST_SPLIT_VAL], 1);
}
END_TEST

START_TEST(import_missing_images)
{
    const char *d = fixture(0, "missing"), *outs = fresh_dir(1, "missing-out");
    rm(d, "JPEGImages/2008_000003.jpg");
    must_voc_opts o = opts(DET);
    char want[4096];
    snprintf(want, sizeof want, "1 of the 3 images are missing: %s/JPEGImages/2008_000003.jpg "
             "(skip_missing leaves them out)", d);
    import_fails(d, join(outs, "a"), &o, want);
    o.skip_missing = 1;
    must_voc_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_voc(d, join(outs, "b"), &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.common.images, 2);
    ck_assert_int_eq(c.common.skipped, 1);
    has_text(notes, "skipped 1 missing images: ");
    /* All of them. */
    for (int k = 1; k <= 4; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "JPEGImages/2008_00000%d.jpg", k);
        remove(join(d, rel));
    }
    import_fails(d, join(outs, "c"), &o, "every one of the 3 images is missing");
}
END_TEST

START_TEST(import_errors_write_nothing)
{
    const char *d = fixture(0, "errors"), *outs = fresh_dir(1, "errors-out");
    char want[4096];
    must_voc_opts o = opts(0);
    /* A class not among the 20: the file and the line of <name>. */
    put(d, "Annotations/2008_000002.xml",
        "<annotation>\n<object>\n<name>unicorn</name>\n<bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>\n");
    snprintf(want, sizeof want, "%s/Annotations/2008_000002.xml:3: <name> 'unicorn' is not "
             "one of the 20 Pascal VOC classes", d);
    import_fails(d, join(outs, "a"), &o, want);
    ck_assert(!is_dir(join(outs, "a"))); /* read before anything is written */
    /* A box outside its image (the file's size, not <size>'s). */
    put(d, "Annotations/2008_000002.xml",
        "<annotation><size><width>600</width><height>500</height></size>\n<object><name>cat"
        "</name><bndbox>\n<xmin>100</xmin><ymin>1</ymin><xmax>200</xmax><ymax>2</ymax>"
        "</bndbox></object></annotation>\n");
    snprintf(want, sizeof want, "%s/Annotations/2008_000002.xml:3: <xmin> 100 lies outside "
             "the 6x5 image", d);
    import_fails(d, join(outs, "b"), &o, want);
    /* Malformed XML. */
    put(d, "Annotations/2008_000002.xml", "<annotation>\n<object>\n");
    snprintf(want, sizeof want, "%s/Annotations/2008_000002.xml:3: not well-formed XML", d);
    import_fails(d, join(outs, "c"), &o, want);
    put(d, "Annotations/2008_000002.xml", vu_xml2);
    /* An image in two splits across the kinds' lists. */
    put(d, "ImageSets/Segmentation/val.txt", "2008_000001\n2008_000002\n");
    put(d, "ImageSets/Segmentation/train.txt", "2008_000004\n");
    put(d, "ImageSets/Segmentation/trainval.txt", "2008_000001\n2008_000002\n2008_000004\n");
    snprintf(want, sizeof want, "%s/ImageSets/Main/train.txt:1: '2008_000001' is in another "
             "split in %s/ImageSets/Segmentation/val.txt:1: an image has one split", d, d);
    import_fails(d, join(outs, "d"), &o, want);
    o = opts(DET); /* detection alone does not mind */
    must_err e = {0};
    ck_assert_msg(must_import_voc(d, join(outs, "e"), &o, NULL, &e) == MUST_OK, "%s", e.msg);
    d = fixture(0, "errors2");
    /* A bad mask is found while writing: the writer is abandoned, the
     * directory stays without dataset.ini. */
    uint8_t m[30];
    memset(m, 0, sizeof m);
    m[7] = 33;
    ck_assert_int_eq(vu_png(join(d, "SegmentationClass/2008_000002.png"), 6, 5, m, 1, 8), 0);
    o = opts(0);
    import_fails(d, join(outs, "f"), &o, "2008_000002.png: pixel (1, 1) holds 33");
    ck_assert(must_file_exists(join(outs, "f/images/2008_000001.jpg")));
    /* Not a VOC folder; options out of range. */
    import_fails(join(d, "JPEGImages"), join(outs, "g"), &o, "has neither Annotations/ nor "
                 "SegmentationClass/: not a VOC year folder");
    import_fails(join(d, "nowhere"), join(outs, "g"), &o, "nowhere: no such folder");
    o.tasks = MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    import_fails(d, join(outs, "g"), &o, "Pascal VOC gives detection and segmentation labels");
    o = opts(0);
    o.common.val = 0.8;
    o.common.test = 0.3;
    import_fails(d, join(outs, "g"), &o, "val 0.8 and test 0.3 are not fractions");
    /* Nothing with both kinds. */
    o = opts(0);
    put(d, "ImageSets/Segmentation/train.txt", "2008_000004\n");
    put(d, "ImageSets/Segmentation/val.txt", "");
    put(d, "ImageSets/Segmentation/trainval.txt", "2008_000004\n");
    put(d, "ImageSets/Main/trainval.txt", "2008_000001\n2008_000003\n");
    put(d, "ImageSets/Main/val.txt", "");
    import_fails(d, join(outs, "h"), &o, "no image has both an annotation and a mask");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("voc");
    TCase *tc = tcase_create("voc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, png_index_palette_and_gray);
    tcase_add_test(tc, png_index_refusals);
    tcase_add_test(tc, mask_values_and_size);
    tcase_add_test(tc, xml_reads_the_fixture);
    tcase_add_test(tc, xml_errors_name_file_and_line);
    tcase_add_test(tc, xml_refuses_doctype_and_entities);
    tcase_add_test(tc, boxes_convert_and_clip);
    tcase_add_test(tc, lists_give_ids_and_splits);
    tcase_add_test(tc, lists_refused);
    tcase_add_test(tc, import_both_kinds);
    tcase_add_test(tc, import_one_kind);
    tcase_add_test(tc, import_seeded_splits);
    tcase_add_test(tc, import_missing_images);
    tcase_add_test(tc, import_errors_write_nothing);
    suite_add_tcase(s, tc);
    return test_run(s);
}

#endif
