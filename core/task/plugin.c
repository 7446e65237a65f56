/* plugin.c - the task-plugin loader: search path, dlopen, the checks of
 * what must_task_init returns, a process-wide registry so that a file is
 * loaded (and unloaded) once. */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "must/io.h"
#include "must/plugin.h"
#include "base/conf-impl.h"
#include "plugin-impl.h"

_Static_assert(MUST_TASK_ABI_VERSION == MUST_PLUGIN_ABI,
               "task.h and configure.ac disagree on the plugin ABI version");

/* A plugin's option table is an array of must_conf_key: ABI 1 fixed the
 * row's members, so must/conf.h may not change them. */
struct abi1_option {
    const char *name;
    int type;
    size_t offset;
    const char *def, *help, *choices;
    double min, max;
};
_Static_assert(sizeof(must_task_option) == sizeof(struct abi1_option) &&
                   offsetof(must_task_option, type) == offsetof(struct abi1_option, type) &&
                   offsetof(must_task_option, offset) == offsetof(struct abi1_option, offset) &&
                   offsetof(must_task_option, def) == offsetof(struct abi1_option, def) &&
                   offsetof(must_task_option, help) == offsetof(struct abi1_option, help) &&
                   offsetof(must_task_option, choices) == offsetof(struct abi1_option, choices) &&
                   offsetof(must_task_option, min) == offsetof(struct abi1_option, min) &&
                   offsetof(must_task_option, max) == offsetof(struct abi1_option, max),
               "must_conf_key no longer has the layout of ABI 1's must_task_option");

struct must_plugin {
    char *file;              /* the real path */
    void *handle;
    must_task_ops ops;       /* the plugin's table, zero beyond its struct_size */
    int refs;
    struct must_plugin *next;
};

/* Loaded plugins, so that a second load of one file shares the first:
 * dlopen would share the handle anyway, but must_task_init and unload must
 * run once per process, not once per caller. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static must_plugin *registry;

int must_plugin_name_valid(const char *name)
{
    if (!name || !*name)
        return 0;
    size_t n = 0;
    for (const char *c = name; *c; c++, n++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return n <= MUST_PLUGIN_NAME_MAX;
}

const char *must_plugin_install_dir(void)
{
    return MUST_PLUGIN_DIR;
}

char *must_build_tree_libs(void)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    size_t len = strlen(buf);
    if (len < 6 || strcmp(buf + len - 6, "/.libs") != 0)
        return NULL;
    return strdup(buf);
}

char **must_plugin_dirs(void)
{
    const char *env = getenv("MUST_PLUGIN_PATH");
    size_t n = 3;
    for (const char *c = env ? env : ""; *c; c++)
        n += *c == ':';
    char **dirs = calloc(n + 1, sizeof *dirs);
    if (!dirs)
        return NULL;
    size_t k = 0;
    for (const char *c = env ? env : ""; *c;) {
        const char *end = strchr(c, ':');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len) {
            if (!(dirs[k] = strndup(c, len)))
                goto oom;
            k++;
        }
        c += len + (end != NULL);
    }
    if (!(dirs[k++] = strdup(MUST_PLUGIN_DIR)))
        goto oom;
    /* Run from an uninstalled build tree, the program sits in libtool's
     * .libs/ beside the plugins just built: the README's quick start runs
     * ./must before anything is installed. */
    dirs[k] = must_build_tree_libs();
    return dirs;
oom:
    must_plugin_dirs_free(dirs);
    return NULL;
}

void must_plugin_dirs_free(char **dirs)
{
    if (!dirs)
        return;
    for (char **d = dirs; *d; d++)
        free(*d);
    free(dirs);
}

/* "name" of ".../name.so", into buf; 0 when the file name is not that. */
static int name_of_file(const char *path, char *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n < 4 || strcmp(base + n - 3, ".so") != 0 || n - 3 >= len)
        return 0;
    memcpy(buf, base, n - 3);
    buf[n - 3] = '\0';
    return must_plugin_name_valid(buf);
}

/* ------------------------------------------------------------------------ */
/* Checking the table. */

#define REQUIRED(m) {#m, offsetof(must_task_ops, m)}
static const struct {
    const char *name;
    size_t off;
} required[] = {
    REQUIRED(head_new), REQUIRED(head_free), REQUIRED(head_params),
    REQUIRED(head_levels), REQUIRED(forward), REQUIRED(loss),
};
#define NREQUIRED (int)(sizeof required / sizeof required[0])

static int slot_set(const must_task_ops *ops, size_t off)
{
    void (*fn)(void);
    memcpy(&fn, (const char *)ops + off, sizeof fn);
    return fn != NULL;
}

