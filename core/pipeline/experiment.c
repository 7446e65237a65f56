/* experiment.c - the experiment INI file (docs/experiments.md): one key
 * table per kind of section, read by the library's one INI reader and key
 * engine (core/base/ini.c, core/base/conf_apply.c), so that the defaults,
 * the checks and docs/experiments.md come from the same rows
 * (tests/docs_keys.sh compares the document with them). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf-impl.h"
#include "must/experiment.h"
#include "must/io.h"
#include "must/labels.h"
#include "must/plugin.h"
#include "must/sampler.h"
#include "must/world.h"

/* ------------------------------------------------------------------------ */
/* The key tables. */

/* The experiment's own value types (parsed by parse_value below). */
enum {
    K_DATA = MUST_CONF_USER, /* int: index of a [data.X] section; empty: -1 */
    K_TASK,                  /* int: index of a [task.X] section; empty: -1 */
    K_DATAS,                 /* int list of [data.X] sections */
    K_TEACHERS,              /* int list of [teacher.X] sections */
    K_DOUBLES,               /* double list within min..max */
    K_LONGS,                 /* long list within min..max, whole and ascending */
    K_REPS,                  /* [compare] representations: the experiment's reps */
    K_REP,                   /* [compare] baseline: resolved once the reps are known */
    K_INIT                   /* must_exp_rep: a teacher's or student's starting weights */
};

#define INIT_HELP                                                                          \
    "backbone weights to start from: random, supervised:<teacher>, multitask, must, "    \
    "must:<student>, simclr, file:<path> (safetensors; torchvision's ResNet names)"

