/* dump.c - writes the reference model's tensors, an input and its outputs
 * as raw little-endian floats (DIR/<name>.bin, shapes in DIR/index.txt) so
 * that compare.py can run the same weights through torch_reference.py.
 *
 * From a configured build tree:
 *   gcc -std=c11 -fopenmp -I. -Iinclude -Icore tools/parity/dump.c \
 *       -o dump .libs/libmust.so -lm -Wl,-rpath,$PWD/.libs
 *   mkdir -p /tmp/p && ./dump /tmp/p 1 > /tmp/p/index.txt      (1: training-mode BN)
 *   /usr/bin/python3 tools/parity/compare.py /tmp/p 1
 * BN weights, biases and running statistics are randomised first, so that
 * eval mode (0) checks the running-statistics path too. */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "must/model.h"
#include "refmodel.h"
static void dump(const char *dir, const char *name, const must_tensor *t) {
    char path[512]; snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb"); fwrite(t->data, 4, t->numel, f); fclose(f);
    printf("%s", name); for (int i = 0; i < t->ndim; i++) printf(" %d", t->shape[i]); printf("\n");
}
int main(int argc, char **argv) {
    const char *dir = argv[1]; int training = argc > 2 && argv[2][0] == '1';
    must_refmodel_config c; must_refmodel_config_reference(&c); c.backbone.seed = 5;
    must_refmodel *m = must_refmodel_new(&c, NULL);
    must_params *sets[4]; int n = must_refmodel_sets(m, sets, 4);
    must_rng r; must_rng_seed(&r, 3);
    /* random running stats and BN affine so that eval mode is a real test */
    for (int s = 0; s < n; s++) for (int i = 0; i < must_params_count(sets[s]); i++) {
        must_tensor *t = must_params_get(sets[s], i);
        if (strstr(t->name, "running_var")) must_init_uniform(t, &r, 0.5f, 2.0f);
        else if (strstr(t->name, "running_mean")) must_init_uniform(t, &r, -0.5f, 0.5f);
        else if (t->ndim == 1) must_init_uniform(t, &r, -0.5f, 1.5f);
    }
    for (int s = 0; s < n; s++) for (int i = 0; i < must_params_count(sets[s]); i++) {
        must_tensor *t = must_params_get(sets[s], i); dump(dir, t->name, t);
    }
    must_ctx *ctx = must_ctx_new(1);
    must_ctx_set_training(ctx, training);
    must_tensor *x = must_tensor_new4(ctx, 4, 3, 72, 56);
    for (size_t i = 0; i < x->numel; i++) x->data[i] = must_rng_normal(&r);
    dump(dir, "input", x);
    must_tensor *lc, *ls, *ld;
    if (must_refmodel_forward(m, ctx, x, &lc, &ls, &ld)) { printf("%s\n", must_ctx_error(ctx)->msg); return 1; }
    dump(dir, "out.logits", lc); dump(dir, "out.seg", ls); dump(dir, "out.depth", ld);
    must_tensor *f[MUST_NLEVELS];
    must_backbone_forward(must_refmodel_backbone(m), ctx, x, 0x3ff, f);
    for (int l = 0; l < MUST_NLEVELS; l++) { char nm[16]; snprintf(nm, 16, "lvl.%s", must_level_name(l)); dump(dir, nm, f[l]); }
    return 0;
}