static int check_ops(const char *file, const char *fname, const must_task_ops *o,
                     must_err *err)
{
    if (!o->name || strcmp(o->name, fname) != 0)
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s calls itself '%s'; a plugin's name must be its "
                            "file name without .so ('%s')",
                            file, o->name ? o->name : "(null)", fname);
    if (!o->version)
        return must_err_set(err, MUST_EINVAL, "plugin file %s: version is NULL", file);
    if (o->codec && o->label_kind != MUST_TASK_OWN_KIND)
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: a codec comes with label_kind MUST_TASK_OWN_KIND "
                            "(the kind it defines is called '%s'), not %d",
                            file, fname, o->label_kind);
    if (!o->codec && o->label_kind != MUST_TASK_NO_KIND &&
        (o->label_kind < 0 || o->label_kind >= MUST_LABEL_NKINDS))
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: label_kind %d is not a built-in label kind (0..%d); "
                            "a kind of the plugin's own is MUST_TASK_OWN_KIND with a codec, a "
                            "task that reads no labels MUST_TASK_NO_KIND",
                            file, o->label_kind, MUST_LABEL_NKINDS - 1);
    if (o->label_kind == MUST_TASK_NO_KIND &&
        (o->pseudo_label || o->eval_begin || o->eval_add_labels || o->draw))
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: a task that reads no labels (MUST_TASK_NO_KIND) "
                            "neither labels, evaluates nor draws (pseudo_label, eval_* and draw "
                            "are NULL)",
                            file);
    for (int i = 0; i < NREQUIRED; i++)
        if (!slot_set(o, required[i].off))
            return must_err_set(err, MUST_EINVAL,
                                "plugin file %s (task '%s' %s, ABI %u; this must speaks ABI "
                                "%d): required callback %s is NULL (ABI %d requires head_new, "
                                "head_free, head_params, head_levels, forward, loss)",
                                file, o->name, o->version, (unsigned)o->abi_version,
                                MUST_TASK_ABI_VERSION, required[i].name,
                                MUST_TASK_ABI_VERSION);
    int ev = !!o->eval_begin + !!o->eval_add + !!o->eval_end;
    if (ev != 0 && ev != 3)
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: eval_begin, eval_add and eval_end come together "
                            "(%d of 3 are set)",
                            file, ev);
    if (o->eval_add_labels && !ev)
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: eval_add_labels needs eval_begin, eval_add and "
                            "eval_end",
                            file);
    int nm = 0;
    if (o->metrics)
        for (; o->metrics[nm]; nm++)
            if (nm >= 64)
                return must_err_set(err, MUST_EINVAL,
                                    "plugin file %s: metrics[] has no NULL end in 64 entries",
                                    file);
    if (ev && nm == 0)
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: an evaluator needs metric names (metrics[] is "
                            "empty)",
                            file);
    int rc = must_conf_check(o->options, o->config_size, MUST_CONF_CHECK_ABI, err);
    return rc ? must_err_prefix(err, "plugin file %s", file) : MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Loading. */

/* A plugin's own label kind, registered under its name; the host's copy of
 * its table gets the index.  A second file defining the kind is refused by
 * the registry with both files named. */
static int own_kind(must_plugin *p, const char *real, const char *fname, must_err *err)
{
    if (!p->ops.codec)
        return MUST_OK;
    char owner[PATH_MAX + 16];
    snprintf(owner, sizeof owner, "plugin file %s", real);
    int kind;
    int rc = must_label_kind_register(fname, p->ops.codec, owner, &kind, err);
    if (rc == MUST_OK)
        p->ops.label_kind = kind;
    return rc;
}

