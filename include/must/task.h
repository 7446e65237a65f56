/* must/task.h - the task plugin ABI.
 *
 * A task (classification, detection, segmentation, depth, surface normal, or
 * one of your own) is a shared object that exports one symbol:
 *
 *     const struct must_task_ops *must_task_init(const struct must_host *host,
 *                                                must_err *err);
 *
 * The host passes a table of the engine functions a plugin may call (ops,
 * tensors, parameters, labels, images), so a plugin links against nothing;
 * it only includes the public headers for their types.  Both structs start
 * with abi_version and struct_size; the loader refuses a plugin whose
 * abi_version differs from MUST_TASK_ABI_VERSION or whose struct_size is
 * smaller than the ABI version requires, naming the file and both numbers.
 *
 * Both structs are append-only: new members go at the end under a comment
 * naming the ABI version that added them (SQLite's sqlite3ext.h rule), and
 * existing members never change type or meaning.  The first members of
 * each struct stay where they are in every ABI version (ops: abi_version,
 * struct_size, name, version; host: abi_version, struct_size, version,
 * err_set), so that either side can name the other and report a mismatch.
 * A new required callback bumps MUST_TASK_ABI_VERSION; a new optional one
 * need not.  A plugin built against a newer header of the same ABI version
 * may find a host with fewer members: MUST_HOST_HAS() says whether one is
 * there.
 *
 * The guide for plugin authors is docs/plugins.md.
 */
#ifndef MUST_TASK_H
#define MUST_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "must/augment.h"
#include "must/conf.h"
#include "must/dataset.h"
#include "must/error.h"
#include "must/image.h"
#include "must/kinds.h"
#include "must/labels.h"
#include "must/loader.h"
#include "must/model.h"
#include "must/ops.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: label kinds of a plugin's own (codec, must_task_env.label_kind); the
 * four label_* members of ABI 1, which no host ever called, removed. */
#define MUST_TASK_ABI_VERSION 2
#define MUST_TASK_ENTRY "must_task_init"

/* ---- options: a declarative table (fio's engine options) --------------- */

/* A plugin's options are rows of the key table of must/conf.h (the same
 * rows describe every configuration of must); a plugin may use these five
 * types and no flags. */
enum must_opt_type {
    MUST_OPT_INT = MUST_CONF_INT,       /* int */
    MUST_OPT_FLOAT = MUST_CONF_FLOAT,   /* float */
    MUST_OPT_BOOL = MUST_CONF_BOOL,     /* int, 0 or 1; INI: true/false/yes/no/on/off/1/0 */
    MUST_OPT_STRING = MUST_CONF_STRING, /* char[MUST_OPT_STRING_MAX] */
    MUST_OPT_CHOICE = MUST_CONF_CHOICE  /* int: index of the value in `choices` */
};
#define MUST_OPT_STRING_MAX MUST_CONF_STRING_MAX
/* Or'ed into an option's type: it shapes pseudo labels only (must/conf.h). */
#define MUST_OPT_PSEUDO MUST_CONF_PSEUDO

/* Option names are plain words ([a-z0-9_]+), unique in their table; every
 * default must parse.  Ranges are inclusive.  The loader checks the table
 * and that each option lies inside config_size when it loads the plugin.
 * The members, in order (positional initialisers rely on it):
 *     const char *name;     INI key; the table ends with name == NULL
 *     int type;             enum must_opt_type
 *     size_t offset;        offsetof(your config struct, member)
 *     const char *def;      default, written as in an INI file
 *     const char *help;     one line
 *     const char *choices;  MUST_OPT_CHOICE: "l1log|ssi"
 *     double min, max;      numeric range; min == max means unbounded */
typedef must_conf_key must_task_option;

/* ---- what a head is built for ------------------------------------------ */

typedef struct must_task_env {
    const must_feature_desc *features; /* levels the backbone offers */
    int nclasses;                      /* this task's classes (0: depth, normal) */
    const char *const *class_names;    /* nclasses names, or NULL */
    int image_size;                    /* training resolution S */
    uint64_t seed;                     /* initialise the head's parameters from this */
    const char *prefix;                /* parameter-name prefix: "segmentation." */
    int label_kind;                    /* ABI 2: the index of the task's label kind in this
                                        * process (ops.label_kind for a built-in kind; the
                                        * index the registry gave a plugin's own kind) */
    /* New members go here, at the end: the host fills every member it
     * knows, and a plugin built against an older header reads fewer. */
} must_task_env;

struct must_host;

