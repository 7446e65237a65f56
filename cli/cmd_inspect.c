/* cmd_inspect.c - `must inspect FILE`: what a safetensors file holds. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "must/safetensors.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: must inspect FILE\n\n"
                "Lists the tensors of a safetensors file (a checkpoint or any weight file):\n"
                "name, dtype, shape and parameter count, with totals, then its metadata.\n"
                "The file is checked in full first; a bad file is reported and the exit\n"
                "status is 1.\n");
}

static void shape_str(const must_st_tensor *t, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < t->ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, ")");
}

/* Multi-line values (a config text) are printed indented, one line each. */
static void print_value(const char *v)
{
    if (!strchr(v, '\n')) {
        printf("%s\n", v);
        return;
    }
    printf("|\n");
    while (*v) {
        const char *e = strchr(v, '\n');
        int n = e ? (int)(e - v) : (int)strlen(v);
        printf("      %.*s\n", n, v);
        v += n + (e != NULL);
    }
}

int must_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return must_cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        if (path)
            return must_cli_usage_error("inspect", "one FILE only ('%s' and '%s')", path,
                                        argv[i]);
        path = argv[i];
    }
    if (!path)
        return must_cli_usage_error("inspect", "no FILE given");
    must_st *st;
    must_err err = {0};
    if (must_st_open(path, &st, &err)) {
        fprintf(stderr, "must inspect: %s\n", err.msg);
        return 1;
    }
    int n = must_st_count(st), w = 4;
    for (int i = 0; i < n; i++) {
        int l = (int)strlen(must_st_get(st, i)->name);
        w = l > w ? l : w;
    }
    printf("%s: %zu bytes, %d tensor%s\n\n", path, must_st_file_size(st), n, n == 1 ? "" : "s");
    printf("  %-*s  %-7s  %-22s  %12s\n", w, "name", "dtype", "shape", "params");
    size_t total = 0, bytes = 0, optim = 0;
    for (int i = 0; i < n; i++) {
        const must_st_tensor *t = must_st_get(st, i);
        char sh[128];
        shape_str(t, sh, sizeof sh);
        printf("  %-*s  %-7s  %-22s  %12zu\n", w, t->name, must_st_dtype_name(t->dtype), sh,
               t->numel);
        total += t->numel;
        bytes += t->end - t->begin;
        if (strncmp(t->name, "__", 2) == 0)
            optim += t->numel;
    }
    printf("\ntotal: %d tensors, %zu parameters, %zu bytes of data\n", n, total, bytes);
    if (optim)
        printf("       %zu parameters in model tensors, %zu in '__'-prefixed state "
               "(optimizer)\n", total - optim, optim);
    printf("\nmetadata: %d entr%s\n", must_st_meta_count(st),
           must_st_meta_count(st) == 1 ? "y" : "ies");
    for (int i = 0; i < must_st_meta_count(st); i++) {
        printf("  %s = ", must_st_meta_key(st, i));
        print_value(must_st_meta_value(st, i));
    }
    must_st_close(st);
    return 0;
}
