/* cli.c - what the `must` subcommands share: usage errors, numbers, and
 * one table-driven option parser. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/dist.h"

int must_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "must %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'must %s --help'.\n", cmd);
    return 2;
}

int must_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int must_cli_int(const char *cmd, const char *opt, const char *val, int lo, int hi)
{
    char *end;
    if (!val) {
        must_cli_usage_error(cmd, "%s needs a value", opt);
        return -1;
    }
    long v = strtol(val, &end, 10);
    if (*val == '\0' || *end != '\0' || v < lo || v > hi) {
        must_cli_usage_error(cmd, "%s: '%s' is not a whole number in %d..%d", opt, val, lo, hi);
        return -1;
    }
    return (int)v;
}

int must_cli_parse(const char *cmd, int argc, char **argv, const must_cli_opt *opts,
                   const char **pos, int npos, const char *help)
{
    int used = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            if (help)
                fputs(help, stdout);
            return 1;
        }
        if (a[0] != '-' || !a[1]) {
            if (used == npos)
                return must_cli_usage_error(cmd, "unexpected argument '%s'", a);
            pos[used++] = a;
            continue;
        }
        const must_cli_opt *o = opts;
        while (o->name && strcmp(o->name, a) != 0)
            o++;
        if (!o->name)
            return must_cli_usage_error(cmd, "unknown option '%s'", a);
        if (o->kind == MUST_CLI_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (o->kind == MUST_CLI_INT) {
            int n = must_cli_int(cmd, a, v, o->lo, o->hi);
            if (n < 0)
                return 2;
            *(int *)o->dst = n;
        } else {
            if (!v || !*v)
                return must_cli_usage_error(cmd, "%s needs a value", a);
            *(const char **)o->dst = v;
        }
        i++;
    }
    return 0;
}

int must_cli_dispatch(const char *cmd, const char *what, int argc, char **argv,
                      const must_cli_sub *subs, void (*usage)(FILE *fp))
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (must_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        /* `must world help generate` is `must world generate --help` */
        if (strcmp(argv[1], "help") == 0 && argc > 2) {
            char *sub[] = {argv[2], "--help", NULL};
            for (const must_cli_sub *s = subs; s->name; s++)
                if (strcmp(s->name, argv[2]) == 0)
                    return s->fn(2, sub);
            return must_cli_usage_error(cmd, "unknown %s '%s'", what, argv[2]);
        }
        usage(stdout);
        return 0;
    }
    char names[256];
    size_t n = 0;
    names[0] = '\0';
    for (const must_cli_sub *s = subs; s->name; s++) {
        if (strcmp(s->name, argv[1]) == 0)
            return s->fn(argc - 1, argv + 1);
        n += (size_t)snprintf(names + n, n < sizeof names ? sizeof names - n : 0, "%s%s",
                              n ? ", " : "", s->name);
        if (n >= sizeof names)
            n = sizeof names - 1;
    }
    return must_cli_usage_error(cmd, "unknown %s '%s' (%s)", what, argv[1], names);
}

int must_cli_fail(const char *cmd, int rc, const must_err *err)
{
    if (!rc)
        return 0;
    int status = rc == MUST_EINTR ? 130 : 1;
    if (must_dist_size() > 1 && !must_dist_error_agreed()) {
        /* The other ranks wait for this one in a collective: end them. */
        fprintf(stderr, "must %s: rank %d: %s\n", cmd, must_dist_rank(), err->msg);
        must_dist_abort(status);
    }
    if (must_dist_rank() == 0)
        fprintf(stderr, "must %s: %s\n", cmd, err->msg);
    return status;
}

int must_cli_prints(void)
{
    return must_dist_rank() == 0;
}
