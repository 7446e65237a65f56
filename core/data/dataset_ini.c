/* dataset_ini.c - dataset.ini: parsed with inih, every problem named by file, line, section, key. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "dataset-impl.h"
#include "must/io.h"

/* ------------------------------------------------------------------------ */
/* dataset.ini through inih.  inih does not report line numbers to the
 * handler and cuts lines at 200 bytes, so it reads through our own reader:
 * the reader knows the physical line of every line it hands over, strips
 * comments (so that a long comment is never mistaken for a value), checks
 * the syntax of every line (inih stops reporting after the first error), and
 * splits an overlong line after a comma into continuation lines, which the
 * handler joins again: a list of a thousand class names reads fine. */

typedef struct ini_entry {
    char *section, *key, *value;
    int line;
} ini_entry;

typedef struct ini_state {
    must_dataset *ds;
    ds_sink *sink;
    const char *path;
    const char *p;                /* next unread byte of the file */
    const char *rest, *rest_end;  /* what is left of the physical line being split */
    int phys;                     /* physical line of the chunk last handed over */
    int cont;                     /* that chunk continues the previous key */
    int prev_key;                 /* inih remembers a key (continuations attach to it) */
    int oom;
    ini_entry *e;
    int ne, cap;
} ini_state;

static char *line_reader(char *str, int num, void *stream)
{
    ini_state *st = stream;
    int lead = 0;
    if (!st->rest) {
        if (!*st->p)
            return NULL;
        const char *b = st->p, *e = strchr(b, '\n');
        if (!e)
            e = b + strlen(b);
        st->p = *e ? e + 1 : e;
        st->phys++;
        if (e > b && e[-1] == '\r')
            e--;
        const char *q = b;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q < e && (*q == ';' || *q == '#')) {
            e = b;
        } else {
            for (const char *c = b + 1; c < e; c++)
                if (*c == ';' && (c[-1] == ' ' || c[-1] == '\t')) {
                    e = c;
                    break;
                }
        }
        while (e > q && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        st->cont = q > b && q < e && st->prev_key;
        if (q < e && *q == '[') {
            st->prev_key = 0;
            if (e[-1] != ']')
                ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, st->phys,
                         "section header without ']'");
        } else if (q < e && !st->cont && !memchr(q, '=', (size_t)(e - q))) {
            ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, st->phys,
                     "expected 'key = value' or '[section]'");
        }
        st->rest = b;
        st->rest_end = e;
    } else {
        lead = 1;
        st->cont = 1;
    }
    size_t room = (size_t)(num - 3), len = (size_t)(st->rest_end - st->rest), take = len;
    if (len + (size_t)lead > room) {
        take = 0;
        for (size_t i = room - (size_t)lead; i > 0; i--)
            if (st->rest[i - 1] == ',') {
                take = i;
                break;
            }
        if (take == 0) {
            ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, st->phys,
                     "line too long (over %d bytes without a comma to split at)", num - 3);
            take = room - (size_t)lead;
            st->rest_end = st->rest + take;
        }
    }
    size_t k = 0;
    if (lead)
        str[k++] = ' ';
    memcpy(str + k, st->rest, take);
    k += take;
    str[k++] = '\n';
    str[k] = '\0';
    st->rest += take;
    if (st->rest >= st->rest_end)
        st->rest = NULL;
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    ini_state *st = user;
    st->prev_key = 1;
    if (st->cont && st->ne > 0) {
        ini_entry *last = &st->e[st->ne - 1];
        size_t a = strlen(last->value), b = strlen(value);
        char *v = realloc(last->value, a + b + 2);
        if (!v) {
            st->oom = 1;
            return 0;
        }
        v[a] = ' ';
        memcpy(v + a + 1, value, b + 1);
        last->value = v;
        return 1;
    }
    for (int i = 0; i < st->ne; i++)
        if (strcmp(st->e[i].section, section) == 0 && strcmp(st->e[i].key, name) == 0) {
            ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, st->phys,
                     "[%s] %s: duplicate key (first at line %d)", section, name, st->e[i].line);
            return 1;
        }
    if (st->ne == st->cap) {
        int cap = st->cap ? 2 * st->cap : 16;
        ini_entry *e = realloc(st->e, (size_t)cap * sizeof *e);
        if (!e) {
            st->oom = 1;
            return 0;
        }
        st->e = e;
        st->cap = cap;
    }
    ini_entry *e = &st->e[st->ne];
    e->section = ds_strdup(section);
    e->key = ds_strdup(name);
    e->value = ds_strdup(value);
    e->line = st->phys;
    if (!e->section || !e->key || !e->value) {
        free(e->section);
        free(e->key);
        free(e->value);
        st->oom = 1;
        return 0;
    }
    st->ne++;
    return 1;
}

