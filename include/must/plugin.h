/* must/plugin.h - finding and loading task plugins, and task instances.
 *
 * A plugin is <name>.so, where name is a plain word ([a-z0-9_]+, at most
 * MUST_PLUGIN_NAME_MAX bytes), found in the directories of MUST_PLUGIN_PATH
 * (a colon-separated list, searched first) and then in the install
 * directory ($(pkglibdir)).  Names are never paths: a configuration file
 * cannot make the program load an arbitrary file.
 *
 * Loading dlopens the file (RTLD_NOW | RTLD_LOCAL), calls its
 * must_task_init with the host table and checks what it returns: the ABI
 * version, the struct size, the required callbacks, the option table, and
 * that the plugin's name is its file's name.  A refusal names the file and,
 * for version problems, both versions.  A file is loaded once per process;
 * later loads share it, and the last must_plugin_unload calls its unload
 * callback and dlcloses it.
 *
 * A task instance (must_task) is one use of a plugin in an experiment: its
 * options (an INI section), then its head on a backbone, then forward,
 * loss, pseudo labels and evaluation through the plugin's vtable.
 */
#ifndef MUST_PLUGIN_H
#define MUST_PLUGIN_H

#include <stddef.h>

#include "must/export.h"
#include "must/task.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MUST_PLUGIN_NAME_MAX 64

/* 1 when name is a valid plugin (or task instance) name. */
MUST_API int must_plugin_name_valid(const char *name);

/* The install directory baked in at build time. */
MUST_API const char *must_plugin_install_dir(void);

/* The search directories in order (MUST_PLUGIN_PATH's non-empty entries,
 * then the install directory, then, for a program run from an uninstalled
 * build tree, libtool's .libs/ directory it runs from): a NULL-terminated
 * array of malloc'd strings that must_plugin_dirs_free releases. */
MUST_API char **must_plugin_dirs(void);

/* The directory of the running program when it is libtool's .libs/ in an
 * uninstalled build tree (malloc'd), else NULL. */
MUST_API char *must_build_tree_libs(void);
MUST_API void must_plugin_dirs_free(char **dirs);

/* ------------------------------------------------------------------------ */
/* Plugins. */

typedef struct must_plugin must_plugin;

/* Finds <name>.so on the search path and loads it.  A name that is not a
 * plain word is refused before anything is searched; MUST_ENOTFOUND lists
 * the directories searched. */
MUST_API int must_plugin_load(const char *name, must_plugin **out, must_err *err);
/* Loads a plugin from a file path (`must plugins` and tests); the plugin's
 * name must be the file name without ".so". */
MUST_API int must_plugin_load_file(const char *path, must_plugin **out, must_err *err);
/* The plugin's checked vtable (members it does not define read as NULL). */
MUST_API const must_task_ops *must_plugin_ops(const must_plugin *p);
/* The file it was loaded from. */
MUST_API const char *must_plugin_file(const must_plugin *p);
MUST_API void must_plugin_unload(must_plugin *p);

/* Calls fn once per plugin name found on the search path, in name order,
 * with the file that a load by name would open; other files of the same
 * name further down the path come as `shadowed` (NULL when none; a
 * NUL-separated list ending with an empty string).  Only file names
 * matching <plain word>.so are considered, except lib*.so (libraries, such
 * as libmust.so beside the plugins of a build tree); nothing is loaded.  fn returns
 * 0 to go on.  Returns MUST_OK or MUST_ENOMEM. */
typedef int (*must_plugin_scan_fn)(void *user, const char *name, const char *file,
                                   const char *shadowed);
MUST_API int must_plugin_scan(must_plugin_scan_fn fn, void *user, must_err *err);

/* Label kinds of plugins (must/kinds.h) met in files.  A set's dataset.ini
 * names its kinds; a kind that no loaded plugin defines is unknown, and
 * opening the set fails with a message naming the kind and the plugin to
 * load.  With on != 0, must loads that plugin itself instead: the kind is
 * looked for as the plugin of the same name on the search path (a plugin's
 * kind is called after the plugin), which is loaded and stays loaded.
 * Process-wide; the `must` program turns it on for every command, a
 * program of one's own calls this once or loads its plugins first. */
MUST_API void must_plugin_autoload_kinds(int on);

/* ------------------------------------------------------------------------ */
/* Task instances. */

typedef struct must_task must_task;

/* Loads `plugin` by name and makes an instance called `name` (NULL: the
 * plugin's name; a plain word), its options at their defaults. */