/* One named timer of a head (must_task_ops.head_timers). */
typedef struct must_task_timer {
    const char *name; /* a plain word, static in the plugin: "nms" */
    double seconds;   /* wall time accumulated */
} must_task_timer;

/* ---- the vtable ---------------------------------------------------------- */

typedef struct must_task_ops {
    uint32_t abi_version;               /* MUST_TASK_ABI_VERSION */
    uint32_t struct_size;               /* sizeof(struct must_task_ops) */
    const char *name;                   /* a plain word: "segmentation" */
    const char *version;                /* the plugin's own version */
    const char *summary;                /* one line for `must plugins` */
    int label_kind;                     /* enum must_label_kind it reads and writes, or
                                         * MUST_TASK_OWN_KIND with `codec` below */
    const char *const *metrics;         /* NULL-terminated; metrics[0] is the headline */
    const unsigned char *lower_better;  /* per metric: 1 when lower is better; NULL: all higher */
    const must_task_option *options;    /* NULL-terminated table, or NULL */
    size_t config_size;                 /* bytes of the struct `options` fill */

    /* Required.  The loader refuses a plugin where any is NULL. */

    /* Builds a head with its own parameters (named env->prefix + name) from
     * the feature description, initialised from env->seed.  config is the
     * filled option struct: the host owns it and keeps it alive, unchanged,
     * as long as the head.  Refuses a backbone that lacks a level it needs
     * with an error naming the level. */
    int (*head_new)(const struct must_host *host, const void *config,
                    const must_task_env *env, void **head, must_err *err);
    void (*head_free)(void *head);
    /* The head's parameters and buffers (owned by the head). */
    must_params *(*head_params)(void *head);
    /* MUST_LEVEL_BIT of every feature level forward reads. */
    unsigned (*head_levels)(void *head);
    /* Builds the head on the tape from the backbone's levels (the ones
     * head_levels names are non-NULL) for input images of in_h x in_w.
     * Returns the prediction: arena memory whose layout only the plugin
     * knows, valid until the context is reset; or NULL with the context's
     * error set.  Batch norm follows the context's training mode. */
    void *(*forward)(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w);
    /* The task's loss over the batch: a one-element tensor on the tape, or
     * NULL with the context's error set.  An example counts when
     * example_mask[i] != 0 (NULL: every example) and b->has[i] carries the
     * task's kind; the others get no loss (the supervised multi-task
     * baseline's rule).  The mean is over the counted examples' elements;
     * with nothing counted the loss is 0 and no gradient flows. */
    must_tensor *(*loss)(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask);

    /* Optional (NULL when the task lacks the role).  eval_begin,
     * eval_add and eval_end come together or not at all, and with them a
     * non-empty metrics[]. */

    /* Turns example i's prediction into a label at the batch resolution
     * (the host maps it back to the image's size with the inverse of
     * b->tf[i]).  out arrives initialised (must_labels_init); the plugin
     * fills its kind, allocating through the host (map_alloc,
     * labels_set_soft) so that the host frees it with must_labels_free, and
     * sets the kind's bit in out->has; a kind of the plugin's own goes in
     * out->ext[kind], an object its codec frees.  Thresholds and
     * temperatures come from the config. */
    int (*pseudo_label)(void *head, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err);
    /* Evaluation over a whole dataset: begin, add every batch (examples
     * without the task's label are skipped), end writes one value per
     * metrics[] name and frees the state, also when it fails; the host
     * abandons an evaluation by calling eval_end and ignoring the values. */
    void *(*eval_begin)(void *head, must_err *err);
    int (*eval_add)(void *state, void *pred, const must_batch *b, must_err *err);
    int (*eval_end)(void *state, double *values, must_err *err);
    /* ABI 2.  A kind of the plugin's own (must/kinds.h): with label_kind
     * MUST_TASK_OWN_KIND, the loader registers kind <plugin name> with this
     * codec, so that sets store it (labels/<name>/ or labels/<name>.txt,
     * dataset.ini's [<name>] section with the codec's keys), the loader
     * augments and collates it, `must dataset check` checks it; the kind's
     * index in this process reaches the head as must_task_env.label_kind
     * and `must_plugin_ops` shows it in label_kind.  A plugin that defines
     * a kind stays loaded for the life of the process (sets, labels and
     * batches of the kind call its codec as long as they live): its unload
     * is not called.  NULL with a built-in label_kind: the core's codecs
     * serve it. */
    const must_label_codec *codec;
    /* The visualizer: draws a label (pred == NULL; img has the label's
     * size) or example i's prediction (img is b->size square) over an 8-bit
     * RGB image, in place. */
    int (*draw)(void *head, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err);
    /* Frees what must_task_init allocated; called before dlclose, after
     * every head is freed. */
    void (*unload)(void);

    /* Optional.  Needs the evaluator above. */

    /* Scores labels instead of a prediction, into a state from eval_begin:
     * guess[i] is example i's label of the task's kind at the batch
     * resolution (maps b->size square, boxes in batch pixels), judged
     * against b's labels with the same metrics eval_add gives.  This is how
     * the pipeline measures pseudo labels against a hidden ground truth.
     * Examples whose guess or batch lacks the kind are skipped, as are the
     * pixels a dense guess leaves unlabelled (segmentation 255, depth 0,
     * normal (0, 0, 0)): the metrics judge what the labels say, and the
     * caller reports how much they cover.  A kind of the plugin's own:
     * guess[i].ext[kind] against b->ext[kind]. */
    int (*eval_add_labels)(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err);

    /* Optional. */

    /* Profiling: the head's own timers, wall seconds spent in named parts
     * of its work (detection: "match", "nms", "proposals") since it was
     * built or last reset.  Writes the first min(n, max) into out and
     * returns n, the number of timers the head keeps (max 0 counts them);
     * with reset != 0 every timer restarts from 0 after the reading.  Timers
     * may overlap (one part may contain another), so their shares of a step
     * need not add up.  `must bench train --tasks` prints them. */
    int (*head_timers)(void *head, must_task_timer *out, int max, int reset);

    /* Optional, after ABI 2's first members (a plugin whose struct_size
     * ends before it has none; the loader reads it as NULL).  Needs the
     * evaluator. */

    /* Adds what state `from` has seen into state `into` (both from
     * eval_begin of the same head), leaving `from` as it was: into then
     * holds what one state given both states' batches would.  The host
     * keeps one state per test image and merges them, with repeats, to
     * score resampled test sets (a paired bootstrap interval,
     * docs/experiments.md).  Without it no interval is given. */
    int (*eval_merge)(void *into, const void *from, must_err *err);
} must_task_ops;

