/* coco_fixture.c - the images tests/import_coco.sh gives its hand-written COCO
 * files: `coco_fixture FILE.png W H` writes a W x H RGB PNG (a gradient, so
 * that no two images are alike). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "must/image.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: coco_fixture FILE.png W H\n");
        return 2;
    }
    int w = atoi(argv[2]), h = atoi(argv[3]);
    must_image img;
    must_err e = {0};
    if (must_image_alloc(&img, w, h, 3, 8, &e)) {
        fprintf(stderr, "coco_fixture: %s\n", e.msg);
        return 1;
    }
    uint8_t *p = img.pixels;
    for (int i = 0; i < w * h * 3; i++)
        p[i] = (uint8_t)(i * 7 + w * 13 + h * 29);
    int rc = must_png_write(argv[1], &img, &e);
    must_image_free(&img);
    if (rc)
        fprintf(stderr, "coco_fixture: %s\n", e.msg);
    return rc ? 1 : 0;
}
