/* mkdataset.c - writes the fixtures the shell tests break and check:
 *   mkdataset set DIR      a good set of 12 images with every task
 *   mkdataset folder DIR   an imagefolder tree: 3 classes x 5 PNGs, and a note */
#include "config.h"

#include "datautil.h"

int main(int argc, char **argv)
{
    must_err e = {0};
    if (argc != 3) {
        fprintf(stderr, "usage: mkdataset set|folder DIR\n");
        return 2;
    }
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
