/* dataset_ini.c - dataset.ini (docs/dataset-format.md), read by the
 * library's INI reader and key engine (core/base/ini.c,
 * core/base/conf_apply.c) against one key table per kind of section.  Every
 * problem is named by file, line, section and key; in check mode every one
 * is reported and reading goes on. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf-impl.h"
#include "dataset-impl.h"
#include "kinds-impl.h"
#include "must/io.h"

/* ------------------------------------------------------------------------ */
/* The key tables. */

/* What [dataset] fills, before it goes into the dataset. */
typedef struct ini_head {
    char *name;
    unsigned tasks;
    int count, width, height;
} ini_head;

/* dataset.ini's own value types (parse_value below). */
enum {
    K_KINDS = MUST_CONF_USER, /* label kinds, comma-separated, into a bit set */
    K_NAMES,                  /* class names, non-empty and distinct, into a ds_task */
    K_POSITIVE,               /* float > 0 */
    K_ENCODING,               /* the normal maps' encoding: MUST_NORMAL_ENCODING */
    K_IDS                     /* distinct integers, comma-separated, into a ds_task */
};

#define END {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
#define H(m) offsetof(ini_head, m)
static const must_conf_key dataset_keys[] = {
    {"name", MUST_CONF_STRDUP, H(name), NULL, "free text, shown in messages", NULL, 0, 0},
    {"tasks", K_KINDS, H(tasks), NULL, "the label kinds present, comma-separated", NULL, 0, 0},
    {"count", MUST_CONF_INT, H(count), NULL, "number of images (checked)", NULL, 0, INT32_MAX},
    {"width", MUST_CONF_INT, H(width), NULL, "optional: when every image has the same size",
     NULL, 1, 65536},
    {"height", MUST_CONF_INT, H(height), NULL, "with width", NULL, 1, 65536},
    END,
};

#define T(m) offsetof(ds_task, m)
#define SOURCE_KEYS                                                                          \
    {"source", MUST_CONF_CHOICE, T(source), NULL, "supervised | pseudo", "supervised|pseudo", \
     0, 0},                                                                                  \
    {"teacher", MUST_CONF_STRDUP, T(teacher), NULL, "with source = pseudo: which checkpoint",  \
     NULL, 0, 0},                                                                            \
    {"threshold", MUST_CONF_STRDUP, T(threshold), NULL,                                       \
     "optional, how the pseudo labels were made", NULL, 0, 0}
_Static_assert(MUST_SOURCE_SUPERVISED == 0 && MUST_SOURCE_PSEUDO == 1,
               "source's choices are in MUST_SOURCE_* order");

static const must_conf_key class_keys[] = {
    {"classes", K_NAMES, T(classes), NULL, "class names, index = class id", NULL, 0, 0},
    SOURCE_KEYS,
    {"ids", K_IDS, T(ids), NULL, "optional: each class's id in the set it came from", NULL, 0,
     0},
    END,
};
static const must_conf_key depth_keys[] = {
    {"scale", K_POSITIVE, T(scale), NULL, "metres per stored unit", NULL, 0, 0},
    SOURCE_KEYS,
    END,
};
static const must_conf_key normal_keys[] = {
    {"encoding", K_ENCODING, 0, NULL, MUST_NORMAL_ENCODING, NULL, 0, 0},
    SOURCE_KEYS,
    END,
};

/* A registered kind's section: these, and its codec's keys (must/kinds.h),
 * which fill ds_task.conf through the extra hook. */
static const must_conf_key registered_keys[] = {
    SOURCE_KEYS,
    END,
};

/* The table of a task's section. */
static const must_conf_key *task_keys(int kind)
{
    if (kind >= MUST_LABEL_NKINDS)
        return registered_keys;
    return kind == MUST_LABEL_DEPTH ? depth_keys : kind == MUST_LABEL_NORMAL ? normal_keys
                                                                             : class_keys;
}

void ds_ini_describe(must_conf_doc_fn fn, void *user)
{
    must_conf_describe(dataset_keys, "dataset", fn, user);
    for (int k = 0; k < MUST_LABEL_NKINDS; k++)
        must_conf_describe(task_keys(k), must_label_kind_name(k), fn, user);
}

