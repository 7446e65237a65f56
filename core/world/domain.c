/* domain.c - domain presets: INI files parsed against a table of keys.
 *
 * Every key a domain may set is one row of `keys` below (section, name,
 * type, bounds, where it lands); anything else is an error naming the file,
 * line, section and key, as is a key given twice or a value out of bounds.
 * inih reads the text through our own line reader, which counts lines so
 * that every message, also those of checks made after parsing, can name
 * the line. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "must/io.h"
#include "world-impl.h"

enum ktype {
    K_STR,     /* text into a char array */
    K_ROLE,    /* teacher | unlabelled | downstream */
    K_TASKS,   /* list of task names (may be empty) */
    K_INT,     /* one whole number */
    K_FLOAT,   /* one number */
    K_RANGE,   /* "lo, hi" or one number for both */
    K_CLASSES, /* list of categories */
    K_STUFF,   /* list of stuff names */
    K_SPLITS,  /* three whole percentages summing to 100 */
    K_MIX,     /* list of domain:weight */
    K_TEXW,    /* texture:weight list */
    K_BGW      /* background:weight list */
};

typedef struct key {
    const char *section, *name;
    int type;
    size_t off, len; /* len: K_STR buffer size */
    float lo, hi;    /* bounds of numbers */
} key;

#define D(f) offsetof(struct must_world_domain, f)
#define STR(s, k, f) {s, k, K_STR, D(f), sizeof(((struct must_world_domain *)0)->f), 0, 0}
#define NUM(s, k, t, f, lo, hi) {s, k, t, D(f), 0, lo, hi}

static const key keys[] = {
    STR("domain", "mirrors", mirrors),
    NUM("domain", "role", K_ROLE, role, 0, 0),
    NUM("domain", "tasks", K_TASKS, tasks, 0, 0),
    STR("domain", "description", description),
    NUM("domain", "count", K_INT, default_count, 1, 10000000),
    NUM("domain", "splits", K_SPLITS, splits, 0, 100),
    NUM("domain", "mix", K_MIX, n_mix, 0, 0),

    NUM("objects", "classes", K_CLASSES, n_classes, 0, 0),
    NUM("objects", "stuff", K_STUFF, stuff, 0, 0),
    NUM("objects", "count", K_RANGE, count, 1, MUST_WORLD_MAX_OBJECTS),
    NUM("objects", "dominant", K_INT, dominant, 0, 1),
    NUM("objects", "size", K_RANGE, size, 0.05f, 10),
    NUM("objects", "fill", K_RANGE, fill, 0.05f, 1),
    NUM("objects", "distance", K_RANGE, distance, 0.5f, 40),
    NUM("objects", "lying", K_FLOAT, lying, 0, 1),
    NUM("objects", "void_edges", K_INT, void_edges, 0, 4),
    NUM("objects", "difficult", K_FLOAT, difficult, 0, 1),

    NUM("look", "textures", K_TEXW, tex_w, 0, 0),
    NUM("look", "hue", K_RANGE, hue, 0, 360),
    NUM("look", "saturation", K_RANGE, sat, 0, 1),
    NUM("look", "value", K_RANGE, val, 0, 1),
    NUM("look", "contrast", K_RANGE, contrast, 0, 1),
    NUM("look", "frequency", K_RANGE, freq, 0.5f, 20),
    NUM("look", "specular", K_RANGE, specular, 0, 1),
    NUM("look", "shininess", K_RANGE, shininess, 1, 256),

    NUM("background", "kinds", K_BGW, bg_w, 0, 0),
    NUM("background", "room_width", K_RANGE, room_w, 2, 40),
    NUM("background", "room_depth", K_RANGE, room_d, 2, 40),
    NUM("background", "room_height", K_RANGE, room_h, 2, 10),
    NUM("background", "floor_textures", K_TEXW, floor_tex_w, 0, 0),
    NUM("background", "floor_hue", K_RANGE, floor_hue, 0, 360),
    NUM("background", "floor_saturation", K_RANGE, floor_sat, 0, 1),
    NUM("background", "floor_value", K_RANGE, floor_val, 0, 1),
    NUM("background", "wall_textures", K_TEXW, wall_tex_w, 0, 0),
    NUM("background", "wall_hue", K_RANGE, wall_hue, 0, 360),
    NUM("background", "wall_saturation", K_RANGE, wall_sat, 0, 1),
    NUM("background", "wall_value", K_RANGE, wall_val, 0, 1),
    NUM("background", "sky_hue", K_RANGE, sky_hue, 0, 360),
    NUM("background", "sky_saturation", K_RANGE, sky_sat, 0, 1),
    NUM("background", "sky_value", K_RANGE, sky_val, 0, 1),

    NUM("camera", "height", K_RANGE, cam_height, 0.2f, 10),
    NUM("camera", "pitch", K_RANGE, pitch, -30, 80),
    NUM("camera", "yaw", K_RANGE, yaw, -180, 180),
    NUM("camera", "fov", K_RANGE, fov, 20, 120),

    NUM("lights", "count", K_RANGE, n_lights, 1, MUST_WORLD_MAX_LIGHTS),
    NUM("lights", "intensity", K_RANGE, intensity, 0, 5),
    NUM("lights", "ambient", K_RANGE, ambient, 0, 2),
    NUM("lights", "warmth", K_RANGE, warmth, -1, 1),
    NUM("lights", "height", K_RANGE, light_height, 0.5f, 60),
};
#define NKEYS (int)(sizeof keys / sizeof keys[0])
_Static_assert(sizeof keys / sizeof keys[0] <= 64, "parse_state.seen_line holds 64 keys");

