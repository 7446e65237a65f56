/* domain_ini.c - a domain preset's INI text (docs/world.md) read against
 * one key table per section by the library's INI reader and key engine
 * (core/base/ini.c, core/base/conf_apply.c): anything else is an error
 * naming the file, line, section and key, as is a key given twice or a
 * value out of bounds.  The checks that involve several keys name the
 * line too; loading a mix's components is domain.c's. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf-impl.h"
#include "world-impl.h"

/* ------------------------------------------------------------------------ */
/* The key tables. */

/* The world's own value types (parse_value below). */
enum {
    K_ROLE = MUST_CONF_USER, /* teacher | unlabelled | downstream, as text */
    K_TASKS,                 /* list of task names (may be empty) */
    K_CLASSES,               /* list of categories */
    K_STUFF,                 /* list of stuff names */
    K_SPLITS,                /* three whole percentages summing to 100 */
    K_MIX,                   /* list of DOMAIN:WEIGHT */
    K_TEXW,                  /* texture:weight list */
    K_BGW                    /* background:weight list */
};

_Static_assert(sizeof(wrange) == 2 * sizeof(float) && offsetof(wrange, hi) == sizeof(float),
               "a wrange is a MUST_CONF_RANGE");

#define D(f) offsetof(struct must_world_domain, f)
#define TEXT(k, f, help) \
    {k, MUST_CONF_TEXT, D(f), "", help, NULL, 0, sizeof(((must_world_domain *)0)->f) - 1}
#define OWN(k, type, f, def, help) {k, type, D(f), def, help, NULL, 0, 0}
#define NUM(k, type, f, def, lo, hi, help) {k, type, D(f), def, help, NULL, lo, hi}
#define RANGE(k, f, def, lo, hi, help) {k, MUST_CONF_RANGE, D(f), def, help, NULL, lo, hi}
#define END {NULL, 0, 0, NULL, NULL, NULL, 0, 0}

static const must_conf_key domain_keys[] = {
    TEXT("mirrors", mirrors, "the real dataset it stands for"),
    OWN("role", K_ROLE, role, NULL, "required: teacher, unlabelled or downstream"),
    OWN("tasks", K_TASKS, tasks, NULL, "required: the labels written with the images"),
    TEXT("description", description, "shown by `must world list`"),
    NUM("count", MUST_CONF_INT, default_count, "1000", 1, 10000000,
        "images `generate` writes without --count"),
    OWN("splits", K_SPLITS, splits, "80, 10, 10", "train, val, test percent"),
    OWN("mix", K_MIX, n_mix, NULL, "DOMAIN:WEIGHT, ...: each image draws one component domain"),
    END,
};

static const must_conf_key objects_keys[] = {
    OWN("classes", K_CLASSES, n_classes, NULL, "required (unless mix): the categories"),
    OWN("stuff", K_STUFF, stuff, NULL, "stuff with segmentation classes of their own"),
    RANGE("count", count, "1, 4", 1, MUST_WORLD_MAX_OBJECTS, "objects per scene"),
    NUM("dominant", MUST_CONF_INT, dominant, "0", 0, 1, "1: the first object is centred"),
    RANGE("size", size, "0.4, 1", 0.05, 10, "object size, metres"),
    RANGE("fill", fill, "0.35, 0.6", 0.05, 1, "frame height the dominant object spans"),
    RANGE("distance", distance, "2, 8", 0.5, 40, "distance from the camera, metres"),
    NUM("lying", MUST_CONF_FLOAT, lying, "0.2", 0, 1, "probability of the second pose"),
    NUM("void_edges", MUST_CONF_INT, void_edges, "0", 0, 4, "width of the 255 outline"),
    NUM("difficult", MUST_CONF_FLOAT, difficult, "0", 0, 1, "visible fraction below which a box "
                                                            "is difficult"),
    END,
};