/* ------------------------------------------------------------------------ */
/* dataset.ini's own values. */

/* Class names, comma-separated, into t: the first problem goes into why,
 * and the names that are not empty are kept all the same. */
static int parse_names(ds_task *t, const char *text, char *why, size_t whylen)
{
    if (!*text)
        return MUST_OK; /* no names (what `classes: empty` is about) */
    char *v = ds_strdup(text);
    if (!v)
        return MUST_ENOMEM;
    int rc = MUST_OK, k = 0;
    for (char *tok = v, *c; tok && rc != MUST_ENOMEM; tok = c ? c + 1 : NULL) {
        if ((c = strchr(tok, ',')))
            *c = '\0';
        char *name = ds_trim(tok);
        k++;
        if (!*name) {
            rc = rc ? rc : must_conf_refuse(why, whylen, "name %d is empty", k);
            continue;
        }
        for (int i = 0; i < t->nclasses && rc == MUST_OK; i++)
            if (strcmp(t->classes[i], name) == 0)
                rc = must_conf_refuse(why, whylen, "'%s' is named twice", name);
        char **o = realloc(t->classes, (size_t)(t->nclasses + 1) * sizeof *o);
        if (o)
            t->classes = o;
        if (!o || !(o[t->nclasses] = ds_strdup(name)))
            rc = MUST_ENOMEM;
        else
            t->nclasses++;
    }
    free(v);
    return rc;
}

/* Class ids, comma-separated distinct integers, into t (the classes' ids
 * in the set they came from: an export gives them back). */
static int parse_ids(ds_task *t, const char *text, char *why, size_t whylen)
{
    free(t->ids);
    t->ids = NULL;
    t->nids = 0;
    int cap = 0, rc = MUST_OK;
    for (const char *p = text; *p && rc == MUST_OK;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        const char *q = end;
        while (*q == ' ' || *q == '\t')
            q++;
        if (end == p || errno || v < INT_MIN || v > INT_MAX || (*q && *q != ',')) {
            rc = must_conf_refuse(why, whylen, "id %d is not a whole number", t->nids + 1);
            break;
        }
        if (*q && !q[1]) {
            rc = must_conf_refuse(why, whylen, "id %d is empty", t->nids + 2);
            break;
        }
        for (int i = 0; i < t->nids && rc == MUST_OK; i++)
            if (t->ids[i] == (int)v)
                rc = must_conf_refuse(why, whylen, "id %ld is given twice", v);
        if (rc == MUST_OK && t->nids == cap) {
            cap = cap ? 2 * cap : 16;
            int *n = realloc(t->ids, (size_t)cap * sizeof *n);
            if (n)
                t->ids = n;
            else
                rc = MUST_ENOMEM;
        }
        if (rc == MUST_OK)
            t->ids[t->nids++] = (int)v;
        p = *q ? q + 1 : q;
    }
    if (rc != MUST_OK) { /* a refused list is no list */
        free(t->ids);
        t->ids = NULL;
        t->nids = 0;
    }
    return rc;
}

/* Label kinds, comma-separated, into a bit set: the known ones are kept
 * even when one is refused.  A kind that is neither built in nor
 * registered yet goes to the resolver (kinds-impl.h), which may load the
 * plugin that defines it. */
static int parse_kinds(unsigned *tasks, const char *text, char *why, size_t whylen)
{
    ds_task list = {0}; /* the names, as a task's classes */
    int rc = parse_names(&list, text, why, whylen);
    for (int i = 0; i < list.nclasses; i++) {
        char reason[MUST_ERR_MSG_MAX];
        int k = ds_kind_resolve(list.classes[i], reason, sizeof reason);
        if (k >= 0)
            *tasks |= MUST_LABEL_BIT(k);
        else if (rc == MUST_OK)
            rc = must_conf_refuse(why, whylen, "%s", reason);
        free(list.classes[i]);
    }
    free(list.classes);
    return rc;
}