static const char *const sections[] = {"domain", "objects", "look", "background", "camera",
                                       "lights"};
#define NSECTIONS (int)(sizeof sections / sizeof sections[0])

static const char *const tex_names[MUST_WORLD_NTEX] = {"plain", "checker", "stripes", "noise"};
static const char *const bg_names[MUST_WORLD_NBG] = {"open", "room", "backdrop"};
static const char *const roles[] = {"teacher", "unlabelled", "downstream"};

/* Values every domain starts from; presets override what they change. */
static void defaults(must_world_domain *d)
{
    memset(d, 0, sizeof *d);
    d->default_count = 1000;
    d->splits[0] = 80, d->splits[1] = 10, d->splits[2] = 10;
    d->count = (wrange){1, 4};
    d->size = (wrange){0.4f, 1.0f};
    d->fill = (wrange){0.35f, 0.6f};
    d->distance = (wrange){2.0f, 8.0f};
    d->lying = 0.2f;
    d->tex_w[MUST_WORLD_TEX_PLAIN] = 1;
    d->hue = (wrange){0, 360};
    d->sat = (wrange){0.4f, 0.9f};
    d->val = (wrange){0.5f, 0.95f};
    d->contrast = (wrange){0.3f, 0.7f};
    d->freq = (wrange){2, 5};
    d->specular = (wrange){0, 0.5f};
    d->shininess = (wrange){8, 64};
    d->bg_w[MUST_WORLD_BG_OPEN] = 1;
    d->room_w = (wrange){5, 8};
    d->room_d = (wrange){6, 10};
    d->room_h = (wrange){2.5f, 3.5f};
    d->floor_tex_w[MUST_WORLD_TEX_PLAIN] = 1;
    d->floor_hue = (wrange){20, 60};
    d->floor_sat = (wrange){0.1f, 0.4f};
    d->floor_val = (wrange){0.3f, 0.6f};
    d->wall_tex_w[MUST_WORLD_TEX_PLAIN] = 1;
    d->wall_hue = (wrange){0, 360};
    d->wall_sat = (wrange){0.0f, 0.2f};
    d->wall_val = (wrange){0.6f, 0.9f};
    d->sky_hue = (wrange){200, 225};
    d->sky_sat = (wrange){0.25f, 0.55f};
    d->sky_val = (wrange){0.75f, 0.95f};
    d->cam_height = (wrange){1.0f, 2.0f};
    d->pitch = (wrange){10, 30};
    d->yaw = (wrange){-20, 20};
    d->fov = (wrange){45, 65};
    d->n_lights = (wrange){1, 2};
    d->intensity = (wrange){0.8f, 1.1f};
    d->ambient = (wrange){0.2f, 0.35f};
    d->warmth = (wrange){-0.2f, 0.3f};
    d->light_height = (wrange){3, 8};
    for (int c = 0; c < MUST_WORLD_NCAT; c++)
        d->class_of[c] = -1;
}