static const must_conf_key look_keys[] = {
    OWN("textures", K_TEXW, tex_w, "plain", "weights of plain, checker, stripes, noise"),
    RANGE("hue", hue, "0, 360", 0, 360, "object colours: hue, degrees"),
    RANGE("saturation", sat, "0.4, 0.9", 0, 1, "object colours: saturation"),
    RANGE("value", val, "0.5, 0.95", 0, 1, "object colours: value"),
    RANGE("contrast", contrast, "0.3, 0.7", 0, 1, "the texture's second colour"),
    RANGE("frequency", freq, "2, 5", 0.5, 20, "texture cycles per object size"),
    RANGE("specular", specular, "0, 0.5", 0, 1, "Blinn-Phong strength"),
    RANGE("shininess", shininess, "8, 64", 1, 256, "Blinn-Phong exponent"),
    END,
};

static const must_conf_key background_keys[] = {
    OWN("kinds", K_BGW, bg_w, "open", "weights of open, room, backdrop"),
    RANGE("room_width", room_w, "5, 8", 2, 40, "metres"),
    RANGE("room_depth", room_d, "6, 10", 2, 40, "metres"),
    RANGE("room_height", room_h, "2.5, 3.5", 2, 10, "metres"),
    OWN("floor_textures", K_TEXW, floor_tex_w, "plain", "the floor's texture weights"),
    RANGE("floor_hue", floor_hue, "20, 60", 0, 360, "the floor"),
    RANGE("floor_saturation", floor_sat, "0.1, 0.4", 0, 1, "the floor"),
    RANGE("floor_value", floor_val, "0.3, 0.6", 0, 1, "the floor"),
    OWN("wall_textures", K_TEXW, wall_tex_w, "plain", "the walls' texture weights"),
    RANGE("wall_hue", wall_hue, "0, 360", 0, 360, "walls and backdrop"),
    RANGE("wall_saturation", wall_sat, "0, 0.2", 0, 1, "walls and backdrop"),
    RANGE("wall_value", wall_val, "0.6, 0.9", 0, 1, "walls and backdrop"),
    RANGE("sky_hue", sky_hue, "200, 225", 0, 360, "the sky at its top"),
    RANGE("sky_saturation", sky_sat, "0.25, 0.55", 0, 1, "the sky at its top"),
    RANGE("sky_value", sky_val, "0.75, 0.95", 0, 1, "the sky at its top"),
    END,
};

static const must_conf_key camera_keys[] = {
    RANGE("height", cam_height, "1, 2", 0.2, 10, "metres"),
    RANGE("pitch", pitch, "10, 30", -30, 80, "degrees below the horizon"),
    RANGE("yaw", yaw, "-20, 20", -180, 180, "degrees"),
    RANGE("fov", fov, "45, 65", 20, 120, "degrees"),
    END,
};

static const must_conf_key lights_keys[] = {
    RANGE("count", n_lights, "1, 2", 1, MUST_WORLD_MAX_LIGHTS, "lights"),
    RANGE("intensity", intensity, "0.8, 1.1", 0, 5, "total direct light"),
    RANGE("ambient", ambient, "0.2, 0.35", 0, 2, "ambient light"),
    RANGE("warmth", warmth, "-0.2, 0.3", -1, 1, "-1 blue .. +1 orange"),
    RANGE("height", light_height, "3, 8", 0.5, 60, "metres"),
    END,
};

enum { SEC_DOMAIN, SEC_OBJECTS, SEC_LOOK, SEC_BACKGROUND, SEC_CAMERA, SEC_LIGHTS, NSECTIONS };
#define MAX_KEYS 16 /* rows of the largest table */

static const struct {
    const char *name;
    const must_conf_key *keys;
} sections[NSECTIONS] = {
    {"domain", domain_keys}, {"objects", objects_keys}, {"look", look_keys},
    {"background", background_keys}, {"camera", camera_keys}, {"lights", lights_keys},
};

void must_world_domain_describe(must_conf_doc_fn fn, void *user)
{
    for (int s = 0; s < NSECTIONS; s++)
        must_conf_describe(sections[s].keys, sections[s].name, fn, user);
}

static const char *const tex_names[MUST_WORLD_NTEX] = {"plain", "checker", "stripes", "noise"};
static const char *const bg_names[MUST_WORLD_NBG] = {"open", "room", "backdrop"};
static const char *const roles[] = {"teacher", "unlabelled", "downstream"};

