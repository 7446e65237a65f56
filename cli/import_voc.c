/* import_voc.c - `must import voc DIR OUT`: a Pascal VOC year folder
 * (VOCdevkit/VOC2012) to a detection and/or segmentation set
 * (must_import_voc does the work). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/import.h"

#define CMD "import voc"

static const char help[] =
    "usage: must import voc DIR OUT [--tasks LIST] [--skip-missing] [--name NAME]\n"
    "                               [--val F] [--test F] [--seed S]\n\n"
    "Builds the dataset OUT (must-dataset(5)) from the Pascal VOC year folder\n"
    "DIR (VOCdevkit/VOC2007, VOCdevkit/VOC2012): the images JPEGImages/<id>.jpg,\n"
    "copied as they are; boxes from Annotations/<id>.xml (VOC's 1-based inclusive\n"
    "xmin..xmax become x0 = xmin - 1, x1 = xmax; clipped to the image; <difficult>\n"
    "boxes are difficult, which AP leaves out); class maps from the palette indices\n"
    "of SegmentationClass/<id>.png (0 background, 1-20 the classes, 255 void).\n"
    "Classes: the devkit's 20, aeroplane ... tvmonitor; any other is an error.\n"
    "The images and splits are those of ImageSets/Main (detection) and\n"
    "ImageSets/Segmentation (segmentation): train.txt, val.txt, test.txt, and\n"
    "trainval.txt (their union; alone, split into train and val by --val and\n"
    "--seed).  A folder without lists gives every annotation (mask), split by a\n"
    "seeded shuffle (--val, --test: fractions, default 0.1 each; --seed, default 0).\n"
    "An image needs a label of every kind the set has: the others are left out\n"
    "and counted.  The XML is read with libxml2, which a build may lack.\n\n"
    "  --tasks LIST      detection, segmentation or both (default: each kind DIR\n"
    "                    has: Annotations/, SegmentationClass/)\n"
    "  --skip-missing    images missing from JPEGImages are skipped and counted\n"
    "                    (without it they are an error that names them)\n"
    "  --name NAME       the set's name (default: OUT's last component)\n";

static int parse_tasks(const char *v, unsigned *tasks)
{
    *tasks = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *t = strtok(buf, ", "); t; t = strtok(NULL, ", ")) {
        int k = must_label_kind_parse(t);
        if (k != MUST_LABEL_DETECTION && k != MUST_LABEL_SEGMENTATION)
            return must_cli_usage_error(CMD, "--tasks: '%s' is not detection or segmentation",
                                        t);
        *tasks |= MUST_LABEL_BIT(k);
    }
    if (!*tasks)
        return must_cli_usage_error(CMD, "--tasks needs detection, segmentation or both");
    return 0;
}

/* --val and --test (fractions) and --seed into o. */
static int parse_split(const char *val, const char *test, const char *seed, must_voc_opts *o)
{
    char *end;
    for (int k = 0; k < 2; k++) {
        const char *v = k ? test : val;
        double *f = k ? &o->common.test : &o->common.val;
        if (v && (!*v || (*f = strtod(v, &end), *end) || !(*f >= 0.0 && *f <= 1.0)))
            return must_cli_usage_error(CMD, "%s: '%s' is not a fraction in [0, 1]",
                                        k ? "--test" : "--val", v);
    }
    if (o->common.val + o->common.test > 1.0)
        return must_cli_usage_error(CMD, "--val %g and --test %g leave no room for train",
                                    o->common.val, o->common.test);
    if (seed && (!*seed || seed[0] == '-' || (o->common.seed = strtoull(seed, &end, 10), *end)))
        return must_cli_usage_error(CMD, "--seed: '%s' is not a whole number >= 0", seed);
    return 0;
}

/* An importer's note on stderr. */
static void note(void *user, const char *line)
{
    (void)user;
    if (!must_cli_prints()) /* under mpirun, rank 0 speaks for all */
        return;
    fprintf(stderr, "must " CMD ": %s\n", line);
}

static void summary(const char *dir, const char *out, const must_voc_counts *c)
{
    if (!must_cli_prints())
        return;
    unsigned det = c->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    unsigned seg = c->tasks & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    printf("%s: %ld images, %d classes (%s) from %s; train %ld, val %ld, test %ld", out,
           c->common.images, c->common.classes,
           det && seg ? "detection, segmentation" : det ? "detection" : "segmentation", dir,
           c->common.split[MUST_SPLIT_TRAIN], c->common.split[MUST_SPLIT_VAL],
           c->common.split[MUST_SPLIT_TEST]);
    if (det)
        printf("; boxes %ld (difficult %ld, clipped to their image %ld)", c->boxes,
               c->difficult, c->clipped);
    if (seg)
        printf("; void pixels %ld", c->void_pixels);
    if (c->no_annotation || c->no_mask)
        printf("; left out without an annotation %ld, without a mask %ld", c->no_annotation,
               c->no_mask);
    if (c->common.skipped)
        printf("; missing images skipped %ld", c->common.skipped);
    printf("\n");
}

int must_cmd_import_voc(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *name = NULL, *val = NULL, *test = NULL, *seed = NULL,
               *tasks = NULL;
    int skip = 0;
    const must_cli_opt opts[] = {{"--tasks", MUST_CLI_STR, &tasks, 0, 0},
                                 {"--skip-missing", MUST_CLI_FLAG, &skip, 0, 0},
                                 {"--name", MUST_CLI_STR, &name, 0, 0},
                                 {"--val", MUST_CLI_STR, &val, 0, 0},
                                 {"--test", MUST_CLI_STR, &test, 0, 0},
                                 {"--seed", MUST_CLI_STR, &seed, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(CMD, argc, argv, opts, pos, 2, help);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!pos[0] || !pos[1])
        return must_cli_usage_error(CMD, "needs DIR and OUT");
    must_voc_opts o;
    must_import_voc_defaults(&o);
    if ((tasks && parse_tasks(tasks, &o.tasks)) || parse_split(val, test, seed, &o))
        return 2;
    o.skip_missing = skip;
    o.common.name = name;
    o.common.note = note;
    must_voc_counts c;
    must_err e = {0};
    int irc = must_import_voc(pos[0], pos[1], &o, &c, &e);
    if (irc)
        return must_cli_fail(CMD, irc, &e);
    summary(pos[0], pos[1], &c);
    return 0;
}
