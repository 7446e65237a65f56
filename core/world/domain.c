/* domain.c - domain presets: found by name (files, then the built-in
 * copies), parsed (their INI text is domain_ini.c's), mixes loaded, and
 * what the renderer asks of a domain. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "world-impl.h"

/* ------------------------------------------------------------------------ */
/* Parsing. */

/* A mix's components, loaded by name: none may be the domain itself or a
 * mix; classes and stuff are their union, in category order. */
static int load_mix(must_world_domain *d, char names[][WORLD_NAME_MAX], int ml, const char *f,
                    must_err *err)
{
    for (int i = 0; i < d->n_mix; i++) {
        must_err sub = {0};
        if (strcmp(names[i], d->name) == 0)
            return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] mix: '%s' mixes itself", f,
                                ml, d->name);
        int rc = must_world_domain_load(names[i], &d->mix[i], &sub);
        if (rc)
            return must_err_set(err, rc, "%s:%d: [domain] mix: %s", f, ml, sub.msg);
        if (d->mix[i]->n_mix)
            return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] mix: '%s' is itself a mix; "
                                                  "mixes do not nest", f, ml, names[i]);
    }
    d->n_classes = 0;
    for (int c = 0; c < MUST_WORLD_NCAT; c++) {
        int any = 0;
        for (int i = 0; i < d->n_mix; i++)
            any |= d->mix[i]->class_of[c] >= 0;
        d->class_of[c] = any ? d->n_classes : -1;
        if (any)
            d->classes[d->n_classes++] = c;
    }
    for (int i = 0; i < d->n_mix; i++)
        d->stuff |= d->mix[i]->stuff;
    return MUST_OK;
}

/* The name is the file's base name without ".ini". */
static void name_from_file(must_world_domain *d, const char *file)
{
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    if (strncmp(b, "built-in:", 9) == 0)
        b += 9;
    size_t n = strlen(b);
    if (n > 4 && strcmp(b + n - 4, ".ini") == 0)
        n -= 4;
    if (n >= WORLD_NAME_MAX)
        n = WORLD_NAME_MAX - 1;
    memcpy(d->name, b, n);
    d->name[n] = '\0';
}

int must_world_domain_parse(const char *text, const char *file, must_world_domain **out,
                            must_err *err)
{
    *out = NULL;
    must_world_domain *d = malloc(sizeof *d);
    if (!d)
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", file);
    char mix_names[WORLD_MAX_MIX][WORLD_NAME_MAX];
    int mix_line = 0;
    int rc = must_world_domain_read(d, text, file, mix_names, &mix_line, err);
    if (rc == MUST_OK) {
        name_from_file(d, file);
        if (!(d->source = strdup(file)))
            rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", file);
    }
    if (rc == MUST_OK && d->n_mix)
        rc = load_mix(d, mix_names, mix_line, file, err);
    if (rc) {
        must_world_domain_free(d); /* components not loaded are NULL */
        return rc;
    }
    *out = d;
    return MUST_OK;
}

void must_world_domain_free(must_world_domain *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n_mix; i++)
        must_world_domain_free(d->mix[i]);
    free(d->source);
    free(d);
}

/* ------------------------------------------------------------------------ */
/* Finding presets. */

int must_world_builtin_count(void) { return must_world_n_builtins; }

const char *must_world_builtin_name(int i)
{
    return i >= 0 && i < must_world_n_builtins ? must_world_builtins[i].name : NULL;
}

const char *must_world_builtin_text(int i)
{
    return i >= 0 && i < must_world_n_builtins ? must_world_builtins[i].text : NULL;
}

static int load_file(const char *path, must_world_domain **out, must_err *err)
{
    char *text;
    int rc = must_file_read(path, &text, NULL, err);
    if (rc)
        return rc;
    rc = must_world_domain_parse(text, path, out, err);
    free(text);
    return rc;
}