/* label_kind of a plugin that defines its own kind (`codec`). */
#define MUST_TASK_OWN_KIND (-1)
/* label_kind of a self-supervised task, one that reads no labels: its loss
 * counts every example of the batch (SimCLR's NT-Xent, whose "label" is
 * the image's other view in the same batch).  Such a task trains only in
 * a section made for it ([simclr]); it cannot teach, be transferred to or
 * evaluated, so pseudo_label, eval_* and codec stay NULL.  Added in ABI 2
 * after its first release: a host that predates it refuses the plugin,
 * naming the value. */
#define MUST_TASK_NO_KIND (-2)

/* Bytes of the members ABI 2 defines: a plugin's struct_size may be larger
 * (a newer header of the same ABI: the loader ignores what it does not
 * know) but never smaller. */
#define MUST_TASK_OPS_V2_SIZE \
    (offsetof(must_task_ops, head_timers) + sizeof(((must_task_ops *)0)->head_timers))

/* ---- the host: the engine functions a plugin may call -------------------- */

typedef struct must_host {
    uint32_t abi_version;  /* MUST_TASK_ABI_VERSION */
    uint32_t struct_size;  /* sizeof(struct must_host) */
    const char *version;   /* must's package version */

    /* ABI 1 */
    int (*err_set)(must_err *e, int code, const char *fmt, ...) MUST_PRINTF(3, 4);
    int (*ctx_fail)(must_ctx *ctx, int code, const char *fmt, ...) MUST_PRINTF(3, 4);
    const must_err *(*ctx_error)(const must_ctx *ctx);
    int (*ctx_training)(const must_ctx *ctx);
    int (*ctx_threads)(const must_ctx *ctx);
    void *(*ctx_alloc)(must_ctx *ctx, size_t bytes);
    must_tensor *(*tensor_new)(must_ctx *ctx, int ndim, const int *shape);
    must_node *(*tape_record)(must_ctx *ctx, const char *op, must_backward_fn fn,
                              must_tensor *out, int n_in, must_tensor *const *in);

    must_params *(*params_new)(const char *prefix);
    must_tensor *(*params_add)(must_params *p, const char *name, int ndim, const int *shape,
                               unsigned flags);
    int (*params_alloc)(must_params *p, must_err *err);
    void (*params_free)(must_params *p);
    void (*rng_seed)(must_rng *r, uint64_t seed);
    float (*rng_uniform)(must_rng *r);
    void (*init_kaiming)(must_tensor *t, must_rng *r);
    void (*init_const)(must_tensor *t, float v);
    void (*init_uniform)(must_tensor *t, must_rng *r, float lo, float hi);

    must_tensor *(*conv2d)(must_ctx *, must_tensor *x, must_tensor *w, must_tensor *b,
                           int stride, int pad, int dil);
    must_tensor *(*batchnorm)(must_ctx *, must_tensor *x, must_tensor *gamma, must_tensor *beta,
                              must_tensor *rmean, must_tensor *rvar, float momentum, float eps);
    must_tensor *(*relu)(must_ctx *, must_tensor *x);
    must_tensor *(*add)(must_ctx *, must_tensor *a, must_tensor *b);
    must_tensor *(*mul)(must_ctx *, must_tensor *a, must_tensor *b);
    must_tensor *(*scale)(must_ctx *, must_tensor *x, float s);
    must_tensor *(*sigmoid)(must_ctx *, must_tensor *x);
    must_tensor *(*exp)(must_ctx *, must_tensor *x);
    must_tensor *(*sum)(must_ctx *, must_tensor *x);
    must_tensor *(*mean)(must_ctx *, must_tensor *x);
    must_tensor *(*concat)(must_ctx *, int n, must_tensor *const *xs);
    must_tensor *(*resize_nearest)(must_ctx *, must_tensor *x, int oh, int ow);
    must_tensor *(*resize_bilinear)(must_ctx *, must_tensor *x, int oh, int ow);
    must_tensor *(*maxpool)(must_ctx *, must_tensor *x, int k, int stride, int pad);
    must_tensor *(*global_avgpool)(must_ctx *, must_tensor *x);
    must_tensor *(*linear)(must_ctx *, must_tensor *x, must_tensor *w, must_tensor *b);
    must_tensor *(*reshape)(must_ctx *, must_tensor *x, int ndim, const int *shape);
    must_tensor *(*flatten)(must_ctx *, must_tensor *x);
    must_tensor *(*l2normalize)(must_ctx *, must_tensor *x, float eps);
    must_tensor *(*cross_entropy)(must_ctx *, must_tensor *logits, const int32_t *labels,
                                  int ignore_index);
    must_tensor *(*soft_cross_entropy)(must_ctx *, must_tensor *logits, const float *targets,
                                       const float *example_mask);
    must_tensor *(*bce_logits)(must_ctx *, must_tensor *x, const float *t, const float *mask);
    must_tensor *(*huber)(must_ctx *, must_tensor *x, const float *t, const float *mask,
                          float delta);
    must_tensor *(*l1)(must_ctx *, must_tensor *x, const float *t, const float *mask);
    must_tensor *(*l2)(must_ctx *, must_tensor *x, const float *t, const float *mask);
    must_tensor *(*cosine_loss)(must_ctx *, must_tensor *pred, const float *t, const float *mask);

    int (*map_alloc)(must_map *m, int channels, int height, int width, must_err *err);
    void (*map_free)(must_map *m);
    int (*boxes_push)(must_boxes *b, const must_box *box, must_err *err);
    int (*labels_set_soft)(must_labels *l, int k, const float *p, must_err *err);
    int (*image_alloc)(must_image *img, int width, int height, int channels, int depth,
                       must_err *err);
    void (*image_free)(must_image *img);

    /* The rest of the context and RNG, and what a plugin's own label codec
     * needs. */
    int (*ctx_grad)(const must_ctx *ctx);
    char *(*shape_str)(const must_tensor *t, char *buf, size_t len);
    float (*rng_normal)(must_rng *r);
    uint32_t (*rng_below)(must_rng *r, uint32_t n);
    const char *(*dataset_id)(const must_dataset *ds, int index);
    int (*dataset_nclasses)(const must_dataset *ds, int kind);
    char *(*dataset_label_path)(const must_dataset *ds, int kind, int index);
    int (*png_read)(const char *path, must_image *img, int channels, int depth, must_err *err);
    int (*png_write)(const char *path, const must_image *img, must_err *err);
    int (*aug_resample_nearest)(const must_map *src, const must_aug_tf *tf, float fill,
                                must_map *dst, must_err *err);
    void (*aug_flip_map)(must_map *m);

    /* Appended in ABI 2 (test with MUST_HOST_HAS before calling). */
    must_tensor *(*nt_xent)(must_ctx *, must_tensor *z, float tau, float eps);
} must_host;

