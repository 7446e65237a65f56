/* fuzz_checkpoint.c - a checkpoint from a stranger, loaded into a small
 * model as a resume would (core/model/checkpoint.c): strict, with an SGD
 * optimizer's momentum and the RNG state; then partial, with AdamW's state
 * and no RNG.  The model is ckpt-model.h's, the one fuzz/mkseeds saved
 * the seeds from. */
#include "config.h"

#include "fuzz-util.h"
#include "must/checkpoint.h"
#include "must/optim.h"
#include "ckpt-model.h"

static void load(const char *path, must_params *const *sets, int kind, unsigned flags, int rng)
{
    must_optim_config cfg;
    must_optim_config_default(&cfg, kind);
    cfg.momentum = kind == MUST_OPTIM_SGD ? 0.9 : 0;
    cfg.threads = 1;
    must_err err = {0};
    must_optim *opt = must_optim_new(&cfg, sets, 2, &err);
    if (!opt)
        abort();
    must_rng r;
    must_rng_seed(&r, 1);
    must_ckpt_load_opts o = {.flags = flags, .optim = opt, .rng = rng ? &r : NULL};
    must_ckpt_report rep = {0};
    must_ckpt_load(path, sets, 2, &o, &rep, &err);
    must_ckpt_report_free(&rep);
    must_optim_free(opt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file("ckpt", data, size);
    must_params *sets[2];
    fuzz_model_new(sets);
    load(path, sets, MUST_OPTIM_SGD, MUST_CKPT_STRICT, 1);
    load(path, sets, MUST_OPTIM_ADAMW, MUST_CKPT_ALLOW_PARTIAL, 0);
    must_params_free(sets[0]);
    must_params_free(sets[1]);
    return 0;
}
