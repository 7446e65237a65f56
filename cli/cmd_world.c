/* cmd_world.c - `must world list|generate`: the built-in world's domains
 * (`must world preview` is in world_preview.c). */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/world.h"

static const char list_help[] =
    "usage: must world list\n\n"
    "Lists the world's domains, what each mirrors in the paper, its role, the\n"
    "labels it writes, its classes and its default image count: the shipped ones\n"
    "(read from " MUST_SYSCONF_DIR "/world when there, else built in)\n"
    "and the .ini files of $MUST_WORLD_PATH.\n";

static const char generate_help[] =
    "usage: must world generate --domain NAME --count N --out DIR [--size S] [--seed K]\n"
    "                           [--threads N] [--truth] [--quiet]\n\n"
    "Renders images 0..N-1 of a domain into DIR in the dataset format\n"
    "(must-dataset(5)).  Rerunning skips finished images.\n"
    "  --domain NAME  a domain name ('must world list'), or a path to a domain .ini\n"
    "  --count N      number of images (default: the domain's count)\n"
    "  --out DIR      the dataset directory\n"
    "  --size S       image width = height in pixels, 8..1024 (default 64)\n"
    "  --seed K       a different seed gives different images (default 0)\n"
    "  --threads N    worker threads (default: one per core)\n"
    "  --truth        also write every task's exact labels under DIR/truth/\n"
    "                 (always done for an unlabelled domain)\n"
    "  --quiet        no progress on stderr\n";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must world list\n"
            "       must world generate --domain NAME --count N --out DIR [--size S] [--seed K]\n"
            "                           [--threads N] [--truth] [--quiet]\n"
            "       must world preview --domain NAME --out FILE.png [--count N] [--size S] ...\n"
            "\n"
            "list      the domains: what each mirrors in the paper, its role and the\n"
            "          labels it writes\n"
            "generate  renders images 0..N-1 of a domain into DIR in the dataset format\n"
            "          (must-dataset(5))\n"
            "preview   a contact sheet of a domain: image + boxes, mask, depth, normals\n\n"
            "'must world SUBCOMMAND --help' (or 'must world help SUBCOMMAND') describes one.\n");
}

static void tasks_str(unsigned t, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < 5; i++)
        if (t & (1u << i)) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, "%s%s", n ? "," : "", must_world_task_name(i));
        }
    if (!buf[0])
        snprintf(buf, len, "(none)");
}

static void list_one(const char *name, int *status)
{
    must_err err = {0};
    must_world_domain *d;
    if (must_world_domain_load(name, &d, &err)) {
        fprintf(stderr, "must world list: %s\n", err.msg);
        *status = 1;
        return;
    }
    char tasks[128];
    tasks_str(must_world_domain_tasks(d), tasks, sizeof tasks);
    const char *cls[64];
    int nc = must_world_domain_classes(d, MUST_WORLD_DETECTION, cls, 64);
    int ns = must_world_domain_classes(d, MUST_WORLD_SEGMENTATION, cls, 64);
    printf("%-14s %-10s %-14s %3d %3d %7d  %s\n", must_world_domain_name(d),
           must_world_domain_role(d), tasks, nc, ns, must_world_domain_default_count(d),
           must_world_domain_mirrors(d));
    printf("%-14s %s\n", "", must_world_domain_description(d));
    must_world_domain_free(d);
}

