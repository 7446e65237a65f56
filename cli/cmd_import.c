/* cmd_import.c - `must import imagefolder DIR OUT`: DIR/<class>/<image> to a
 * classification dataset with a deterministic train/val/test split;
 * `must import images DIR OUT`: every image under DIR to an unlabelled pool;
 * `must import depth|normals`: images and their per-pixel maps, paired by
 * stem, to a depth or normal dataset; `must import coco` is in import_coco.c,
 * `must import voc` in import_voc.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/import.h"

static const char imagefolder_help[] =
    "usage: must import imagefolder DIR OUT [--name NAME] [--val F] [--test F]\n"
    "                                       [--seed S]\n\n"
    "Builds the classification dataset OUT (must-dataset(5)) from the layout\n"
    "DIR/<class>/<image>: classes are the subdirectories in byte order, image ids\n"
    "<class>_<stem>.  Per class, a seeded shuffle puts a fraction F of the images\n"
    "in test (--test, default 0.1), then F in val (--val, default 0.1), the rest in\n"
    "train: the same DIR and seed (--seed, default 0) always give the same split.\n"
    "Images are the .png, .jpg and .jpeg files (any case), copied as they are;\n"
    "other files are skipped and counted.  NAME (--name) defaults to OUT's last\n"
    "component.\n";

static const char images_help[] =
    "usage: must import images DIR OUT [--name NAME] [--val F] [--test F] [--seed S]\n\n"
    "Builds a set without labels (an unlabelled pool for the teachers) from every\n"
    "image at any depth under DIR, in byte order of their paths; an image's id is\n"
    "its path below DIR without the extension, '/' and other characters outside\n"
    "A-Z a-z 0-9 _ - . made '_'.  The split is seeded over the whole set; --name,\n"
    "--val, --test and --seed as in 'must import imagefolder'.  A DIR without any\n"
    "image is an error.\n";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must import imagefolder DIR OUT [--name NAME] [--val F] [--test F]\n"
            "                                       [--seed S]\n"
            "       must import images DIR OUT [--name NAME] [--val F] [--test F] [--seed S]\n"
            "       must import coco --annotations FILE[:SPLIT] --images DIR OUT [...]\n"
            "       must import depth --images DIR --depth DIR OUT [--scale S] [...]\n"
            "       must import normals --images DIR --normals DIR OUT [--convention C] [...]\n"
            "       must import voc DIR OUT [--tasks LIST] [--skip-missing] [...]\n\n"
            "Builds a dataset in must's format (must-dataset(5)) from another layout:\n"
            "  imagefolder  classification from DIR/<class>/<image> (ImageNet's layout)\n"
            "  images       an unlabelled pool from every image under DIR\n"
            "  coco         detection and segmentation from COCO object instances\n"
            "  depth        images and depth maps (16-bit PNG, .npy), paired by stem\n"
            "  normals      images and normal maps (RGB PNG, .npy), paired by stem\n"
            "  voc          detection and segmentation from a Pascal VOC year folder\n\n"
            "'must import FORMAT --help' (or 'must import help FORMAT') describes one;\n"
            "every importer in full: " MUST_DOC_DIR "/docs/importers.md.\n");
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
    if (!must_cli_prints()) /* under mpirun, rank 0 speaks for all */
        return;
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
            fputs(imagefolder_help, stdout);
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
    int rc = must_import_imagefolder(src, out, &o, &c, &e);
    if (rc || !must_cli_prints())
        return must_cli_fail("import imagefolder", rc, &e);
    printf("%s: %ld images of %d classes from %s; train %ld, val %ld, test %ld", out, c.images,
           c.classes, src, c.split[MUST_SPLIT_TRAIN], c.split[MUST_SPLIT_VAL],
           c.split[MUST_SPLIT_TEST]);
    if (c.skipped)
        printf("; skipped %ld files that are not .png, .jpg or .jpeg", c.skipped);
    printf("\n");
    return 0;
}

/* --seed's value: a whole number >= 0. */
static int parse_seed(const char *cmd, const char *v, unsigned long long *seed)
{
    char *end;
    if (!v || !*v || v[0] == '-' || (*seed = strtoull(v, &end, 10), *end))
        return must_cli_usage_error(cmd, "--seed: '%s' is not a whole number >= 0", v ? v : "");
    return 0;
}

