/* import_coco.c - `must import coco --annotations FILE[:SPLIT] --images DIR OUT`:
 * COCO's object instances to a detection and segmentation set
 * (must_import_coco does the work). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/import.h"

#define CMD "import coco"

static const char help[] =
    "usage: must import coco --annotations FILE[:SPLIT] [--annotations ...] --images DIR\n"
    "                        [--images DIR ...] OUT [--tasks LIST] [--skip-missing]\n"
    "                        [--name NAME] [--val F] [--test F] [--seed S]\n\n"
    "Builds the dataset OUT (must-dataset(5)) from COCO object-instance files\n"
    "(instances_val2017.json): each image with its boxes (bbox, clipped to the image)\n"
    "and a segmentation class map (0 background, then the categories in ascending id;\n"
    "255 for crowd regions, whose boxes are difficult).  Several --annotations go\n"
    "into one set; SPLIT (train, val or test) puts all of a file's images in that\n"
    "split, and the images of files without one are split by a seeded shuffle (--val,\n"
    "--test: fractions, default 0.1 each; --seed, default 0).  The file_names are\n"
    "relative to --images: one DIR for all files, or one per --annotations, in order.\n"
    "Images are copied as they are; their ids are the file_names without extension.\n\n"
    "  --tasks LIST      detection, segmentation or both (default)\n"
    "  --skip-missing    images the files name but DIR lacks are skipped and counted\n"
    "                    (without it they are an error that names them)\n"
    "  --name NAME       the set's name (default: OUT's last component)\n";

static int parse_fraction(const char *opt, const char *v, double *out)
{
    char *end;
    if (!v)
        return must_cli_usage_error(CMD, "%s needs a value", opt);
    *out = strtod(v, &end);
    if (!*v || *end || !(*out >= 0.0 && *out <= 1.0))
        return must_cli_usage_error(CMD, "%s: '%s' is not a fraction in [0, 1]", opt, v);
    return 0;
}

/* "FILE:SPLIT" or "FILE" into a source (the images come later); the file
 * name is a copy (freed by free_sources). */
static int parse_source(const char *v, must_coco_source *s)
{
    const char *colon = strrchr(v, ':');
    s->split = colon ? must_split_parse(colon + 1) : -1;
    s->images = NULL;
    char *file = strndup(v, s->split >= 0 ? (size_t)(colon - v) : strlen(v));
    if (!file || !*file) {
        free(file);
        return must_cli_usage_error(CMD, "--annotations '%s' names no file", v);
    }
    s->annotations = file;
    return 0;
}

static void free_sources(must_coco_source *src, int n, const char **dirs)
{
    for (int s = 0; s < n; s++)
        free((char *)src[s].annotations);
    free(src);
    free(dirs);
}

static int parse_tasks(const char *v, unsigned *tasks)
{
    *tasks = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v ? v : "");
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

/* An importer's note on stderr. */
static void note(void *user, const char *line)
{
    (void)user;
    if (!must_cli_prints()) /* under mpirun, rank 0 speaks for all */
        return;
    fprintf(stderr, "must " CMD ": %s\n", line);
}

static void summary(const char *out, const must_coco_opts *o, const must_coco_counts *c)
{
    if (!must_cli_prints())
        return;
    printf("%s: %ld images, %d categories; train %ld, val %ld, test %ld; annotations %ld", out,
           c->common.images, c->common.classes, c->common.split[MUST_SPLIT_TRAIN],
           c->common.split[MUST_SPLIT_VAL], c->common.split[MUST_SPLIT_TEST], c->annotations);
    if (o->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION))
        printf("; boxes %ld (clipped to their image %ld, of zero area left out %ld)", c->boxes,
               c->clipped, c->dropped);
    printf("; crowd %ld", c->crowd);
    if (o->tasks & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION))
        printf("; without a mask %ld", c->unmasked);
    if (c->common.skipped)
        printf("; missing images skipped %ld", c->common.skipped);
    printf("\n");
}