/* ------------------------------------------------------------------------ */
/* Reading the text line by line. */

typedef struct parse_state {
    must_world_domain *d;
    const char *file;
    const char *p;      /* reader's cursor */
    int line;           /* the line inih is handling */
    int err_line;       /* first error: its line and message */
    char err[512];
    char where[160];    /* "[section] key: " while a value is parsed */
    int seen_line[64];  /* line where each key of `keys` was set, 0 if not */
    int section_line[NSECTIONS];
    char mix_names[WORLD_MAX_MIX][WORLD_NAME_MAX];
} parse_state;

static void fail(parse_state *st, const char *fmt, ...) MUST_PRINTF(2, 3);
static void fail(parse_state *st, const char *fmt, ...)
{
    if (st->err_line)
        return;
    size_t n = strlen(st->where);
    memcpy(st->err, st->where, n + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err + n, sizeof st->err - n, fmt, ap);
    va_end(ap);
    st->err_line = st->line;
}

static int find_section(const char *s)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (strcmp(sections[i], s) == 0)
            return i;
    return -1;
}

/* An fgets over the text that counts lines and checks section headers
 * (inih calls the handler only for keys, so an unknown empty section would
 * otherwise pass unseen). */
static char *reader(char *buf, int num, void *stream)
{
    parse_state *st = stream;
    if (!*st->p)
        return NULL;
    st->line++;
    const char *nl = strchr(st->p, '\n');
    size_t len = nl ? (size_t)(nl - st->p) + 1 : strlen(st->p);
    if (len + 1 > (size_t)num) {
        fail(st, "line longer than %d characters", num - 3);
        st->p += len;
        buf[0] = '\n';
        buf[1] = '\0';
        return buf;
    }
    memcpy(buf, st->p, len);
    buf[len] = '\0';
    st->p += len;
    const char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '[') {
        const char *e = strchr(s, ']');
        char name[64];
        size_t n = e ? (size_t)(e - s - 1) : 0;
        if (e && n < sizeof name) {
            memcpy(name, s + 1, n);
            name[n] = '\0';
            int k = find_section(name);
            if (k < 0)
                fail(st, "unknown section [%s] (sections: domain, objects, look, background, "
                         "camera, lights)", name);
            else if (st->section_line[k])
                fail(st, "section [%s] given twice (first on line %d)", name,
                     st->section_line[k]);
            else
                st->section_line[k] = st->line;
        }
    }
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Values. */

/* Splits a comma-separated list in place; returns the number of items
 * (trimmed, empty ones kept so that "a,,b" can be refused). */
static int split_list(char *s, char **items, int max)
{
    int n = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return 0;
    for (;;) {
        char *c = strchr(s, ',');
        if (c)
            *c = '\0';
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (n < max)
            items[n] = s;
        n++;
        if (!c)
            break;
        s = c + 1;
    }
    return n;
}

static int parse_float(const char *s, float *v)
{
    char *end;
    errno = 0;
    *v = strtof(s, &end);
    return *s && end != s && *end == '\0' && errno == 0 && isfinite(*v);
}

static int parse_int(const char *s, int *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < -2147483647L || x > 2147483647L)
        return 0;
    *v = (int)x;
    return 1;
}

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static void join_names(char *buf, size_t len, const char *const *names, int n)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t u = strlen(buf);
        snprintf(buf + u, len - u, "%s%s", i ? ", " : "", names[i]);
    }
}

