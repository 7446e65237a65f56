/* mkdataset.c - writes the fixtures the shell tests break and check:
 *   mkdataset set DIR      a good set of 12 images with every task
 *   mkdataset folder DIR   an imagefolder tree: 3 classes x 5 PNGs, and a note
 *   mkdataset jpegs DIR    an imagefolder tree of JPEGs: cat/a.jpg, cat/b.JPEG,
 *                          dog/c.jpeg, dog/sub/e.jpg, a PNG dog/d.png, a note
 *   mkdataset jpegsquare DIR  an imagefolder tree of 2 classes x 8 JPEGs of
 *                          32x32 (what `must run` can pseudo-label) */
#include "config.h"

#include "datautil.h"

/* The jpegsquare fixture: DIR/<class>/<i>.jpg. */
static int jpegsquare(const char *dir)
{
    static const char *const cls[2] = {"cat", "dog"};
    must_err e = {0};
    for (int i = 0; i < 16; i++) {
        char d[4200], p[4300];
        snprintf(d, sizeof d, "%s/%s", dir, cls[i % 2]);
        snprintf(p, sizeof p, "%s/%02d.jpg", d, i);
        must_image img = {0};
        must_labels l;
        int rc = must_mkdir_p(d, &e);
        if (!rc)
            rc = du_example(i, 32, 32, 0, &img, &l, &e);
        if (!rc)
            rc = must_jpeg_write(p, &img, 90, &e);
        must_image_free(&img);
        if (rc) {
            fprintf(stderr, "mkdataset: %s\n", e.msg);
            return 1;
        }
    }
    return 0;
}

/* The jpegs fixture: example i as a JPEG (or a PNG) at dir/name. */
static int jpegs(const char *dir)
{
    static const char *const names[5] = {"cat/a.jpg", "cat/b.JPEG", "dog/c.jpeg",
                                         "dog/sub/e.jpg", "dog/d.png"};
    must_err e = {0};
    for (int i = 0; i < 5; i++) {
        char p[4200], d[4200];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        snprintf(d, sizeof d, "%s", p);
        *strrchr(d, '/') = '\0';
        must_image img = {0};
        must_labels l;
        int rc = must_mkdir_p(d, &e);
        if (!rc)
            rc = du_example(i, 40, 30, 0, &img, &l, &e);
        if (!rc)
            rc = i == 4 ? must_png_write(p, &img, &e) : must_jpeg_write(p, &img, 90, &e);
        must_image_free(&img);
        if (rc) {
            fprintf(stderr, "mkdataset: %s\n", e.msg);
            return 1;
        }
    }
    du_write(dir, "dog/readme.txt", "not an image\n");
    return 0;
}

int main(int argc, char **argv)
{
    must_err e = {0};
    if (argc != 3) {
        fprintf(stderr, "usage: mkdataset set|folder|jpegs|jpegsquare DIR\n");
        return 2;
    }
    if (strcmp(argv[1], "jpegs") == 0)
        return jpegs(argv[2]);
    if (strcmp(argv[1], "jpegsquare") == 0)
        return jpegsquare(argv[2]);
    if (strcmp(argv[1], "set") == 0) {
        if (du_make_set(argv[2], "cli-set", 12, 24, 20, MUST_LABEL_ALL, &e)) {
            fprintf(stderr, "mkdataset: %s\n", e.msg);
            return 1;
        }
        return 0;
    }
    if (strcmp(argv[1], "folder") != 0) {
        fprintf(stderr, "mkdataset: unknown fixture '%s'\n", argv[1]);
        return 2;
    }
    static const char *const cls[3] = {"cat", "dog", "red panda"};
    for (int c = 0; c < 3; c++) {
        char d[4096];
        snprintf(d, sizeof d, "%s/%s", argv[2], cls[c]);
        if (must_mkdir_p(d, &e)) {
            fprintf(stderr, "mkdataset: %s\n", e.msg);
            return 1;
        }
        for (int i = 0; i < 5; i++) {
            must_image img = {0};
            must_labels l;
            char p[4200];
            snprintf(p, sizeof p, "%s/photo %d.png", d, i);
            if (du_example(3 * i + c, 10 + i, 8, 0, &img, &l, &e) ||
                must_png_write(p, &img, &e)) {
                fprintf(stderr, "mkdataset: %s\n", e.msg);
                return 1;
            }
            must_image_free(&img);
        }
        du_write(d, "notes.txt", "not an image\n");
    }
    return 0;
}
