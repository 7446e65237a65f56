/* cmd_import.c - `must import imagefolder DIR OUT`: DIR/<class>/<image>.png to a
 * classification dataset with a deterministic train/val/test split; `must
 * import coco` is in import_coco.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/import.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must import imagefolder DIR OUT [--name NAME] [--val F] [--test F]\n"
            "                                       [--seed S]\n"
            "       must import coco --annotations FILE[:SPLIT] --images DIR OUT [...]\n"
            "                                       (see must import coco --help)\n\n"
            "Builds the classification dataset OUT (docs/dataset-format.md) from the layout\n"
            "DIR/<class>/<image>.png: classes are the subdirectories in byte order, image ids\n"
            "<class>_<stem>.  Per class, a seeded shuffle puts a fraction F of the images in\n"
            "test (default 0.1), then F in val (default 0.1), the rest in train: the same\n"
            "DIR and seed (default 0) always give the same split.  Files other than .png\n"
            "are skipped and counted.  NAME defaults to OUT's last component.\n");
}

static int parse_fraction(const char *opt, const char *v, double *out)
{
    char *end;
    if (!v)
        return must_cli_usage_error("import imagefolder", "%s needs a value", opt);
    *out = strtod(v, &end);
    if (!*v || *end || !(*out >= 0.0 && *out <= 1.0))
        return must_cli_usage_error("import imagefolder", "%s: '%s' is not a fraction in [0, 1]",
                                    opt, v);
    return 0;
}

/* An importer's note on stderr, named by the format (user). */
static void note(void *user, const char *line)
{
    fprintf(stderr, "must import %s: %s\n", (const char *)user, line);
}

static int import_imagefolder(int argc, char **argv)
{
    const char *src = NULL, *out = NULL, *name = NULL;
    double fval = 0.1, ftest = 0.1;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--name") == 0) {
            if (!v)
                return must_cli_usage_error("import imagefolder", "--name needs a value");
            name = v;
            i++;
        } else if (strcmp(a, "--val") == 0 || strcmp(a, "--test") == 0) {
            if (parse_fraction(a, v, a[2] == 'v' ? &fval : &ftest))
                return 2;
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            if (!v || !*v || (seed = strtoull(v, &end, 10), *end) || v[0] == '-')
                return must_cli_usage_error("import imagefolder", "--seed: '%s' is not a whole "
                                            "number >= 0", v ? v : "");
            i++;
        } else if (a[0] == '-' && a[1]) {
            return must_cli_usage_error("import imagefolder", "unknown option '%s'", a);
        } else if (!src) {
            src = a;
        } else if (!out) {
            out = a;
        } else {
            return must_cli_usage_error("import imagefolder", "unexpected argument '%s'", a);
        }
    }
    if (!src || !out)
        return must_cli_usage_error("import imagefolder", "needs DIR and OUT");
    if (fval + ftest > 1.0)
        return must_cli_usage_error("import imagefolder", "--val %g and --test %g leave no "
                                    "room for train", fval, ftest);

    must_import_opts o;
    must_import_defaults(&o);
    o.name = name;
    o.val = fval;
    o.test = ftest;
    o.seed = seed;
    o.note = note;
    o.user = "imagefolder";
    must_import_counts c;
    must_err e = {0};
    if (must_import_imagefolder(src, out, &o, &c, &e)) {
        fprintf(stderr, "must import imagefolder: %s\n", e.msg);
        return 1;
    }
    printf("%s: %ld images of %d classes from %s; train %ld, val %ld, test %ld", out, c.images,
           c.classes, src, c.split[MUST_SPLIT_TRAIN], c.split[MUST_SPLIT_VAL],
           c.split[MUST_SPLIT_TEST]);
    if (c.skipped)
        printf("; skipped %ld files that are not .png", c.skipped);
    printf("\n");
    return 0;
}

int must_cmd_import(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"imagefolder", import_imagefolder},
                                        {"coco", must_cmd_import_coco},
                                        {NULL, NULL}};
    return must_cli_dispatch("import", "format", argc, argv, subs, usage);
}