/* The conf engine's hook for dataset.ini's types. */
static int parse_value(void *user, const must_conf_key *k, void *base, const char *text,
                       char *why, size_t whylen)
{
    (void)user;
    char *end;
    float s;
    switch (k->type) {
    case K_KINDS: return parse_kinds((unsigned *)((char *)base + k->offset), text, why, whylen);
    case K_NAMES: return parse_names(base, text, why, whylen);
    case K_IDS: return parse_ids(base, text, why, whylen);
    case K_POSITIVE:
        s = strtof(text, &end);
        if (!*text || *end || !(s > 0.0f) || !isfinite(s))
            return must_conf_refuse(why, whylen, "'%s' is not a positive number", text);
        memcpy((char *)base + k->offset, &s, sizeof s);
        return MUST_OK;
    case K_ENCODING:
        if (strcmp(text, MUST_NORMAL_ENCODING) != 0)
            return must_conf_refuse(why, whylen, "'%s' unknown (%s)", text, MUST_NORMAL_ENCODING);
        return MUST_OK;
    }
    return must_conf_refuse(why, whylen, "type %d unknown", k->type);
}

/* A task section's x_ keys: kept for tools of one's own, not checked. */
static int extra_key(void *user, void *base, const char *key, const char *value, int line,
                     char *why, size_t whylen)
{
    (void)user, (void)line, (void)why, (void)whylen;
    ds_task *t = base;
    if (strncmp(key, "x_", 2) != 0)
        return 0;
    char **nk = realloc(t->xkeys, (size_t)(t->nx + 1) * sizeof *nk);
    if (nk)
        t->xkeys = nk;
    char **nv = realloc(t->xvals, (size_t)(t->nx + 1) * sizeof *nv);
    if (nv)
        t->xvals = nv;
    if (!nk || !nv)
        return MUST_ENOMEM;
    t->xkeys[t->nx] = ds_strdup(key);
    t->xvals[t->nx] = ds_strdup(value);
    t->nx++;
    return t->xkeys[t->nx - 1] && t->xvals[t->nx - 1] ? 1 : MUST_ENOMEM;
}

/* A registered kind's section: its codec's keys into t->conf, x_ keys as
 * for every task. */
