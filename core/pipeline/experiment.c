/* experiment.c - the experiment INI file: a line reader that knows every
 * line's number, then one key table per kind of section, so that the
 * defaults, the checks and docs/experiments.md come from the same rows. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "must/experiment.h"
#include "must/io.h"
#include "must/labels.h"
#include "must/plugin.h"
#include "must/sampler.h"

/* ------------------------------------------------------------------------ */
/* The key tables. */

enum ktype {
    K_INT = 1, K_LONG, K_U64, K_DOUBLE, K_FLOAT, K_BOOL, K_STR, K_NAME,
    K_CHOICE,   /* int index into choices */
    K_DATA,     /* int: index of a [data.X] section */
    K_TASK,     /* int: index of a [task.X] section */
    K_DATAS,    /* int list of data sections, count at `aux` */
    K_TEACHERS, /* int list of teachers, count at `aux` */
    K_DOUBLES,  /* double list, count at `aux` */
    K_LONGS,    /* long list (ascending), count at `aux` */
    K_REPS,     /* [compare] representations */
    K_REP,      /* [compare] baseline */
    K_LEVEL     /* int: a level 3..7 written as a number */
};

typedef struct key {
    const char *name;
    int type;
    size_t off, aux;
    const char *def;
    const char *help;
    const char *choices;
    double min, max;  /* numeric range; min == max: unbounded */
} key;

#define TR(base, m) offsetof(base, train.m)
#define TRAIN_KEYS(base, steps_def, batch_def, lr_def)                                          \
    {"steps", K_LONG, TR(base, steps), 0, steps_def, "optimizer updates", NULL, 1, 1e9},     \
    {"batch", K_INT, TR(base, batch), 0, batch_def, "images per update", NULL, 1, 4096},     \
    {"optimizer", K_CHOICE, TR(base, optim.kind), 0, "sgd", "sgd or adamw", "sgd|adamw", 0, 0}, \
    {"lr", K_DOUBLE, TR(base, optim.lr), 0, lr_def, "base learning rate", NULL, 0, 100},     \
    {"momentum", K_DOUBLE, TR(base, optim.momentum), 0, "0.9", "SGD momentum", NULL, 0, 0.999}, \
    {"weight_decay", K_DOUBLE, TR(base, optim.weight_decay), 0, "1e-4",                     \
     "weight decay (not on BN and biases)", NULL, 0, 1},                                      \
    {"schedule", K_CHOICE, TR(base, optim.sched), 0, "cosine",                               \
     "learning-rate schedule after the warm-up", "constant|cosine|step", 0, 0},            \
    {"warmup", K_LONG, TR(base, optim.warmup_steps), 0, "0", "linear warm-up steps", NULL, 0, 1e9}, \
    {"clip", K_DOUBLE, TR(base, optim.clip_norm), 0, "0",                                    \
     "clip the global gradient norm to this (0: off)", NULL, 0, 1e9},                       \
    {"augment", K_BOOL, TR(base, augment), 0, "true",                                        \
     "random scale, crop, flip and colour jitter", NULL, 0, 0},                              \
    {"checkpoint_every", K_LONG, TR(base, checkpoint_every), 0, "0",                         \
     "steps between checkpoints (0: a quarter of the steps)", NULL, 0, 1e9}

