/* cmd_plugins.c - `must plugins`: every task plugin on the search path, with
 * what it offers; a plugin that fails to load is reported and the listing
 * goes on. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/conf.h"
#include "must/plugin.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must plugins [--names | --path] [NAME...]\n"
            "\n"
            "Lists the task plugins found in MUST_PLUGIN_PATH (colon-separated, searched\n"
            "first) and in %s: name, version, ABI, file, the label kind it reads\n"
            "(built in or its own) and where a set stores it,\n"
            "its metrics and its options with defaults and help.  A file that cannot be\n"
            "loaded is listed with the reason; the exit status is then 1.\n"
            "\n"
            "  NAME...   only these plugins (an absent one is an error)\n"
            "  --names   one name per line, nothing loaded\n"
            "  --path    the directories searched, in order\n",
            must_plugin_install_dir());
}

typedef struct listing {
    int names_only;
    char **only;      /* NULL-terminated names, or NULL for all */
    int *seen;        /* per `only` name */
    int shown, refused;
} listing;

static void print_roles(const must_task_ops *o)
{
    printf("  roles:    head, loss");
    if (o->pseudo_label)
        printf(", pseudo labels");
    if (o->eval_begin)
        printf(", evaluation");
    if (o->draw)
        printf(", drawing");
    if (o->eval_add_labels)
        printf(", label scoring");
    printf("\n");
}

static void print_options(const must_task_ops *o)
{
    if (!o->options || !o->options[0].name) {
        printf("  options:  none\n");
        return;
    }
    printf("  options:\n");
    int w = 4;
    for (int i = 0; o->options[i].name; i++) {
        int l = (int)strlen(o->options[i].name);
        w = l > w ? l : w;
    }
    for (int i = 0; o->options[i].name; i++) {
        const must_task_option *op = &o->options[i];
        printf("    %-*s  %-6s  default %-8s %s", w, op->name, must_conf_type_name(op->type),
               op->def, op->help ? op->help : "");
        if (op->type & MUST_OPT_PSEUDO)
            printf(" (pseudo labels only)");
        if (MUST_CONF_TYPE(op->type) == MUST_OPT_CHOICE)
            printf(" (%s)", op->choices);
        else if (op->min != op->max)
            printf(" [%g..%g]", op->min, op->max);
        printf("\n");
    }
}

static void show(const must_plugin *p)
{
    const must_task_ops *o = must_plugin_ops(p);
    printf("%s %s  (ABI %u)\n", o->name, o->version, (unsigned)o->abi_version);
    printf("  file:     %s\n", must_plugin_file(p));
    if (o->summary)
        printf("  summary:  %s\n", o->summary);
    char store[160] = "?";
    if (o->label_kind == MUST_TASK_NO_KIND) {
        printf("  labels:   none (self-supervised: trains on images alone)\n");
    } else {
        must_label_kind_store(o->label_kind, store, sizeof store);
        printf("  labels:   %s (%s), stored in %s\n", must_label_kind_name(o->label_kind),
               o->codec ? "its own kind" : "built in", store);
    }
    if (o->codec && o->codec->about)
        printf("            %s\n", o->codec->about);
    printf("  metrics: ");
    if (!o->metrics || !o->metrics[0])
        printf(" none");
    for (int i = 0; o->metrics && o->metrics[i]; i++)
        printf(" %s%s%s", o->metrics[i],
               o->lower_better && o->lower_better[i] ? " (lower is better)" : "",
               o->metrics[i + 1] ? "," : "");
    printf("\n");
    print_roles(o);
    print_options(o);
}

static int visit(void *user, const char *name, const char *file, const char *shadowed)
{
    listing *L = user;
    if (L->only) {
        int k = 0;
        while (L->only[k] && strcmp(L->only[k], name) != 0)
            k++;
        if (!L->only[k])
            return 0;
        L->seen[k] = 1;
    }
    if (L->names_only) {
        printf("%s\n", name);
        L->shown++;
        return 0;
    }
    if (L->shown + L->refused)
        printf("\n");
    must_plugin *p;
    must_err e = {0};
    if (must_plugin_load_file(file, &p, &e) == MUST_OK) {
        show(p);
        must_plugin_unload(p);
        L->shown++;
    } else {
        printf("%s  REFUSED\n  file:     %s\n  reason:   %s\n", name, file, e.msg);
        L->refused++;
    }
    for (const char *s = shadowed; s && *s; s += strlen(s) + 1)
        printf("  shadows:  %s (not loaded: the first on the path wins)\n", s);
    fflush(stdout);
    return 0;
}

int must_cmd_plugins(int argc, char **argv)
{
    listing L = {0};
    int path_only = 0, nonly = 0;
    char **only = calloc((size_t)argc + 1, sizeof *only);
    if (!only) {
        fprintf(stderr, "must plugins: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            usage(stdout);
            free(only);
            return 0;
        } else if (strcmp(argv[i], "--names") == 0) {
            L.names_only = 1;
        } else if (strcmp(argv[i], "--path") == 0) {
            path_only = 1;
        } else if (argv[i][0] == '-') {
            free(only);
            return must_cli_usage_error("plugins", "unknown option '%s'", argv[i]);
        } else if (!must_plugin_name_valid(argv[i])) {
            free(only);
            return must_cli_usage_error("plugins",
                                        "'%s' is not a plugin name (a plain word: [a-z0-9_]+)",
                                        argv[i]);
        } else {
            only[nonly++] = argv[i];
        }
    }
    if (path_only) {
        char **dirs = must_plugin_dirs();
        for (char **d = dirs; d && *d; d++)
            printf("%s\n", *d);
        must_plugin_dirs_free(dirs);
        free(only);
        return dirs ? 0 : 1;
    }
    int *seen = calloc((size_t)nonly + 1, sizeof *seen);
    if (!seen) {
        free(only);
        fprintf(stderr, "must plugins: out of memory\n");
        return 1;
    }
    L.only = nonly ? only : NULL;
    L.seen = seen;
    must_err e = {0};
    int rc = must_plugin_scan(visit, &L, &e);
    int status = 0;
    if (rc) {
        fprintf(stderr, "must plugins: %s\n", e.msg);
        status = 1;
    }
    for (int k = 0; k < nonly; k++)
        if (!seen[k]) {
            char **dirs = must_plugin_dirs();
            fprintf(stderr, "must plugins: no plugin '%s' in", only[k]);
            for (char **d = dirs; d && *d; d++)
                fprintf(stderr, "%s %s", d == dirs ? "" : ",", *d);
            fprintf(stderr, "\n");
            must_plugin_dirs_free(dirs);
            status = 1;
        }
    if (!nonly && L.shown + L.refused == 0 && !rc)
        fprintf(stderr, "must plugins: no plugins found (`must plugins --path` shows where "
                        "they were looked for)\n");
    if (L.refused) {
        fprintf(stderr, "must plugins: %d plugin file%s refused\n", L.refused,
                L.refused == 1 ? "" : "s");
        status = 1;
    }
    free(seen);
    free(only);
    return status;
}
