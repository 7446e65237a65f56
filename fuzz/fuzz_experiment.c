/* fuzz_experiment.c - an experiment INI from a stranger: must_exp_parse,
 * which reads the INI, applies every section's key table, loads each
 * task's plugin to check its options and each data section's world domain
 * (a built-in name, or a path ending in .ini).  The built-in plugins are
 * held loaded (fuzz-util.h).  The experiment's file name puts relative
 * paths in a directory that does not exist. */
#include "config.h"

#include "fuzz-util.h"
#include "must/experiment.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_hold_plugins();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    must_err err = {0};
    must_experiment *e;
    if (must_exp_parse(text, "/nonexistent/fuzz/experiment.ini", &e, &err) == MUST_OK)
        must_exp_free(e);
    else if (!err.msg[0])
        abort(); /* every refusal says why */
    free(text);
    return 0;
}
