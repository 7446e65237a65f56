/* cmd_predict.c - `must predict`: a trained model on image files. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/predict.h"

static const char *help =
    "usage: must predict --model FILE --out DIR [--task T]... [--threads N] IMAGE...\n\n"
    "Applies a checkpoint that must trained (a teacher, a student or a transfer's\n"
    "model.safetensors; its model card says what it is) to PNG images of any size\n"
    "and writes into DIR, which must not hold a dataset yet:\n"
    "  a dataset of the predictions (dataset.ini, images/, labels/: `must dataset\n"
    "    check DIR` and `must dataset show DIR` work on it), each map at its\n"
    "    image's own size;\n"
    "  overlays/ID.png: the image, then each head's prediction drawn over it;\n"
    "  predictions.json: per image, each head's prediction (classification: the\n"
    "    top 5 classes with scores; detection: boxes with classes and scores;\n"
    "    segmentation, depth, normals: their label file).\n"
    "A prediction is the label the head's plugin makes as a teacher, with the\n"
    "options it was trained with.  --task picks heads by name (default: all; two\n"
    "heads of one label kind need a pick).\n";

static void note(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
}

int must_cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *task = NULL;
    int threads = 0;
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    const char **tasks = calloc((size_t)argc + 1, sizeof *tasks);
    int nimages = 0, ntasks = 0, rc = 2;
    if (!images || !tasks)
        goto out;
    /* --task repeats: take the options one by one. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            fputs(help, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--out") || !strcmp(a, "--task") ||
                   !strcmp(a, "--threads")) {
            if (!v) {
                rc = must_cli_usage_error("predict", "%s needs a value", a);
                goto out;
            }
            if (!strcmp(a, "--model"))
                model = v;
            else if (!strcmp(a, "--out"))
                out = v;
            else if (!strcmp(a, "--task"))
                tasks[ntasks++] = task = v;
            else if ((threads = must_cli_int("predict", a, v, 0, 1024)) < 0)
                goto out;
            i++;
        } else if (a[0] == '-' && a[1]) {
            rc = must_cli_usage_error("predict", "unknown option '%s'", a);
            goto out;
        } else {
            images[nimages++] = a;
        }
    }
    (void)task;
    if (!model || !out || !nimages) {
        rc = must_cli_usage_error("predict", "give --model FILE, --out DIR and images");
        goto out;
    }
    must_err err = {0};
    must_predictor *p = NULL;
    rc = must_predictor_open(model, threads, &p, &err);
    if (!rc)
        rc = must_predict_files(p, images, nimages, ntasks ? tasks : NULL, ntasks, out, note,
                                NULL, &err);
    must_predictor_free(p);
    if (rc) {
        fprintf(stderr, "must predict: %s\n", err.msg);
        rc = 1;
    } else {
        printf("%s: %d image%s; predictions.json, overlays/, labels/\n", out, nimages,
               nimages == 1 ? "" : "s");
    }
out:
    free(images);
    free(tasks);
    return rc;
}
