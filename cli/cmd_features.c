/* cmd_features.c - `must features`: backbone feature maps of PNG or JPEG
 * images, written to one safetensors file. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/checkpoint.h"
#include "must/image.h"
#include "must/model.h"
#include "must/predict.h"
#include "must/safetensors.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must features [options] --levels L1,L2,... --out OUT.safetensors IMAGE...\n"
            "\n"
            "Runs the backbone in inference mode (BN running statistics) on images of one\n"
            "size (PNG or JPEG, told apart by their first bytes) and writes each requested\n"
            "level as one (N, C, h, w) F32 tensor named after the level (\"C5\", \"P2\",\n"
            "...); metadata \"must.images\" lists the images in order, one per line.\n"
            "\n"
            "  --levels LIST      any of C2..C5, P2..P7, comma-separated (required)\n"
            "  --out FILE         the safetensors file to write, atomically (required)\n"
            "  --checkpoint FILE  backbone weights (safetensors; torchvision names; other\n"
            "                     tensors such as heads are ignored); default: random init.\n"
            "                     A checkpoint must trained carries its backbone's\n"
            "                     configuration, used unless backbone options are given\n"
            "  --reference        the reference backbone (ResNet-18, width 0.5, FPN 64)\n"
            "  --depth N --width F --fpn-channels N --fpn-levels A-B --fpn-bn --no-fpn\n"
            "                     the backbone, as `must model` (default ResNet-50, FPN 256)\n"
            "  --normalize KIND   imagenet (default: (x/255 - mean) / std with torchvision's\n"
            "                     ImageNet statistics) or unit (x/255)\n"
            "  --batch B          images per forward pass (default 8)\n"
            "  --threads N        threads (default: one per core)\n");
}

static int parse_width(const char *v, float *out)
{
    char *end;
    double d = v ? strtod(v, &end) : 0.0;
    if (!v || *v == '\0' || *end != '\0' || !(d > 0.0) || d > 16.0)
        return must_cli_usage_error("features", "--width: '%s' is not a number in (0, 16]",
                                    v ? v : "");
    *out = (float)d;
    return 0;
}

typedef struct feat_opts {
    const char *out, *ckpt, *levels;
    int bb_given;       /* a backbone option was given: the card is not read */
    unsigned want;
    int normalize_imagenet, batch, threads;
    must_backbone_config bb;
    char **images;
    int nimages;
} feat_opts;