MUST_API int must_task_new(const char *plugin, const char *name, must_task **out, must_err *err);
/* The same over a plugin already loaded (the instance takes a reference). */
MUST_API int must_task_new_from(must_plugin *p, const char *name, must_task **out, must_err *err);
/* Frees the head, the config and the instance's reference to its plugin. */
MUST_API void must_task_free(must_task *t);

MUST_API const char *must_task_name(const must_task *t);
MUST_API const must_task_ops *must_task_get_ops(const must_task *t);
MUST_API const must_plugin *must_task_plugin(const must_task *t);

/* Sets one option from its INI text.  `where` ("exp.ini:12", or NULL) starts
 * every message.  Errors: an unknown key (the message lists the task's
 * keys), a key set twice, a value of the wrong type or out of range (the
 * message names key and value), any set after must_task_build. */
MUST_API int must_task_set(must_task *t, const char *key, const char *value, const char *where,
                           must_err *err);
/* n pairs, in order; stops at the first error. */
MUST_API int must_task_configure(must_task *t, int n, const char *const *keys,
                                 const char *const *values, const char *where, must_err *err);
/* The current value of an option as INI text ("0.5", "true", "ssi"). */
MUST_API int must_task_get(const must_task *t, const char *key, char *buf, size_t len,
                           must_err *err);
/* The filled option struct (ops->config_size bytes). */
MUST_API const void *must_task_config(const must_task *t);

/* Builds the head once.  env->prefix NULL means the instance name + ".". */
MUST_API int must_task_build(must_task *t, const must_task_env *env, must_err *err);
/* After must_task_build: the head's parameters and the levels it reads. */
MUST_API must_params *must_task_params(const must_task *t);
MUST_API unsigned must_task_levels(const must_task *t);

/* The vtable's forward and loss, with the context's sticky error set (and
 * NULL returned) when a needed level is missing or the head is unbuilt. */
MUST_API void *must_task_forward(must_task *t, must_ctx *ctx,
                                 must_tensor *const levels[MUST_NLEVELS],
                                 int in_h, int in_w);
MUST_API must_tensor *must_task_loss(must_task *t, must_ctx *ctx, void *pred, const must_batch *b,
                                     const float *example_mask);

/* Example i's pseudo label into out (initialised here; free it with
 * must_labels_free).  MUST_EINVAL when the task has no pseudo-labeller. */
MUST_API int must_task_pseudo_label(must_task *t, void *pred, const must_batch *b, int i,
                                    must_labels *out, must_err *err);

/* Metrics: the names, and 1 where lower is better. */
MUST_API int must_task_nmetrics(const must_task *t);
MUST_API const char *must_task_metric_name(const must_task *t, int i);
MUST_API int must_task_metric_lower_better(const must_task *t, int i);

/* Evaluation: begin, add every batch, end writes must_task_nmetrics values
 * and frees the state (also on error). */
typedef struct must_task_eval must_task_eval;
MUST_API int must_task_eval_begin(must_task *t, must_task_eval **out, must_err *err);
MUST_API int must_task_eval_add(must_task_eval *e, void *pred, const must_batch *b, must_err *err);
MUST_API int must_task_eval_end(must_task_eval *e, double *values, must_err *err);
/* 1 when the task's plugin can merge evaluation states (eval_merge). */
MUST_API int must_task_can_merge(const must_task *t);
/* Adds what `from` has seen into `into` (states of the same task),
 * leaving `from` as it was; MUST_EINVAL when the plugin cannot merge. */
MUST_API int must_task_eval_merge(must_task_eval *into, const must_task_eval *from,
                                  must_err *err);
/* Scores labels (guess[i] for example i, at the batch resolution) instead
 * of a prediction, into the same evaluation (see must_task_ops.
 * eval_add_labels); MUST_EINVAL when the plugin cannot. */
MUST_API int must_task_eval_add_labels(must_task_eval *e, const must_labels *guess,
                                       const must_batch *b,
                                       must_err *err);

/* The head's named timers (see must_task_ops.head_timers): how many it
 * keeps, the first max of them written to out; 0 when the plugin keeps
 * none or the head is not built. */
MUST_API int must_task_timers(must_task *t, must_task_timer *out, int max, int reset);

/* The visualizer (see must_task_ops.draw); MUST_EINVAL when there is none. */
MUST_API int must_task_draw(must_task *t, must_image *img, const must_labels *label, void *pred,
                            const must_batch *b, int i, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