static const char *const dataset_keys[] = {"name", "tasks", "count", "width", "height", NULL};
static const char *const class_keys[] = {"classes", "source", "teacher", "threshold", NULL};
static const char *const depth_keys[] = {"scale", "source", "teacher", "threshold", NULL};
static const char *const normal_keys[] = {"encoding", "source", "teacher", "threshold", NULL};

static const char *const *section_keys(const char *section)
{
    if (strcmp(section, "dataset") == 0)
        return dataset_keys;
    switch (must_label_kind_parse(section)) {
    case MUST_LABEL_CLASSIFICATION:
    case MUST_LABEL_DETECTION:
    case MUST_LABEL_SEGMENTATION: return class_keys;
    case MUST_LABEL_DEPTH: return depth_keys;
    case MUST_LABEL_NORMAL: return normal_keys;
    default: return NULL;
    }
}

static ini_entry *ini_get(ini_state *st, const char *section, const char *key)
{
    for (int i = 0; i < st->ne; i++)
        if (strcmp(st->e[i].section, section) == 0 && strcmp(st->e[i].key, key) == 0)
            return &st->e[i];
    return NULL;
}

static int parse_count(const char *s, long lo, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return *s && !*end && errno == 0 && *v >= lo && *v <= INT32_MAX;
}

#define INI_ISSUE(st, ent, sec, key, ...)                                                      \
    ds_issue((st)->ds, (st)->sink, MUST_EFORMAT, (st)->path, (ent) ? (ent)->line : 0,          \
             "[" sec "] " key ": " __VA_ARGS__)

/* Splits a comma list into trimmed, non-empty names. */
static int split_names_list(ini_state *st, ini_entry *ent, const char *sec, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    char *v = ds_strdup(ent->value);
    if (!v)
        return MUST_ENOMEM;
    int cap = 0, rc = MUST_OK;
    char *save = NULL;
    int k = 0;
    for (char *p = v;; p = NULL) {
        char *tok = strtok_r(p, ",", &save);
        if (!tok)
            break;
        k++;
        tok = ds_trim(tok);
        if (!*tok) {
            ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, ent->line,
                     "[%s] %s: name %d is empty", sec, ent->key, k);
            continue;
        }
        for (int i = 0; i < *n; i++)
            if (strcmp((*out)[i], tok) == 0)
                ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, ent->line,
                         "[%s] %s: '%s' is named twice", sec, ent->key, tok);
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **o = realloc(*out, (size_t)cap * sizeof *o);
            if (!o) {
                rc = MUST_ENOMEM;
                break;
            }
            *out = o;
        }
        if (!((*out)[*n] = ds_strdup(tok))) {
            rc = MUST_ENOMEM;
            break;
        }
        (*n)++;
    }
    /* strtok_r skips empty fields between commas; count them as problems too */
    for (const char *p = ent->value; *p; p++) {
        if (*p != ',')
            continue;
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == ',' || *q == '\0')
            ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, ent->line,
                     "[%s] %s: empty name in the list", sec, ent->key);
    }
    free(v);
    return rc;
}