/* ------------------------------------------------------------------------ */
/* The world's own values.  Each parser takes a copy of the value it may cut
 * up, and on failure writes the message into why. */

typedef struct domain_state {
    must_world_domain *d;
    char (*mix_names)[WORLD_NAME_MAX];
    int section_line[NSECTIONS];
    int lines[NSECTIONS][MAX_KEYS]; /* per key of each table: its line, 0 if absent */
} domain_state;

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

/* NAME:WEIGHT items (a name alone weighs 1, names left out 0) into w. */
static int parse_weights(const char *what, const char *const *names, int n, char *val, float *w,
                         char *why, size_t whylen)
{
    char *items[32], all[256];
    int k = split_list(val, items, 32);
    join_names(all, sizeof all, names, n);
    if (k == 0 || k > 32)
        return must_conf_refuse(why, whylen, "expected NAME:WEIGHT, ... with %s from: %s", what, all);
    float tmp[16] = {0}, sum = 0;
    int seen[16] = {0};
    for (int i = 0; i < k; i++) {
        char *c = strchr(items[i], ':');
        float x = 1.0f;
        if (c) {
            *c = '\0';
            char *e = c - 1, *v = c + 1;
            while (e >= items[i] && isspace((unsigned char)*e))
                *e-- = '\0';
            while (*v == ' ' || *v == '\t')
                v++;
            if (!parse_float(v, &x) || x < 0 || x > 1000)
                return must_conf_refuse(why, whylen, "weight '%s' of '%s' is not a number in 0..1000", v, items[i]);
        }
        int j = lookup(names, n, items[i]);
        if (j < 0)
            return must_conf_refuse(why, whylen, "unknown %s '%s' (known: %s)", what, items[i], all);
        if (seen[j]++)
            return must_conf_refuse(why, whylen, "%s '%s' listed twice", what, items[i]);
        tmp[j] = x;
        sum += x;
    }
    if (!(sum > 0))
        return must_conf_refuse(why, whylen, "the weights sum to 0");
    memcpy(w, tmp, (size_t)n * sizeof *w);
    return MUST_OK;
}

static int parse_tasks(must_world_domain *d, char *val, char *why, size_t whylen)
{
    char *items[8];
    int n = split_list(val, items, 8);
    unsigned t = 0;
    for (int i = 0; i < n && i < 8; i++) {
        int j = -1;
        for (int q = 0; q < 5; q++)
            if (strcmp(must_world_task_name(q), items[i]) == 0)
                j = q;
        if (j < 0)
            return must_conf_refuse(why, whylen, "unknown task '%s' (tasks: classification, detection, segmentation, depth, "
                   "normal)",
                   items[i]);
        if (t & (1u << j))
            return must_conf_refuse(why, whylen, "task '%s' listed twice", items[i]);
        t |= 1u << j;
    }
    d->tasks = t;
    return MUST_OK;
}

static int parse_classes(must_world_domain *d, char *val, char *why, size_t whylen)
{
    char *items[64];
    int n = split_list(val, items, 64);
    if (n < 1 || n > MUST_WORLD_NCAT)
        return must_conf_refuse(why, whylen, "expected 1 to %d categories", MUST_WORLD_NCAT);
    for (int i = 0; i < n; i++) {
        int c = must_world_category_find(items[i]);
        if (c < 0) {
            char all[512];
            const char *names[MUST_WORLD_NCAT];
            for (int q = 0; q < MUST_WORLD_NCAT; q++)
                names[q] = must_world_category_name(q);
            join_names(all, sizeof all, names, MUST_WORLD_NCAT);
            return must_conf_refuse(why, whylen, "unknown category '%s' (categories: %s)", items[i], all);
        }
        if (d->class_of[c] >= 0)
            return must_conf_refuse(why, whylen, "category '%s' listed twice", items[i]);
        d->classes[i] = c;
        d->class_of[c] = i;
    }
    d->n_classes = n;
    return MUST_OK;
}