static int load_new(const char *real, const char *fname, must_plugin **out, must_err *err)
{
    dlerror();
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return must_err_set(err, MUST_EFORMAT,
                            "plugin file %s: cannot load it: %s (hint: `file %s` says whether "
                            "it is a shared object for this machine; `ldd %s` lists the "
                            "libraries it needs and which are missing)",
                            real, why ? why : "unknown dlopen error", real, real);
    }
    dlerror();
    void *sym = dlsym(h, MUST_TASK_ENTRY);
    if (!sym) {
        dlclose(h);
        return must_err_set(err, MUST_ENOTFOUND,
                            "plugin file %s: no entry symbol %s (a task plugin exports it; "
                            "build with -export-symbols-regex '^%s$')",
                            real, MUST_TASK_ENTRY, MUST_TASK_ENTRY);
    }
    must_task_init_fn init;
    memcpy(&init, &sym, sizeof init);
    must_err e = {0};
    const must_task_ops *o = init(must_host_table(), &e);
    if (!o) {
        dlclose(h);
        return must_err_set(err, e.code ? e.code : MUST_EINVAL,
                            "plugin file %s: %s refused to start: %s", real, MUST_TASK_ENTRY,
                            e.msg[0] ? e.msg : "(no reason given)");
    }
    int rc;
    must_plugin *p = NULL;
    if (o->abi_version != MUST_TASK_ABI_VERSION) {
        rc = must_err_set(err, MUST_EABI,
                          "plugin file %s (task '%s'): built for task ABI version %u; this "
                          "must (%s) speaks ABI version %d: rebuild the plugin against this "
                          "must's headers",
                          real, o->name ? o->name : "?", (unsigned)o->abi_version,
                          PACKAGE_VERSION, MUST_TASK_ABI_VERSION);
        goto refuse;
    }
    if (o->struct_size < MUST_TASK_OPS_V2_SIZE) {
        rc = must_err_set(err, MUST_EABI,
                          "plugin file %s: its ops struct_size is %u bytes; ABI version %d "
                          "needs at least %zu (this must's is %zu)",
                          real, (unsigned)o->struct_size, MUST_TASK_ABI_VERSION,
                          (size_t)MUST_TASK_OPS_V2_SIZE, sizeof(must_task_ops));
        goto refuse;
    }
    if (!(p = calloc(1, sizeof *p)) || !(p->file = strdup(real))) {
        rc = must_err_set(err, MUST_ENOMEM, "plugin file %s: out of memory", real);
        goto refuse;
    }
    /* Members beyond what this must knows are ignored; members the
     * plugin's older header lacked read as NULL. */
    memcpy(&p->ops, o, o->struct_size < sizeof p->ops ? o->struct_size : sizeof p->ops);
    if ((rc = check_ops(real, fname, &p->ops, err)) || (rc = own_kind(p, real, fname, err)))
        goto refuse;
    p->handle = h;
    /* A plugin that defines a kind is pinned: the registry keeps its codec
     * for the life of the process (must/task.h, must_task_ops.codec). */
    p->refs = p->ops.codec ? 2 : 1;
    *out = p;
    return MUST_OK;
refuse:
    /* The table's unload is only trusted once the version matched. */
    if (o->abi_version == MUST_TASK_ABI_VERSION && o->struct_size >= MUST_TASK_OPS_V2_SIZE &&
        o->unload)
        o->unload();
    if (p)
        free(p->file);
    free(p);
    dlclose(h);
    return rc;
}

int must_plugin_load_file(const char *path, must_plugin **out, must_err *err)
{
    *out = NULL;
    char fname[MUST_PLUGIN_NAME_MAX + 1];
    if (!name_of_file(path, fname, sizeof fname))
        return must_err_set(err, MUST_EINVAL,
                            "plugin file %s: a plugin file is called NAME.so with NAME a plain "
                            "word ([a-z0-9_]+, at most %d characters)",
                            path, MUST_PLUGIN_NAME_MAX);
    struct stat st;
    if (stat(path, &st) != 0)
        return must_err_set(err, MUST_ENOTFOUND, "plugin file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return must_err_set(err, MUST_EINVAL, "plugin file %s: not a regular file", path);
    char *real = realpath(path, NULL);
    if (!real)
        return must_err_set(err, MUST_EIO, "plugin file %s: %s", path, strerror(errno));
    pthread_mutex_lock(&registry_lock);
    int rc = MUST_OK;
    for (must_plugin *p = registry; p; p = p->next)
        if (strcmp(p->file, real) == 0) {
            p->refs++;
            *out = p;
            break;
        }
    if (!*out && (rc = load_new(real, fname, out, err)) == MUST_OK) {
        (*out)->next = registry;
        registry = *out;
    }
    pthread_mutex_unlock(&registry_lock);
    free(real);
    return rc;
}

int must_plugin_load(const char *name, must_plugin **out, must_err *err)
{
    *out = NULL;
    if (!must_plugin_name_valid(name))
        return must_err_set(err, MUST_EINVAL,
                            "plugin name '%s' is not a plain word ([a-z0-9_]+, at most %d "
                            "characters): plugins are found by name in MUST_PLUGIN_PATH and %s, "
                            "never by path",
                            name ? name : "(null)", MUST_PLUGIN_NAME_MAX, MUST_PLUGIN_DIR);
    char **dirs = must_plugin_dirs();
    if (!dirs)
        return must_err_set(err, MUST_ENOMEM, "plugin '%s': out of memory", name);
    char file[PATH_MAX + 8];
    int rc = MUST_ENOTFOUND;
    for (char **d = dirs; *d; d++) {
        snprintf(file, sizeof file, "%s/%s.so", *d, name);
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = must_plugin_load_file(file, out, err);
            break;
        }
    }
    if (rc == MUST_ENOTFOUND && !*out) {
        char list[600] = "";
        size_t used = 0;
        for (char **d = dirs; *d && used < sizeof list - 1; d++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     d == dirs ? "" : ", ", *d);
        must_err_set(err, MUST_ENOTFOUND,
                     "no task plugin '%s': %s.so is in none of %s (MUST_PLUGIN_PATH adds "
                     "directories; `must plugins` lists what is there)",
                     name, name, list);
    }
    must_plugin_dirs_free(dirs);
    return rc;
}