static int is_builtin(const char *name)
{
    for (int i = 0; i < must_world_builtin_count(); i++)
        if (strcmp(must_world_builtin_name(i), name) == 0)
            return 1;
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            fputs(list_help, stdout);
            return 0;
        }
        return must_cli_usage_error("world list", "unknown option '%s'", argv[i]);
    }
    int status = 0;
    printf("%-14s %-10s %-14s %3s %3s %7s  %s\n", "DOMAIN", "ROLE", "LABELS", "OBJ", "SEG",
           "IMAGES", "MIRRORS (the paper's Table 1)");
    for (int i = 0; i < must_world_builtin_count(); i++)
        list_one(must_world_builtin_name(i), &status);
    /* domains a user added on $MUST_WORLD_PATH */
    const char *path = getenv("MUST_WORLD_PATH");
    char *copy = path ? strdup(path) : NULL;
    char *save = NULL;
    for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
         dir = strtok_r(NULL, ":", &save)) {
        DIR *dp = opendir(dir);
        if (!dp)
            continue;
        struct dirent *e;
        while ((e = readdir(dp))) {
            size_t n = strlen(e->d_name);
            if (n <= 4 || n > 60 || strcmp(e->d_name + n - 4, ".ini") != 0)
                continue;
            char name[64];
            memcpy(name, e->d_name, n - 4);
            name[n - 4] = '\0';
            if (!is_builtin(name))
                list_one(name, &status);
        }
        closedir(dp);
    }
    free(copy);
    printf("\nOBJ: object classes (classification, detection); SEG: segmentation classes "
           "(background, stuff, objects).\nIMAGES: the default --count.  The world and its "
           "domains: " MUST_DOC_DIR "/docs/world.md.\n");
    return status;
}

static int parse_u64(const char *s, unsigned long long *v)
{
    char *end;
    if (!s || !*s || *s == '-')
        return 0;
    *v = strtoull(s, &end, 10);
    return *end == '\0';
}

static int cmd_generate(int argc, char **argv)
{
    const char *cmd = "world generate";
    const char *domain = NULL, *out = NULL;
    const char *seed = NULL;
    must_world_gen_opts o = {.count = 0, .size = 64, .seed = 0, .threads = 0};
    const must_cli_opt opts[] = {{"--domain", MUST_CLI_STR, &domain, 0, 0},
                                 {"--out", MUST_CLI_STR, &out, 0, 0},
                                 {"--count", MUST_CLI_INT, &o.count, 1, 1000000},
                                 {"--size", MUST_CLI_INT, &o.size, 8, 1024},
                                 {"--threads", MUST_CLI_INT, &o.threads, 1, 1024},
                                 {"--seed", MUST_CLI_STR, &seed, 0, 0},
                                 {"--truth", MUST_CLI_FLAG, &o.truth, 0, 0},
                                 {"--quiet", MUST_CLI_FLAG, &o.quiet, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(cmd, argc, argv, opts, NULL, 0, generate_help);
    if (rc)
        return rc == 1 ? 0 : rc;
    unsigned long long sv = 0;
    if (seed && !parse_u64(seed, &sv))
        return must_cli_usage_error(cmd, "--seed: '%s' is not a whole number >= 0", seed);
    o.seed = sv;
    if (!domain)
        return must_cli_usage_error(cmd, "--domain is required (see 'must world list')");
    if (!out)
        return must_cli_usage_error(cmd, "--out is required");
    must_err err = {0};
    must_world_domain *d;
    if (must_world_domain_load(domain, &d, &err)) {
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (!o.count)
        o.count = must_world_domain_default_count(d);
    must_world_gen_stats st;
    rc = must_world_generate(d, out, &o, &st, &err);
    if (rc) {
        must_world_domain_free(d);
        return must_cli_fail(cmd, rc, &err);
    }
    if (!o.quiet && must_cli_prints()) /* under mpirun, rank 0 speaks for all */
        printf("%s: %d images in %s (%d rendered, %d already there) in %.2f s, %.0f img/s\n",
               must_world_domain_name(d), o.count, out, st.rendered, st.skipped, st.seconds,
               st.seconds > 0 ? st.rendered / st.seconds : 0.0);
    must_world_domain_free(d);
    return 0;
}

int must_cmd_world(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"list", cmd_list},
                                        {"generate", cmd_generate},
                                        {"preview", must_cmd_world_preview},
                                        {NULL, NULL}};
    return must_cli_dispatch("world", "subcommand", argc, argv, subs, usage);
}