static int parse_stuff(must_world_domain *d, char *val, char *why, size_t whylen)
{
    char *items[8];
    int n = split_list(val, items, 8);
    unsigned m = 0;
    for (int i = 0; i < n && i < 8; i++) {
        int s = must_world_stuff_find(items[i]);
        if (s < 0 || (m & (1u << s)))
            return must_conf_refuse(why, whylen, "'%s' is unknown or repeated (stuff: sky, floor, wall, ceiling)", items[i]);
        m |= 1u << s;
    }
    d->stuff = m;
    return MUST_OK;
}

static int parse_splits(must_world_domain *d, char *val, char *why, size_t whylen)
{
    char *items[4];
    int n = split_list(val, items, 4), v[3] = {0};
    int ok = n == 3;
    for (int i = 0; ok && i < 3; i++)
        ok = parse_int(items[i], &v[i]) && v[i] >= 0 && v[i] <= 100;
    if (!ok || v[0] + v[1] + v[2] != 100)
        return must_conf_refuse(why, whylen, "expected three whole percentages TRAIN, VAL, TEST summing to 100");
    memcpy(d->splits, v, sizeof v);
    return MUST_OK;
}

/* DOMAIN:WEIGHT items: the names for domain.c to load, the weights. */
static int parse_mix(domain_state *st, char *val, char *why, size_t whylen)
{
    char *items[WORLD_MAX_MIX + 1];
    int n = split_list(val, items, WORLD_MAX_MIX + 1);
    if (n < 1 || n > WORLD_MAX_MIX)
        return must_conf_refuse(why, whylen, "expected 1 to %d DOMAIN:WEIGHT items", WORLD_MAX_MIX);
    for (int i = 0; i < n; i++) {
        char *c = strchr(items[i], ':');
        float w = 1.0f;
        if (c) {
            *c = '\0';
            if (!parse_float(c + 1, &w) || w <= 0 || w > 1000)
                return must_conf_refuse(why, whylen, "weight of '%s' is not a number in (0, 1000]", items[i]);
        }
        char *e = items[i] + strlen(items[i]);
        while (e > items[i] && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (strlen(items[i]) == 0 || strlen(items[i]) >= WORLD_NAME_MAX)
            return must_conf_refuse(why, whylen, "bad domain name '%s'", items[i]);
        strcpy(st->mix_names[i], items[i]);
        st->d->mix_w[i] = w;
    }
    st->d->n_mix = n;
    return MUST_OK;
}

static int parse_own(domain_state *st, int type, char *val, char *why, size_t whylen)
{
    must_world_domain *d = st->d;
    switch (type) {
    case K_ROLE:
        if (lookup(roles, 3, val) < 0)
            return must_conf_refuse(why, whylen, "'%s' is not one of teacher, unlabelled, downstream", val);
        strcpy(d->role, val);
        return MUST_OK;
    case K_TASKS: return parse_tasks(d, val, why, whylen);
    case K_CLASSES: return parse_classes(d, val, why, whylen);
    case K_STUFF: return parse_stuff(d, val, why, whylen);
    case K_SPLITS: return parse_splits(d, val, why, whylen);
    case K_MIX: return parse_mix(st, val, why, whylen);
    case K_TEXW:
    case K_BGW: break;
    }
    return MUST_EINVAL;
}

/* The conf engine's hook for the world's types. */
static int parse_value(void *user, const must_conf_key *k, void *base, const char *text,
                       char *why, size_t whylen)
{
    char *val = strdup(text);
    if (!val)
        return MUST_ENOMEM;
    int rc;
    float *w = (float *)((char *)base + k->offset);
    if (k->type == K_TEXW)
        rc = parse_weights("texture", tex_names, MUST_WORLD_NTEX, val, w, why, whylen);
    else if (k->type == K_BGW)
        rc = parse_weights("background", bg_names, MUST_WORLD_NBG, val, w, why, whylen);
    else
        rc = parse_own(user, k->type, val, why, whylen);
    free(val);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading: defaults, the sections' keys, the checks across keys. */

_Static_assert(sizeof background_keys / sizeof background_keys[0] <= MAX_KEYS,
               "domain_state.lines holds MAX_KEYS keys per section");

static int find_section(const char *s)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (strcmp(sections[i].name, s) == 0)
            return i;
    return -1;
}

/* The line of a key (0: absent). */
static int key_line(const domain_state *st, int s, const char *name)
{
    const must_conf_key *k = must_conf_find(sections[s].keys, name);
    return k ? st->lines[s][k - sections[s].keys] : 0;
}

/* Values every domain starts from; presets override what they change. */
static int set_defaults(domain_state *st, must_err *err)
{
    must_world_domain *d = st->d;
    memset(d, 0, sizeof *d);
    for (int c = 0; c < MUST_WORLD_NCAT; c++)
        d->class_of[c] = -1;
    must_conf_hooks h = {.parse = parse_value, .user = st};
    for (int s = 0; s < NSECTIONS; s++) {
        int rc = must_conf_defaults(sections[s].keys, d, &h, err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

static int apply_sections(domain_state *st, const must_ini *ini, must_ini_sink *sink)
{
    must_conf_hooks h = {.parse = parse_value, .user = st};
    for (int i = 0; i < ini->nsec; i++) {
        int s = find_section(ini->sec[i].name);
        if (s < 0)
            return must_ini_issue(sink, ini->sec[i].line, NULL, NULL,
                                  "unknown section [%s] (sections: domain, objects, look, "
                                  "background, camera, lights)",
                                  ini->sec[i].name);
        st->section_line[s] = ini->sec[i].line;
        int rc = must_conf_apply(sections[s].keys, st->d, ini, i, &h, st->lines[s], sink);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

/* The checks that involve several keys (a mix's components are checked
 * once domain.c has loaded them). */
static int check_keys(const domain_state *st, const char *f, must_err *err)
{
    const must_world_domain *d = st->d;
    int tl = key_line(st, SEC_DOMAIN, "tasks");
    if (!d->role[0])
        return must_err_set(err, MUST_EINVAL, "%s: [domain] role: missing (teacher, "
                                              "unlabelled or downstream)", f);
    if (!tl)
        return must_err_set(err, MUST_EINVAL, "%s: [domain] tasks: missing (may be empty for "
                                              "an unlabelled set)", f);
    if (strcmp(d->role, "unlabelled") == 0 && d->tasks)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] tasks: an unlabelled domain "
                                              "writes no labels; leave it empty", f, tl);
    if (strcmp(d->role, "unlabelled") != 0 && !d->tasks)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [domain] tasks: a %s domain needs at "
                                              "least one task", f, tl, d->role);
    if (d->n_mix) {
        for (int s = 1; s < NSECTIONS; s++)
            if (st->section_line[s])
                return must_err_set(err, MUST_EINVAL,
                                    "%s:%d: [%s]: a domain with a mix (line %d) draws its "
                                    "scenes from its components and takes no [%s] section",
                                    f, st->section_line[s], sections[s].name,
                                    key_line(st, SEC_DOMAIN, "mix"), sections[s].name);
        return MUST_OK;
    }
    if (!d->n_classes)
        return must_err_set(err, MUST_EINVAL, "%s: [objects] classes: missing", f);
    if (d->dominant && d->count.lo < 1)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [objects] count: a dominant object "
                                              "needs at least one", f,
                            key_line(st, SEC_OBJECTS, "count"));
    if ((d->tasks & MUST_WORLD_CLASSIFICATION) && d->n_classes < 2)
        return must_err_set(err, MUST_EINVAL, "%s:%d: [objects] classes: classification needs "
                                              "two classes or more", f,
                            key_line(st, SEC_OBJECTS, "classes"));
    return MUST_OK;
}

int must_world_domain_read(must_world_domain *d, const char *text, const char *file,
                           char mix_names[][WORLD_NAME_MAX], int *mix_line, must_err *err)
{
    domain_state st = {.d = d, .mix_names = mix_names};
    must_ini_sink sink = must_ini_first_error(file, MUST_EFORMAT, err);
    must_ini ini;
    int rc = set_defaults(&st, err);
    if (rc)
        return rc;
    rc = must_ini_read(&ini, text, 0, &sink);
    if (rc == MUST_OK)
        rc = apply_sections(&st, &ini, &sink);
    must_ini_free(&ini);
    if (rc == MUST_OK)
        rc = check_keys(&st, file, err);
    *mix_line = key_line(&st, SEC_DOMAIN, "mix");
    return rc;
}