const must_task_ops *must_plugin_ops(const must_plugin *p)
{
    return &p->ops;
}

const char *must_plugin_file(const must_plugin *p)
{
    return p->file;
}

must_plugin *must_plugin_ref(must_plugin *p)
{
    pthread_mutex_lock(&registry_lock);
    p->refs++;
    pthread_mutex_unlock(&registry_lock);
    return p;
}

void must_plugin_unload(must_plugin *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--p->refs == 0) {
        for (must_plugin **q = &registry; *q; q = &(*q)->next)
            if (*q == p) {
                *q = p->next;
                break;
            }
        if (p->ops.unload)
            p->ops.unload();
        dlclose(p->handle);
        free(p->file);
        free(p);
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ------------------------------------------------------------------------ */
/* Scanning the path. */

typedef struct found {
    char name[MUST_PLUGIN_NAME_MAX + 1];
    char *file;
    int order; /* position on the path: ties keep path order */
} found;

static int found_cmp(const void *a, const void *b)
{
    const found *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

int must_plugin_scan(must_plugin_scan_fn fn, void *user, must_err *err)
{
    char **dirs = must_plugin_dirs();
    if (!dirs)
        return must_err_set(err, MUST_ENOMEM, "plugin scan: out of memory");
    found *v = NULL;
    size_t n = 0, cap = 0;
    int rc = MUST_OK, order = 0;
    for (char **d = dirs; *d && rc == MUST_OK; d++) {
        DIR *dir = opendir(*d);
        if (!dir)
            continue; /* a path entry that does not exist is not an error */
        struct dirent *de;
        while ((de = readdir(dir)) && rc == MUST_OK) {
            char nm[MUST_PLUGIN_NAME_MAX + 1];
            /* lib*.so are libraries (libmust.so sits beside the plugins in
             * a build tree); libtool modules carry no such prefix. */
            if (!name_of_file(de->d_name, nm, sizeof nm) || strncmp(nm, "lib", 3) == 0)
                continue;
            char *file = must_path_join(*d, de->d_name);
            struct stat st;
            if (!file) {
                rc = must_err_set(err, MUST_ENOMEM, "plugin scan: out of memory");
                break;
            }
            if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
                free(file);
                continue;
            }
            if (n == cap) {
                found *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
                if (!nv) {
                    free(file);
                    rc = must_err_set(err, MUST_ENOMEM, "plugin scan: out of memory");
                    break;
                }
                v = nv;
            }
            snprintf(v[n].name, sizeof v[n].name, "%s", nm);
            v[n].file = file;
            v[n].order = order++;
            n++;
        }
        closedir(dir);
    }
    if (rc == MUST_OK && n > 1) /* qsort's base may not be NULL, even for none */
        qsort(v, n, sizeof *v, found_cmp);
    for (size_t i = 0; i < n && rc == MUST_OK;) {
        size_t j = i + 1, len = 1;
        while (j < n && strcmp(v[j].name, v[i].name) == 0)
            len += strlen(v[j++].file) + 1;
        char *shadowed = NULL;
        if (j > i + 1) {
            if (!(shadowed = malloc(len))) {
                rc = must_err_set(err, MUST_ENOMEM, "plugin scan: out of memory");
                break;
            }
            char *w = shadowed;
            for (size_t k = i + 1; k < j; k++) {
                size_t l = strlen(v[k].file) + 1;
                memcpy(w, v[k].file, l);
                w += l;
            }
            *w = '\0';
        }
        int stop = fn(user, v[i].name, v[i].file, shadowed);
        free(shadowed);
        if (stop)
            break;
        i = j;
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].file);
    free(v);
    must_plugin_dirs_free(dirs);
    return rc;
}