/* A list member is MUST_EXP_MAX_LIST items followed by its int count. */
#define COUNT_FOLLOWS(type, list, n)                                                     \
    _Static_assert(offsetof(type, n) == offsetof(type, list) + sizeof(((type *)0)->list), \
                   #type "." #n " must follow " #list)
COUNT_FOLLOWS(must_exp_label, data, ndata);
COUNT_FOLLOWS(must_exp_label, teachers, nteachers);
COUNT_FOLLOWS(must_exp_student, teachers, nteachers);
COUNT_FOLLOWS(must_exp_student, extra, nextra);
COUNT_FOLLOWS(must_exp_student, data, ndata);
COUNT_FOLLOWS(must_exp_transfer, lrs, nlr);
COUNT_FOLLOWS(must_exp_transfer, steps, nsteps);
COUNT_FOLLOWS(must_experiment, seeds, nseeds);

#define END {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
#define TR(base, m) offsetof(base, train.m)
#define TRAIN_KEYS(base, steps_def, batch_def, lr_def)                                        \
    {"steps", MUST_CONF_LONG, TR(base, steps), steps_def, "optimizer updates", NULL, 1, 1e9}, \
    {"batch", MUST_CONF_INT, TR(base, batch), batch_def, "images per update", NULL, 1, 4096}, \
    {"optimizer", MUST_CONF_CHOICE, TR(base, optim.kind), "sgd", "sgd or adamw", "sgd|adamw", \
     0, 0},                                                                                  \
    {"lr", MUST_CONF_DOUBLE, TR(base, optim.lr), lr_def, "base learning rate", NULL, 0, 100}, \
    {"momentum", MUST_CONF_DOUBLE, TR(base, optim.momentum), "0.9", "SGD momentum", NULL, 0,   \
     0.999},                                                                                 \
    {"weight_decay", MUST_CONF_DOUBLE, TR(base, optim.weight_decay), "1e-4",                  \
     "weight decay (not on BN and biases)", NULL, 0, 1},                                     \
    {"schedule", MUST_CONF_CHOICE, TR(base, optim.sched), "cosine",                          \
     "learning-rate schedule after the warm-up", "constant|cosine|step", 0, 0},             \
    {"warmup", MUST_CONF_LONG, TR(base, optim.warmup_steps), "0", "linear warm-up steps",    \
     NULL, 0, 1e9},                                                                          \
    {"clip", MUST_CONF_DOUBLE, TR(base, optim.clip_norm), "0",                               \
     "clip the global gradient norm to this (0: off)", NULL, 0, 1e9},                       \
    {"augment", MUST_CONF_BOOL, TR(base, augment), "true",                                   \
     "random scale, crop, flip and colour jitter", NULL, 0, 0},                              \
    {"checkpoint_every", MUST_CONF_LONG, TR(base, checkpoint_every), "0",                    \
     "steps between checkpoints (0: a quarter of the steps)", NULL, 0, 1e9},                 \
    {"sync_bn", MUST_CONF_BOOL, TR(base, sync_bn), "false",                                  \
     "under mpirun: batch norm over the whole global batch, as one process (docs/scale-out.md)", \
     NULL, 0, 0}

#define E(m) offsetof(must_experiment, m)
static const must_conf_key exp_keys[] = {
    {"name", MUST_CONF_WORD, E(name), "experiment", "a plain word for reports", NULL, 0,
     MUST_EXP_NAME_MAX},
    {"seed", MUST_CONF_U64, E(seed), "0", "seeds initialisation, sampling and world data", NULL,
     0, 0},
    {"seeds", K_LONGS, E(seeds), "",
     "repeat the run per seed (ascending; RUN/seed-N; world data keeps the seed key's images) "
     "and report mean +- sd over them (empty: one run)",
     NULL, 0, 1e9},
    {"threads", MUST_CONF_INT, E(threads), "0", "compute threads (0: one per core)", NULL, 0,
     1024},
    {"workers", MUST_CONF_INT, E(workers), "1", "loader threads", NULL, 0, 64},
    {"image_size", MUST_CONF_INT, E(image_size), "64", "S: training and evaluation resolution",
     NULL, 16, 1024},
    {"eval_batch", MUST_CONF_INT, E(eval_batch), "32", "images per inference batch", NULL, 1,
     4096},
    {"tensorboard", MUST_CONF_BOOL, E(tensorboard), "false",
     "TensorBoard event files beside each loss.csv and of the report's figures", NULL, 0, 0},
    END,
};

#define B(m) offsetof(must_backbone_config, m)
static const must_conf_key backbone_keys[] = {
    {"depth", MUST_CONF_INT, B(depth), "18", "ResNet depth: 18, 34 or 50", NULL, 18, 50},
    {"width", MUST_CONF_FLOAT, B(width), "0.25", "multiplies every stage's channels", NULL, 0.01,
     4},
    {"stem_kernel", MUST_CONF_INT, B(stem_kernel), "3", "stem convolution size", NULL, 1, 11},
    {"stem_stride", MUST_CONF_INT, B(stem_stride), "1", "stem stride", NULL, 1, 4},
    {"stem_pool", MUST_CONF_BOOL, B(stem_pool), "false", "max-pool after the stem", NULL, 0, 0},
    {"fpn_channels", MUST_CONF_INT, B(fpn_channels), "32", "FPN width", NULL, 1, 1024},
    {"fpn_min_level", MUST_CONF_INT, B(fpn_min_level), "3", "lowest FPN level", NULL, 3, 5},
    {"fpn_max_level", MUST_CONF_INT, B(fpn_max_level), "5", "highest FPN level", NULL, 5, 7},
    {"seed", MUST_CONF_U64, B(seed), "1", "initialisation of every model's backbone", NULL, 0, 0},
    END,
};

#define D(m) offsetof(must_exp_data, m)
static const must_conf_key data_keys[] = {
    {"world", MUST_CONF_STRDUP, D(world), "", "render this world domain into RUN/data/NAME", NULL,
     0, 0},
    {"path", MUST_CONF_STRDUP, D(path), "", "an existing dataset directory (instead of world)",
     NULL, 0, 0},
    {"count", MUST_CONF_INT, D(count), "0", "world: images (0: the domain's count)", NULL, 0,
     10000000},
    {"size", MUST_CONF_INT, D(size), "0", "world: image size (0: image_size)", NULL, 0, 1024},
    {"seed", MUST_CONF_U64, D(seed), "0", "world: seed of the images", NULL, 0, 0},
    END,
};

static const must_conf_key task_keys[] = {
    {"plugin", MUST_CONF_WORD, offsetof(must_exp_task, plugin), "",
     "the plugin (default: NAME); every other key is the plugin's option (`must plugins`)", NULL,
     0, MUST_EXP_NAME_MAX},
    END,
};

#define T(m) offsetof(must_exp_teacher, m)
static const must_conf_key teacher_keys[] = {
    {"task", K_TASK, T(task), "", "a [task.X] section (required)", NULL, 0, 0},
    {"data", K_DATA, T(data), "", "a [data.X] section with the task's labels (required)", NULL, 0,
     0},
    TRAIN_KEYS(must_exp_teacher, "200", "16", "0.05"),
    {"init", K_INIT, T(init), "random", INIT_HELP, NULL, 0, 0},
    END,
};

#define L(m) offsetof(must_exp_label, m)
static const must_conf_key label_keys[] = {
    {"data", K_DATAS, L(data), "", "sets to pseudo-label, comma-separated", NULL, 0, 0},
    {"teachers", K_TEACHERS, L(teachers), "", "teachers that label them (empty: all)", NULL, 0,
     0},
    {"batch", MUST_CONF_INT, L(batch), "32", "images per inference batch", NULL, 1, 4096},
    {"shard", MUST_CONF_INT, L(shard), "1000",
     "images per committed shard: a rerun redoes at most one", NULL, 1, 10000000},
    END,
};

#define S(m) offsetof(must_exp_student, m)
static const must_conf_key student_keys[] = {
    {"teachers", K_TEACHERS, S(teachers), "", "the tasks, by teacher (empty: every teacher)",
     NULL, 0, 0},
    {"extra", K_DATAS, S(extra), "", "student: labelled sets added to the pseudo-labelled union",
     NULL, 0, 0},
    {"data", K_DATAS, S(data), "",
     "student: [label] sets whose pseudo-labelled copies make the union (empty: all)", NULL, 0,
     0},
    {"sampling", MUST_CONF_CHOICE | MUST_CONF_OPTIONAL, S(sampling), "",
     "union: uniform over the union; balanced: each set equally often (default: student union, "
     "multitask balanced)",
     "union|balanced", 0, 0},
    {"weighting", MUST_CONF_CHOICE, S(weighting), "paper",
     "paper: w = (b_s lr_t)/(b_t lr_s); equal: 1; uncertainty: learned, exp(-s) per task "
     "(Kendall et al. 2018)",
     "paper|equal|uncertainty", 0, 0},
    TRAIN_KEYS(must_exp_student, "400", "16", "0.05"),
    {"init", K_INIT, S(init), "random", INIT_HELP, NULL, 0, 0},
    END,
};

/* [simclr]: steps and batch left out are [student]'s (finish_simclr); the
 * crop is the loader's zoom s in [1, scale_max] (a window of 1/s^2 of the
 * image: SimCLR's smallest crop, 0.08 of it, is s = 3.5). */
static const must_conf_key simclr_keys[] = {
    {"task", K_TASK, S(task), "",
     "its [task.X] section, a plugin that reads no labels (default: [task.simclr])", NULL, 0,
     0},
    {"data", K_DATAS, S(data), "",
     "sets whose images it trains on, labels unread (empty: the [label] sets)", NULL, 0, 0},
    TRAIN_KEYS(must_exp_student, "400", "16", "0.05"),
    {"init", K_INIT, S(init), "random", INIT_HELP, NULL, 0, 0},
    {"scale_max", MUST_CONF_FLOAT, S(aug.scale_max), "3",
     "largest zoom of the random crop (1: no crop)", NULL, 1, 16},
    {"jitter", MUST_CONF_FLOAT, S(aug.brightness), "0.4",
     "brightness, contrast and saturation jitter", NULL, 0, 1},
    {"grey", MUST_CONF_FLOAT, S(aug.grey), "0.2", "probability of a grey view", NULL, 0, 1},
    {"blur", MUST_CONF_FLOAT, S(aug.blur), "0.5", "probability of a Gaussian blur", NULL, 0,
     1},
    END,
};

static const must_conf_key compare_keys[] = {
    {"representations", K_REPS, 0, "random, must",
     "random, supervised:<teacher>, multitask, must, must:<student>, simclr, file:<path>", NULL,
     0, 0},
    {"baseline", K_REP, 0, "",
     "the row deltas are taken against (default: the first supervised:<teacher>, else the "
     "first)",
     NULL, 0, 0},
    END,
};

#define X(m) offsetof(must_exp_transfer, m)
static const must_conf_key transfer_keys[] = {
    {"task", K_TASK, X(task), "", "a [task.X] section (required)", NULL, 0, 0},
    {"data", K_DATA, X(data), "", "a [data.X] section with train, val and test splits (required)",
     NULL, 0, 0},
    {"lrs", K_DOUBLES, X(lrs), "0.01, 0.03", "learning rates swept", NULL, 0, 100},
    {"sweep_steps", K_LONGS, X(steps), "100, 200", "step counts swept (ascending)", NULL, 1, 1e9},
    {"batch", MUST_CONF_INT, X(train.batch), "16", "images per update", NULL, 1, 4096},
    {"optimizer", MUST_CONF_CHOICE, X(train.optim.kind), "sgd", "sgd or adamw", "sgd|adamw", 0,
     0},
    {"momentum", MUST_CONF_DOUBLE, X(train.optim.momentum), "0.9", "SGD momentum", NULL, 0,
     0.999},
    {"weight_decay", MUST_CONF_DOUBLE, X(train.optim.weight_decay), "1e-4", "weight decay", NULL,
     0, 1},
    {"augment", MUST_CONF_BOOL, X(train.augment), "true", "training augmentation", NULL, 0, 0},
    {"warmup", MUST_CONF_LONG, X(train.optim.warmup_steps), "0",
     "linear warm-up steps before the constant rate", NULL, 0, 1e9},
    {"clip", MUST_CONF_DOUBLE, X(train.optim.clip_norm), "0",
     "clip the global gradient norm to this (0: off)", NULL, 0, 1e9},
    END,
};

typedef struct sectype {
    const char *prefix; /* "data." for named sections, "backbone" for single ones */
    int named;
    const must_conf_key *keys;
    const char *help;
} sectype;

enum { S_EXP, S_BACKBONE, S_DATA, S_TASK, S_TEACHER, S_LABEL, S_STUDENT, S_VARIANT,
       S_MULTITASK, S_SIMCLR, S_COMPARE, S_TRANSFER, S_N };

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
    {"simclr", 0, simclr_keys, "SimCLR, the self-supervised baseline (representation simclr)"},
    {"compare", 0, compare_keys, "representations in the transfer table"},
    {"transfer.", 1, transfer_keys, "a downstream task"},
};