static int parse_weights(parse_state *st, const char *what, const char *const *names, int n,
                         char *val, float *w)
{
    char *items[32];
    int k = split_list(val, items, 32);
    char all[256];
    join_names(all, sizeof all, names, n);
    if (k == 0 || k > 32) {
        fail(st, "expected NAME:WEIGHT, ... with %s from: %s", what, all);
        return 0;
    }
    float tmp[16] = {0}, sum = 0;
    int seen[16] = {0};
    for (int i = 0; i < k; i++) {
        char *c = strchr(items[i], ':');
        float x = 1.0f;
        if (c) {
            *c = '\0';
            char *e = c - 1;
            while (e >= items[i] && isspace((unsigned char)*e))
                *e-- = '\0';
            char *v = c + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!parse_float(v, &x) || x < 0 || x > 1000) {
                fail(st, "weight '%s' of '%s' is not a number in 0..1000", v, items[i]);
                return 0;
            }
        }
        int j = lookup(names, n, items[i]);
        if (j < 0) {
            fail(st, "unknown %s '%s' (known: %s)", what, items[i], all);
            return 0;
        }
        if (seen[j]++) {
            fail(st, "%s '%s' listed twice", what, items[i]);
            return 0;
        }
        tmp[j] = x;
        sum += x;
    }
    if (!(sum > 0)) {
        fail(st, "the weights sum to 0");
        return 0;
    }
    memcpy(w, tmp, (size_t)n * sizeof *w);
    return 1;
}