/* Bytes of the host members ABI 1 defines. */
#define MUST_HOST_V1_SIZE \
    (offsetof(must_host, aug_flip_map) + sizeof(((must_host *)0)->aug_flip_map))

/* 1 when the host passed to the plugin has `member`: a plugin built against
 * a newer header of the same ABI version tests members added after
 * MUST_HOST_V1_SIZE before calling them. */
#define MUST_HOST_HAS(host, member) \
    (offsetof(must_host, member) + sizeof((host)->member) <= (size_t)(host)->struct_size)

/* Marks the entry point exported when a plugin is built with
 * -fvisibility=hidden (the way to export nothing else without libtool's
 * -export-symbols-regex):
 *     MUST_TASK_EXPORT const must_task_ops *must_task_init(...) { ... } */
#if defined(__GNUC__)
#define MUST_TASK_EXPORT __attribute__((visibility("default")))
#else
#define MUST_TASK_EXPORT
#endif

/* The entry point's type.  It checks host->abi_version (and
 * MUST_HOST_HAS for newer members it uses) and returns its static ops
 * table, or NULL with the reason in err (never NULL err).  MUST_TASK_PLUGIN
 * below writes one. */
typedef const must_task_ops *(*must_task_init_fn)(const must_host *host, must_err *err);

/* The check an entry point makes before it trusts the host table: MUST_OK
 * when the host speaks this header's ABI version and has at least ABI 1's
 * members, else MUST_EABI with err naming the plugin and both sides.  Only
 * abi_version, struct_size and err_set are read, the members every ABI
 * version keeps in place.  Inline, since a plugin links nothing of must's. */