static int parse(int argc, char **argv, feat_opts *o)
{
    must_backbone_config_default(&o->bb);
    o->normalize_imagenet = 1;
    o->batch = 8;
    o->images = calloc((size_t)argc, sizeof *o->images);
    if (!o->images)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int x;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return -1;
        } else if (strcmp(a, "--levels") == 0 || strcmp(a, "--out") == 0 ||
                   strcmp(a, "--checkpoint") == 0 || strcmp(a, "--normalize") == 0) {
            if (!v)
                return must_cli_usage_error("features", "%s needs a value", a);
            if (a[2] == 'l')
                o->levels = v;
            else if (a[2] == 'o')
                o->out = v;
            else if (a[2] == 'c')
                o->ckpt = v;
            else if (strcmp(v, "imagenet") == 0 || strcmp(v, "unit") == 0)
                o->normalize_imagenet = v[0] == 'i';
            else
                return must_cli_usage_error("features", "--normalize: '%s' (imagenet or unit)",
                                            v);
            i++;
        } else if (strcmp(a, "--reference") == 0) {
            o->bb_given = 1;
            o->bb.depth = 18;
            o->bb.width = 0.5f;
            o->bb.fpn_channels = 64;
        } else if (strcmp(a, "--depth") == 0) {
            o->bb_given = 1;
            if ((x = must_cli_int("features", a, v, 18, 152)) < 0)
                return 2;
            o->bb.depth = x;
            i++;
        } else if (strcmp(a, "--width") == 0) {
            o->bb_given = 1;
            if (parse_width(v, &o->bb.width))
                return 2;
            i++;
        } else if (strcmp(a, "--fpn-channels") == 0) {
            o->bb_given = 1;
            if ((x = must_cli_int("features", a, v, 0, 4096)) < 0)
                return 2;
            o->bb.fpn_channels = x;
            i++;
        } else if (strcmp(a, "--fpn-levels") == 0) {
            o->bb_given = 1;
            int lo, hi;
            char tail;
            if (!v || sscanf(v, "%d-%d%c", &lo, &hi, &tail) != 2)
                return must_cli_usage_error("features", "--fpn-levels: '%s' is not A-B",
                                            v ? v : "");
            o->bb.fpn_min_level = lo;
            o->bb.fpn_max_level = hi;
            i++;
        } else if (strcmp(a, "--fpn-bn") == 0) {
            o->bb_given = 1;
            o->bb.fpn_bn = 1;
        } else if (strcmp(a, "--no-fpn") == 0) {
            o->bb_given = 1;
            o->bb.fpn_channels = 0;
        } else if (strcmp(a, "--batch") == 0) {
            if ((x = must_cli_int("features", a, v, 1, 4096)) < 0)
                return 2;
            o->batch = x;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if ((x = must_cli_int("features", a, v, 1, 1024)) < 0)
                return 2;
            o->threads = x;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return must_cli_usage_error("features", "unknown option '%s'", a);
        } else {
            o->images[o->nimages++] = argv[i];
        }
    }
    if (!o->levels)
        return must_cli_usage_error("features", "--levels is required");
    must_err err = {0};
    /* A checkpoint that must trained says what its backbone is. */
    if (o->ckpt && !o->bb_given) {
        int rc = must_model_card_backbone(o->ckpt, &o->bb, NULL, &err);
        if (rc && rc != MUST_ENOTFOUND) {
            fprintf(stderr, "must features: %s\n", err.msg);
            return 1;
        }
        err.code = 0;
    }
    if (must_levels_parse(o->levels, &o->want, &err) != MUST_OK)
        return must_cli_usage_error("features", "%s", err.msg);
    for (int l = MUST_P2; l < MUST_NLEVELS; l++) {
        int lv = l == MUST_P2 ? 2 : l - MUST_P2 + 2;
        if (!(o->want & MUST_LEVEL_BIT(l)))
            continue;
        if (o->bb.fpn_channels == 0)
            return must_cli_usage_error("features", "level %s needs an FPN", must_level_name(l));
        if (lv > 2 && (lv < o->bb.fpn_min_level || lv > o->bb.fpn_max_level))
            return must_cli_usage_error("features", "level %s is outside the FPN's P%d..P%d",
                                        must_level_name(l), o->bb.fpn_min_level,
                                        o->bb.fpn_max_level);
    }
    if (!o->out)
        return must_cli_usage_error("features", "--out is required");
    if (o->nimages == 0)
        return must_cli_usage_error("features", "no images given");
    return 0;
}

/* Torchvision's ImageNet statistics, the ones its pretrained weights expect. */
static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

/* Reads image i into x at batch slot b: (3, H, W) planes from (H, W, 3) rows. */
static int load_image(const feat_opts *o, int i, int *w, int *h, float *x, must_err *err)
{
    must_image img;
    int rc = must_image_read(o->images[i], &img, 3, 8, err);
    if (rc)
        return rc;
    if (*w == 0) {
        *w = img.width;
        *h = img.height;
    }
    if (img.width != *w || img.height != *h) {
        rc = must_err_set(err, MUST_EINVAL, "%s: %dx%d, but %s is %dx%d (all images must share a "
                          "size)", o->images[i], img.width, img.height, o->images[0], *w, *h);
        must_image_free(&img);
        return rc;
    }
    if (x) {
        const unsigned char *px = img.pixels;
        size_t plane = (size_t)*w * *h;
        for (int c = 0; c < 3; c++) {
            float m = o->normalize_imagenet ? imagenet_mean[c] : 0.0f;
            float s = o->normalize_imagenet ? 1.0f / imagenet_std[c] : 1.0f;
            for (size_t k = 0; k < plane; k++)
                x[c * plane + k] = (px[3 * k + c] * (1.0f / 255.0f) - m) * s;
        }
    }
    must_image_free(&img);
    return MUST_OK;
}