/* Rows of the largest table (apply_sections keeps a line per row). */
#define MAX_KEYS 32
_Static_assert(sizeof student_keys / sizeof student_keys[0] <= MAX_KEYS &&
                   sizeof simclr_keys / sizeof simclr_keys[0] <= MAX_KEYS &&
                   sizeof transfer_keys / sizeof transfer_keys[0] <= MAX_KEYS &&
                   sizeof teacher_keys / sizeof teacher_keys[0] <= MAX_KEYS,
               "apply_sections' lines[] holds every row");

/* Sections whose keys include weight.<teacher>. */
static int weighted(int type)
{
    return type == S_STUDENT || type == S_VARIANT || type == S_MULTITASK;
}

void must_exp_describe(must_exp_doc_fn fn, void *user)
{
    for (int s = 0; s < S_N; s++) {
        char sec[64];
        snprintf(sec, sizeof sec, "%s%s", sectypes[s].prefix, sectypes[s].named ? "NAME" : "");
        must_conf_describe(sectypes[s].keys, sec, fn, user);
        if (weighted(s))
            fn(user, sec, "weight.<teacher>", "",
               "override that task's loss weight (uncertainty: its initial weight, > 0)");
    }
}

/* ------------------------------------------------------------------------ */
/* The parser's state and its errors. */

typedef struct parser {
    must_experiment *e;
    const char *file;
    must_err *err;
    must_ini_sink sink;   /* the first problem, as "FILE:LINE: [SECTION] KEY: ..." */
    must_ini ini;
    int *type, *index;    /* per section of ini: its sectype, its index among its kind */
    int cur;              /* the section whose keys are being applied */
    const char *baseline; /* [compare] baseline as written */
    int baseline_line;
} parser;

static int perr(parser *p, int line, const char *sec, const char *k, const char *fmt, ...)
    MUST_PRINTF(5, 6);