static inline int must_task_check_host(const must_host *host, const char *plugin,
                                       must_err *err)
{
    if (host->abi_version == MUST_TASK_ABI_VERSION && host->struct_size >= MUST_HOST_V1_SIZE)
        return MUST_OK;
    host->err_set(err, MUST_EABI, "%s: host ABI %u (%u bytes), plugin ABI %d", plugin,
                  (unsigned)host->abi_version, (unsigned)host->struct_size,
                  MUST_TASK_ABI_VERSION);
    return MUST_EABI;
}

/* A plugin's ops table and entry point in one declaration, so that a plugin
 * writes its callbacks and this (docs/plugins.md):
 *
 *     static const must_host *H;      // the callbacks reach the engine here
 *     ...the callbacks...
 *     MUST_TASK_PLUGIN(H,
 *                      .name = "mytask", .version = "1.0.0", .summary = "one line",
 *                      .label_kind = MUST_LABEL_CLASSIFICATION, .metrics = metrics,
 *                      .options = options, .config_size = sizeof(my_config),
 *                      .head_new = head_new, .head_free = head_free, ...);
 *
 * host_var is where the entry keeps the host table, any lvalue of type
 * const must_host *.  The rest are the table's members as designated
 * initialisers; abi_version and struct_size are filled in here (giving them
 * again draws -Woverride-init, which -Wextra enables).  The entry point,
 * must_task_init, checks the host with must_task_check_host under the
 * table's name, keeps it in host_var and returns the table; it is marked
 * MUST_TASK_EXPORT, so a plugin built with -fvisibility=hidden exports it
 * and nothing else.  The table is declared first and defined last (a
 * tentative definition, C11 6.9.2), so that the caller's semicolon ends its
 * initialiser.  A plugin that must do more when it is loaded (MUST_HOST_HAS
 * tests of newer host members, tables built once) writes its own entry
 * point instead and calls must_task_check_host first. */
#define MUST_TASK_PLUGIN(host_var, ...)                                                        \
    static const must_task_ops must_task_plugin_ops;                                          \
    MUST_TASK_EXPORT const must_task_ops *must_task_init(const must_host *host, must_err *err); \
    MUST_TASK_EXPORT const must_task_ops *must_task_init(const must_host *host, must_err *err) \
    {                                                                                         \
        if (must_task_check_host(host, must_task_plugin_ops.name, err) != MUST_OK)            \
            return NULL;                                                                      \
        (host_var) = host;                                                                    \
        return &must_task_plugin_ops;                                                         \
    }                                                                                         \
    static const must_task_ops must_task_plugin_ops = {                                       \
        .abi_version = MUST_TASK_ABI_VERSION,                                                 \
        .struct_size = sizeof(must_task_ops),                                                 \
        __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif
