/* cmd_model.c - `must model`: the architecture, its parameters and FLOPs. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/model.h"
#include "must/refmodel.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must model [options]\n"
            "\n"
            "Prints the backbone's architecture: parameters and forward GFLOP per image\n"
            "(2 x multiply-adds over convolutions and linear layers) per module.\n"
            "\n"
            "  --reference        the benchmarks' reference model (ResNet-18, width 0.5,\n"
            "                     FPN 64, fc 10, seg 10 and depth heads); later options\n"
            "                     change it\n"
            "  --depth N          18, 34, 50, 101 or 152 (default 50)\n"
            "  --width F          width multiplier (default 1)\n"
            "  --stem-kernel K    stem conv size (default 7)\n"
            "  --stem-stride S    stem conv stride (default 2)\n"
            "  --no-stem-pool     no 3x3 stride-2 max-pool after the stem\n"
            "  --fpn-channels N   FPN width, 0 for no FPN (default 256)\n"
            "  --fpn-levels A-B   FPN levels (default 3-7)\n"
            "  --fpn-bn           batch norm after each FPN output conv\n"
            "  --no-fpn           same as --fpn-channels 0\n"
            "  --classes K        a K-way fc on pooled C5 (torchvision's 'fc')\n"
            "  --seg-classes K    a segmentation head on P2\n"
            "  --depth-head       a depth head on P2\n"
            "  --head-width N     pixel heads' conv width (default 64)\n"
            "  --size S           input S x S (default 224; 64 with --reference)\n"
            "  --names            also list every tensor with its shape\n");
}

static int parse_float(const char *opt, const char *val, float lo, float hi, float *out)
{
    char *end;
    if (!val)
        return must_cli_usage_error("model", "%s needs a value", opt);
    errno = 0;
    double v = strtod(val, &end);
    if (*val == '\0' || *end != '\0' || errno || !(v > lo) || v > hi)
        return must_cli_usage_error("model", "%s: '%s' is not a number in (%g, %g]", opt, val,
                                    (double)lo, (double)hi);
    *out = (float)v;
    return 0;
}

/* 11689512 -> "11,689,512" */
static const char *grouped(size_t v, char *buf, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), k = 0;
    for (int i = 0; i < n && (size_t)k + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = tmp[i];
    }
    buf[k] = '\0';
    return buf;
}

static void print_names(must_refmodel *m)
{
    must_params *sets[4];
    int n = must_refmodel_sets(m, sets, 4);
    printf("\n%-40s %-20s %s\n", "tensor", "shape", "kind");
    for (int s = 0; s < n; s++)
        for (int i = 0; i < must_params_count(sets[s]); i++) {
            const must_tensor *t = must_params_get(sets[s], i);
            char shape[64];
            printf("%-40s %-20s %s\n", t->name, must_shape_str(t, shape, sizeof shape),
                   (t->flags & MUST_T_BUFFER)     ? "buffer"
                   : (t->flags & MUST_T_NO_DECAY) ? "param, no decay"
                                                  : "param");
        }
}

static void print_model(must_refmodel *m, int size, int names)
{
    must_backbone *bb = must_refmodel_backbone(m);
    const must_backbone_config *c = must_backbone_config_of(bb);
    must_feature_desc d;
    must_backbone_features(bb, &d);
    char num[32];
    printf("ResNet-%d (%s blocks), width %g, stem %dx%d/%d%s", c->depth,
           c->depth >= 50 ? "bottleneck" : "basic", (double)c->width, c->stem_kernel,
           c->stem_kernel, c->stem_stride, c->stem_pool ? " + max-pool 3x3/2" : "");
    if (c->fpn_channels > 0)
        printf(", FPN %d channels P%d..P%d%s", c->fpn_channels, c->fpn_min_level,
               c->fpn_max_level, c->fpn_bn ? " with BN" : "");
    printf("\ninput %d x %d x %d\n\n", c->in_channels, size, size);

    double fl[MUST_REFMODEL_NMODULES];
    double total = must_refmodel_flops(m, size, size, fl);
    size_t params = 0;
    printf("%-8s %14s %12s\n", "module", "parameters", "GFLOP/img");
    for (int i = 0; i < MUST_REFMODEL_NMODULES; i++) {
        size_t n = must_refmodel_module_numel(m, i);
        if (n == 0)
            continue;
        params += n;
        printf("%-8s %14s %12.4f\n", must_refmodel_module_name(i), grouped(n, num, sizeof num),
               fl[i] / 1e9);
    }
    printf("%-8s %14s %12.4f\n", "total", grouped(params, num, sizeof num), total / 1e9);
    if (total <= 0.0)
        printf("(input %d x %d is too small for this network)\n", size, size);
    size_t buffers = 0;
    must_params *sets[4];
    int n = must_refmodel_sets(m, sets, 4);
    for (int s = 0; s < n; s++)
        buffers += must_params_numel(sets[s], 0) - must_params_numel(sets[s], 1);
    printf("(plus %s buffer values: BN running statistics)\n", grouped(buffers, num, sizeof num));

    printf("\n%-6s %9s %7s %12s\n", "level", "channels", "stride", "size");
    for (int l = 0; l < MUST_NLEVELS; l++)
        if (d.present & MUST_LEVEL_BIT(l)) {
            int s = d.stride[l], hw = (size + s - 1) / s;
            printf("%-6s %9d %7d %12s\n", must_level_name(l), d.channels[l], s,
                   (snprintf(num, sizeof num, "%d x %d", hw, hw), num));
        }
    if (names)
        print_names(m);
}

