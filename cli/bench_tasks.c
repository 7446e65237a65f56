/* bench_tasks.c - `must bench train --tasks LIST`: whole training steps of
 * a backbone and task plugins' heads, loaded and driven as the trainer
 * drives them (core/pipeline/trainer.c: backbone forward, each head's forward and
 * loss, the weighted sum, backward, one optimizer update), on fixed
 * synthetic labels of every kind the tasks read.  Heads that keep named
 * timers (must_task_ops.head_timers) report each timer's share of a step. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cli.h"
#include "must/experiment.h"
#include "must/model.h"
#include "must/ops.h"
#include "must/optim.h"
#include "must/plugin.h"
#include "must/refmodel.h"

#define BT_MAX_TASKS 8
#define BT_MAX_OPTS 64
#define BT_MAX_TIMERS 16
#define BT_CLASSES 10

typedef struct bt_opts {
    must_bench_steps st;
    const char *tasks;      /* "detection,depth" */
    const char *experiment; /* backbone and [task.X] options from this file */
    const char *opt[BT_MAX_OPTS]; /* "TASK.KEY=VALUE" */
    int nopt;
} bt_opts;

static const char *const cmd = "bench train";

void must_bench_tasks_usage(FILE *fp)
{
    fprintf(fp,
            "\n"
            "With --tasks, times the backbone and the named task plugins' heads instead,\n"
            "as the trainer runs them (head forward, loss, backward, SGD update), on fixed\n"
            "synthetic labels of every kind the tasks read (random boxes for detection, one\n"
            "image in four without any), and prints one JSON line with img/s, images per\n"
            "CPU-second and each head timer's share of a step (\"timers\").\n"
            "\n"
            "  --tasks LIST       task plugins, comma-separated: detection,depth\n"
            "  --opt T.KEY=VALUE  option KEY of task T, as in an experiment's [task.T]\n"
            "                     (repeatable)\n"
            "  --experiment FILE  the backbone of FILE's [backbone], and the keys of its\n"
            "                     [task.T] sections for the tasks listed (default: the\n"
            "                     reference model's backbone, every option at its default)\n");
}

static int parse(int argc, char **argv, bt_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--tasks") == 0 || strcmp(a, "--experiment") == 0 ||
            strcmp(a, "--opt") == 0) {
            if (!v || !*v)
                return must_cli_usage_error(cmd, "%s needs a value", a);
            if (a[2] == 't')
                o->tasks = v;
            else if (a[2] == 'e')
                o->experiment = v;
            else if (o->nopt == BT_MAX_OPTS)
                return must_cli_usage_error(cmd, "at most %d --opt", BT_MAX_OPTS);
            else if (!strchr(v, '.') || !strchr(v, '=') || strchr(v, '=') < strchr(v, '.'))
                return must_cli_usage_error(cmd, "--opt '%s' is not TASK.KEY=VALUE", v);
            else
                o->opt[o->nopt++] = v;
            i++;
            continue;
        }
        int rc = must_bench_steps_opt(cmd, argc, argv, &i, &o->st);
        if (rc == 2)
            return 2;
        if (rc == 0)
            return must_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    return 0;
}

/* ---- synthetic labels ---------------------------------------------------- */

typedef struct bt_labels {
    must_batch b;
    unsigned *has;
    int32_t *cls, *seg;
    float *soft, *depth, *normal;
    uint8_t *valid;
    must_boxes *boxes;
} bt_labels;

static void labels_free(bt_labels *l)
{
    if (l->boxes)
        for (int i = 0; i < l->b.n; i++)
            must_boxes_free(&l->boxes[i]);
    free(l->has);
    free(l->cls);
    free(l->seg);
    free(l->soft);
    free(l->depth);
    free(l->normal);
    free(l->valid);
    free(l->boxes);
    free(l->b.images);
}

/* One image in four has no box (pseudo-labelled sets hold many such); the
 * others 1-4 boxes of 10-60 % of the side, random aspect and class. */