static int parse_value(parse_state *st, const key *k, char *val)
{
    must_world_domain *d = st->d;
    char *base = (char *)d + k->off;
    char *items[64];
    switch (k->type) {
    case K_STR:
        if (strlen(val) >= k->len) {
            fail(st, "longer than %zu characters", k->len - 1);
            return 0;
        }
        strcpy(base, val);
        return 1;
    case K_ROLE:
        if (lookup(roles, 3, val) < 0) {
            fail(st, "'%s' is not one of teacher, unlabelled, downstream", val);
            return 0;
        }
        strcpy(d->role, val);
        return 1;
    case K_TASKS: {
        int n = split_list(val, items, 8);
        unsigned t = 0;
        for (int i = 0; i < n && i < 8; i++) {
            int j = -1;
            for (int q = 0; q < 5; q++)
                if (strcmp(must_world_task_name(q), items[i]) == 0)
                    j = q;
            if (j < 0) {
                fail(st, "unknown task '%s' (tasks: classification, detection, segmentation, "
                         "depth, normal)", items[i]);
                return 0;
            }
            if (t & (1u << j)) {
                fail(st, "task '%s' listed twice", items[i]);
                return 0;
            }
            t |= 1u << j;
        }
        d->tasks = t;
        return 1;
    }
    case K_INT: {
        int v;
        if (!parse_int(val, &v) || v < (int)k->lo || v > (int)k->hi) {
            fail(st, "'%s' is not a whole number in %d..%d", val, (int)k->lo, (int)k->hi);
            return 0;
        }
        *(int *)base = v;
        return 1;
    }
    case K_FLOAT: {
        float v;
        if (!parse_float(val, &v) || v < k->lo || v > k->hi) {
            fail(st, "'%s' is not a number in %g..%g", val, (double)k->lo, (double)k->hi);
            return 0;
        }
        *(float *)base = v;
        return 1;
    }
    case K_RANGE: {
        int n = split_list(val, items, 3);
        wrange r;
        if (n < 1 || n > 2 || !parse_float(items[0], &r.lo) ||
            !parse_float(items[n - 1], &r.hi)) {
            fail(st, "expected MIN, MAX (or one number) in %g..%g", (double)k->lo,
                 (double)k->hi);
            return 0;
        }
        if (r.lo < k->lo || r.hi > k->hi || r.lo > r.hi) {
            fail(st, "%g, %g is not an ordered range within %g..%g", (double)r.lo, (double)r.hi,
                 (double)k->lo, (double)k->hi);
            return 0;
        }
        *(wrange *)base = r;
        return 1;
    }
    case K_CLASSES: {
        int n = split_list(val, items, 64);
        if (n < 1 || n > MUST_WORLD_NCAT) {
            fail(st, "expected 1 to %d categories", MUST_WORLD_NCAT);
            return 0;
        }
        for (int i = 0; i < n; i++) {
            int c = must_world_category_find(items[i]);
            if (c < 0) {
                char all[512];
                const char *names[MUST_WORLD_NCAT];
                for (int q = 0; q < MUST_WORLD_NCAT; q++)
                    names[q] = must_world_category_name(q);
                join_names(all, sizeof all, names, MUST_WORLD_NCAT);
                fail(st, "unknown category '%s' (categories: %s)", items[i], all);
                return 0;
            }
            if (d->class_of[c] >= 0) {
                fail(st, "category '%s' listed twice", items[i]);
                return 0;
            }
            d->classes[i] = c;
            d->class_of[c] = i;
        }
        d->n_classes = n;
        return 1;
    }
    case K_STUFF: {
        int n = split_list(val, items, 8);
        unsigned m = 0;
        for (int i = 0; i < n && i < 8; i++) {
            int s = must_world_stuff_find(items[i]);
            if (s < 0 || (m & (1u << s))) {
                fail(st, "'%s' is unknown or repeated (stuff: sky, floor, wall, ceiling)",
                     items[i]);
                return 0;
            }
            m |= 1u << s;
        }
        d->stuff = m;
        return 1;
    }
    case K_SPLITS: {
        int n = split_list(val, items, 4), v[3] = {0};
        int ok = n == 3;
        for (int i = 0; ok && i < 3; i++)
            ok = parse_int(items[i], &v[i]) && v[i] >= 0 && v[i] <= 100;
        if (!ok || v[0] + v[1] + v[2] != 100) {
            fail(st, "expected three whole percentages TRAIN, VAL, TEST summing to 100");
            return 0;
        }
        memcpy(d->splits, v, sizeof v);
        return 1;
    }
    case K_MIX: {
        int n = split_list(val, items, WORLD_MAX_MIX + 1);
        if (n < 1 || n > WORLD_MAX_MIX) {
            fail(st, "expected 1 to %d DOMAIN:WEIGHT items", WORLD_MAX_MIX);
            return 0;
        }
        for (int i = 0; i < n; i++) {
            char *c = strchr(items[i], ':');
            float w = 1.0f;
            if (c) {
                *c = '\0';
                if (!parse_float(c + 1, &w) || w <= 0 || w > 1000) {
                    fail(st, "weight of '%s' is not a number in (0, 1000]", items[i]);
                    return 0;
                }
            }
            char *e = items[i] + strlen(items[i]);
            while (e > items[i] && isspace((unsigned char)e[-1]))
                *--e = '\0';
            if (strlen(items[i]) == 0 || strlen(items[i]) >= WORLD_NAME_MAX) {
                fail(st, "bad domain name '%s'", items[i]);
                return 0;
            }
            strcpy(st->mix_names[i], items[i]);
            d->mix_w[i] = w;
        }
        d->n_mix = n;
        return 1;
    }
    case K_TEXW:
        return parse_weights(st, "texture", tex_names, MUST_WORLD_NTEX, val, (float *)base);
    case K_BGW:
        return parse_weights(st, "background", bg_names, MUST_WORLD_NBG, val, (float *)base);
    }
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    int ki = -1;
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            ki = i;
    if (ki < 0) {
        if (find_section(section) < 0)
            fail(st, "[%s] %s: key outside a known section", section, name);
        else
            fail(st, "[%s] %s: unknown key", section, name);
        return 0;
    }
    if (st->seen_line[ki]) {
        fail(st, "[%s] %s: given twice (first on line %d)", section, name, st->seen_line[ki]);
        return 0;
    }
    st->seen_line[ki] = st->line;
    char val[256];
    if (strlen(value) >= sizeof val) {
        fail(st, "[%s] %s: value too long", section, name);
        return 0;
    }
    strcpy(val, value);
    snprintf(st->where, sizeof st->where, "[%s] %s: ", section, name);
    int ok = parse_value(st, &keys[ki], val);
    st->where[0] = '\0';
    return ok;
}

static int key_line(const parse_state *st, const char *section, const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return st->seen_line[i];
    return 0;
}

/* ------------------------------------------------------------------------ */
/* After parsing: the checks that involve several keys, and mixes. */

