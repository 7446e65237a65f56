/* det_train.c - trains the detection plugin on the synthetic rectangles of
 * dettrain.h and prints one JSON line: AP figures, loss, step time and the
 * share of a step that anchor matching and NMS take.  Longer runs than the
 * test suite affords (docs/detection.md quotes them):
 *
 *   make tests/det_train && tests/det_train --steps 600 --out /tmp/rects
 *
 * Options: --steps K, --batch B, --size S, --train N, --val N, --threads T,
 * --lr X, --width W and --fpn F (the backbone), --with-heads 1 (also train
 * the classification, segmentation and depth plugins, on random labels, to
 * time the multi-task step), --eval 0 (no final evaluation: timing runs),
 * --eval-every K (AP50 along
 * the way, up to 8 times), --out DIR (the set is made there unless it
 * exists), and head options as key=value. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dettrain.h"

int main(int argc, char **argv)
{
    dt_opts o;
    dt_opts_default(&o);
    o.steps = 300;
    o.progress = 25;
    const char *dir = "det_train_set";
    int ntrain = 800, nval = 200, nset = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strchr(a, '=') && a[0] != '-') {
            if (nset == 15) {
                fprintf(stderr, "det_train: at most 15 head options\n");
                return 2;
            }
            o.set[nset++] = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "det_train: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--steps") == 0)
            o.steps = atoi(v);
        else if (strcmp(a, "--batch") == 0)
            o.batch = atoi(v);
        else if (strcmp(a, "--size") == 0)
            o.size = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            o.threads = atoi(v);
        else if (strcmp(a, "--lr") == 0)
            o.lr = atof(v);
        else if (strcmp(a, "--train") == 0)
            ntrain = atoi(v);
        else if (strcmp(a, "--val") == 0)
            nval = atoi(v);
        else if (strcmp(a, "--out") == 0)
            dir = v;
        else if (strcmp(a, "--eval") == 0)
            o.no_eval = !atoi(v);
        else if (strcmp(a, "--with-heads") == 0)
            o.with_heads = atoi(v);
        else if (strcmp(a, "--width") == 0)
            o.bb.width = (float)atof(v);
        else if (strcmp(a, "--fpn") == 0)
            o.bb.fpn_channels = atoi(v);
        else if (strcmp(a, "--eval-every") == 0)
            for (int k = 0, e = atoi(v); k < 8 && e > 0 && (k + 1) * e < o.steps; k++)
                o.eval_at[k] = (k + 1) * e;
        else {
            fprintf(stderr, "det_train: unknown option '%s'\n", a);
            return 2;
        }
        i++;
    }
    must_err err = {0};
    char ini[4096];
    struct stat sb;
    snprintf(ini, sizeof ini, "%s/dataset.ini", dir);
    if (stat(ini, &sb) != 0 && dt_make_rects(dir, ntrain, nval, o.size, 1, &err)) {
        fprintf(stderr, "det_train: %s\n", err.msg);
        return 1;
    }
    dt_result r;
    if (dt_train(dir, &o, &r, &err)) {
        fprintf(stderr, "det_train: %s\n", err.msg);
        return 1;
    }
    double per = r.train_s / o.steps;
    printf("{\"steps\": %d, \"batch\": %d, \"size\": %d, \"loss_first\": %.4f, "
           "\"loss_last\": %.4f, \"AP50\": %.4f, \"AP\": %.4f, \"AP75\": %.4f, "
           "\"step_s_median\": %.4f, \"img_per_s\": %.1f, \"img_per_cpu_s\": %.1f, "
           "\"match_share\": %.4f, "
           "\"nms_share\": %.4f, \"proposals_share\": %.4f, \"nonfinite\": %d",
           o.steps, o.batch, o.size, r.loss_first, r.loss_last, r.ap50, r.ap, r.ap75, r.step_s,
           o.batch / r.step_s, o.batch * o.steps / r.cpu_s, r.timers.match / (per * (o.steps - 1)),
           r.timers.nms / (per * (o.steps - 1)), r.timers.proposals / (per * (o.steps - 1)),
           r.nonfinite);
    printf(", \"AP50_along\": [");
    for (int k = 0; k < r.nevals; k++)
        printf("%s[%d, %.4f]", k ? ", " : "", o.eval_at[k], r.ap50_at[k]);
    printf("]}\n");
    return 0;
}