static int make_boxes(must_rng *r, int i, int S, must_boxes *out, must_err *err)
{
    int n = i % 4 == 1 ? 0 : 1 + (int)must_rng_below(r, 4);
    for (int k = 0; k < n; k++) {
        float side = (float)S * (0.1f + 0.5f * must_rng_uniform(r));
        float ar = exp2f(2.0f * must_rng_uniform(r) - 1.0f);
        float w = fminf(side / sqrtf(ar), (float)S - 1), h = fminf(side * sqrtf(ar), (float)S - 1);
        float x0 = floorf(must_rng_uniform(r) * ((float)S - w));
        float y0 = floorf(must_rng_uniform(r) * ((float)S - h));
        must_box bx = {x0, y0, floorf(x0 + w), floorf(y0 + h),
                       (int)must_rng_below(r, BT_CLASSES), 1.0f, 0};
        int rc = must_boxes_push(out, &bx, err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

/* A batch of B images N(0, 1) carrying a label of every kind in `kinds`,
 * the same every run. */
static int labels_make(bt_labels *l, int B, int S, unsigned kinds, must_err *err)
{
    memset(l, 0, sizeof *l);
    size_t px = (size_t)B * S * S;
    must_batch *b = &l->b;
    b->n = B;
    b->size = S;
    b->tasks = kinds;
    b->images = malloc(3 * px * sizeof *b->images);
    l->has = malloc((size_t)B * sizeof *l->has);
    if (!b->images || !l->has)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    must_rng r;
    must_rng_seed(&r, 0);
    for (size_t q = 0; q < 3 * px; q++)
        b->images[q] = must_rng_normal(&r);
    for (int i = 0; i < B; i++)
        l->has[i] = kinds;
    b->has = l->has;
    if (kinds & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        l->cls = malloc((size_t)B * sizeof *l->cls);
        l->soft = calloc((size_t)B * BT_CLASSES, sizeof *l->soft);
        if (!l->cls || !l->soft)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (int i = 0; i < B; i++) {
            l->cls[i] = (int32_t)must_rng_below(&r, BT_CLASSES);
            l->soft[(size_t)i * BT_CLASSES + (size_t)l->cls[i]] = 1.0f;
        }
        b->ncls = BT_CLASSES;
        b->cls = l->cls;
        b->cls_soft = l->soft;
    }
    if (kinds & MUST_LABEL_BIT(MUST_LABEL_DETECTION)) {
        if (!(l->boxes = calloc((size_t)B, sizeof *l->boxes)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (int i = 0; i < B; i++) {
            int rc = make_boxes(&r, i, S, &l->boxes[i], err);
            if (rc)
                return rc;
        }
        b->boxes = l->boxes;
    }
    if (kinds & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)) {
        if (!(l->seg = malloc(px * sizeof *l->seg)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (size_t q = 0; q < px; q++)
            l->seg[q] = (int32_t)must_rng_below(&r, BT_CLASSES);
        b->seg = l->seg;
    }
    if (kinds & MUST_LABEL_BIT(MUST_LABEL_DEPTH)) {
        if (!(l->depth = malloc(px * sizeof *l->depth)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (size_t q = 0; q < px; q++)
            l->depth[q] = 0.5f + 4.0f * must_rng_uniform(&r);
        b->depth = l->depth;
    }
    if (kinds & MUST_LABEL_BIT(MUST_LABEL_NORMAL)) {
        l->normal = malloc(3 * px * sizeof *l->normal);
        l->valid = malloc(px);
        if (!l->normal || !l->valid)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (int i = 0; i < B; i++)
            for (size_t q = 0; q < (size_t)S * S; q++) {
                float v[3], n2 = 0;
                for (int c = 0; c < 3; c++)
                    v[c] = must_rng_normal(&r), n2 += v[c] * v[c];
                float inv = 1.0f / sqrtf(n2 > 1e-12f ? n2 : 1.0f);
                v[2] = -fabsf(v[2]); /* facing the camera */
                for (int c = 0; c < 3; c++)
                    l->normal[((size_t)i * 3 + (size_t)c) * S * S + q] = v[c] * inv;
                l->valid[(size_t)i * S * S + q] = 1;
            }
        b->normal = l->normal;
        b->normal_valid = l->valid;
    }
    return MUST_OK;
}

/* ---- the model ----------------------------------------------------------- */

typedef struct bt_model {
    must_experiment *exp;
    must_backbone *bb;
    must_task *task[BT_MAX_TASKS];
    int ntasks;
    must_params *sets[BT_MAX_TASKS + 1];
    int nsets;
    unsigned levels, kinds;
} bt_model;

static void model_free(bt_model *m)
{
    for (int i = 0; i < m->ntasks; i++)
        must_task_free(m->task[i]);
    must_backbone_free(m->bb);
    must_exp_free(m->exp);
}

/* Sets task t's options: the experiment's [task.NAME] keys (those --opt
 * does not give again), then the --opt ones.  Returns 2 for the user's
 * mistakes, 1 for the rest. */
static int configure(bt_model *m, const bt_opts *o, const char *name, must_task *t,
                     const must_exp_task *xt)
{
    must_err err = {0};
    size_t nl = strlen(name);
    for (int k = 0; xt && k < xt->nopts; k++) {
        int again = 0;
        for (int q = 0; q < o->nopt; q++) {
            if (strncmp(o->opt[q], name, nl) || o->opt[q][nl] != '.')
                continue;
            const char *kv = o->opt[q] + nl + 1;
            size_t kl = strlen(xt->opts[k].key);
            again |= strncmp(kv, xt->opts[k].key, kl) == 0 && kv[kl] == '=';
        }
        char where[600];
        snprintf(where, sizeof where, "%s:%d", m->exp->file, xt->opts[k].line);
        if (!again && must_task_set(t, xt->opts[k].key, xt->opts[k].value, where, &err)) {
            fprintf(stderr, "must %s: %s\n", cmd, err.msg);
            return 2;
        }
    }
    for (int q = 0; q < o->nopt; q++) {
        if (strncmp(o->opt[q], name, nl) || o->opt[q][nl] != '.')
            continue;
        char key[256];
        const char *k0 = o->opt[q] + nl + 1, *eq = strchr(k0, '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - k0), k0);
        if (must_task_set(t, key, eq + 1, "--opt", &err)) {
            fprintf(stderr, "must %s: %s\n", cmd, err.msg);
            return 2;
        }
    }
    return 0;
}

static int model_new(bt_model *m, const bt_opts *o)
{
    memset(m, 0, sizeof *m);
    must_err err = {0};
    must_backbone_config bc;
    if (o->experiment) {
        if (must_exp_load(o->experiment, &m->exp, &err)) {
            fprintf(stderr, "must %s: %s\n", cmd, err.msg);
            return 2;
        }
        bc = m->exp->backbone;
    } else {
        must_refmodel_config mc;
        must_refmodel_config_reference(&mc);
        bc = mc.backbone;
    }
    size_t tl = strlen(o->tasks);
    if (tl == 0 || o->tasks[0] == ',' || o->tasks[tl - 1] == ',' || strstr(o->tasks, ",,"))
        return must_cli_usage_error(cmd, "--tasks '%s': an empty name", o->tasks);
    /* Every --opt names a listed task. */
    for (int q = 0; q < o->nopt; q++) {
        size_t tl = (size_t)(strchr(o->opt[q], '.') - o->opt[q]);
        int found = 0;
        for (const char *s = o->tasks; *s;) {
            size_t n = strcspn(s, ",");
            found |= n == tl && strncmp(s, o->opt[q], n) == 0;
            s += n + (s[n] == ',');
        }
        if (!found)
            return must_cli_usage_error(cmd, "--opt '%s': task '%.*s' is not in --tasks '%s'",
                                        o->opt[q], (int)tl, o->opt[q], o->tasks);
    }
    if (!(m->bb = must_backbone_new(&bc, &err))) {
        fprintf(stderr, "must %s: backbone: %s\n", cmd, err.msg);
        return 1;
    }
    m->sets[m->nsets++] = must_backbone_params(m->bb);
    must_feature_desc fd;
    must_backbone_features(m->bb, &fd);
    for (const char *s = o->tasks; *s;) {
        size_t n = strcspn(s, ",");
        char name[MUST_PLUGIN_NAME_MAX + 1];
        if (n == 0 || n > MUST_PLUGIN_NAME_MAX)
            return must_cli_usage_error(cmd, "--tasks '%s': an overlong name", o->tasks);
        if (m->ntasks == BT_MAX_TASKS)
            return must_cli_usage_error(cmd, "--tasks: at most %d tasks", BT_MAX_TASKS);
        snprintf(name, sizeof name, "%.*s", (int)n, s);
        s += n + (s[n] == ',');
        for (int i = 0; i < m->ntasks; i++)
            if (strcmp(must_task_name(m->task[i]), name) == 0)
                return must_cli_usage_error(cmd, "--tasks: '%s' twice", name);
        /* An experiment's [task.NAME] may name another plugin. */
        int xi = m->exp ? must_exp_find_task(m->exp, name) : -1;
        const must_exp_task *xt = xi >= 0 ? &m->exp->tasks[xi] : NULL;
        int rc = must_task_new(xt ? xt->plugin : name, name, &m->task[m->ntasks], &err);
        if (rc) {
            fprintf(stderr, "must %s: %s\n", cmd, err.msg);
            return rc == MUST_ENOTFOUND || rc == MUST_EINVAL ? 2 : 1;
        }
        must_task *t = m->task[m->ntasks++];
        if ((rc = configure(m, o, name, t, xt)))
            return rc;
        int kind = must_task_get_ops(t)->label_kind;
        int classed = kind == MUST_LABEL_CLASSIFICATION || kind == MUST_LABEL_DETECTION ||
                      kind == MUST_LABEL_SEGMENTATION;
        must_task_env env = {0};
        env.features = &fd;
        env.nclasses = classed ? BT_CLASSES : 0;
        env.image_size = o->st.size;
        env.seed = bc.seed * 1000003u + (uint64_t)m->ntasks + 16;
        if (must_task_build(t, &env, &err)) {
            fprintf(stderr, "must %s: %s\n", cmd, err.msg);
            return 1;
        }
        m->sets[m->nsets++] = must_task_params(t);
        m->levels |= must_task_levels(t);
        m->kinds |= MUST_LABEL_BIT(kind);
    }
    return 0;
}

/* ---- timing ---------------------------------------------------------------- */

/* One training step as core/pipeline/trainer.c takes it; losses[i] gets task i's. */
static int step(bt_model *m, must_ctx *ctx, must_optim *opt, const must_batch *b,
                double *losses, double *total_out, must_err *err)
{
    must_ctx_reset(ctx);
    must_ctx_set_training(ctx, 1);
    must_ctx_set_grad(ctx, 1);
    for (int s = 0; s < m->nsets; s++)
        must_params_zero_grad(m->sets[s]);
    int S = b->size;
    must_tensor *x = must_tensor_new4(ctx, b->n, 3, S, S), *lv[MUST_NLEVELS], *total = NULL;
    if (x)
        memcpy(x->data, b->images, x->numel * sizeof(float));
    if (x && must_backbone_forward(m->bb, ctx, x, m->levels, lv) == MUST_OK) {
        void *preds[BT_MAX_TASKS];
        for (int i = 0; i < m->ntasks; i++)
            preds[i] = must_task_forward(m->task[i], ctx, lv, S, S);
        for (int i = 0; i < m->ntasks; i++) {
            must_tensor *l = must_task_loss(m->task[i], ctx, preds[i], b, NULL);
            if (!l)
                break;
            losses[i] = l->data[0];
            must_tensor *wl = must_op_scale(ctx, l, 1.0f);
            total = total ? must_op_add(ctx, total, wl) : wl;
        }
    }
    if (!total || must_ctx_error(ctx)->code)
        return must_err_set(err, MUST_EINVAL, "%s", must_ctx_error(ctx)->msg);
    *total_out = total->data[0];
    if ((total->flags & MUST_T_REQ_GRAD) && must_backward(ctx, total))
        return must_err_set(err, MUST_EINVAL, "backward: %s", must_ctx_error(ctx)->msg);
    return must_optim_step(opt, NULL, err);
}

/* "name":{"ms":per step,"share":of the timed steps' wall time} for every
 * timer of every head. */
static void print_timers(bt_model *m, double wall, int steps)
{
    printf(",\"timers\":{");
    int first = 1;
    for (int i = 0; i < m->ntasks; i++) {
        must_task_timer tm[BT_MAX_TIMERS];
        int n = must_task_timers(m->task[i], tm, BT_MAX_TIMERS, 0);
        for (int k = 0; k < n && k < BT_MAX_TIMERS; k++) {
            printf("%s\"%s.%s\":{\"ms\":%.3f,\"share\":%.5f}", first ? "" : ",",
                   must_task_name(m->task[i]), tm[k].name, 1e3 * tm[k].seconds / steps,
                   wall > 0 ? tm[k].seconds / wall : 0.0);
            first = 0;
        }
    }
    printf("}");
}

int must_bench_train_tasks(int argc, char **argv)
{
    bt_opts o = {{64, 32, 0, 10, 3}, NULL, NULL, {0}, 0};
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.tasks)
        return must_cli_usage_error(cmd, "--opt and --experiment need --tasks");
    bt_model m;
    bt_labels lab = {0};
    must_ctx *ctx = NULL;
    must_optim *opt = NULL;
    double *times = calloc((size_t)o.st.steps, sizeof *times);
    double *cpu = calloc((size_t)o.st.steps, sizeof *cpu);
    must_err err = {0};
    if ((rc = model_new(&m, &o)))
        goto out;
    rc = 1;
    if (!times || !cpu || !(ctx = must_ctx_new(o.st.threads))) {
        fprintf(stderr, "must %s: out of memory\n", cmd);
        goto out;
    }
    if (labels_make(&lab, o.st.batch, o.st.size, m.kinds, &err)) {
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        goto out;
    }
    int threads = must_ctx_threads(ctx);
    /* The trainer's optimizer: SGD with momentum, no decay on BN and biases. */
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.lr = 0.01;
    oc.momentum = 0.9;
    oc.weight_decay = 1e-4;
    oc.no_decay_exclude = 1;
    oc.threads = threads;
    if (!(opt = must_optim_new(&oc, m.sets, m.nsets, &err))) {
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        goto out;
    }
    size_t nparams = 0;
    for (int s = 0; s < m.nsets; s++)
        nparams += must_params_numel(m.sets[s], 1);
    double losses[BT_MAX_TASKS] = {0}, total = 0, wall = 0;
    int nonfinite = 0;
    for (int k = 0; k < o.st.warmup + o.st.steps; k++) {
        if (k == o.st.warmup) /* the timers count the timed steps only */
            for (int i = 0; i < m.ntasks; i++)
                must_task_timers(m.task[i], NULL, 0, 1);
        lab.b.epoch = 0;
        lab.b.index = (uint64_t)k; /* a fresh sample of anchors and RoIs every step */
        double t0 = must_bench_now(), c0 = must_bench_cpu_now();
        if (step(&m, ctx, opt, &lab.b, losses, &total, &err)) {
            fprintf(stderr, "must %s: step %d: %s\n", cmd, k + 1, err.msg);
            goto out;
        }
        nonfinite |= !isfinite(total);
        if (k >= o.st.warmup) {
            times[k - o.st.warmup] = must_bench_now() - t0;
            cpu[k - o.st.warmup] = must_bench_cpu_now() - c0;
            wall += times[k - o.st.warmup];
        }
    }
    qsort(times, (size_t)o.st.steps, sizeof *times, must_bench_cmp_double);
    qsort(cpu, (size_t)o.st.steps, sizeof *cpu, must_bench_cmp_double);
    int mid = o.st.steps / 2;
    double med = o.st.steps % 2 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
    double cmed = o.st.steps % 2 ? cpu[mid] : 0.5 * (cpu[mid - 1] + cpu[mid]);
    const must_backbone_config *bc = must_backbone_config_of(m.bb);
    printf("{\"bench\":\"train\",\"mode\":\"tasks\",\"tasks\":\"%s\",\"size\":%d,\"batch\":%d,"
           "\"threads\":%d,\"backbone\":{\"depth\":%d,\"width\":%.4g,\"stem_stride\":%d,"
           "\"stem_pool\":%d,\"fpn_channels\":%d,\"fpn_levels\":\"P%d-P%d\"},"
           "\"img_s\":%.2f,\"img_per_cpu_s\":%.2f,\"step_ms_median\":%.2f,\"step_ms_min\":%.2f,"
           "\"step_ms_max\":%.2f,\"cpu_ms_median\":%.2f,\"peak_rss_mib\":%.1f,\"params\":%zu,"
           "\"loss\":%.5f,\"nonfinite\":%d,\"losses\":{",
           o.tasks, o.st.size, o.st.batch, threads, bc->depth, (double)bc->width, bc->stem_stride,
           bc->stem_pool, bc->fpn_channels, bc->fpn_min_level, bc->fpn_max_level,
           o.st.batch / med, cmed > 0 ? o.st.batch / cmed : 0.0, med * 1e3,
           times[0] * 1e3, times[o.st.steps - 1] * 1e3, cmed * 1e3, must_bench_peak_rss_mib(),
           nparams, total, nonfinite);
    for (int i = 0; i < m.ntasks; i++)
        printf("%s\"%s\":%.5f", i ? "," : "", must_task_name(m.task[i]), losses[i]);
    printf("}");
    print_timers(&m, wall, o.st.steps);
    printf("}\n");
    rc = 0;
out:
    must_optim_free(opt);
    labels_free(&lab);
    must_ctx_free(ctx);
    model_free(&m);
    free(times);
    free(cpu);
    return rc;
}