static int finish(parse_state *st, must_err *err)
{
    must_world_domain *d = st->d;
    const char *f = st->file;
    if (!d->role[0])
        return must_err_set(err, MUST_EINVAL, "%s: [domain] role: missing (teacher, "
                                              "unlabelled or downstream)", f);
    if (!key_line(st, "domain", "tasks"))
        return must_err_set(err, MUST_EINVAL, "%s: [domain] tasks: missing (may be empty for "
                                              "an unlabelled set)", f);
    int tl = key_line(st, "domain", "tasks");
    if (strcmp(d->role, "unlabelled") == 0 && d->tasks)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] tasks: an unlabelled domain "
                                              "writes no labels; leave it empty", f, tl);
    if (strcmp(d->role, "unlabelled") != 0 && !d->tasks)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] tasks: a %s domain needs at "
                                              "least one task", f, tl, d->role);
    if (d->n_mix) {
        int ml = key_line(st, "domain", "mix");
        for (int s = 1; s < NSECTIONS; s++)
            if (st->section_line[s])
                return must_err_set(err, MUST_EINVAL,
                                    "%s:%d: [%s]: a domain with a mix (line %d) draws its "
                                    "scenes from its components and takes no [%s] section",
                                    f, st->section_line[s], sections[s], ml, sections[s]);
        for (int i = 0; i < d->n_mix; i++) {
            must_err sub = {0};
            if (strcmp(st->mix_names[i], d->name) == 0)
                return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] mix: '%s' mixes itself",
                                    f, ml, d->name);
            int rc = must_world_domain_load(st->mix_names[i], &d->mix[i], &sub);
            if (rc)
                return must_err_set(err, rc, "%s:%d: [domain] mix: %s", f, ml, sub.msg);
            if (d->mix[i]->n_mix)
                return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] mix: '%s' is itself a "
                                                      "mix; mixes do not nest", f, ml,
                                    st->mix_names[i]);
        }
        /* classes and stuff: the union, in category order */
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
    if (!d->n_classes)
        return must_err_set(err, MUST_EINVAL, "%s: [objects] classes: missing", f);
    if (d->dominant && d->count.lo < 1)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [objects] count: a dominant object "
                                              "needs at least one", f,
                            key_line(st, "objects", "count"));
    if ((d->tasks & MUST_WORLD_CLASSIFICATION) && d->n_classes < 2)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [objects] classes: classification needs "
                                              "two classes or more", f,
                            key_line(st, "objects", "classes"));
    return MUST_OK;
}

int must_world_domain_parse(const char *text, const char *file, must_world_domain **out,
                            must_err *err)
{
    *out = NULL;
    must_world_domain *d = malloc(sizeof *d);
    parse_state *st = calloc(1, sizeof *st);
    if (!d || !st) {
        free(d);
        free(st);
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", file);
    }
    defaults(d);
    /* the name is the file's base name without ".ini" */
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
    d->source = strdup(file);
    st->d = d;
    st->file = file;
    st->p = text;
    int rc = ini_parse_stream(reader, st, handler, st);
    if (rc != 0 || st->err_line) {
        int line = st->err_line ? st->err_line : rc;
        if (st->err_line && (rc <= 0 || st->err_line <= rc))
            must_err_set(err, MUST_EFORMAT, "%s:%d: %s", file, line, st->err);
        else if (rc > 0)
            must_err_set(err, MUST_EFORMAT, "%s:%d: syntax error (expected KEY = VALUE or "
                                            "[SECTION])", file, rc);
        else
            must_err_set(err, MUST_ENOMEM, "%s: out of memory", file);
        free(st);
        must_world_domain_free(d);
        return err ? err->code : MUST_EFORMAT;
    }
    rc = finish(st, err);
    free(st);
    if (rc) {
        must_world_domain_free(d);
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
    if (strchr(name, '/') || (n > 4 && strcmp(name + n - 4, ".ini") == 0))
        return load_file(name, out, err);
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
    char all[1024];
    const char *names[64];
    int nb = must_world_n_builtins < 64 ? must_world_n_builtins : 64;
    for (int i = 0; i < nb; i++)
        names[i] = must_world_builtins[i].name;
    join_names(all, sizeof all, names, nb);
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