int ds_read_ini(must_dataset *ds, ds_sink *sink)
{
    char *buf = NULL;
    must_err e = {0};
    int rc = must_file_read(ds->ini_path, &buf, NULL, &e);
    if (rc == MUST_ENOMEM)
        return must_err_set(sink->err, rc, "%s", e.msg);
    if (rc) {
        ds_issue(ds, sink, rc, ds->ini_path, 0, "cannot read: %s",
                 rc == MUST_ENOTFOUND ? "no such file (not a dataset, or an unfinished one)"
                                      : e.msg);
        return MUST_OK;
    }
    /* A UTF-8 byte order mark is no part of the first line. */
    const char *text = strncmp(buf, "\xEF\xBB\xBF", 3) == 0 ? buf + 3 : buf;
    ini_state st = {.ds = ds, .sink = sink, .path = ds->ini_path, .p = text};
    int r = ini_parse_stream(line_reader, &st, on_key, &st);
    if (st.oom || r == -2) {
        rc = must_err_set(sink->err, MUST_ENOMEM, "%s: out of memory", ds->ini_path);
        goto out;
    }
    if (sink->stop)
        goto out;

    ini_entry *en;
    /* The name first, so that every later message carries it. */
    if (!(en = ini_get(&st, "dataset", "name")) || !*en->value) {
        ds_issue(ds, sink, MUST_EFORMAT, st.path, en ? en->line : 0,
                 "[dataset] name: missing or empty");
    } else {
        char *name = ds_strdup(en->value);
        if (!name) {
            rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
            goto out;
        }
        free(ds->name);
        ds->name = name;
    }
    /* Unknown sections and keys (one complaint per unknown section). */
    for (int i = 0; i < st.ne; i++) {
        ini_entry *x = &st.e[i];
        const char *const *keys = section_keys(x->section);
        if (!keys) {
            int first = 1;
            for (int j = 0; j < i; j++)
                if (strcmp(st.e[j].section, x->section) == 0)
                    first = 0;
            if (first)
                ds_issue(ds, sink, MUST_EFORMAT, st.path, x->line, "[%s]: unknown section%s",
                         x->section, *x->section ? "" : " (keys before any [section])");
            continue;
        }
        int known = strncmp(x->key, "x_", 2) == 0 && keys != dataset_keys;
        for (int k = 0; keys[k] && !known; k++)
            known = strcmp(keys[k], x->key) == 0;
        if (!known)
            ds_issue(ds, sink, MUST_EFORMAT, st.path, x->line, "[%s] %s: unknown key",
                     x->section, x->key);
    }
    if (sink->stop)
        goto out;

    long v;
    if (!(en = ini_get(&st, "dataset", "count")))
        ds_issue(ds, sink, MUST_EFORMAT, st.path, 0, "[dataset] count: missing");
    else if (!parse_count(en->value, 0, &v))
        INI_ISSUE(&st, en, "dataset", "count", "'%s' is not a whole number >= 0", en->value);
    else {
        ds->count_decl = (int)v;
        ds->count_line = en->line;
    }
    ini_entry *ew = ini_get(&st, "dataset", "width"), *eh = ini_get(&st, "dataset", "height");
    if (!ew != !eh)
        ds_issue(ds, sink, MUST_EFORMAT, st.path, ew ? ew->line : eh->line,
                 "[dataset] %s: given without %s", ew ? "width" : "height",
                 ew ? "height" : "width");
    else if (ew) {
        if (!parse_count(ew->value, 1, &v) || v > 65536)
            INI_ISSUE(&st, ew, "dataset", "width", "'%s' is not a size in 1..65536", ew->value);
        else
            ds->width = (int)v;
        if (!parse_count(eh->value, 1, &v) || v > 65536)
            INI_ISSUE(&st, eh, "dataset", "height", "'%s' is not a size in 1..65536", eh->value);
        else
            ds->height = (int)v;
        if (!ds->width || !ds->height)
            ds->width = ds->height = 0;
    }
    if (!(en = ini_get(&st, "dataset", "tasks"))) {
        ds_issue(ds, sink, MUST_EFORMAT, st.path, 0,
                 "[dataset] tasks: missing (write 'tasks =' for a set without labels)");
    } else if (*en->value) {
        char **names;
        int n;
        if (split_names_list(&st, en, "dataset", &names, &n)) {
            rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            int k = must_label_kind_parse(names[i]);
            if (k < 0)
                INI_ISSUE(&st, en, "dataset", "tasks",
                          "unknown task '%s' (classification, detection, segmentation, depth, "
                          "normal)", names[i]);
            else
                ds->tasks |= MUST_LABEL_BIT(k);
            free(names[i]);
        }
        free(names);
    }
    if (sink->stop)
        goto out;

    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        const char *sec = must_label_kind_name(k);
        ds_task *t = &ds->t[k];
        int first_line = 0, present = 0;
        for (int i = 0; i < st.ne; i++)
            if (strcmp(st.e[i].section, sec) == 0) {
                present = 1;
                first_line = st.e[i].line;
                break;
            }
        if (!(ds->tasks & MUST_LABEL_BIT(k))) {
            if (present)
                ds_issue(ds, sink, MUST_EFORMAT, st.path, first_line,
                         "[%s]: section for a task that [dataset] tasks does not name", sec);
            continue;
        }
        if (!present) {
            ds_issue(ds, sink, MUST_EFORMAT, st.path, 0,
                     "[%s]: missing section for a task named in [dataset] tasks", sec);
            continue;
        }
        if (k <= MUST_LABEL_SEGMENTATION) {
            if (!(en = ini_get(&st, sec, "classes"))) {
                ds_issue(ds, sink, MUST_EFORMAT, st.path, first_line, "[%s] classes: missing",
                         sec);
            } else {
                if (split_names_list(&st, en, sec, &t->classes, &t->nclasses)) {
                    rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
                    goto out;
                }
                if (t->nclasses == 0)
                    ds_issue(ds, sink, MUST_EFORMAT, st.path, en->line, "[%s] classes: empty",
                             sec);
                if (k == MUST_LABEL_SEGMENTATION && t->nclasses > 255)
                    ds_issue(ds, sink, MUST_EFORMAT, st.path, en->line,
                             "[%s] classes: %d classes, at most 255 fit an 8-bit mask", sec,
                             t->nclasses);
            }
        }
        if (k == MUST_LABEL_DEPTH) {
            float s = 0.0f;
            char *end;
            if (!(en = ini_get(&st, sec, "scale")))
                ds_issue(ds, sink, MUST_EFORMAT, st.path, first_line,
                         "[depth] scale: missing (metres per stored unit)");
            else if (s = strtof(en->value, &end), !*en->value || *end || !(s > 0.0f) ||
                     !isfinite(s))
                ds_issue(ds, sink, MUST_EFORMAT, st.path, en->line,
                         "[depth] scale: '%s' is not a positive number", en->value);
            else
                t->scale = s;
        }
        if (k == MUST_LABEL_NORMAL) {
            if (!(en = ini_get(&st, sec, "encoding")))
                ds_issue(ds, sink, MUST_EFORMAT, st.path, first_line,
                         "[normal] encoding: missing (unit16)");
            else if (strcmp(en->value, MUST_NORMAL_ENCODING) != 0)
                ds_issue(ds, sink, MUST_EFORMAT, st.path, en->line,
                         "[normal] encoding: '%s' unknown (unit16)", en->value);
        }
        ini_entry *te = ini_get(&st, sec, "teacher");
        if (!(en = ini_get(&st, sec, "source"))) {
            ds_issue(ds, sink, MUST_EFORMAT, st.path, first_line,
                     "[%s] source: missing (supervised or pseudo)", sec);
        } else if (strcmp(en->value, "supervised") == 0) {
            t->source = MUST_SOURCE_SUPERVISED;
            if (te)
                ds_issue(ds, sink, MUST_EFORMAT, st.path, te->line,
                         "[%s] teacher: only for source = pseudo", sec);
        } else if (strcmp(en->value, "pseudo") == 0) {
            t->source = MUST_SOURCE_PSEUDO;
            if (!te || !*te->value)
                ds_issue(ds, sink, MUST_EFORMAT, st.path, te ? te->line : en->line,
                         "[%s] teacher: source = pseudo needs the teacher checkpoint", sec);
            else if (!(t->teacher = ds_strdup(te->value))) {
                rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
                goto out;
            }
        } else {
            ds_issue(ds, sink, MUST_EFORMAT, st.path, en->line,
                     "[%s] source: '%s' is neither supervised nor pseudo", sec, en->value);
        }
        if ((en = ini_get(&st, sec, "threshold")) && !(t->threshold = ds_strdup(en->value))) {
            rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
            goto out;
        }
        for (int i = 0; i < st.ne; i++) {
            ini_entry *x = &st.e[i];
            if (strcmp(x->section, sec) || strncmp(x->key, "x_", 2))
                continue;
            char **nk = realloc(t->xkeys, (size_t)(t->nx + 1) * sizeof *nk);
            if (nk)
                t->xkeys = nk;
            char **nv = realloc(t->xvals, (size_t)(t->nx + 1) * sizeof *nv);
            if (nv)
                t->xvals = nv;
            if (!nk || !nv) {
                rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
                goto out;
            }
            t->xkeys[t->nx] = ds_strdup(x->key);
            t->xvals[t->nx] = ds_strdup(x->value);
            t->nx++;
        }
    }
out:
    for (int i = 0; i < st.ne; i++) {
        free(st.e[i].section);
        free(st.e[i].key);
        free(st.e[i].value);
    }
    free(st.e);
    free(buf);
    return rc;
}