static int import_images(int argc, char **argv)
{
    const char *cmd = "import images";
    const char *pos[2] = {NULL, NULL}, *name = NULL, *val = NULL, *test = NULL, *seed = NULL;
    const must_cli_opt opts[] = {{"--name", MUST_CLI_STR, &name, 0, 0},
                                 {"--val", MUST_CLI_STR, &val, 0, 0},
                                 {"--test", MUST_CLI_STR, &test, 0, 0},
                                 {"--seed", MUST_CLI_STR, &seed, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int r = must_cli_parse(cmd, argc, argv, opts, pos, 2, images_help);
    if (r)
        return r == 1 ? 0 : r;
    must_import_opts o;
    must_import_defaults(&o);
    unsigned long long s = 0;
    char *end;
    for (int k = 0; k < 2; k++) {
        const char *v = k ? test : val;
        double *f = k ? &o.test : &o.val;
        if (v && (!*v || (*f = strtod(v, &end), *end) || !(*f >= 0.0 && *f <= 1.0)))
            return must_cli_usage_error(cmd, "%s: '%s' is not a fraction in [0, 1]",
                                        k ? "--test" : "--val", v);
    }
    if (seed && parse_seed(cmd, seed, &s))
        return 2;
    if (!pos[0] || !pos[1])
        return must_cli_usage_error(cmd, "needs DIR and OUT");
    if (o.val + o.test > 1.0)
        return must_cli_usage_error(cmd, "--val %g and --test %g leave no room for train", o.val,
                                    o.test);
    o.name = name;
    o.seed = s;
    o.note = note;
    o.user = "images";
    must_import_counts c;
    must_err e = {0};
    int rc = must_import_images(pos[0], pos[1], &o, &c, &e);
    if (rc || !must_cli_prints())
        return must_cli_fail("import images", rc, &e);
    printf("%s: %ld images without labels from %s; train %ld, val %ld, test %ld", pos[1],
           c.images, pos[0], c.split[MUST_SPLIT_TRAIN], c.split[MUST_SPLIT_VAL],
           c.split[MUST_SPLIT_TEST]);
    if (c.skipped)
        printf("; skipped %ld files that are not .png, .jpg or .jpeg", c.skipped);
    printf("\n");
    return 0;
}

static const char depth_help[] =
    "usage: must import depth --images DIR --depth DIR OUT [--scale S] [--skip-unpaired]\n"
    "                         [--name NAME] [--val F] [--test F] [--seed S]\n\n"
    "Builds the depth dataset OUT (must-dataset(5)) from images (.png, .jpg,\n"
    ".jpeg; copied as they are) and their depth maps, paired by file stem\n"
    "(images/0001.png with depth/0001.npy).  A depth map is a 16-bit gray PNG\n"
    "(metres = value x S, 0 = no data) or a float32/float64 .npy array (H, W) or\n"
    "(H, W, 1) in metres (0, NaN, inf = no data), of its image's size.  The set\n"
    "stores depth with scale S (default 0.001: 1 mm steps up to 65.535 m); a depth\n"
    "past 65535 x S, or below 0, is an error naming the file and pixel.\n"
    "Images without a map and maps without an image are an error that lists them;\n"
    "--skip-unpaired imports the pairs and lists the rest.  Splits, NAME and the\n"
    "seed as in 'must import imagefolder' (over the whole set).\n";

static const char normals_help[] =
    "usage: must import normals --images DIR --normals DIR OUT [--convention C]\n"
    "                           [--skip-unpaired] [--name NAME] [--val F] [--test F]\n"
    "                           [--seed S]\n\n"
    "Builds the normal dataset OUT (must-dataset(5)) from images (.png, .jpg,\n"
    ".jpeg; copied as they are) and their normal maps, paired by file stem.  A\n"
    "normal map is a float32/float64 .npy array (H, W, 3), or an RGB PNG of 8 or\n"
    "16 bits where v encodes n = v / 255 (or v / 65535) x 2 - 1, 0 0 0 = invalid.\n"
    "C says how the source's axes lie in must's camera frame (x right, y down, z\n"
    "forward): three items AXIS-DIRECTION, e.g. x-right,y-up,z-camera, with the\n"
    "directions right, left, up, down, forward (away), backward (camera); or\n"
    "opengl (x-right,y-up,z-camera), opencv or must (x-right,y-down,z-forward, the\n"
    "default).  Vectors are renormalised; zero or NaN vectors are invalid.\n"
    "Unpaired files, --skip-unpaired, splits, NAME and the seed as in 'must import\n"
    "depth'.\n";

/* A number option of `must import depth|normals` in [lo, hi]. */
static int maps_number(const char *cmd, const char *opt, const char *v, double lo, double hi,
                       double *out)
{
    char *end;
    *out = v ? strtod(v, &end) : 0.0;
    if (!v || !*v || *end || !(*out >= lo && *out <= hi))
        return must_cli_usage_error(cmd, "%s: '%s' is not a number in [%g, %g]", opt,
                                    v ? v : "", lo, hi);
    return 0;
}

/* `must import depth` and `must import normals`: the same options but the
 * maps' folder and --scale or --convention. */
static int import_maps(int argc, char **argv, int depth)
{
    const char *cmd = depth ? "import depth" : "import normals";
    const char *images = NULL, *maps = NULL, *name = NULL, *val = "0.1", *test = "0.1",
               *seed = "0", *scale = "0.001", *conv = NULL, *out = NULL;
    int skip = 0;
    must_cli_opt opts[] = {{"--images", MUST_CLI_STR, &images, 0, 0},
                           {depth ? "--depth" : "--normals", MUST_CLI_STR, &maps, 0, 0},
                           {depth ? "--scale" : "--convention", MUST_CLI_STR,
                            depth ? (void *)&scale : (void *)&conv, 0, 0},
                           {"--skip-unpaired", MUST_CLI_FLAG, &skip, 0, 0},
                           {"--name", MUST_CLI_STR, &name, 0, 0},
                           {"--val", MUST_CLI_STR, &val, 0, 0},
                           {"--test", MUST_CLI_STR, &test, 0, 0},
                           {"--seed", MUST_CLI_STR, &seed, 0, 0},
                           {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(cmd, argc, argv, opts, &out, 1, depth ? depth_help : normals_help);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!images || !maps || !out)
        return must_cli_usage_error(cmd, "needs --images DIR, %s DIR and OUT",
                                    depth ? "--depth" : "--normals");
    must_import_maps m;
    must_import_maps_defaults(&m);
    must_import_opts o;
    must_import_defaults(&o);
    double s;
    char *end;
    if (maps_number(cmd, "--val", val, 0.0, 1.0, &o.val) ||
        maps_number(cmd, "--test", test, 0.0, 1.0, &o.test) ||
        maps_number(cmd, "--scale", scale, 1e-30, 1e30, &s))
        return 2;
    if (o.val + o.test > 1.0)
        return must_cli_usage_error(cmd, "--val %g and --test %g leave no room for train",
                                    o.val, o.test);
    if (!*seed || seed[0] == '-' || (o.seed = strtoull(seed, &end, 10), *end))
        return must_cli_usage_error(cmd, "--seed: '%s' is not a whole number >= 0", seed);
    m.images = images;
    m.maps = maps;
    m.skip_unpaired = skip;
    m.scale = s;
    m.convention = conv;
    o.name = name;
    o.note = note;
    o.user = depth ? "depth" : "normals";
    must_import_counts c;
    must_err e = {0};
    rc = (depth ? must_import_depth : must_import_normals)(&m, out, &o, &c, &e);
    if (rc || !must_cli_prints())
        return must_cli_fail(cmd, rc, &e);
    printf("%s: %ld images with %s maps from %s and %s; train %ld, val %ld, test %ld", out,
           c.images, depth ? "depth" : "normal", images, maps, c.split[MUST_SPLIT_TRAIN],
           c.split[MUST_SPLIT_VAL], c.split[MUST_SPLIT_TEST]);
    if (c.skipped)
        printf("; skipped %ld file%s of other kinds", c.skipped, c.skipped == 1 ? "" : "s");
    printf("\n");
    return 0;
}

static int import_depth(int argc, char **argv)
{
    return import_maps(argc, argv, 1);
}

static int import_normals(int argc, char **argv)
{
    return import_maps(argc, argv, 0);
}

int must_cmd_import(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"imagefolder", import_imagefolder},
                                        {"images", import_images},
                                        {"coco", must_cmd_import_coco},
                                        {"depth", import_depth},
                                        {"normals", import_normals},
                                        {"voc", must_cmd_import_voc},
                                        {NULL, NULL}};
    return must_cli_dispatch("import", "format", argc, argv, subs, usage);
}