int must_cmd_model(int argc, char **argv)
{
    must_refmodel_config rc;
    memset(&rc, 0, sizeof rc);
    must_backbone_config_default(&rc.backbone);
    rc.head_width = 64;
    int size = 0, names = 0;
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--reference") == 0)
            must_refmodel_config_reference(&rc);
    }
    must_backbone_config *b = &rc.backbone;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int x;
        if (strcmp(a, "--reference") == 0) {
            if (!size)
                size = 64;
        } else if (strcmp(a, "--depth") == 0) {
            if ((x = must_cli_int("model", a, v, 18, 152)) < 0)
                return 2;
            b->depth = x;
            i++;
        } else if (strcmp(a, "--width") == 0) {
            if (parse_float(a, v, 0.0f, 16.0f, &b->width))
                return 2;
            i++;
        } else if (strcmp(a, "--stem-kernel") == 0) {
            if ((x = must_cli_int("model", a, v, 1, 11)) < 0)
                return 2;
            b->stem_kernel = x;
            i++;
        } else if (strcmp(a, "--stem-stride") == 0) {
            if ((x = must_cli_int("model", a, v, 1, 4)) < 0)
                return 2;
            b->stem_stride = x;
            i++;
        } else if (strcmp(a, "--no-stem-pool") == 0) {
            b->stem_pool = 0;
        } else if (strcmp(a, "--fpn-channels") == 0) {
            if ((x = must_cli_int("model", a, v, 0, 4096)) < 0)
                return 2;
            b->fpn_channels = x;
            i++;
        } else if (strcmp(a, "--no-fpn") == 0) {
            b->fpn_channels = 0;
        } else if (strcmp(a, "--fpn-levels") == 0) {
            int lo, hi;
            char tail;
            if (!v || sscanf(v, "%d-%d%c", &lo, &hi, &tail) != 2)
                return must_cli_usage_error("model", "--fpn-levels: '%s' is not A-B (e.g. 3-7)",
                                            v ? v : "");
            b->fpn_min_level = lo;
            b->fpn_max_level = hi;
            i++;
        } else if (strcmp(a, "--fpn-bn") == 0) {
            b->fpn_bn = 1;
        } else if (strcmp(a, "--classes") == 0) {
            if ((x = must_cli_int("model", a, v, 0, 1000000)) < 0)
                return 2;
            rc.classes = x;
            i++;
        } else if (strcmp(a, "--seg-classes") == 0) {
            if ((x = must_cli_int("model", a, v, 0, 255)) < 0)
                return 2;
            rc.seg_classes = x;
            i++;
        } else if (strcmp(a, "--depth-head") == 0) {
            rc.depth_head = 1;
        } else if (strcmp(a, "--head-width") == 0) {
            if ((x = must_cli_int("model", a, v, 1, 4096)) < 0)
                return 2;
            rc.head_width = x;
            i++;
        } else if (strcmp(a, "--size") == 0) {
            if ((x = must_cli_int("model", a, v, 1, 16384)) < 0)
                return 2;
            size = x;
            i++;
        } else if (strcmp(a, "--names") == 0) {
            names = 1;
        } else {
            return must_cli_usage_error("model", "unknown option '%s'", a);
        }
    }
    if (!size)
        size = 224;
    must_err err = {0};
    must_refmodel *m = must_refmodel_new(&rc, &err);
    if (!m) {
        fprintf(stderr, "must model: %s\n", err.msg);
        return err.code == MUST_EINVAL ? 2 : 1;
    }
    print_model(m, size, names);
    must_refmodel_free(m);
    return 0;
}
