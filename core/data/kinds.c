/* kinds.c - the registry of label kinds (must/kinds.h): the five built-in
 * names at fixed indices, and the kinds registered at run time with their
 * codecs.  It calls nothing above the base layer, so every file of the data
 * layer may look kinds up here; the built-in kinds' handlers live beside
 * the code that uses them (labels.c, augment.c, loader.c, dataset*.c).
 *
 * Entries are written once and never removed: a kind's labels, sets and
 * batches may outlive whoever registered it.  Readers take no lock: an
 * entry is complete before its pointer is published (release/acquire). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf-impl.h"
#include "kinds-impl.h"
#include "must/kinds.h"

#define NAME_MAX_LEN 64

typedef struct kind_entry {
    char name[NAME_MAX_LEN + 1];
    char *owner;
    must_label_codec codec; /* the registry's copy, zero past the owner's struct_size */
} kind_entry;

static const char *const builtin_names[MUST_LABEL_NKINDS] = {
    "classification", "detection", "segmentation", "depth", "normal"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static kind_entry *entries[MUST_LABEL_MAX_KINDS]; /* NULL below MUST_LABEL_NKINDS */
static int nkinds = MUST_LABEL_NKINDS;
static ds_kind_resolver resolver;

static const kind_entry *entry(int kind)
{
    if (kind < MUST_LABEL_NKINDS || kind >= MUST_LABEL_MAX_KINDS)
        return NULL;
    return __atomic_load_n(&entries[kind], __ATOMIC_ACQUIRE);
}

const char *must_label_kind_name(int kind)
{
    if (kind >= 0 && kind < MUST_LABEL_NKINDS)
        return builtin_names[kind];
    const kind_entry *e = entry(kind);
    return e ? e->name : NULL;
}

int must_label_kind_parse(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < MUST_LABEL_NKINDS; k++)
        if (strcmp(name, builtin_names[k]) == 0)
            return k;
    int n = must_label_kind_count();
    for (int k = MUST_LABEL_NKINDS; k < n; k++) {
        const kind_entry *e = entry(k);
        if (e && strcmp(e->name, name) == 0)
            return k;
    }
    return -1;
}

int must_label_kind_count(void)
{
    return __atomic_load_n(&nkinds, __ATOMIC_ACQUIRE);
}

unsigned must_label_kinds_all(void)
{
    int n = must_label_kind_count();
    return n >= 32 ? ~0u : (1u << n) - 1u;
}

const must_label_codec *must_label_kind_codec(int kind)
{
    const kind_entry *e = entry(kind);
    return e ? &e->codec : NULL;
}

const char *must_label_kind_owner(int kind)
{
    if (kind >= 0 && kind < MUST_LABEL_NKINDS)
        return "built in";
    const kind_entry *e = entry(kind);
    return e ? e->owner : NULL;
}

int must_label_kind_store(int kind, char *buf, size_t len)
{
    const char *name = must_label_kind_name(kind);
    if (!name)
        return MUST_EINVAL;
    const must_label_codec *c = must_label_kind_codec(kind);
    if (kind == MUST_LABEL_CLASSIFICATION || kind == MUST_LABEL_DETECTION ||
        (c && c->store == MUST_STORE_TEXT))
        snprintf(buf, len, "labels/%s.txt", name);
    else
        snprintf(buf, len, "labels/%s/<id>%s", name, c ? c->ext : ".png");
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Registering. */

static int plain_word(const char *s, size_t max)
{
    size_t n = 0;
    for (; s && *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return n > 0 && n <= max;
}

/* ".png": a dot, then 1-15 of a-z 0-9. */
static int good_ext(const char *s)
{
    return s && s[0] == '.' && plain_word(s + 1, 15) && !strchr(s + 1, '_');
}

/* The codec's own soundness: its store and the callbacks that store
 * needs, its key table. */
static int check_codec(const char *name, const must_label_codec *c, must_err *err)
{
    if (c->store != MUST_STORE_FILES && c->store != MUST_STORE_TEXT)
        return must_err_set(err, MUST_EINVAL, "label kind '%s': store %d is neither "
                            "MUST_STORE_FILES nor MUST_STORE_TEXT", name, c->store);
    if (c->store == MUST_STORE_FILES && !good_ext(c->ext))
        return must_err_set(err, MUST_EINVAL, "label kind '%s': its files' extension '%s' is "
                            "not a dot and 1-15 of a-z 0-9 (\".png\")", name,
                            c->ext ? c->ext : "(null)");
    static const struct {
        const char *what;
        size_t off;
        int store; /* 0: every store */
    } need[] = {
#define NEED(m, s) {#m, offsetof(must_label_codec, m), s}
        NEED(free, 0), NEED(copy, 0), NEED(transform, 0), NEED(batch_new, 0),
        NEED(batch_free, 0), NEED(collate, 0), NEED(read, MUST_STORE_FILES),
        NEED(write, MUST_STORE_FILES), NEED(parse, MUST_STORE_TEXT),
        NEED(format, MUST_STORE_TEXT),
#undef NEED
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)c + need[i].off, sizeof fn);
        if (!fn && (!need[i].store || need[i].store == c->store))
            return must_err_set(err, MUST_EINVAL, "label kind '%s': its codec's %s is NULL "
                                "(a %s store needs free, copy, transform, batch_new, "
                                "batch_free, collate, %s)", name, need[i].what,
                                c->store == MUST_STORE_FILES ? "file" : "text",
                                c->store == MUST_STORE_FILES ? "read and write"
                                                             : "parse and format");
    }
    if (!c->tally != !c->summary)
        return must_err_set(err, MUST_EINVAL, "label kind '%s': tally and summary come together",
                            name);
    if (c->keys && c->keys_size == 0)
        return must_err_set(err, MUST_EINVAL, "label kind '%s': keys without keys_size", name);
    int rc = c->keys ? must_conf_check(c->keys, c->keys_size, MUST_CONF_CHECK_ABI, err)
                     : MUST_OK;
    return rc ? must_err_prefix(err, "label kind '%s': dataset.ini keys", name) : MUST_OK;
}