static int run(feat_opts *o, must_err *err)
{
    unsigned want = o->want;
    int rc;
    must_backbone *bb = must_backbone_new(&o->bb, err);
    must_ctx *ctx = NULL;
    float *feat[MUST_NLEVELS] = {NULL};
    int64_t fshape[MUST_NLEVELS][4];
    float *x = NULL;
    char *names = NULL;
    must_st_writer *wr = NULL;
    if (!bb)
        return err->code;
    must_feature_desc d;
    must_backbone_features(bb, &d);
    if (want & ~d.present) {
        for (int l = 0; l < MUST_NLEVELS; l++)
            if (want & ~d.present & MUST_LEVEL_BIT(l)) {
                rc = must_err_set(err, MUST_EINVAL, "level %s: this backbone has %s",
                                  must_level_name(l),
                                  o->bb.fpn_channels ? "no such FPN level" : "no FPN");
                goto out;
            }
    }
    if (o->ckpt) {
        must_params *set = must_backbone_params(bb);
        must_ckpt_load_opts lo = {MUST_CKPT_ALLOW_UNEXPECTED, NULL, NULL};
        if ((rc = must_ckpt_load(o->ckpt, &set, 1, &lo, NULL, err)) != MUST_OK)
            goto out;
    }
    /* Every image must have the first one's size: check them all before
     * the first forward pass. */
    int w = 0, h = 0;
    for (int i = 0; i < o->nimages; i++)
        if ((rc = load_image(o, i, &w, &h, NULL, err)) != MUST_OK)
            goto out;
    ctx = must_ctx_new(o->threads);
    x = malloc((size_t)o->batch * 3 * w * h * sizeof *x);
    if (!ctx || !x) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    for (int b0 = 0; b0 < o->nimages; b0 += o->batch) {
        int nb = o->nimages - b0 < o->batch ? o->nimages - b0 : o->batch;
        for (int k = 0; k < nb; k++)
            if ((rc = load_image(o, b0 + k, &w, &h, x + (size_t)k * 3 * w * h, err)) != MUST_OK)
                goto out;
        must_tensor xt = {0};
        xt.ndim = 4;
        xt.shape[0] = nb, xt.shape[1] = 3, xt.shape[2] = h, xt.shape[3] = w;
        xt.numel = (size_t)nb * 3 * w * h;
        xt.data = x;
        must_tensor *out[MUST_NLEVELS];
        must_ctx_reset(ctx);
        if ((rc = must_backbone_forward(bb, ctx, &xt, want, out)) != MUST_OK) {
            rc = must_err_set(err, rc, "%s", must_ctx_error(ctx)->msg);
            goto out;
        }
        for (int l = 0; l < MUST_NLEVELS; l++) {
            if (!out[l])
                continue;
            size_t per = out[l]->numel / (size_t)nb;
            if (!feat[l]) {
                fshape[l][0] = o->nimages;
                for (int k = 1; k < 4; k++)
                    fshape[l][k] = out[l]->shape[k];
                feat[l] = malloc((size_t)o->nimages * per * sizeof(float));
                if (!feat[l]) {
                    rc = must_err_set(err, MUST_ENOMEM, "out of memory for %s",
                                      must_level_name(l));
                    goto out;
                }
            }
            memcpy(feat[l] + (size_t)b0 * per, out[l]->data, out[l]->numel * sizeof(float));
        }
    }
    size_t len = 1;
    for (int i = 0; i < o->nimages; i++)
        len += strlen(o->images[i]) + 1;
    names = malloc(len);
    wr = must_st_writer_new();
    if (!names || !wr) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    names[0] = '\0';
    for (int i = 0; i < o->nimages; i++) {
        strcat(names, o->images[i]);
        if (i + 1 < o->nimages)
            strcat(names, "\n");
    }
    for (int l = 0; l < MUST_NLEVELS && !rc; l++)
        if (feat[l])
            rc = must_st_writer_add_f32(wr, must_level_name(l), 4, fshape[l], feat[l], err);
    if (!rc)
        rc = must_st_writer_meta(wr, "must.images", names, err);
    if (!rc)
        rc = must_st_writer_save(wr, o->out, err);
out:
    must_st_writer_free(wr);
    free(names);
    for (int l = 0; l < MUST_NLEVELS; l++)
        free(feat[l]);
    free(x);
    must_ctx_free(ctx);
    must_backbone_free(bb);
    return rc;
}

int must_cmd_features(int argc, char **argv)
{
    feat_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse(argc, argv, &o);
    if (rc) {
        free(o.images);
        return rc < 0 ? 0 : rc;
    }
    must_err err = {0};
    rc = run(&o, &err);
    free(o.images);
    if (rc) {
        fprintf(stderr, "must features: %s\n", err.msg);
        return 1;
    }
    return 0;
}