static int name_ok(const char *s)
{
    if (!*s || strlen(s) >= WORLD_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return 0;
    return 1;
}

/* Tries dir/NAME.ini; 1 when the file exists (loaded or not). */
static int try_dir(const char *dir, const char *name, must_world_domain **out, int *rc,
                   must_err *err)
{
    if (!dir || !*dir)
        return 0;
    size_t n = strlen(dir) + strlen(name) + 8;
    char *p = malloc(n);
    if (!p) {
        *rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        return 1;
    }
    snprintf(p, n, "%s/%s.ini", dir, name);
    int found = must_file_exists(p);
    if (found)
        *rc = load_file(p, out, err);
    free(p);
    return found;
}

int must_world_domain_load(const char *name, must_world_domain **out, must_err *err)
{
    *out = NULL;
    size_t n = strlen(name);
    int ini = n > 4 && strcmp(name + n - 4, ".ini") == 0;
    /* A path must say it is one by its ending: "world = ../../etc/passwd" is a
     * traversal, not a domain. */
    if (ini)
        return load_file(name, out, err);
    if (strchr(name, '/'))
        return must_err_set(err, MUST_EINVAL, "world domain '%s': a path to a domain file ends "
                                              "in .ini; a built-in or MUST_WORLD_PATH domain is "
                                              "a plain name", name);
    if (!name_ok(name))
        return must_err_set(err, MUST_EINVAL, "world domain '%s': a name is 1-63 letters, "
                                              "digits, '-' or '_' (or give a path to an .ini "
                                              "file)", name);
    int rc = 0;
    const char *path = getenv("MUST_WORLD_PATH");
    if (path && *path) {
        char *copy = strdup(path);
        if (!copy)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
            if (try_dir(dir, name, out, &rc, err)) {
                free(copy);
                return rc;
            }
        free(copy);
    }
    const char *src = getenv("MUST_SRCDIR");
    if (src && *src) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/etc/must/world", src);
        if (try_dir(dir, name, out, &rc, err))
            return rc;
    }
    if (try_dir(MUST_SYSCONF_DIR "/world", name, out, &rc, err))
        return rc;
    for (int i = 0; i < must_world_n_builtins; i++)
        if (strcmp(must_world_builtins[i].name, name) == 0) {
            char src_name[WORLD_NAME_MAX + 16];
            snprintf(src_name, sizeof src_name, "built-in:%s", name);
            return must_world_domain_parse(must_world_builtins[i].text, src_name, out, err);
        }
    char all[1024] = "";
    for (int i = 0, used = 0; i < must_world_n_builtins && used < (int)sizeof all; i++)
        used += snprintf(all + used, sizeof all - (size_t)used, "%s%s", i ? ", " : "",
                         must_world_builtins[i].name);
    return must_err_set(err, MUST_ENOTFOUND,
                        "world domain '%s' not found ($MUST_WORLD_PATH, $MUST_SRCDIR/etc/must/"
                        "world, " MUST_SYSCONF_DIR "/world; built-in: %s)", name, all);
}

/* ------------------------------------------------------------------------ */
/* Accessors. */

const char *must_world_domain_name(const must_world_domain *d) { return d->name; }
const char *must_world_domain_source(const must_world_domain *d) { return d->source; }
const char *must_world_domain_mirrors(const must_world_domain *d) { return d->mirrors; }
const char *must_world_domain_role(const must_world_domain *d) { return d->role; }
const char *must_world_domain_description(const must_world_domain *d) { return d->description; }
unsigned must_world_domain_tasks(const must_world_domain *d) { return d->tasks; }
int must_world_domain_default_count(const must_world_domain *d) { return d->default_count; }
int must_world_domain_void_edges(const must_world_domain *d) { return d->void_edges; }
float must_world_domain_difficult(const must_world_domain *d) { return d->difficult; }

void must_world_domain_splits(const must_world_domain *d, int pct[3])
{
    memcpy(pct, d->splits, sizeof d->splits);
}

int must_world_domain_split_of(const must_world_domain *d, uint64_t index)
{
    /* 37 is prime to 100: every 100 consecutive indices hit each residue
     * once, so the percentages hold exactly per hundred and splits mix */
    int r = (int)((index % 100) * 37 % 100);
    if (r < d->splits[0])
        return 0;
    return r < d->splits[0] + d->splits[1] ? 1 : 2;
}

int must_world_domain_classes(const must_world_domain *d, unsigned task, const char **names,
                              int max)
{
    int n = 0;
    if (task == MUST_WORLD_SEGMENTATION) {
        if (n < max)
            names[n] = "background";
        n++;
        for (int s = 0; s < MUST_WORLD_NSTUFF; s++)
            if (d->stuff & (1u << s)) {
                if (n < max)
                    names[n] = must_world_stuff_name(s);
                n++;
            }
    } else if (task != MUST_WORLD_CLASSIFICATION && task != MUST_WORLD_DETECTION) {
        return 0;
    }
    for (int i = 0; i < d->n_classes; i++) {
        if (n < max)
            names[n] = must_world_category_name(d->classes[i]);
        n++;
    }
    return n;
}

int must_world_domain_class_of(const must_world_domain *d, int category)
{
    return category >= 0 && category < MUST_WORLD_NCAT ? d->class_of[category] : -1;
}

int must_world_domain_seg_class(const must_world_domain *d, int semantic)
{
    int nstuff = 0;
    for (int s = 0; s < MUST_WORLD_NSTUFF; s++) {
        if (!(d->stuff & (1u << s)))
            continue;
        nstuff++;
        if (semantic == s)
            return nstuff;
    }
    if (semantic < MUST_WORLD_NSTUFF)
        return 0;
    int c = d->class_of[semantic - MUST_WORLD_NSTUFF];
    return c < 0 ? 0 : 1 + nstuff + c;
}