int must_label_kind_register(const char *name, const must_label_codec *codec, const char *owner,
                             int *kind, must_err *err)
{
    if (!plain_word(name, NAME_MAX_LEN))
        return must_err_set(err, MUST_EINVAL, "label kind '%s' is not a plain word ([a-z0-9_]+, "
                            "at most %d characters)", name ? name : "(null)", NAME_MAX_LEN);
    if (!owner)
        owner = "(unnamed)";
    for (int k = 0; k < MUST_LABEL_NKINDS; k++)
        if (strcmp(name, builtin_names[k]) == 0)
            return must_err_set(err, MUST_EINVAL, "%s: label kind '%s' is built into must; a "
                                "kind of one's own needs a name of its own", owner, name);
    if (!codec || codec->struct_size < MUST_LABEL_CODEC_MIN_SIZE)
        return must_err_set(err, MUST_EINVAL, "%s: label kind '%s': its codec is %s (at least "
                            "%zu bytes: every member up to format)", owner, name,
                            codec ? "too small" : "missing", (size_t)MUST_LABEL_CODEC_MIN_SIZE);
    kind_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->owner = strdup(owner))) {
        free(e);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    memcpy(&e->codec, codec,
           codec->struct_size < sizeof e->codec ? codec->struct_size : sizeof e->codec);
    e->codec.struct_size = (uint32_t)sizeof e->codec;
    int rc = check_codec(name, &e->codec, err);
    if (rc) {
        must_err_prefix(err, "%s", owner);
        goto refuse;
    }
    pthread_mutex_lock(&lock);
    int k = must_label_kind_parse(name);
    if (k >= 0)
        rc = must_err_set(err, MUST_EINVAL, "%s: label kind '%s' is already defined by %s: two "
                          "definitions of one kind cannot both hold", owner, name,
                          must_label_kind_owner(k));
    else if (nkinds >= MUST_LABEL_MAX_KINDS)
        rc = must_err_set(err, MUST_EINVAL, "%s: label kind '%s': the registry is full (%d "
                          "kinds, %d of them registered)", owner, name, MUST_LABEL_MAX_KINDS,
                          MUST_LABEL_MAX_KINDS - MUST_LABEL_NKINDS);
    if (rc == MUST_OK) {
        k = nkinds;
        __atomic_store_n(&entries[k], e, __ATOMIC_RELEASE);
        __atomic_store_n(&nkinds, k + 1, __ATOMIC_RELEASE);
        *kind = k;
    }
    pthread_mutex_unlock(&lock);
    if (rc == MUST_OK)
        return MUST_OK;
refuse:
    free(e->owner);
    free(e);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Kinds met in a set's dataset.ini. */

void ds_kinds_set_resolver(ds_kind_resolver fn)
{
    pthread_mutex_lock(&lock);
    resolver = fn;
    pthread_mutex_unlock(&lock);
}

int ds_kind_resolve(const char *name, char *why, size_t whylen)
{
    int k = must_label_kind_parse(name);
    if (k >= 0)
        return k;
    pthread_mutex_lock(&lock);
    ds_kind_resolver fn = resolver;
    pthread_mutex_unlock(&lock);
    if (!plain_word(name, NAME_MAX_LEN)) {
        snprintf(why, whylen, "unknown task '%s' (classification, detection, segmentation, "
                 "depth, normal, or a plugin's kind: a plain word)", name);
        return -1;
    }
    if (!fn) {
        snprintf(why, whylen, "unknown task '%s': not a built-in label kind (classification, "
                 "detection, segmentation, depth, normal), and no plugin has defined it: load "
                 "the task plugin '%s' first (must_plugin_load), or let must load it "
                 "(must_plugin_autoload_kinds)", name, name);
        return -1;
    }
    must_err e = {0};
    if (fn(name, &e) == MUST_OK && (k = must_label_kind_parse(name)) >= 0)
        return k;
    snprintf(why, whylen, "unknown task '%s': not a built-in label kind (classification, "
             "detection, segmentation, depth, normal), and the task plugin '%s' that would "
             "define it cannot: %s", name, name,
             e.msg[0] ? e.msg : "it defines no label kind of its own");
    return -1;
}
