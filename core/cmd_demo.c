/* cmd_demo.c - `must demo`, for now a small built-in training example.
 *
 * Until the whole MuST pipeline lands (teachers, pseudo labels, student,
 * transfer), the demo shows the pieces that exist working together: it
 * renders a classification set from the built-in world, trains a small
 * ResNet on it through the data loader, the tape and the optimizer, and
 * reports top-1 accuracy on the held-out split against chance. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "must/dataset.h"
#include "must/loader.h"
#include "must/model.h"
#include "must/ops.h"
#include "must/optim.h"
#include "must/io.h"
#include "must/world.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: must demo [--quick] [--out DIR] [--threads N]\n\n"
                "For now: renders a classification set from the built-in world (domain\n"
                "teach-cls) into DIR (default must-demo), trains a small ResNet-18 on it and\n"
                "reports top-1 accuracy on the validation split. --quick trains briefly.\n");
}

typedef struct head {
    must_params *p;
    must_tensor *w, *b;
} head;

static must_tensor *logits(must_ctx *ctx, must_backbone *bb, head *h, const must_batch *b)
{
    must_tensor *x = must_tensor_new4(ctx, b->n, 3, b->size, b->size);
    if (!x)
        return NULL;
    memcpy(x->data, b->images, x->numel * sizeof(float));
    must_tensor *lv[MUST_NLEVELS];
    if (must_backbone_forward(bb, ctx, x, MUST_LEVEL_BIT(MUST_C5), lv) != MUST_OK)
        return NULL;
    return must_op_linear(ctx, must_op_global_avgpool(ctx, lv[MUST_C5]), h->w, h->b);
}

static int evaluate(must_ctx *ctx, must_backbone *bb, head *h, must_dataset *ds, int size,
                    double *top1, must_err *err)
{
    must_loader_opts lo;
    must_loader_defaults(&lo);
    lo.size = size;
    lo.batch = 50;
    lo.workers = 1;
    lo.split = MUST_SPLIT_VAL;
    lo.augment = 0;
    lo.epochs = 1;
    lo.drop_last = 0;
    lo.sampler.shuffle = 0;
    must_loader *L;
    int rc = must_loader_new(&ds, 1, &lo, &L, err);
    if (rc)
        return rc;
    must_ctx_set_grad(ctx, 0);
    must_ctx_set_training(ctx, 0);
    long right = 0, total = 0;
    const must_batch *b;
    while ((rc = must_loader_next(L, &b, err)) == 1) {
        must_ctx_reset(ctx);
        must_tensor *z = logits(ctx, bb, h, b);
        if (!z) {
            rc = must_err_set(err, must_ctx_error(ctx)->code, "%s", must_ctx_error(ctx)->msg);
            break;
        }
        int k = z->shape[1];
        for (int i = 0; i < b->n; i++) {
            int best = 0;
            for (int c = 1; c < k; c++)
                if (z->data[i * k + c] > z->data[i * k + best])
                    best = c;
            right += best == b->cls[i];
            total++;
        }
    }
    must_loader_free(L);
    must_ctx_set_grad(ctx, 1);
    must_ctx_set_training(ctx, 1);
    *top1 = total ? (double)right / (double)total : 0.0;
    return rc < 0 ? rc : MUST_OK;
}

int must_cmd_demo(int argc, char **argv)
{
    const char *out = "must-demo";
    int quick = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0) {
            if ((threads = must_cli_int("demo", "--threads", i + 1 < argc ? argv[++i] : NULL, 1,
                                        256)) < 0)
                return 2;
        } else {
            return must_cli_usage_error("demo", "unknown option '%s'", argv[i]);
        }
    }
    const int size = 64, count = quick ? 1200 : 3000, steps = quick ? 150 : 600, batch = 32;
    must_err err = {0};
    int rc = MUST_OK;
    must_world_domain *dom = NULL;
    must_dataset *ds = NULL;
    must_backbone *bb = NULL;
    must_loader *L = NULL;
    must_optim *opt = NULL;
    must_ctx *ctx = NULL;
    head h = {0};
    char *dir = must_path_join(out, "teach-cls");

    printf("must demo: a small built-in training example (the full MuST pipeline is not "
           "built yet)\n\n1. rendering %d images of the world's teach-cls domain into %s\n",
           count, dir);
    fflush(stdout);
    if ((rc = must_world_domain_load("teach-cls", &dom, &err)))
        goto done;
    must_world_gen_opts go = {.count = count, .size = size, .seed = 1, .threads = threads};
    must_world_gen_stats gs;
    if ((rc = must_mkdir_p(out, &err)) || (rc = must_world_generate(dom, dir, &go, &gs, &err)))
        goto done;
    printf("   %d rendered, %d already there, %.1f s\n", gs.rendered, gs.skipped, gs.seconds);
    if ((rc = must_dataset_open(dir, &ds, &err)))
        goto done;
    int k = must_dataset_nclasses(ds, MUST_LABEL_CLASSIFICATION);

    must_backbone_config bc;
    must_backbone_config_default(&bc);
    bc.depth = 18;
    bc.width = 0.5f;
    bc.fpn_channels = 0;
    if (!(bb = must_backbone_new(&bc, &err))) {
        rc = err.code;
        goto done;
    }
    must_feature_desc fd;
    must_backbone_features(bb, &fd);
    h.p = must_params_new("fc.");
    h.w = must_params_add4(h.p, "weight", k, fd.channels[MUST_C5], 0, 0, MUST_T_PARAM);
    h.b = must_params_add4(h.p, "bias", k, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    if ((rc = must_params_alloc(h.p, &err)))
        goto done;
    must_rng r;
    must_rng_seed(&r, 2);
    must_init_uniform(h.w, &r, -0.05f, 0.05f);

    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.lr = 0.1;
    oc.momentum = 0.9;
    oc.weight_decay = 1e-4;
    oc.sched = MUST_SCHED_COSINE;
    oc.warmup_steps = steps / 10;
    oc.total_steps = steps;
    oc.threads = threads;
    must_params *sets[2] = {must_backbone_params(bb), h.p};
    if (!(opt = must_optim_new(&oc, sets, 2, &err))) {
        rc = err.code;
        goto done;
    }
    must_loader_opts lo;
    must_loader_defaults(&lo);
    lo.size = size;
    lo.batch = batch;
    lo.workers = 1;
    if ((rc = must_loader_new(&ds, 1, &lo, &L, &err)))
        goto done;
    if (!(ctx = must_ctx_new(threads))) {
        rc = must_err_set(&err, MUST_ENOMEM, "out of memory");
        goto done;
    }
    printf("\n2. training ResNet-18 (width 0.5) + linear head on %d classes: %d steps of %d "
           "images at %dx%d\n",
           k, steps, batch, size, size);
    int tty = isatty(fileno(stdout));
    double t0 = must_bench_now(), avg = 0;
    for (int s = 0; s < steps; s++) {
        const must_batch *b;
        if ((rc = must_loader_next(L, &b, &err)) != 1)
            goto done;
        must_ctx_reset(ctx);
        for (int i = 0; i < 2; i++)
            must_params_zero_grad(sets[i]);
        must_tensor *loss = must_op_cross_entropy(ctx, logits(ctx, bb, &h, b), b->cls, -1);
        if (!loss || must_backward(ctx, loss) != MUST_OK) {
            rc = must_err_set(&err, must_ctx_error(ctx)->code, "step %d: %s", s,
                              must_ctx_error(ctx)->msg);
            goto done;
        }
        if (!isfinite(loss->data[0])) {
            rc = must_err_set(&err, MUST_ENUMERIC, "step %d: the loss is %g", s, loss->data[0]);
            goto done;
        }
        if ((rc = must_optim_step(opt, NULL, &err)))
            goto done;
        avg = s ? 0.95 * avg + 0.05 * loss->data[0] : loss->data[0];
        double el = must_bench_now() - t0, ips = (s + 1) * batch / el;
        double eta = (steps - s - 1) * batch / ips;
        if (tty)
            printf("\r   step %4d/%d  loss %.3f  %.0f img/s  ETA %3.0f s ", s + 1, steps, avg,
                   ips, eta);
        else if ((s + 1) % 50 == 0 || s + 1 == steps)
            printf("   step %d/%d loss %.3f img/s %.0f eta_s %.0f\n", s + 1, steps, avg, ips,
                   eta);
        fflush(stdout);
    }
    if (tty)
        printf("\n");
    double top1;
    if ((rc = evaluate(ctx, bb, &h, ds, size, &top1, &err)))
        goto done;
    printf("\n3. result on the validation split\n\n"
           "| model | top-1 accuracy |\n| --- | --- |\n"
           "| chance (%d classes) | %.1f%% |\n| ResNet-18/0.5, %d steps | %.1f%% |\n",
           k, 100.0 / k, steps, 100.0 * top1);
done:
    if (rc)
        fprintf(stderr, "must demo: %s\n", err.msg);
    must_loader_free(L);
    must_optim_free(opt);
    must_ctx_free(ctx);
    must_params_free(h.p);
    must_backbone_free(bb);
    must_dataset_close(ds);
    must_world_domain_free(dom);
    free(dir);
    return rc ? 1 : 0;
}
