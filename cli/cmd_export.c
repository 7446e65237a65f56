/* cmd_export.c - `must export coco SET OUT.json`: a set's boxes as a COCO
 * annotation file (must_export_coco does the work). */
#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "must/import.h"

static const char help[] =
    "usage: must export coco SET OUT.json\n\n"
    "Writes the detection labels of the dataset SET as a COCO annotation file:\n"
    "images (id, file_name, width, height), categories (the category ids the set\n"
    "kept from a COCO import, else 1..K) and one annotation per box (bbox x, y, w, h;\n"
    "area; iscrowd for difficult boxes; score for pseudo labels or scores below 1).\n"
    "Image ids are the numbers the set's image ids end with when all of them do and\n"
    "no two are equal (COCO's own file names), else 1..N in the set's order.\n";

static void usage(FILE *fp)
{
    fputs(help, fp);
}

static int export_coco(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    static const must_cli_opt opts[] = {{NULL, MUST_CLI_FLAG, NULL, 0, 0}};
    int rc = must_cli_parse("export coco", argc, argv, opts, pos, 2, help);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!pos[1])
        return must_cli_usage_error("export coco", "needs SET and OUT.json");
    must_coco_export_counts c;
    must_err e = {0};
    if (must_export_coco(pos[0], pos[1], &c, &e)) {
        fprintf(stderr, "must export coco: %s\n", e.msg);
        return 1;
    }
    printf("%s: %ld images, %d categories, %ld annotations%s from %s\n", pos[1], c.images,
           c.categories, c.annotations, c.scores ? " with scores" : "", pos[0]);
    return 0;
}

int must_cmd_export(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"coco", export_coco}, {NULL, NULL}};
    return must_cli_dispatch("export", "format", argc, argv, subs, usage);
}