static int perr(parser *p, int line, const char *sec, const char *k, const char *fmt, ...)
{
    char msg[MUST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return must_ini_issue(&p->sink, line, sec, k, "%s", msg);
}

static int oom(parser *p)
{
    return must_err_set(p->err, MUST_ENOMEM, "out of memory");
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

/* ------------------------------------------------------------------------ */
/* Sections. */

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

/* The name after the prefix: "cls" of [data.cls]. */
static const char *name_of(const parser *p, int i)
{
    return p->ini.sec[i].name + strlen(sectypes[p->type[i]].prefix);
}

/* Gives every section its type and its index among those of its type. */
static int classify(parser *p)
{
    int n = p->ini.nsec, count[S_N] = {0};
    if (!(p->type = calloc((size_t)n + 1, sizeof *p->type)) ||
        !(p->index = calloc((size_t)n + 1, sizeof *p->index)))
        return oom(p);
    for (int i = 0; i < n; i++) {
        const must_ini_section *s = &p->ini.sec[i];
        const char *suffix;
        int t = sectype_of(s->name, &suffix);
        if (t < 0)
            return perr(p, s->line, s->name, NULL,
                        "unknown section; sections are [experiment], [backbone], [data.NAME], "
                        "[task.NAME], [teacher.NAME], [label], [student], [student.NAME], "
                        "[multitask], [simclr], [compare], [transfer.NAME]");
        if (sectypes[t].named && !plain_word(suffix))
            return perr(p, s->line, s->name, NULL, "'%s' is not a plain name ([a-z0-9_-]+)",
                        suffix);
        p->type[i] = t;
        p->index[i] = count[t]++;
    }
    return MUST_OK;
}

static int count_type(const parser *p, int type)
{
    int n = 0;
    for (int i = 0; i < p->ini.nsec; i++)
        n += p->type[i] == type;
    return n;
}

/* The struct section i's keys fill. */
static void *section_base(parser *p, int i)
{
    must_experiment *e = p->e;
    int k = p->index[i];
    switch (p->type[i]) {
    case S_EXP: return e;
    case S_BACKBONE: return &e->backbone;
    case S_DATA: return &e->data[k];
    case S_TASK: return &e->tasks[k];
    case S_TEACHER: return &e->teachers[k];
    case S_LABEL: return &e->label;
    case S_STUDENT: return &e->student;
    case S_VARIANT: return &e->variants[k];
    case S_MULTITASK: return &e->multitask;
    case S_SIMCLR: return &e->simclr;
    case S_COMPARE: return e;
    case S_TRANSFER: return &e->transfers[k];
    }
    return NULL;
}

/* The index of the section [PREFIX.name] of a named type, or -1. */
static int find_named(const parser *p, int type, const char *name)
{
    for (int i = 0; i < p->ini.nsec; i++)
        if (p->type[i] == type && strcmp(name_of(p, i), name) == 0)
            return p->index[i];
    return -1;
}

/* "no [task.x] section; there are: a, b" into why, or the index into *out. */
static int ref(const parser *p, int type, const char *name, int *out, char *why, size_t whylen)
{
    if ((*out = find_named(p, type, name)) >= 0)
        return MUST_OK;
    size_t used = (size_t)snprintf(why, whylen, "no [%s%s] section", sectypes[type].prefix, name);
    int n = 0;
    for (int i = 0; i < p->ini.nsec && used < whylen; i++)
        if (p->type[i] == type)
            used += (size_t)snprintf(why + used, whylen - used, "%s%s",
                                     n++ ? ", " : "; there are: ", name_of(p, i));
    return MUST_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* The experiment's own values. */

/* Splits a comma list in place into at most MUST_EXP_MAX_LIST trimmed
 * items; the number, or MUST_EINVAL with why. */
static int split_list(char *v, char **items, char *why, size_t whylen)
{
    int n = 0;
    if (!*v)
        return 0;
    for (char *tok = v; tok;) {
        char *c = strchr(tok, ',');
        if (c)
            *c = '\0';
        char *t = tok, *end = tok + strlen(tok);
        while (*t == ' ' || *t == '\t')
            t++;
        while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!*t)
            return must_conf_refuse(why, whylen, "empty item in the list");
        if (n == MUST_EXP_MAX_LIST)
            return must_conf_refuse(why, whylen, "more than %d items", MUST_EXP_MAX_LIST);
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

/* One item of a list key into item i of the list at `at`. */
static int list_item(const parser *p, const must_conf_key *k, const char *item, void *at, int i,
                     char *why, size_t whylen)
{
    double d;
    int ranged = k->min != k->max;
    if (k->type == K_DATAS || k->type == K_TEACHERS)
        return ref(p, k->type == K_DATAS ? S_DATA : S_TEACHER, item, (int *)at + i, why, whylen);
    if (parse_number(item, &d) || (ranged && (d < k->min || d > k->max)))
        return must_conf_refuse(why, whylen, "'%s' is not a number in %g..%g", item, k->min,
                                k->max);
    if (k->type == K_DOUBLES)
        ((double *)at)[i] = d;
    else if (d != floor(d) || (i && d <= ((long *)at)[i - 1]))
        return must_conf_refuse(why, whylen, "'%s': the values are whole and ascending", item);
    else
        ((long *)at)[i] = (long)d;
    return MUST_OK;
}

/* A list key: the items, then their count (which follows the list). */
static int parse_list(const parser *p, const must_conf_key *k, void *base, char *v, char *why,
                      size_t whylen)
{
    char *items[MUST_EXP_MAX_LIST];
    char *at = (char *)base + k->offset;
    size_t item = k->type == K_DOUBLES ? sizeof(double)
                  : k->type == K_LONGS ? sizeof(long)
                                       : sizeof(int);
    int n = split_list(v, items, why, whylen), rc = MUST_OK;
    if (n < 0)
        return MUST_EINVAL;
    for (int i = 0; i < n && rc == MUST_OK; i++)
        rc = list_item(p, k, items[i], at, i, why, whylen);
    memcpy(at + MUST_EXP_MAX_LIST * item, &n, sizeof n);
    return rc;
}

static int set_rep(const parser *p, const char *v, must_exp_rep *r, char *why, size_t whylen)
{
    memset(r, 0, sizeof *r);
    /* The label names the row and its transfer directory: never cut. */
    size_t len = strlen(v);
    if (len >= sizeof r->label)
        return must_conf_refuse(why, whylen, "'%.40s...' is longer than %zu characters", v,
                                sizeof r->label - 1);
    memcpy(r->label, v, len + 1);
    if (strcmp(v, "random") == 0) {
        r->kind = MUST_REP_RANDOM;
    } else if (strcmp(v, "multitask") == 0) {
        r->kind = MUST_REP_MULTITASK;
    } else if (strcmp(v, "simclr") == 0) {
        r->kind = MUST_REP_SIMCLR;
    } else if (strcmp(v, "must") == 0) {
        r->kind = MUST_REP_STUDENT;
        r->student = -1;
    } else if (strncmp(v, "must:", 5) == 0) {
        r->kind = MUST_REP_STUDENT;
        return ref(p, S_VARIANT, v + 5, &r->student, why, whylen);
    } else if (strncmp(v, "supervised:", 11) == 0) {
        r->kind = MUST_REP_TEACHER;
        return ref(p, S_TEACHER, v + 11, &r->teacher, why, whylen);
    } else if (strncmp(v, "file:", 5) == 0 && v[5]) {
        r->kind = MUST_REP_FILE;
        const char *dir = p->e->dir;
        r->path = v[5] == '/' || !dir[0] ? strdup(v + 5) : must_path_join(dir, v + 5);
        if (!r->path)
            return MUST_ENOMEM;
    } else {
        return must_conf_refuse(why, whylen,
                                "'%s' is not a representation: random, supervised:<teacher>, "
                                "multitask, must, must:<student>, simclr or file:<path>",
                                v);
    }
    return MUST_OK;
}

/* [compare] representations: the list replaces the reps before it. */
static int parse_reps(const parser *p, char *v, char *why, size_t whylen)
{
    must_experiment *e = p->e;
    char *items[MUST_EXP_MAX_LIST];
    int n = split_list(v, items, why, whylen), rc = MUST_OK;
    if (n < 0)
        return MUST_EINVAL;
    for (int i = 0; i < e->nreps; i++)
        free(e->reps[i].path);
    e->nreps = 0;
    for (int i = 0; i < n && rc == MUST_OK; i++) {
        rc = set_rep(p, items[i], &e->reps[i], why, whylen);
        if (rc == MUST_OK)
            e->nreps = i + 1;
        for (int j = 0; j < i && rc == MUST_OK; j++)
            if (strcmp(e->reps[j].label, items[i]) == 0)
                rc = must_conf_refuse(why, whylen, "'%s' listed twice", items[i]);
    }
    return rc;
}

/* The conf engine's hook for the experiment's types. */
static int parse_value(void *user, const must_conf_key *k, void *base, const char *text,
                       char *why, size_t whylen)
{
    parser *p = user;
    if (k->type == K_REP) {
        p->baseline = text; /* resolved by finish_compare */
        return MUST_OK;
    }
    if (k->type == K_INIT) {
        must_exp_rep *r = (must_exp_rep *)((char *)base + k->offset);
        free(r->path); /* the default's, or an earlier line's */
        r->path = NULL;
        return set_rep(p, text, r, why, whylen);
    }
    if ((k->type == K_DATA || k->type == K_TASK) && !*text) {
        *(int *)((char *)base + k->offset) = -1;
        return MUST_OK;
    }
    if (k->type == K_DATA || k->type == K_TASK)
        return ref(p, k->type == K_DATA ? S_DATA : S_TASK, text,
                   (int *)((char *)base + k->offset), why, whylen);
    char *v = strdup(text);
    if (!v)
        return MUST_ENOMEM;
    int rc = k->type == K_REPS ? parse_reps(p, v, why, whylen)
                               : parse_list(p, k, base, v, why, whylen);
    free(v);
    return rc;
}

/* A [task.NAME] key other than plugin: the plugin's option, checked by
 * check_task_opts once the plugin is loaded. */
static int task_option(must_exp_task *t, const char *key, const char *value, int line)
{
    must_exp_kv *kv = realloc(t->opts, (size_t)(t->nopts + 1) * sizeof *kv);
    if (!kv)
        return MUST_ENOMEM;
    t->opts = kv;
    kv[t->nopts] = (must_exp_kv){.key = strdup(key), .value = strdup(value), .line = line};
    if (!kv[t->nopts].key || !kv[t->nopts].value) {
        free(kv[t->nopts].key);
        free(kv[t->nopts].value);
        return MUST_ENOMEM;
    }
    t->nopts++;
    return 1;
}

/* weight.<teacher> = w in a student section. */
static int weight_override(parser *p, must_exp_student *st, const char *key, const char *value,
                           int line, char *why, size_t whylen)
{
    int t, rc;
    double d;
    if ((rc = ref(p, S_TEACHER, key + 7, &t, why, whylen)))
        return rc;
    if (parse_number(value, &d) || d < 0)
        return must_conf_refuse(why, whylen, "'%s' is not a weight >= 0", value);
    if (st->nweights == MUST_EXP_MAX_LIST)
        return must_conf_refuse(why, whylen, "more than %d weights", MUST_EXP_MAX_LIST);
    st->weight_line[st->nweights] = line;
    st->weight_teacher[st->nweights] = t;
    st->weight_value[st->nweights++] = d;
    return 1;
}

/* The conf engine's hook for keys outside a section's table. */
static int extra_key(void *user, void *base, const char *key, const char *value, int line,
                     char *why, size_t whylen)
{
    parser *p = user;
    int type = p->type[p->cur];
    if (type == S_TASK)
        return task_option(base, key, value, line);
    if (weighted(type) && strncmp(key, "weight.", 7) == 0)
        return weight_override(p, base, key, value, line, why, whylen);
    return 0;
}

static must_conf_hooks hooks_for(parser *p, int type)
{
    must_conf_hooks h = {.parse = parse_value, .extra = extra_key, .user = p};
    if (weighted(type))
        h.extra_names = "weight.<teacher>";
    return h;
}

/* ------------------------------------------------------------------------ */
/* Reading the file: sections, defaults, keys. */

static int allocate(parser *p)
{
    must_experiment *e = p->e;
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
        return oom(p);
    return MUST_OK;
}

/* A section's defaults into base (the optimizer's first: the keys set
 * only some of its members). */
static int defaults(parser *p, int type, void *base)
{
    must_exp_train *tr = type == S_TEACHER    ? &((must_exp_teacher *)base)->train
                         : type == S_TRANSFER ? &((must_exp_transfer *)base)->train
                         : weighted(type) || type == S_SIMCLR
                             ? &((must_exp_student *)base)->train
                             : NULL;
    if (tr)
        must_optim_config_default(&tr->optim, MUST_OPTIM_SGD);
    must_conf_hooks h = hooks_for(p, type);
    return must_conf_defaults(sectypes[type].keys, base, &h, p->err);
}

/* Every section at its defaults, the named ones with their name and line. */
static int fill_defaults(parser *p)
{
    must_experiment *e = p->e;
    int rc;
    must_backbone_config_default(&e->backbone);
    if ((rc = defaults(p, S_EXP, e)) || (rc = defaults(p, S_BACKBONE, &e->backbone)) ||
        (rc = defaults(p, S_LABEL, &e->label)) || (rc = defaults(p, S_STUDENT, &e->student)) ||
        (rc = defaults(p, S_MULTITASK, &e->multitask)) || (rc = defaults(p, S_COMPARE, e)))
        return rc;
    /* [simclr]'s own: the student defaults, then SimCLR's augmentation. */
    must_aug_defaults(&e->simclr.aug);
    if ((rc = defaults(p, S_SIMCLR, &e->simclr)))
        return rc;
    for (int i = 0; i < p->ini.nsec; i++) {
        int t = p->type[i];
        if (!sectypes[t].named)
            continue;
        char *base = section_base(p, i);
        if ((rc = defaults(p, t, base)))
            return rc;
        /* Every named section starts with its name and then its line. */
        _Static_assert(offsetof(must_exp_data, name) == 0 && offsetof(must_exp_task, name) == 0 &&
                           offsetof(must_exp_teacher, name) == 0 &&
                           offsetof(must_exp_student, name) == 0 &&
                           offsetof(must_exp_transfer, name) == 0,
                       "named sections start with their name");
        snprintf(base, MUST_EXP_NAME_MAX + 1, "%s", name_of(p, i));
        int *line = t == S_DATA      ? &e->data[p->index[i]].line
                    : t == S_TASK    ? &e->tasks[p->index[i]].line
                    : t == S_TEACHER ? &e->teachers[p->index[i]].line
                    : t == S_VARIANT ? &e->variants[p->index[i]].line
                                     : &e->transfers[p->index[i]].line;
        *line = p->ini.sec[i].line;
    }
    return MUST_OK;
}

/* The keys of every section: the single sections first, so that named ones
 * see [experiment]'s values; [compare] last, as it names teachers. */
static int apply_sections(parser *p)
{
    static const int order[] = {S_EXP,     S_BACKBONE,  S_DATA,   S_TASK,     S_TEACHER,
                                S_LABEL,   S_STUDENT,   S_VARIANT, S_MULTITASK, S_SIMCLR,
                                S_TRANSFER, S_COMPARE};
    for (int oi = 0; oi < (int)(sizeof order / sizeof order[0]); oi++)
        for (int i = 0; i < p->ini.nsec; i++) {
            int t = p->type[i], lines[MAX_KEYS] = {0}, rc;
            if (t != order[oi])
                continue;
            if (t == S_MULTITASK)
                p->e->multitask.enabled = 1;
            if (t == S_SIMCLR) {
                p->e->simclr.enabled = 1;
                p->e->simclr.line = p->ini.sec[i].line;
            }
            p->cur = i;
            must_conf_hooks h = hooks_for(p, t);
            if ((rc = must_conf_apply(sectypes[t].keys, section_base(p, i), &p->ini, i, &h, lines,
                                      &p->sink)))
                return rc;
            if (t == S_COMPARE)
                p->baseline_line = lines[1];
        }
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Whole-file checks and what the keys leave to be worked out. */

static int finish_data(parser *p)
{
    must_experiment *e = p->e;
    for (int i = 0; i < e->ndata; i++) {
        must_exp_data *d = &e->data[i];
        char sec[MUST_EXP_NAME_MAX + 8];
        snprintf(sec, sizeof sec, "data.%s", d->name);
        if (!d->world == !d->path)
            return perr(p, d->line, sec, NULL, "give exactly one of world = DOMAIN or path = DIR");
        if (d->path && d->path[0] != '/' && e->dir[0]) {
            char *full = must_path_join(e->dir, d->path);
            if (!full)
                return oom(p);
            free(d->path);
            d->path = full;
        }
        if (!d->size)
            d->size = e->image_size;
        if (!d->seed)
            d->seed = e->seed;
    }
    return MUST_OK;
}

/* The line of key k in section sec, or the section's line. */
static int key_line(const parser *p, const char *sec, const char *k, int fallback)
{
    int s = must_ini_find_section(&p->ini, sec);
    const must_ini_entry *en = s >= 0 ? must_ini_get(&p->ini, s, k) : NULL;
    return en ? en->line : fallback;
}

/* What each [data.X] reads exists, before anything runs: a path holds a
 * dataset, a world domain loads; the world's own keys beside a path are a
 * mistake, not something to ignore. */
static int check_data_sources(parser *p)
{
    must_experiment *e = p->e;
    static const char *const world_only[] = {"count", "size", "seed"};
    for (int i = 0; i < e->ndata; i++) {
        const must_exp_data *d = &e->data[i];
        char sec[MUST_EXP_NAME_MAX + 8];
        snprintf(sec, sizeof sec, "data.%s", d->name);
        if (d->world) {
            must_world_domain *dom = NULL;
            must_err we = {0};
            if (must_world_domain_load(d->world, &dom, &we))
                return perr(p, key_line(p, sec, "world", d->line), sec, "world", "%s", we.msg);
            must_world_domain_free(dom);
            continue;
        }
        for (int k = 0; k < 3; k++) {
            int s = must_ini_find_section(&p->ini, sec);
            const must_ini_entry *en = s >= 0 ? must_ini_get(&p->ini, s, world_only[k]) : NULL;
            if (en)
                return perr(p, en->line, sec, world_only[k],
                            "applies to world sets only; this set is read from path = %s",
                            d->path);
        }
        char *ini = must_path_join(d->path, "dataset.ini");
        int there = ini && must_file_exists(ini);
        free(ini);
        if (!there)
            return perr(p, key_line(p, sec, "path", d->line), sec, "path",
                        "no dataset at %s (it has no dataset.ini; make one with must import or "
                        "must world generate)", d->path);
    }
    return MUST_OK;
}

/* Loads each task's plugin: its label kind, and its options checked. */
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
    const must_task_option *rows = must_task_get_ops(inst)->options;
    for (int i = 0; i < t->nopts && rc == MUST_OK; i++) {
        snprintf(where, sizeof where, "%s:%d: [task.%s]", p->file, t->opts[i].line, t->name);
        rc = must_task_set(inst, t->opts[i].key, t->opts[i].value, where, p->err);
        for (const must_task_option *o = rows; rc == MUST_OK && o && o->name; o++)
            if (strcmp(o->name, t->opts[i].key) == 0)
                t->opts[i].pseudo_only = (o->type & MUST_OPT_PSEUDO) != 0;
    }
    must_task_free(inst);
    return rc;
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

static int finish_teachers(parser *p)
{
    must_experiment *e = p->e;
    for (int i = 0; i < e->nteachers; i++) {
        must_exp_teacher *t = &e->teachers[i];
        char sec[MUST_EXP_NAME_MAX + 16];
        snprintf(sec, sizeof sec, "teacher.%s", t->name);
        if (t->task < 0)
            return perr(p, t->line, sec, "task", "required");
        if (t->data < 0)
            return perr(p, t->line, sec, "data", "required");
        if (e->tasks[t->task].kind == MUST_TASK_NO_KIND)
            return perr(p, key_line(p, sec, "task", t->line), sec, "task",
                        "task '%s' reads no labels (self-supervised): it trains only in "
                        "[simclr], it cannot teach",
                        e->tasks[t->task].name);
        for (int j = 0; j < i; j++)
            if (e->tasks[e->teachers[j].task].kind == e->tasks[t->task].kind)
                return perr(p, t->line, sec, "task",
                            "teachers '%s' and '%s' both make %s labels; a pseudo-labelled set "
                            "holds one label per kind",
                            e->teachers[j].name, t->name,
                            must_label_kind_name(e->tasks[t->task].kind));
        int rc = finish_train(p, &t->train, sec, t->line);
        if (rc)
            return rc;
    }
    if (e->label.nteachers == 0) {
        for (int i = 0; i < e->nteachers; i++)
            e->label.teachers[i] = i;
        e->label.nteachers = e->nteachers;
    }
    return MUST_OK;
}

/* A student section (k: -2 [student], -1 [multitask], else a variant). */
static int finish_student(parser *p, int k)
{
    must_experiment *e = p->e;
    must_exp_student *s = k == -2 ? &e->student : k == -1 ? &e->multitask : &e->variants[k];
    char sec[MUST_EXP_NAME_MAX + 16];
    snprintf(sec, sizeof sec, "%s%s", k >= 0 ? "student." : k == -2 ? "student" : "multitask",
             k >= 0 ? s->name : "");
    if (s->nteachers == 0) {
        for (int i = 0; i < e->nteachers; i++)
            s->teachers[i] = i;
        s->nteachers = e->nteachers;
    }
    if (s->sampling < 0)
        s->sampling = k == -1 ? MUST_SAMPLE_BALANCED : MUST_SAMPLE_UNION;
    if (k == -1 && s->ndata)
        return perr(p, 0, sec, "data", "the multi-task baseline trains on the teachers' sets");
    /* A student's union is made of pseudo-labelled sets: each must be one
     * that [label] labels. */
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
                        "with weighting = uncertainty a weight is the task's initial weight "
                        "exp(-s) and must be > 0, not %g",
                        s->weight_value[i]);
        }
    return finish_train(p, &s->train, sec, s->line);
}

/* [simclr]: its task (a plugin that reads no labels), the sets whose
 * images it takes, [student]'s steps and batch where it gives none, and
 * SimCLR's augmentation: crops that only zoom in, one jitter for
 * brightness, contrast and saturation. */
static int finish_simclr(parser *p)
{
    must_experiment *e = p->e;
    must_exp_student *s = &e->simclr;
    if (!s->enabled)
        return MUST_OK;
    if (s->task < 0 && (s->task = must_exp_find_task(e, "simclr")) < 0)
        return perr(p, s->line, "simclr", "task",
                    "no [task.simclr] section (give one, empty or with the simclr plugin's "
                    "keys temperature, hidden, dim; or name another with task = ...)");
    if (e->tasks[s->task].kind != MUST_TASK_NO_KIND)
        return perr(p, key_line(p, "simclr", "task", s->line), "simclr", "task",
                    "task '%s' reads %s labels; [simclr] trains a task that reads none",
                    e->tasks[s->task].name, must_label_kind_name(e->tasks[s->task].kind));
    if (s->ndata == 0) {
        for (int i = 0; i < e->label.ndata; i++)
            s->data[i] = e->label.data[i];
        s->ndata = e->label.ndata;
    }
    if (s->ndata == 0)
        return perr(p, s->line, "simclr", "data",
                    "no sets to train on: give data = ..., or [label] data");
    if (key_line(p, "simclr", "steps", -1) < 0)
        s->train.steps = e->student.train.steps;
    if (key_line(p, "simclr", "batch", -1) < 0)
        s->train.batch = e->student.train.batch;
    s->aug.scale_min = 1.0f;
    s->aug.contrast = s->aug.saturation = s->aug.brightness;
    return finish_train(p, &s->train, "simclr", s->line);
}

static int finish_transfers(parser *p)
{
    must_experiment *e = p->e;
    for (int i = 0; i < e->ntransfers; i++) {
        must_exp_transfer *t = &e->transfers[i];
        char sec[MUST_EXP_NAME_MAX + 16];
        snprintf(sec, sizeof sec, "transfer.%s", t->name);
        if (t->task < 0)
            return perr(p, t->line, sec, "task", "required");
        if (t->data < 0)
            return perr(p, t->line, sec, "data", "required");
        if (e->tasks[t->task].kind == MUST_TASK_NO_KIND)
            return perr(p, key_line(p, sec, "task", t->line), sec, "task",
                        "task '%s' reads no labels (self-supervised): a downstream task needs "
                        "labels to score",
                        e->tasks[t->task].name);
        if (!t->nlr || !t->nsteps)
            return perr(p, t->line, sec, t->nlr ? "sweep_steps" : "lrs", "the sweep is empty");
        t->train.steps = t->steps[t->nsteps - 1];
        /* A constant rate, so that every swept step count is the same run
         * stopped earlier (see docs/experiments.md, "Transfer"). */
        t->train.optim.sched = MUST_SCHED_CONSTANT;
        t->train.optim.lr = t->lrs[0];
        int rc = finish_train(p, &t->train, sec, t->line);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

/* What a representation needs that the file lacks ("'multitask' needs a
 * [multitask] section"), or NULL. */
static const char *rep_missing(const must_experiment *e, const must_exp_rep *r)
{
    if (r->kind == MUST_REP_MULTITASK && !e->multitask.enabled)
        return "'multitask' needs a [multitask] section";
    if (r->kind == MUST_REP_SIMCLR && !e->simclr.enabled)
        return "'simclr' needs a [simclr] section";
    return NULL;
}

/* [compare]: the baseline among the representations, and what they need. */
static int finish_compare(parser *p)
{
    must_experiment *e = p->e;
    e->baseline = -1;
    for (int i = 0; p->baseline && *p->baseline && i < e->nreps; i++)
        if (strcmp(e->reps[i].label, p->baseline) == 0)
            e->baseline = i;
    if (p->baseline && *p->baseline && e->baseline < 0)
        return perr(p, p->baseline_line, "compare", "baseline",
                    "'%s' is not among the representations", p->baseline);
    for (int i = 0; i < e->nreps; i++) {
        const char *missing = rep_missing(e, &e->reps[i]);
        if (missing)
            return perr(p, 0, "compare", "representations", "%s", missing);
        if (e->baseline < 0 && e->reps[i].kind == MUST_REP_TEACHER)
            e->baseline = i;
    }
    if (e->baseline < 0)
        e->baseline = 0;
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* init = ...: what each model starts from, and no model that needs itself. */

/* Nodes: teachers 0..nt-1, then [student], the variants, [multitask],
 * [simclr] (the last node). */
static int simclr_node(const must_experiment *e)
{
    return e->nteachers + 2 + e->nvariants;
}

static int init_node(const must_experiment *e, const must_exp_rep *r)
{
    if (r->kind == MUST_REP_SIMCLR)
        return simclr_node(e);
    if (r->kind == MUST_REP_TEACHER)
        return r->teacher;
    if (r->kind == MUST_REP_STUDENT)
        return e->nteachers + 1 + r->student; /* -1: [student] */
    if (r->kind == MUST_REP_MULTITASK)
        return e->nteachers + 1 + e->nvariants;
    return -1;
}

static const must_exp_rep *node_init(const must_experiment *e, int n, char *sec, size_t len)
{
    int nt = e->nteachers;
    if (n < nt) {
        snprintf(sec, len, "teacher.%s", e->teachers[n].name);
        return &e->teachers[n].init;
    }
    if (n == nt) {
        snprintf(sec, len, "student");
        return &e->student.init;
    }
    if (n == nt + 1 + e->nvariants) {
        snprintf(sec, len, "multitask");
        return &e->multitask.init;
    }
    if (n == simclr_node(e)) {
        snprintf(sec, len, "simclr");
        return &e->simclr.init;
    }
    snprintf(sec, len, "student.%s", e->variants[n - nt - 1].name);
    return &e->variants[n - nt - 1].init;
}

/* What node n needs settled before it (trained, or hashed): its init's
 * model, a student section's teachers and, for a MuST student, every
 * labelling teacher.  Returns the count. */
static int node_deps(const must_experiment *e, int n, int *out)
{
    int k = 0, nt = e->nteachers;
    char sec[MUST_EXP_NAME_MAX + 16];
    int src = init_node(e, node_init(e, n, sec, sizeof sec));
    if (src >= 0)
        out[k++] = src;
    if (n < nt || n == simclr_node(e))
        return k; /* a teacher, or [simclr]: no teachers */
    /* A student section's hash reads its tasks' teachers' hashes, and a
     * MuST student's labels need every labelling teacher. */
    const must_exp_student *st = n == nt                    ? &e->student
                                 : n == nt + 1 + e->nvariants ? &e->multitask
                                                              : &e->variants[n - nt - 1];
    for (int i = 0; i < st->nteachers; i++)
        out[k++] = st->teachers[i];
    if (n < nt + 1 + e->nvariants)
        for (int i = 0; i < e->label.nteachers; i++)
            out[k++] = e->label.teachers[i];
    return k;
}

/* Depth-first from n: 1 with the cycle's nodes in path[0..*len) when n
 * reaches a node on the current path. */
static int init_cycle(const must_experiment *e, int n, char *state, int *path, int *len)
{
    if (state[n] == 2)
        return 0;
    path[(*len)++] = n;
    if (state[n] == 1)
        return 1;
    state[n] = 1;
    int deps[2 * MUST_EXP_MAX_LIST + 1];
    int nd = node_deps(e, n, deps);
    for (int i = 0; i < nd; i++)
        if (init_cycle(e, deps[i], state, path, len))
            return 1;
    state[n] = 2;
    (*len)--;
    return 0;
}

static int finish_inits(parser *p)
{
    const must_experiment *e = p->e;
    int nn = simclr_node(e) + 1, rc = MUST_OK;
    char *state = calloc((size_t)nn, 1);
    int *path = calloc((size_t)nn + 1, sizeof *path);
    if (!state || !path)
        rc = oom(p);
    for (int n = 0; n < nn && !rc; n++) {
        char sec[MUST_EXP_NAME_MAX + 16];
        const must_exp_rep *r = node_init(e, n, sec, sizeof sec);
        int line = key_line(p, sec, "init", 0);
        const char *missing = rep_missing(e, r);
        if (missing) {
            rc = perr(p, line, sec, "init", "%s", missing);
            break;
        }
        int len = 0;
        if (!init_cycle(e, n, state, path, &len))
            continue;
        /* path ends with the node that closed the loop: print from its
         * first visit. */
        int from = 0;
        while (path[from] != path[len - 1])
            from++;
        char chain[1024];
        size_t u = 0;
        for (int i = from; i < len && u < sizeof chain; i++) {
            char s2[MUST_EXP_NAME_MAX + 16];
            node_init(e, path[i], s2, sizeof s2);
            u += (size_t)snprintf(chain + u, sizeof chain - u, "%s[%s]", i > from ? " -> " : "",
                                  s2);
        }
        r = node_init(e, path[from], sec, sizeof sec);
        rc = perr(p, key_line(p, sec, "init", 0), sec, "init",
                  "'%s' needs this model trained first: %s", r->label, chain);
    }
    free(state);
    free(path);
    return rc;
}

static int build(parser *p)
{
    int rc;
    if ((rc = classify(p)) || (rc = allocate(p)) || (rc = fill_defaults(p)) ||
        (rc = apply_sections(p)) || (rc = finish_data(p)))
        return rc;
    for (int i = 0; i < p->e->ntasks; i++)
        if ((rc = check_task_opts(p, &p->e->tasks[i])))
            return rc;
    if ((rc = finish_teachers(p)))
        return rc;
    for (int k = -2; k < p->e->nvariants; k++)
        if ((rc = finish_student(p, k)))
            return rc;
    if ((rc = finish_simclr(p)) || (rc = finish_transfers(p)))
        return rc;
    if ((rc = finish_compare(p)) || (rc = finish_inits(p)))
        return rc;
    return check_data_sources(p);
}

int must_exp_parse(const char *text, const char *file, must_experiment **out, must_err *err)
{
    *out = NULL;
    parser p = {.file = file ? file : "(experiment)", .err = err};
    p.sink = must_ini_first_error(p.file, MUST_EINVAL, err);
    must_experiment *e = p.e = calloc(1, sizeof *e);
    if (!e)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    e->file = strdup(p.file);
    e->text = strdup(text);
    const char *slash = strrchr(p.file, '/');
    e->dir = slash ? strndup(p.file, (size_t)(slash - p.file) + (slash == p.file))
                   : strdup("");
    int rc = !e->file || !e->text || !e->dir ? oom(&p) : must_ini_read(&p.ini, text, 0, &p.sink);
    if (rc == MUST_OK)
        rc = build(&p);
    must_ini_free(&p.ini);
    free(p.type);
    free(p.index);
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

int must_exp_set_seeds(must_experiment *e, const char *list, must_err *err)
{
    must_conf_key k = {"seeds", K_LONGS, 0, "", "", NULL, 0, 1e9};
    parser p = {.e = e, .err = err};
    char why[256] = "", *v = strdup(list);
    long keep[MUST_EXP_MAX_LIST];
    int nkeep = e->nseeds;
    memcpy(keep, e->seeds, sizeof keep);
    int rc = v ? parse_list(&p, &k, e->seeds, v, why, sizeof why) : MUST_ENOMEM;
    free(v);
    if (!rc && e->nseeds == 0)
        rc = must_conf_refuse(why, sizeof why, "no seeds in '%s'", list);
    if (rc) {
        memcpy(e->seeds, keep, sizeof keep);
        e->nseeds = nkeep;
        return rc == MUST_ENOMEM ? must_err_set(err, rc, "out of memory")
                                 : must_err_set(err, MUST_EINVAL, "%s", why);
    }
    return MUST_OK;
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
    for (int i = 0; e->teachers && i < e->nteachers; i++)
        free(e->teachers[i].init.path);
    for (int i = 0; e->variants && i < e->nvariants; i++)
        free(e->variants[i].init.path);
    free(e->student.init.path);
    free(e->multitask.init.path);
    free(e->simclr.init.path);
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
    if (rep->kind == MUST_REP_SIMCLR)
        return &e->simclr;
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