static int codec_key(void *user, void *base, const char *key, const char *value, int line,
                     char *why, size_t whylen)
{
    const must_label_codec *c = user;
    ds_task *t = base;
    const must_conf_key *row = c->keys ? must_conf_find(c->keys, key) : NULL;
    if (!row)
        return extra_key(NULL, base, key, value, line, why, whylen);
    char w[256];
    int rc = must_conf_parse(row, value, t->conf, w, sizeof w);
    if (rc == MUST_ENOMEM)
        return rc;
    if (rc)
        return must_conf_refuse(why, whylen, "'%s' is %s (%s)", value, w,
                                row->help ? row->help : must_conf_type_name(row->type));
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Reading. */

typedef struct ini_state {
    must_dataset *ds;
    ds_sink *sink;
    const char *path;
    must_ini ini;
    must_ini_sink isink; /* into ds_issue */
} ini_state;

static int to_ds_issue(void *user, int line, const char *msg)
{
    ini_state *st = user;
    ds_issue(st->ds, st->sink, MUST_EFORMAT, st->path, line, "%s", msg);
    return st->sink->stop;
}

/* Reports a problem; MUST_OK when reading goes on. */
static int issue(ini_state *st, int line, const char *sec, const char *key, const char *fmt, ...)
    MUST_PRINTF(5, 6);
static int issue(ini_state *st, int line, const char *sec, const char *key, const char *fmt, ...)
{
    char msg[MUST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return must_ini_issue(&st->isink, line, sec, key, "%s", msg);
}

/* The name first, so that every later message carries it. */
static int read_name(ini_state *st)
{
    const must_ini_entry *en =
        must_ini_get(&st->ini, must_ini_find_section(&st->ini, "dataset"), "name");
    if (!en || !*en->value)
        return issue(st, en ? en->line : 0, "dataset", "name", "missing or empty");
    char *name = ds_strdup(en->value);
    if (!name)
        return MUST_ENOMEM;
    free(st->ds->name);
    st->ds->name = name;
    return MUST_OK;
}

/* One complaint per section that is neither [dataset] nor a task's. */
static int unknown_sections(ini_state *st)
{
    for (int i = 0; i < st->ini.nsec; i++) {
        const must_ini_section *s = &st->ini.sec[i];
        if (strcmp(s->name, "dataset") != 0 && must_label_kind_parse(s->name) < 0) {
            int rc = issue(st, s->line, s->name, NULL, "unknown section");
            if (rc)
                return rc;
        }
    }
    return MUST_OK;
}

/* [dataset]: count, the size, the tasks. */
static int read_head(ini_state *st)
{
    must_dataset *ds = st->ds;
    ini_head h = {0};
    int lines[8] = {0}, rc = MUST_OK, s = must_ini_find_section(&st->ini, "dataset");
    must_conf_hooks hooks = {.parse = parse_value};
    if (s >= 0 && (rc = must_conf_apply(dataset_keys, &h, &st->ini, s, &hooks, lines, &st->isink)))
        goto out;
    enum { NAME, TASKS, COUNT, WIDTH, HEIGHT };
    if (!lines[COUNT])
        rc = issue(st, 0, "dataset", "count", "missing");
    else if (lines[COUNT] > 0)
        ds->count_decl = h.count, ds->count_line = lines[COUNT];
    if (!rc && !lines[WIDTH] != !lines[HEIGHT])
        rc = issue(st, abs(lines[WIDTH] ? lines[WIDTH] : lines[HEIGHT]), "dataset",
                   lines[WIDTH] ? "width" : "height", "given without %s",
                   lines[WIDTH] ? "height" : "width");
    else if (lines[WIDTH] > 0 && lines[HEIGHT] > 0)
        ds->width = h.width, ds->height = h.height;
    if (!rc && !lines[TASKS])
        rc = issue(st, 0, "dataset", "tasks",
                   "missing (write 'tasks =' for a set without labels)");
    ds->tasks = h.tasks;
out:
    free(h.name);
    return rc;
}

/* source, and a teacher exactly for pseudo (every kind's section). */
static int check_source(ini_state *st, int k, int s, int source_line, int teacher_line)
{
    const char *sec = must_label_kind_name(k);
    ds_task *t = &st->ds->t[k];
    int sl = st->ini.sec[s].line;
    if (source_line < 0)
        return MUST_OK;
    if (!source_line)
        return issue(st, sl, sec, "source", "missing (supervised or pseudo)");
    if (t->source == MUST_SOURCE_SUPERVISED && teacher_line) {
        free(t->teacher);
        t->teacher = NULL;
        return issue(st, abs(teacher_line), sec, "teacher", "only for source = pseudo");
    }
    if (t->source == MUST_SOURCE_PSEUDO && !t->teacher)
        return issue(st, teacher_line ? abs(teacher_line) : source_line, sec, "teacher",
                     "source = pseudo needs the teacher checkpoint");
    return MUST_OK;
}

/* What a built-in task's section must say besides its table's types:
 * classes, scale or encoding present; then the source. */
static int check_task(ini_state *st, int k, int s, const int *lines)
{
    const char *sec = must_label_kind_name(k);
    ds_task *t = &st->ds->t[k];
    int sl = st->ini.sec[s].line, rc = MUST_OK;
    enum { FIRST, SOURCE, TEACHER, THRESHOLD, IDS }; /* lines[] in the tables' order */
    if (k <= MUST_LABEL_SEGMENTATION && !lines[FIRST])
        rc = issue(st, sl, sec, "classes", "missing");
    else if (k <= MUST_LABEL_SEGMENTATION && lines[FIRST] > 0 && t->nclasses == 0)
        rc = issue(st, lines[FIRST], sec, "classes", "empty");
    else if (k == MUST_LABEL_SEGMENTATION && t->nclasses > 255)
        rc = issue(st, abs(lines[FIRST]), sec, "classes",
                   "%d classes, at most 255 fit an 8-bit mask", t->nclasses);
    if (!rc && k <= MUST_LABEL_SEGMENTATION && lines[IDS] > 0 && t->nids != t->nclasses)
        rc = issue(st, lines[IDS], sec, "ids", "%d ids for %d classes", t->nids, t->nclasses);
    if (!rc && k == MUST_LABEL_DEPTH && !lines[FIRST])
        rc = issue(st, sl, sec, "scale", "missing (metres per stored unit)");
    if (!rc && k == MUST_LABEL_NORMAL && !lines[FIRST])
        rc = issue(st, sl, sec, "encoding", "missing (%s)", MUST_NORMAL_ENCODING);
    return rc ? rc : check_source(st, k, s, lines[SOURCE], lines[TEACHER]);
}

/* A registered kind's section: its codec's keys at their defaults, then
 * the section applied over them. */
static int read_registered(ini_state *st, int k, int s, const must_conf_hooks *common)
{
    const must_label_codec *c = must_label_kind_codec(k);
    ds_task *t = &st->ds->t[k];
    char names[600] = "x_*";
    if (c->keys)
        must_conf_names(c->keys, "x_*", names, sizeof names);
    must_conf_hooks hooks = *common;
    hooks.extra = codec_key;
    hooks.extra_names = names;
    hooks.user = (void *)c;
    if (c->keys) {
        must_err e = {0};
        if (!(t->conf = calloc(1, c->keys_size)))
            return MUST_ENOMEM;
        if (must_conf_defaults(c->keys, t->conf, NULL, &e))
            return issue(st, st->ini.sec[s].line, must_label_kind_name(k), NULL, "%s", e.msg);
    }
    int lines[4] = {0}; /* registered_keys' order: source, teacher, threshold */
    int rc = must_conf_apply(registered_keys, t, &st->ini, s, &hooks, lines, &st->isink);
    return rc ? rc : check_source(st, k, s, lines[0], lines[1]);
}

/* Every task's section: there exactly for the tasks [dataset] names. */
static int read_tasks(ini_state *st)
{
    must_conf_hooks hooks = {.parse = parse_value, .extra = extra_key, .extra_names = "x_*"};
    int nk = must_label_kind_count();
    for (int k = 0; k < nk && !st->sink->stop; k++) {
        const char *sec = must_label_kind_name(k);
        if (!sec)
            continue;
        int s = must_ini_find_section(&st->ini, sec), lines[8] = {0}, rc;
        int named = (st->ds->tasks & MUST_LABEL_BIT(k)) != 0;
        if (s >= 0 && !named)
            rc = issue(st, st->ini.sec[s].line, sec, NULL,
                       "section for a task that [dataset] tasks does not name");
        else if (s < 0 && named)
            rc = issue(st, 0, sec, NULL, "missing section for a task named in [dataset] tasks");
        else if (s < 0)
            continue;
        else if (k >= MUST_LABEL_NKINDS)
            rc = read_registered(st, k, s, &hooks);
        else if (!(rc = must_conf_apply(task_keys(k), &st->ds->t[k], &st->ini, s, &hooks, lines,
                                        &st->isink)))
            rc = check_task(st, k, s, lines);
        if (rc == MUST_ENOMEM)
            return rc;
    }
    return MUST_OK;
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
    ini_state st = {.ds = ds, .sink = sink, .path = ds->ini_path};
    st.isink = (must_ini_sink){.fn = to_ds_issue, .user = &st, .err = sink->err,
                               .code = MUST_EFORMAT, .file = ds->ini_path};
    rc = must_ini_read(&st.ini, buf, MUST_INI_CONTINUATION, &st.isink);
    if (!rc && !sink->stop)
        rc = read_name(&st);
    /* [dataset] tasks first: it may register a plugin's kind, whose
     * section is then known. */
    if (!rc && !sink->stop)
        rc = read_head(&st);
    if (!rc && !sink->stop)
        rc = unknown_sections(&st);
    if (!rc && !sink->stop)
        rc = read_tasks(&st);
    must_ini_free(&st.ini);
    free(buf);
    if (rc == MUST_ENOMEM)
        return must_err_set(sink->err, MUST_ENOMEM, "%s: out of memory", ds->ini_path);
    return MUST_OK; /* a problem is in the sink */
}