/* The options after the command's name into src (nsrc of them) and o;
 * OUT into *out.  0, or the exit status of a usage error or --help. */
static int parse(int argc, char **argv, must_coco_source *src, int *nsrc, const char **dirs,
                 int *ndirs, must_coco_opts *o, const char **out)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--annotations") == 0 || strcmp(a, "--images") == 0 ||
                    strcmp(a, "--name") == 0 || strcmp(a, "--tasks") == 0 ||
                    strcmp(a, "--seed") == 0;
        if (must_cli_is_help(a)) {
            fputs(help, stdout);
            return 1;
        }
        if (takes && (!v || !*v))
            return must_cli_usage_error(CMD, "%s needs a value", a);
        if (strcmp(a, "--annotations") == 0) {
            if (parse_source(v, &src[*nsrc]))
                return 2;
            (*nsrc)++;
        } else if (strcmp(a, "--images") == 0) {
            dirs[(*ndirs)++] = v;
        } else if (strcmp(a, "--name") == 0) {
            o->common.name = v;
        } else if (strcmp(a, "--tasks") == 0) {
            if (parse_tasks(v, &o->tasks))
                return 2;
        } else if (strcmp(a, "--val") == 0 || strcmp(a, "--test") == 0) {
            if (parse_fraction(a, v, a[2] == 'v' ? &o->common.val : &o->common.test))
                return 2;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            if (v[0] == '-' || (o->common.seed = strtoull(v, &end, 10), *end))
                return must_cli_usage_error(CMD, "--seed: '%s' is not a whole number >= 0", v);
        } else if (strcmp(a, "--skip-missing") == 0) {
            o->skip_missing = 1;
            continue;
        } else if (a[0] == '-' && a[1]) {
            return must_cli_usage_error(CMD, "unknown option '%s'", a);
        } else if (!*out) {
            *out = a;
            continue;
        } else {
            return must_cli_usage_error(CMD, "unexpected argument '%s'", a);
        }
        i++;
    }
    return 0;
}

int must_cmd_import_coco(int argc, char **argv)
{
    must_coco_source *src = calloc((size_t)argc, sizeof *src);
    const char **dirs = calloc((size_t)argc, sizeof *dirs), *out = NULL;
    if (!src || !dirs) {
        fprintf(stderr, "must " CMD ": out of memory\n");
        return 1;
    }
    int nsrc = 0, ndirs = 0, rc;
    must_coco_opts o;
    must_import_coco_defaults(&o);
    if ((rc = parse(argc, argv, src, &nsrc, dirs, &ndirs, &o, &out))) {
        free_sources(src, nsrc, dirs);
        return rc == 1 ? 0 : 2; /* 1: --help */
    }
    if (!nsrc || !ndirs || !out)
        rc = must_cli_usage_error(CMD, "needs --annotations FILE, --images DIR and OUT");
    else if (ndirs != 1 && ndirs != nsrc)
        rc = must_cli_usage_error(CMD, "%d --images for %d --annotations: give one for all, "
                                  "or one each", ndirs, nsrc);
    else if (o.common.val + o.common.test > 1.0)
        rc = must_cli_usage_error(CMD, "--val %g and --test %g leave no room for train",
                                  o.common.val, o.common.test);
    if (rc) {
        free_sources(src, nsrc, dirs);
        return rc;
    }
    for (int s = 0; s < nsrc; s++)
        src[s].images = dirs[ndirs == 1 ? 0 : s];
    o.common.note = note;
    must_coco_counts c;
    must_err e = {0};
    int irc = must_import_coco(src, nsrc, out, &o, &c, &e);
    if (irc) {
        rc = must_cli_fail(CMD, irc, &e);
    } else {
        summary(out, &o, &c);
    }
    free_sources(src, nsrc, dirs);
    return rc;
}
