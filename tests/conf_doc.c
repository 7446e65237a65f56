/* conf_doc.c - prints the key tables the library reads its INI files with,
 * in the form the documents show them, for tests/docs_keys.sh to compare:
 *
 *   conf_doc experiment   docs/experiments.md's "Every key" tables
 *   conf_doc world        "SECTION KEY" per world-domain key (docs/world.md)
 *   conf_doc dataset      "SECTION KEY" per dataset.ini key (docs/dataset-format.md)
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "data/dataset-impl.h"
#include "must/experiment.h"
#include "world/world-impl.h"

/* One table per section: a heading, then a row per key ("\u2014" for no
 * default). */
static void markdown(void *user, const char *section, const char *key, const char *def,
                     const char *help)
{
    char *last = user; /* the section of the rows so far */
    if (strcmp(last, section) != 0) {
        printf("%s### [%s]\n\n| key | default | meaning |\n|---|---|---|\n", *last ? "\n" : "",
               section);
        snprintf(last, 128, "%s", section);
    }
    printf("| `%s` | %s | %s |\n", key, *def ? def : "\u2014", help);
}

static void pair(void *user, const char *section, const char *key, const char *def,
                 const char *help)
{
    (void)user, (void)def, (void)help;
    printf("%s %s\n", section, key);
}

int main(int argc, char **argv)
{
    char last[128] = "";
    if (argc == 2 && strcmp(argv[1], "experiment") == 0)
        must_exp_describe(markdown, last);
    else if (argc == 2 && strcmp(argv[1], "world") == 0)
        must_world_domain_describe(pair, NULL);
    else if (argc == 2 && strcmp(argv[1], "dataset") == 0)
        ds_ini_describe(pair, NULL);
    else {
        fprintf(stderr, "usage: conf_doc experiment|world|dataset\n");
        return 2;
    }
    return 0;
}