static const key exp_keys[] = {
    {"name", K_NAME, offsetof(must_experiment, name), 0, "experiment", "a plain word for reports", NULL, 0, 0},
    {"seed", K_U64, offsetof(must_experiment, seed), 0, "0", "seeds initialisation, sampling and world data", NULL, 0, 0},
    {"threads", K_INT, offsetof(must_experiment, threads), 0, "0", "compute threads (0: one per core)", NULL, 0, 1024},
    {"workers", K_INT, offsetof(must_experiment, workers), 0, "1", "loader threads", NULL, 0, 64},
    {"image_size", K_INT, offsetof(must_experiment, image_size), 0, "64", "S: training and evaluation resolution", NULL, 16, 1024},
    {"eval_batch", K_INT, offsetof(must_experiment, eval_batch), 0, "32", "images per inference batch", NULL, 1, 4096},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key backbone_keys[] = {
    {"depth", K_INT, offsetof(must_backbone_config, depth), 0, "18", "ResNet depth: 18, 34 or 50", NULL, 18, 50},
    {"width", K_FLOAT, offsetof(must_backbone_config, width), 0, "0.25", "multiplies every stage's channels", NULL, 0.01, 4},
    {"stem_kernel", K_INT, offsetof(must_backbone_config, stem_kernel), 0, "3", "stem convolution size", NULL, 1, 11},
    {"stem_stride", K_INT, offsetof(must_backbone_config, stem_stride), 0, "1", "stem stride", NULL, 1, 4},
    {"stem_pool", K_BOOL, offsetof(must_backbone_config, stem_pool), 0, "false", "max-pool after the stem", NULL, 0, 0},
    {"fpn_channels", K_INT, offsetof(must_backbone_config, fpn_channels), 0, "32", "FPN width", NULL, 1, 1024},
    {"fpn_min_level", K_INT, offsetof(must_backbone_config, fpn_min_level), 0, "3", "lowest FPN level", NULL, 3, 5},
    {"fpn_max_level", K_INT, offsetof(must_backbone_config, fpn_max_level), 0, "5", "highest FPN level", NULL, 5, 7},
    {"seed", K_U64, offsetof(must_backbone_config, seed), 0, "1", "initialisation of every model's backbone", NULL, 0, 0},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key data_keys[] = {
    {"world", K_STR, offsetof(must_exp_data, world), 0, "", "render this world domain into RUN/data/NAME", NULL, 0, 0},
    {"path", K_STR, offsetof(must_exp_data, path), 0, "", "an existing dataset directory (instead of world)", NULL, 0, 0},
    {"count", K_INT, offsetof(must_exp_data, count), 0, "0", "world: images (0: the domain's count)", NULL, 0, 10000000},
    {"size", K_INT, offsetof(must_exp_data, size), 0, "0", "world: image size (0: image_size)", NULL, 0, 1024},
    {"seed", K_U64, offsetof(must_exp_data, seed), 0, "0", "world: seed of the images", NULL, 0, 0},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key teacher_keys[] = {
    {"task", K_TASK, offsetof(must_exp_teacher, task), 0, "", "a [task.X] section (required)", NULL, 0, 0},
    {"data", K_DATA, offsetof(must_exp_teacher, data), 0, "", "a [data.X] section with the task's labels (required)", NULL, 0, 0},
    TRAIN_KEYS(must_exp_teacher, "200", "16", "0.05"),
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key label_keys[] = {
    {"data", K_DATAS, offsetof(must_exp_label, data), offsetof(must_exp_label, ndata), "", "sets to pseudo-label, comma-separated", NULL, 0, 0},
    {"teachers", K_TEACHERS, offsetof(must_exp_label, teachers), offsetof(must_exp_label, nteachers), "", "teachers that label them (empty: all)", NULL, 0, 0},
    {"batch", K_INT, offsetof(must_exp_label, batch), 0, "32", "images per inference batch", NULL, 1, 4096},
    {"shard", K_INT, offsetof(must_exp_label, shard), 0, "1000", "images per committed shard: a rerun redoes at most one", NULL, 1, 10000000},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key student_keys[] = {
    {"teachers", K_TEACHERS, offsetof(must_exp_student, teachers), offsetof(must_exp_student, nteachers), "", "the tasks, by teacher (empty: every teacher)", NULL, 0, 0},
    {"extra", K_DATAS, offsetof(must_exp_student, extra), offsetof(must_exp_student, nextra), "", "student: labelled sets added to the pseudo-labelled union", NULL, 0, 0},
    {"data", K_DATAS, offsetof(must_exp_student, data), offsetof(must_exp_student, ndata), "", "student: [label] sets whose pseudo-labelled copies make the union (empty: all)", NULL, 0, 0},
    {"sampling", K_CHOICE, offsetof(must_exp_student, sampling), 0, "", "union: uniform over the union; balanced: each set equally often (default: student union, multitask balanced)", "union|balanced", 0, 0},
    {"weighting", K_CHOICE, offsetof(must_exp_student, weighting), 0, "paper", "paper: w = (b_s lr_t)/(b_t lr_s); equal: 1; uncertainty: learned, exp(-s) per task (Kendall et al. 2018)", "paper|equal|uncertainty", 0, 0},
    TRAIN_KEYS(must_exp_student, "400", "16", "0.05"),
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key compare_keys[] = {
    {"representations", K_REPS, 0, 0, "random, must", "random, supervised:<teacher>, multitask, must, must:<student>, file:<path>", NULL, 0, 0},
    {"baseline", K_REP, 0, 0, "", "the row deltas are taken against (default: the first supervised:<teacher>, else the first)", NULL, 0, 0},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const key transfer_keys[] = {
    {"task", K_TASK, offsetof(must_exp_transfer, task), 0, "", "a [task.X] section (required)", NULL, 0, 0},
    {"data", K_DATA, offsetof(must_exp_transfer, data), 0, "", "a [data.X] section with train, val and test splits (required)", NULL, 0, 0},
    {"lrs", K_DOUBLES, offsetof(must_exp_transfer, lrs), offsetof(must_exp_transfer, nlr), "0.01, 0.03", "learning rates swept", NULL, 0, 100},
    {"sweep_steps", K_LONGS, offsetof(must_exp_transfer, steps), offsetof(must_exp_transfer, nsteps), "100, 200", "step counts swept (ascending)", NULL, 1, 1e9},
    {"batch", K_INT, offsetof(must_exp_transfer, train.batch), 0, "16", "images per update", NULL, 1, 4096},
    {"optimizer", K_CHOICE, offsetof(must_exp_transfer, train.optim.kind), 0, "sgd", "sgd or adamw", "sgd|adamw", 0, 0},
    {"momentum", K_DOUBLE, offsetof(must_exp_transfer, train.optim.momentum), 0, "0.9", "SGD momentum", NULL, 0, 0.999},
    {"weight_decay", K_DOUBLE, offsetof(must_exp_transfer, train.optim.weight_decay), 0, "1e-4", "weight decay", NULL, 0, 1},
    {"augment", K_BOOL, offsetof(must_exp_transfer, train.augment), 0, "true", "training augmentation", NULL, 0, 0},
    {"warmup", K_LONG, offsetof(must_exp_transfer, train.optim.warmup_steps), 0, "0", "linear warm-up steps before the constant rate", NULL, 0, 1e9},
    {"clip", K_DOUBLE, offsetof(must_exp_transfer, train.optim.clip_norm), 0, "0", "clip the global gradient norm to this (0: off)", NULL, 0, 1e9},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

typedef struct sectype {
    const char *prefix; /* "data." for named sections, "backbone" for single ones */
    int named;
    const key *keys;
    const char *help;
} sectype;

enum { S_EXP, S_BACKBONE, S_DATA, S_TASK, S_TEACHER, S_LABEL, S_STUDENT, S_VARIANT,
       S_MULTITASK, S_COMPARE, S_TRANSFER, S_N };

static const key task_keys[] = {
    {"plugin", K_NAME, offsetof(must_exp_task, plugin), 0, "", "the plugin (default: NAME); every other key is the plugin's option (`must plugins`)", NULL, 0, 0},
    {NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const sectype sectypes[S_N] = {
    {"experiment", 0, exp_keys, "the whole run"},
    {"backbone", 0, backbone_keys, "the ResNet-FPN every model shares"},
    {"data.", 1, data_keys, "a dataset"},
    {"task.", 1, task_keys, "a task plugin and its options"},
    {"teacher.", 1, teacher_keys, "a single-task teacher on a labelled set"},
    {"label", 0, label_keys, "pseudo-labelling"},
    {"student", 0, student_keys, "the MuST student"},
    {"student.", 1, student_keys, "a further MuST student (representation must:NAME)"},
    {"multitask", 0, student_keys, "the supervised multi-task baseline (on the teachers' sets)"},
    {"compare", 0, compare_keys, "representations in the transfer table"},
    {"transfer.", 1, transfer_keys, "a downstream task"},
};

void must_exp_describe(must_exp_doc_fn fn, void *user)
{
    for (int s = 0; s < S_N; s++) {
        char sec[64];
        snprintf(sec, sizeof sec, "%s%s", sectypes[s].prefix, sectypes[s].named ? "NAME" : "");
        for (const key *k = sectypes[s].keys; k->name; k++)
            fn(user, sec, k->name, k->def, k->help);
        if (s == S_STUDENT || s == S_VARIANT || s == S_MULTITASK)
            fn(user, sec, "weight.<teacher>", "",
               "override that task's loss weight (uncertainty: its initial weight, > 0)");
    }
}

/* ------------------------------------------------------------------------ */
/* Lines. */

typedef struct entry {
    char *section, *key, *value;
    int line;
    int used;
} entry;

typedef struct section {
    char *name;
    int type, index, line;
} section;

typedef struct parser {
    must_experiment *e;
    const char *file;
    entry *ent;
    int nent, capent;
    section *sec;
    int nsec, capsec;
    must_err *err;
} parser;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int perr(parser *p, int line, const char *sec, const char *k, const char *fmt, ...)
    MUST_PRINTF(5, 6);
static int perr(parser *p, int line, const char *sec, const char *k, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k)
        return must_err_set(p->err, MUST_EINVAL, "%s:%d: [%s] %s: %s", p->file, line, sec, k, msg);
    if (sec)
        return must_err_set(p->err, MUST_EINVAL, "%s:%d: [%s]: %s", p->file, line, sec, msg);
    return must_err_set(p->err, MUST_EINVAL, "%s:%d: %s", p->file, line, msg);
}

static int plain_word(const char *s)
{
    if (!*s || strlen(s) > MUST_EXP_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int sectype_of(const char *name, const char **suffix)
{
    for (int s = 0; s < S_N; s++) {
        size_t n = strlen(sectypes[s].prefix);
        if (sectypes[s].named ? strncmp(name, sectypes[s].prefix, n) == 0
                              : strcmp(name, sectypes[s].prefix) == 0) {
            *suffix = name + (sectypes[s].named ? n : strlen(name));
            return s;
        }
    }
    return -1;
}

static int read_lines(parser *p, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return must_err_set(p->err, MUST_ENOMEM, "%s: out of memory", p->file);
    int rc = MUST_OK, lineno = 0;
    const char *cur = NULL;
    char *save = copy;
    for (char *line = copy; line && rc == MUST_OK; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end || *trim(end + 1)) {
                rc = perr(p, lineno, NULL, NULL, "a section line is [name] alone: '%s'", s);
                break;
            }
            *end = '\0';
            char *name = trim(s + 1);
            const char *suffix;
            int t = sectype_of(name, &suffix);
            if (t < 0) {
                rc = perr(p, lineno, name, NULL,
                          "unknown section; sections are [experiment], [backbone], [data.NAME], "
                          "[task.NAME], [teacher.NAME], [label], [student], [student.NAME], "
                          "[multitask], "
                          "[compare], [transfer.NAME]");
                break;
            }
            if (sectypes[t].named && !plain_word(suffix)) {
                rc = perr(p, lineno, name, NULL, "'%s' is not a plain name ([a-z0-9_-]+)", suffix);
                break;
            }
            for (int i = 0; i < p->nsec; i++)
                if (strcmp(p->sec[i].name, name) == 0) {
                    rc = perr(p, lineno, name, NULL, "section given twice (first on line %d)",
                              p->sec[i].line);
                    break;
                }
            if (rc)
                break;
            if (p->nsec == p->capsec) {
                p->capsec = p->capsec ? 2 * p->capsec : 16;
                section *ns = realloc(p->sec, (size_t)p->capsec * sizeof *ns);
                if (!ns) {
                    rc = must_err_set(p->err, MUST_ENOMEM, "out of memory");
                    break;
                }
                p->sec = ns;
            }
            section *sc = &p->sec[p->nsec++];
            sc->name = strdup(name);
            sc->type = t;
            sc->line = lineno;
            sc->index = -1;
            if (!sc->name)
                rc = must_err_set(p->err, MUST_ENOMEM, "out of memory");
            cur = sc->name;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = perr(p, lineno, cur, NULL, "expected key = value, not '%s'", s);
            break;
        }
        if (!cur) {
            rc = perr(p, lineno, NULL, NULL, "key before the first [section]");
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        /* A comment after the value needs a space before it: URLs and
         * colours keep their '#'. */
        for (char *c = v; *c; c++)
            if ((*c == '#' || *c == ';') && c > v && (c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                v = trim(v);
                break;
            }
        if (!*k) {
            rc = perr(p, lineno, cur, NULL, "empty key");
            break;
        }
        for (int i = 0; i < p->nent; i++)
            if (strcmp(p->ent[i].section, cur) == 0 && strcmp(p->ent[i].key, k) == 0) {
                rc = perr(p, lineno, cur, k, "key given twice (first on line %d)", p->ent[i].line);
                break;
            }
        if (rc)
            break;
        if (p->nent == p->capent) {
            p->capent = p->capent ? 2 * p->capent : 64;
            entry *ne = realloc(p->ent, (size_t)p->capent * sizeof *ne);
            if (!ne) {
                rc = must_err_set(p->err, MUST_ENOMEM, "out of memory");
                break;
            }
            p->ent = ne;
        }
        entry *en = &p->ent[p->nent++];
        en->section = (char *)cur;
        en->key = strdup(k);
        en->value = strdup(v);
        en->line = lineno;
        en->used = 0;
        if (!en->key || !en->value)
            rc = must_err_set(p->err, MUST_ENOMEM, "out of memory");
    }
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Values. */

static int find_named(parser *p, int type, const char *name)
{
    const char *pre = sectypes[type].prefix;
    for (int i = 0; i < p->nsec; i++)
        if (p->sec[i].type == type && strcmp(p->sec[i].name + strlen(pre), name) == 0)
            return p->sec[i].index;
    return -1;
}

static int known_list(parser *p, int type, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    int n = 0;
    for (int i = 0; i < p->nsec && used + 1 < len; i++)
        if (p->sec[i].type == type)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", n++ ? ", " : "",
                                     p->sec[i].name + strlen(sectypes[type].prefix));
    return n;
}

static int ref(parser *p, int type, const char *name, int line, const char *sec, const char *k,
               int *out)
{
    int i = find_named(p, type, name);
    if (i < 0) {
        char known[400];
        int n = known_list(p, type, known, sizeof known);
        return perr(p, line, sec, k, "no [%s%s] section%s%s", sectypes[type].prefix, name,
                    n ? "; there are: " : "", n ? known : "");
    }
    *out = i;
    return MUST_OK;
}

/* Splits a comma list in place into at most MUST_EXP_MAX_LIST trimmed items. */
static int split_list(parser *p, char *v, char **items, int line, const char *sec, const char *k)
{
    int n = 0;
    if (!*trim(v))
        return 0;
    for (char *tok = v; tok;) {
        char *c = strchr(tok, ',');
        if (c)
            *c = '\0';
        char *t = trim(tok);
        if (!*t)
            return perr(p, line, sec, k, "empty item in the list");
        if (n == MUST_EXP_MAX_LIST)
            return perr(p, line, sec, k, "more than %d items", MUST_EXP_MAX_LIST);
        items[n++] = t;
        tok = c ? c + 1 : NULL;
    }
    return n;
}

static int parse_number(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int set_rep(parser *p, const char *v, int line, const char *sec, const char *k,
                   must_exp_rep *r)
{
    memset(r, 0, sizeof *r);
    /* The label names the row and its transfer directory: never cut. */
    if (strlen(v) >= sizeof r->label)
        return perr(p, line, sec, k, "'%.40s...' is longer than %zu characters", v,
                    sizeof r->label - 1);
    snprintf(r->label, sizeof r->label, "%s", v);
    if (strcmp(v, "random") == 0)
        r->kind = MUST_REP_RANDOM;
    else if (strcmp(v, "multitask") == 0)
        r->kind = MUST_REP_MULTITASK;
    else if (strcmp(v, "must") == 0) {
        r->kind = MUST_REP_STUDENT;
        r->student = -1;
    } else if (strncmp(v, "must:", 5) == 0) {
        r->kind = MUST_REP_STUDENT;
        return ref(p, S_VARIANT, v + 5, line, sec, k, &r->student);
    }
    else if (strncmp(v, "supervised:", 11) == 0) {
        r->kind = MUST_REP_TEACHER;
        return ref(p, S_TEACHER, v + 11, line, sec, k, &r->teacher);
    } else if (strncmp(v, "file:", 5) == 0 && v[5]) {
        r->kind = MUST_REP_FILE;
        r->path = v[5] == '/' || !p->e->dir[0] ? strdup(v + 5) : must_path_join(p->e->dir, v + 5);
        if (!r->path)
            return must_err_set(p->err, MUST_ENOMEM, "out of memory");
    } else
        return perr(p, line, sec, k,
                    "'%s' is not a representation: random, supervised:<teacher>, multitask, "
                    "must, must:<student> or file:<path>",
                    v);
    return MUST_OK;
}

static int set_value(parser *p, const key *kd, void *base, const char *value, int line,
                     const char *sec)
{
    char *v = strdup(value);
    if (!v)
        return must_err_set(p->err, MUST_ENOMEM, "out of memory");
    char *at = (char *)base + kd->off;
    int rc = MUST_OK;
    double d = 0;
    int ranged = kd->min != kd->max;
    switch (kd->type) {
    case K_INT:
    case K_LONG:
    case K_U64: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || (kd->type == K_U64 && x < 0)) {
            rc = perr(p, line, sec, kd->name, "'%s' is not a whole number", v);
            break;
        }
        if (ranged && (x < kd->min || x > kd->max)) {
            rc = perr(p, line, sec, kd->name, "%lld is outside %g..%g", x, kd->min, kd->max);
            break;
        }
        if (kd->type == K_INT)
            *(int *)at = (int)x;
        else if (kd->type == K_LONG)
            *(long *)at = (long)x;
        else
            *(uint64_t *)at = (uint64_t)x;
        break;
    }
    case K_DOUBLE:
    case K_FLOAT:
        if (parse_number(v, &d)) {
            rc = perr(p, line, sec, kd->name, "'%s' is not a number", v);
            break;
        }
        if (ranged && (d < kd->min || d > kd->max)) {
            rc = perr(p, line, sec, kd->name, "%g is outside %g..%g", d, kd->min, kd->max);
            break;
        }
        if (kd->type == K_DOUBLE)
            *(double *)at = d;
        else
            *(float *)at = (float)d;
        break;
    case K_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
            !strcmp(v, "1"))
            *(int *)at = 1;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
                 !strcmp(v, "0"))
            *(int *)at = 0;
        else
            rc = perr(p, line, sec, kd->name, "'%s' is not true or false", v);
        break;
    case K_STR:
        free(*(char **)at);
        *(char **)at = *v ? strdup(v) : NULL;
        break;
    case K_NAME:
        if (*v && !plain_word(v)) {
            rc = perr(p, line, sec, kd->name, "'%s' is not a plain name ([a-z0-9_-]+)", v);
            break;
        }
        snprintf(at, MUST_EXP_NAME_MAX + 1, "%s", v);
        break;
    case K_CHOICE: {
        if (!*v)
            break; /* an empty default: the caller decides */
        int idx = 0, found = -1;
        for (const char *c = kd->choices; c; idx++) {
            const char *bar = strchr(c, '|');
            size_t n = bar ? (size_t)(bar - c) : strlen(c);
            if (strlen(v) == n && strncmp(c, v, n) == 0)
                found = idx;
            c = bar ? bar + 1 : NULL;
        }
        if (found < 0)
            rc = perr(p, line, sec, kd->name, "'%s' is not one of %s", v, kd->choices);
        else
            *(int *)at = found;
        break;
    }
    case K_DATA:
    case K_TASK:
        if (*v)
            rc = ref(p, kd->type == K_DATA ? S_DATA : S_TASK, v, line, sec, kd->name, (int *)at);
        else
            *(int *)at = -1;
        break;
    case K_DATAS:
    case K_TEACHERS:
    case K_DOUBLES:
    case K_LONGS: {
        char *items[MUST_EXP_MAX_LIST];
        int n = split_list(p, v, items, line, sec, kd->name);
        if (n < 0) {
            rc = n;
            break;
        }
        for (int i = 0; i < n && rc == MUST_OK; i++) {
            if (kd->type == K_DATAS || kd->type == K_TEACHERS)
                rc = ref(p, kd->type == K_DATAS ? S_DATA : S_TEACHER, items[i], line, sec,
                         kd->name, (int *)at + i);
            else if (parse_number(items[i], &d) || (ranged && (d < kd->min || d > kd->max)))
                rc = perr(p, line, sec, kd->name, "'%s' is not a number in %g..%g", items[i],
                          kd->min, kd->max);
            else if (kd->type == K_DOUBLES)
                ((double *)at)[i] = d;
            else if (d != floor(d) || (i && d <= ((long *)at)[i - 1]))
                rc = perr(p, line, sec, kd->name, "'%s': steps are whole and ascending",
                          items[i]);
            else
                ((long *)at)[i] = (long)d;
        }
        *(int *)((char *)base + kd->aux) = n;
        break;
    }
    case K_REPS: {
        char *items[MUST_EXP_MAX_LIST];
        int n = split_list(p, v, items, line, sec, kd->name);
        if (n < 0) {
            rc = n;
            break;
        }
        for (int i = 0; i < p->e->nreps; i++)
            free(p->e->reps[i].path);
        p->e->nreps = 0;
        for (int i = 0; i < n && rc == MUST_OK; i++) {
            rc = set_rep(p, items[i], line, sec, kd->name, &p->e->reps[i]);
            if (rc == MUST_OK)
                p->e->nreps = i + 1;
            for (int j = 0; j < i && rc == MUST_OK; j++)
                if (strcmp(p->e->reps[j].label, items[i]) == 0)
                    rc = perr(p, line, sec, kd->name, "'%s' listed twice", items[i]);
        }
        break;
    }
    case K_REP: {
        p->e->baseline = -1;
        if (!*v)
            break;
        for (int i = 0; i < p->e->nreps; i++)
            if (strcmp(p->e->reps[i].label, v) == 0)
                p->e->baseline = i;
        if (p->e->baseline < 0)
            rc = perr(p, line, sec, kd->name, "'%s' is not among the representations", v);
        break;
    }
    default:
        rc = must_err_set(p->err, MUST_EINVAL, "internal: key type %d", kd->type);
    }
    free(v);
    return rc;
}

static void *section_base(parser *p, const section *s)
{
    must_experiment *e = p->e;
    switch (s->type) {
    case S_EXP: return e;
    case S_BACKBONE: return &e->backbone;
    case S_DATA: return &e->data[s->index];
    case S_TASK: return &e->tasks[s->index];
    case S_TEACHER: return &e->teachers[s->index];
    case S_LABEL: return &e->label;
    case S_STUDENT: return &e->student;
    case S_VARIANT: return &e->variants[s->index];
    case S_MULTITASK: return &e->multitask;
    case S_COMPARE: return e;
    case S_TRANSFER: return &e->transfers[s->index];
    }
    return NULL;
}

static int defaults(parser *p, int type, void *base, const char *sec, int line)
{
    if (type == S_TEACHER || type == S_STUDENT || type == S_VARIANT || type == S_MULTITASK ||
        type == S_TRANSFER) {
        must_exp_train *tr = type == S_TEACHER    ? &((must_exp_teacher *)base)->train
                             : type == S_TRANSFER ? &((must_exp_transfer *)base)->train
                                                  : &((must_exp_student *)base)->train;
        must_optim_config_default(&tr->optim, MUST_OPTIM_SGD);
    }
    for (const key *k = sectypes[type].keys; k->name; k++) {
        if (type == S_COMPARE && k->type == K_REPS)
            continue; /* resolved after every section is read */
        int rc = set_value(p, k, base, k->def, line, sec);
        if (rc)
            return must_err_prefix(p->err, "default of %s", k->name);
    }
    return MUST_OK;
}

static const key *find_key(int type, const char *name)
{
    for (const key *k = sectypes[type].keys; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

static int unknown_key(parser *p, const entry *en, int type)
{
    char known[600];
    size_t used = 0;
    known[0] = '\0';
    for (const key *k = sectypes[type].keys; k->name && used + 1 < sizeof known; k++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                 k == sectypes[type].keys ? "" : ", ", k->name);
    if (type == S_STUDENT || type == S_VARIANT || type == S_MULTITASK)
        snprintf(known + used, sizeof known - used, ", weight.<teacher>");
    return perr(p, en->line, en->section, en->key, "unknown key; the keys of [%s%s] are: %s",
                sectypes[type].prefix, sectypes[type].named ? "NAME" : "", known);
}

/* ------------------------------------------------------------------------ */

static int count_type(parser *p, int type)
{
    int n = 0;
    for (int i = 0; i < p->nsec; i++)
        if (p->sec[i].type == type)
            p->sec[i].index = n++;
    return n;
}

static int finish_train(parser *p, must_exp_train *tr, const char *sec, int line)
{
    tr->optim.total_steps = tr->steps;
    tr->optim.no_decay_exclude = 1;
    if (tr->optim.kind == MUST_OPTIM_ADAMW) {
        tr->optim.beta1 = 0.9;
        tr->optim.beta2 = 0.999;
        tr->optim.eps = 1e-8;
        tr->optim.momentum = 0;
    }
    if (tr->optim.sched == MUST_SCHED_STEP && tr->optim.step_every <= 0)
        tr->optim.step_every = tr->steps / 3 > 0 ? tr->steps / 3 : 1;
    if (tr->optim.warmup_steps >= tr->steps && tr->optim.warmup_steps > 0)
        return perr(p, line, sec, "warmup", "%ld warm-up steps of %ld", tr->optim.warmup_steps,
                    tr->steps);
    if (tr->checkpoint_every <= 0)
        tr->checkpoint_every = tr->steps / 4 > 0 ? tr->steps / 4 : 1;
    return MUST_OK;
}

static int check_task_opts(parser *p, must_exp_task *t)
{
    if (!t->plugin[0])
        snprintf(t->plugin, sizeof t->plugin, "%s", t->name);
    must_task *inst = NULL;
    char where[600];
    snprintf(where, sizeof where, "%s:%d: [task.%s]", p->file, t->line, t->name);
    must_err e = {0};
    int rc = must_task_new(t->plugin, NULL, &inst, &e);
    if (rc)
        return must_err_set(p->err, rc, "%s: plugin '%s': %s", where, t->plugin, e.msg);
    t->kind = must_task_get_ops(inst)->label_kind;
    for (int i = 0; i < t->nopts && rc == MUST_OK; i++) {
        snprintf(where, sizeof where, "%s:%d: [task.%s]", p->file, t->opts[i].line, t->name);
        rc = must_task_set(inst, t->opts[i].key, t->opts[i].value, where, p->err);
    }
    must_task_free(inst);
    return rc;
}

static int build(parser *p)
{
    must_experiment *e = p->e;
    int rc;
    e->ndata = count_type(p, S_DATA);
    e->ntasks = count_type(p, S_TASK);
    e->nteachers = count_type(p, S_TEACHER);
    e->ntransfers = count_type(p, S_TRANSFER);
    e->nvariants = count_type(p, S_VARIANT);
    if (!(e->data = calloc((size_t)e->ndata + 1, sizeof *e->data)) ||
        !(e->variants = calloc((size_t)e->nvariants + 1, sizeof *e->variants)) ||
        !(e->tasks = calloc((size_t)e->ntasks + 1, sizeof *e->tasks)) ||
        !(e->teachers = calloc((size_t)e->nteachers + 1, sizeof *e->teachers)) ||
        !(e->transfers = calloc((size_t)e->ntransfers + 1, sizeof *e->transfers)))
        return must_err_set(p->err, MUST_ENOMEM, "out of memory");

    /* Defaults, with [experiment] and [backbone] first: others read them. */
    must_backbone_config_default(&e->backbone);
    e->baseline = -1;
    if ((rc = defaults(p, S_EXP, e, "experiment", 0)) ||
        (rc = defaults(p, S_BACKBONE, &e->backbone, "backbone", 0)) ||
        (rc = defaults(p, S_LABEL, &e->label, "label", 0)) ||
        (rc = defaults(p, S_STUDENT, &e->student, "student", 0)) ||
        (rc = defaults(p, S_MULTITASK, &e->multitask, "multitask", 0)) ||
        (rc = defaults(p, S_COMPARE, e, "compare", 0)))
        return rc;
    e->student.sampling = -1;
    e->multitask.sampling = -1;
    for (int i = 0; i < p->nsec; i++) {
        section *s = &p->sec[i];
        if (!sectypes[s->type].named)
            continue;
        void *base = section_base(p, s);
        if ((rc = defaults(p, s->type, base, s->name, s->line)))
            return rc;
        const char *nm = s->name + strlen(sectypes[s->type].prefix);
        char *name = s->type == S_DATA      ? e->data[s->index].name
                     : s->type == S_TASK    ? e->tasks[s->index].name
                     : s->type == S_TEACHER ? e->teachers[s->index].name
                     : s->type == S_VARIANT ? e->variants[s->index].name
                                            : e->transfers[s->index].name;
        snprintf(name, MUST_EXP_NAME_MAX + 1, "%s", nm);
        if (s->type == S_VARIANT) {
            e->variants[s->index].line = s->line;
            e->variants[s->index].sampling = -1;
        } else if (s->type == S_DATA)
            e->data[s->index].line = s->line;
        else if (s->type == S_TASK)
            e->tasks[s->index].line = s->line;
        else if (s->type == S_TEACHER)
            e->teachers[s->index].line = s->line;
        else
            e->transfers[s->index].line = s->line;
    }
    /* Keys: the single sections first, so that named ones see
     * [experiment]'s values; [compare] last, as it names teachers. */
    static const int order[] = {S_EXP, S_BACKBONE, S_DATA, S_TASK, S_TEACHER, S_LABEL,
                                S_STUDENT, S_VARIANT, S_MULTITASK, S_TRANSFER, S_COMPARE};
    int have_reps = 0;
    for (int oi = 0; oi < (int)(sizeof order / sizeof order[0]); oi++) {
        int type = order[oi];
        for (int si = 0; si < p->nsec; si++) {
            section *s = &p->sec[si];
            if (s->type != type)
                continue;
            if (type == S_MULTITASK)
                e->multitask.enabled = 1;
            void *base = section_base(p, s);
            /* [compare]: representations before baseline. */
            for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < p->nent; i++) {
                    entry *en = &p->ent[i];
                    if (en->section != s->name)
                        continue;
                    int is_baseline = type == S_COMPARE && strcmp(en->key, "baseline") == 0;
                    if ((pass == 0) == is_baseline && type == S_COMPARE)
                        continue;
                    if (pass == 1 && type != S_COMPARE)
                        continue;
                    if (type == S_TASK && strcmp(en->key, "plugin") != 0) {
                        must_exp_task *t = base;
                        must_exp_kv *nk = realloc(t->opts, (size_t)(t->nopts + 1) * sizeof *nk);
                        if (!nk)
                            return must_err_set(p->err, MUST_ENOMEM, "out of memory");
                        t->opts = nk;
                        nk[t->nopts].key = strdup(en->key);
                        nk[t->nopts].value = strdup(en->value);
                        nk[t->nopts].line = en->line;
                        if (!nk[t->nopts].key || !nk[t->nopts].value)
                            return must_err_set(p->err, MUST_ENOMEM, "out of memory");
                        t->nopts++;
                        continue;
                    }
                    if ((type == S_STUDENT || type == S_VARIANT || type == S_MULTITASK) &&
                        strncmp(en->key, "weight.", 7) == 0) {
                        must_exp_student *st = base;
                        int t;
                        double d;
                        if ((rc = ref(p, S_TEACHER, en->key + 7, en->line, en->section, en->key,
                                      &t)))
                            return rc;
                        if (parse_number(en->value, &d) || d < 0)
                            return perr(p, en->line, en->section, en->key,
                                        "'%s' is not a weight >= 0", en->value);
                        if (st->nweights == MUST_EXP_MAX_LIST)
                            return perr(p, en->line, en->section, en->key,
                                        "more than %d weights", MUST_EXP_MAX_LIST);
                        st->weight_line[st->nweights] = en->line;
                        st->weight_teacher[st->nweights] = t;
                        st->weight_value[st->nweights++] = d;
                        continue;
                    }
                    const key *kd = find_key(type, en->key);
                    if (!kd)
                        return unknown_key(p, en, type);
                    if (kd->type == K_REPS)
                        have_reps = 1;
                    if ((rc = set_value(p, kd, base, en->value, en->line, en->section)))
                        return rc;
                }
        }
    }
    if (!have_reps) {
        const key *kd = find_key(S_COMPARE, "representations");
        if ((rc = set_value(p, kd, e, kd->def, 0, "compare")))
            return rc;
    }

    /* Whole-file checks. */
    char sec[128];
    for (int i = 0; i < e->ndata; i++) {
        must_exp_data *d = &e->data[i];
        if (!d->world == !d->path) {
            snprintf(sec, sizeof sec, "data.%s", d->name);
            return perr(p, d->line, sec, NULL, "give exactly one of world = DOMAIN or path = DIR");
        }
        if (d->path && d->path[0] != '/' && e->dir[0]) {
            char *full = must_path_join(e->dir, d->path);
            if (!full)
                return must_err_set(p->err, MUST_ENOMEM, "out of memory");
            free(d->path);
            d->path = full;
        }
        if (!d->size)
            d->size = e->image_size;
        if (!d->seed)
            d->seed = e->seed;
    }
    for (int i = 0; i < e->ntasks; i++)
        if ((rc = check_task_opts(p, &e->tasks[i])))
            return rc;
    for (int i = 0; i < e->nteachers; i++) {
        must_exp_teacher *t = &e->teachers[i];
        snprintf(sec, sizeof sec, "teacher.%s", t->name);
        if (t->task < 0)
            return perr(p, t->line, sec, "task", "required");
        if (t->data < 0)
            return perr(p, t->line, sec, "data", "required");
        for (int j = 0; j < i; j++)
            if (e->tasks[e->teachers[j].task].kind == e->tasks[t->task].kind)
                return perr(p, t->line, sec, "task",
                            "teachers '%s' and '%s' both make %s labels; a pseudo-labelled set "
                            "holds one label per kind",
                            e->teachers[j].name, t->name,
                            must_label_kind_name(e->tasks[t->task].kind));
        if ((rc = finish_train(p, &t->train, sec, t->line)))
            return rc;
    }
    if (e->label.nteachers == 0) {
        for (int i = 0; i < e->nteachers; i++)
            e->label.teachers[i] = i;
        e->label.nteachers = e->nteachers;
    }
    for (int k = -2; k < e->nvariants; k++) {
        must_exp_student *s = k == -2 ? &e->student : k == -1 ? &e->multitask : &e->variants[k];
        if (k >= 0)
            snprintf(sec, sizeof sec, "student.%s", s->name);
        else
            snprintf(sec, sizeof sec, "%s", k == -2 ? "student" : "multitask");
        if (s->nteachers == 0) {
            for (int i = 0; i < e->nteachers; i++)
                s->teachers[i] = i;
            s->nteachers = e->nteachers;
        }
        if (s->sampling < 0)
            s->sampling = k == -1 ? MUST_SAMPLE_BALANCED : MUST_SAMPLE_UNION;
        if (k == -1 && s->ndata)
            return perr(p, 0, sec, "data", "the multi-task baseline trains on the teachers' sets");
        /* A student's union is made of pseudo-labelled sets: each must be
         * one that [label] labels. */
        for (int i = 0; i < s->ndata; i++) {
            int found = 0;
            for (int j = 0; j < e->label.ndata; j++)
                found |= e->label.data[j] == s->data[i];
            if (!found)
                return perr(p, s->line, sec, "data", "'%s' is not among [label] data",
                            e->data[s->data[i]].name);
        }
        /* A learned weight starts at exp(-s0): s0 = -log w needs w > 0. */
        for (int i = 0; i < s->nweights && s->weighting == MUST_WEIGHT_UNCERTAINTY; i++)
            if (!(s->weight_value[i] > 0)) {
                char key[MUST_EXP_NAME_MAX + 8];
                snprintf(key, sizeof key, "weight.%s", e->teachers[s->weight_teacher[i]].name);
                return perr(p, s->weight_line[i], sec, key,
                            "with weighting = uncertainty a weight is the task's initial "
                            "weight exp(-s) and must be > 0, not %g",
                            s->weight_value[i]);
            }
        if ((rc = finish_train(p, &s->train, sec, s->line)))
            return rc;
    }
    for (int i = 0; i < e->ntransfers; i++) {
        must_exp_transfer *t = &e->transfers[i];
        snprintf(sec, sizeof sec, "transfer.%s", t->name);
        if (t->task < 0)
            return perr(p, t->line, sec, "task", "required");
        if (t->data < 0)
            return perr(p, t->line, sec, "data", "required");
        if (!t->nlr || !t->nsteps)
            return perr(p, t->line, sec, t->nlr ? "sweep_steps" : "lrs", "the sweep is empty");
        t->train.steps = t->steps[t->nsteps - 1];
        /* A constant rate, so that every swept step count is the same run
         * stopped earlier (see docs/experiments.md, "Transfer"). */
        t->train.optim.sched = MUST_SCHED_CONSTANT;
        t->train.optim.lr = t->lrs[0];
        if ((rc = finish_train(p, &t->train, sec, t->line)))
            return rc;
    }
    for (int i = 0; i < e->nreps; i++) {
        if (e->reps[i].kind == MUST_REP_MULTITASK && !e->multitask.enabled)
            return perr(p, 0, "compare", "representations",
                        "'multitask' needs a [multitask] section");
        if (e->baseline < 0 && e->reps[i].kind == MUST_REP_TEACHER)
            e->baseline = i;
    }
    if (e->baseline < 0)
        e->baseline = 0;
    return MUST_OK;
}

int must_exp_parse(const char *text, const char *file, must_experiment **out, must_err *err)
{
    *out = NULL;
    must_experiment *e = calloc(1, sizeof *e);
    parser p = {.e = e, .file = file ? file : "(experiment)", .err = err};
    if (!e)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    e->file = strdup(p.file);
    e->text = strdup(text);
    const char *slash = strrchr(p.file, '/');
    e->dir = slash ? strndup(p.file, (size_t)(slash - p.file) + (slash == p.file))
                   : strdup("");
    int rc = !e->file || !e->text || !e->dir ? must_err_set(err, MUST_ENOMEM, "out of memory")
                                             : read_lines(&p, text);
    if (rc == MUST_OK)
        rc = build(&p);
    for (int i = 0; i < p.nent; i++) {
        free(p.ent[i].key);
        free(p.ent[i].value);
    }
    for (int i = 0; i < p.nsec; i++)
        free(p.sec[i].name);
    free(p.ent);
    free(p.sec);
    if (rc) {
        must_exp_free(e);
        return rc;
    }
    *out = e;
    return MUST_OK;
}

int must_exp_load(const char *path, must_experiment **out, must_err *err)
{
    *out = NULL;
    char *text;
    size_t len;
    int rc = must_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    if (strlen(text) != len) {
        free(text);
        return must_err_set(err, MUST_EFORMAT, "%s: a NUL byte in an INI file", path);
    }
    rc = must_exp_parse(text, path, out, err);
    free(text);
    return rc;
}

void must_exp_free(must_experiment *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->ndata; i++) {
        free(e->data[i].path);
        free(e->data[i].world);
    }
    for (int i = 0; i < e->ntasks; i++) {
        for (int j = 0; j < e->tasks[i].nopts; j++) {
            free(e->tasks[i].opts[j].key);
            free(e->tasks[i].opts[j].value);
        }
        free(e->tasks[i].opts);
    }
    for (int i = 0; i < e->nreps; i++)
        free(e->reps[i].path);
    free(e->data);
    free(e->tasks);
    free(e->teachers);
    free(e->variants);
    free(e->transfers);
    free(e->file);
    free(e->dir);
    free(e->text);
    free(e);
}

int must_exp_find_data(const must_experiment *e, const char *name)
{
    for (int i = 0; i < e->ndata; i++)
        if (strcmp(e->data[i].name, name) == 0)
            return i;
    return -1;
}

int must_exp_find_task(const must_experiment *e, const char *name)
{
    for (int i = 0; i < e->ntasks; i++)
        if (strcmp(e->tasks[i].name, name) == 0)
            return i;
    return -1;
}

int must_exp_find_teacher(const must_experiment *e, const char *name)
{
    for (int i = 0; i < e->nteachers; i++)
        if (strcmp(e->teachers[i].name, name) == 0)
            return i;
    return -1;
}

const must_exp_student *must_exp_rep_student(const must_experiment *e, const must_exp_rep *rep)
{
    if (rep->kind == MUST_REP_MULTITASK)
        return &e->multitask;
    if (rep->kind != MUST_REP_STUDENT)
        return NULL;
    return rep->student >= 0 ? &e->variants[rep->student] : &e->student;
}

double must_exp_weight(const must_experiment *e, const must_exp_student *s, int t)
{
    for (int i = 0; i < s->nweights; i++)
        if (s->weight_teacher[i] == t)
            return s->weight_value[i];
    if (s->weighting == MUST_WEIGHT_EQUAL || s->weighting == MUST_WEIGHT_UNCERTAINTY)
        return 1.0;
    const must_exp_train *tt = &e->teachers[t].train;
    if (tt->optim.lr <= 0 || s->train.optim.lr <= 0)
        return 1.0;
    return (double)s->train.batch * tt->optim.lr / ((double)tt->batch * s->train.optim.lr);
}
