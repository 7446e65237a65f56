/* voc_fixture.c - what tests/import_voc.sh imports: `voc_fixture DIR` writes
 * the tiny VOC year folder of tests/vocutil.h into DIR; `voc_fixture mask
 * FILE W H V` writes a W x H palette PNG whose every index is V. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vocutil.h"

int main(int argc, char **argv)
{
    if (argc == 2)
        return vu_make(argv[1]) ? 1 : 0;
    if (argc == 6 && strcmp(argv[1], "mask") == 0) {
        int w = atoi(argv[3]), h = atoi(argv[4]), v = atoi(argv[5]);
        if (w <= 0 || h <= 0 || w * h > 1 << 20 || v < 0 || v > 255)
            return 2;
        uint8_t *m = malloc((size_t)w * (size_t)h);
        if (!m)
            return 1;
        memset(m, v, (size_t)w * (size_t)h);
        int rc = vu_png(argv[2], w, h, m, 1, 8);
        free(m);
        return rc ? 1 : 0;
    }
    fprintf(stderr, "usage: voc_fixture DIR | voc_fixture mask FILE W H V\n");
    return 2;
}
