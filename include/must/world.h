/* must/world.h - the built-in world: procedural 3D scenes, rendered with
 * exact labels for all five tasks.
 *
 * A scene is a camera, a background (open ground under a sky, a closed room,
 * or a floor with one backdrop wall), up to three point lights and up to
 * MUST_WORLD_MAX_OBJECTS objects of MUST_WORLD_NCAT categories resting on
 * the floor.  must_world_render() casts one ray through each pixel centre
 * for the labels (so they are exact for that ray) and shades the image from
 * the same rays, adding four more rays per pixel where an edge or a shadow
 * boundary crosses it (anti-aliasing).  Textures are box-filtered over the
 * pixel's footprint instead of supersampled.
 *
 * A domain (an INI preset, see docs/world.md) says how scenes are drawn:
 * which categories, how many, palettes, lighting, camera and backgrounds.
 * must_world_sample() draws scene `index` of a domain from a generator
 * seeded by (domain name, seed, index) alone, and the renderer uses only
 * IEEE arithmetic and square roots (no libm transcendental functions), so
 * the same (domain, seed, index, size) gives the same bytes on any machine
 * and with any number of threads.
 *
 * Conventions: world y is up and the floor is y = 0; metres throughout.
 * The camera frame has x right, y down, z forward.  The ray of pixel
 * (row i, column j) of an S x S image leaves the camera position along
 *     forward + u * right + v * down,  u = (2 (j + 0.5) / S - 1) tan(fov / 2),
 *                                      v = (2 (i + 0.5) / S - 1) tan(fov / 2),
 * with forward pointing at the target and right horizontal.
 */
#ifndef MUST_WORLD_H
#define MUST_WORLD_H

#include <stdint.h>

#include "must/error.h"
#include "must/export.h"
#include "must/labels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MUST_WORLD_MAX_OBJECTS 32
#define MUST_WORLD_MAX_LIGHTS 3

/* Object categories (the detection and classification taxonomy). */
enum must_world_category {
    MUST_WORLD_SPHERE, MUST_WORLD_CUBE, MUST_WORLD_CYLINDER, MUST_WORLD_CONE,
    MUST_WORLD_TORUS, MUST_WORLD_CAPSULE, MUST_WORLD_PYRAMID, MUST_WORLD_RING,
    MUST_WORLD_EGG, MUST_WORLD_OCTAHEDRON, MUST_WORLD_WEDGE, MUST_WORLD_HEXPRISM,
    MUST_WORLD_TETRAHEDRON, MUST_WORLD_PLANK, MUST_WORLD_CROSS, MUST_WORLD_DUMBBELL,
    MUST_WORLD_SNOWMAN, MUST_WORLD_TABLE, MUST_WORLD_MUSHROOM, MUST_WORLD_ARCH,
    MUST_WORLD_NCAT
};

/* Stuff: what is not an object. */
enum must_world_stuff {
    MUST_WORLD_SKY, MUST_WORLD_FLOOR, MUST_WORLD_WALL, MUST_WORLD_CEILING, MUST_WORLD_NSTUFF
};

/* A frame's semantic map holds these global ids: stuff, then categories. */
#define MUST_WORLD_SEM_OBJECT(cat) (MUST_WORLD_NSTUFF + (cat))

enum must_world_texture {
    MUST_WORLD_TEX_PLAIN, MUST_WORLD_TEX_CHECKER, MUST_WORLD_TEX_STRIPES, MUST_WORLD_TEX_NOISE,
    MUST_WORLD_NTEX
};

enum must_world_background {
    MUST_WORLD_BG_OPEN,     /* ground disc of radius `ground` under a sky */
    MUST_WORLD_BG_ROOM,     /* floor, four walls, ceiling: no sky anywhere */
    MUST_WORLD_BG_BACKDROP, /* ground and one wall behind the objects, sky above */
    MUST_WORLD_NBG
};

/* Task bits: 1 << the label kind (must/labels.h). */
enum {
    MUST_WORLD_CLASSIFICATION = 1u << MUST_LABEL_CLASSIFICATION,
    MUST_WORLD_DETECTION = 1u << MUST_LABEL_DETECTION,
    MUST_WORLD_SEGMENTATION = 1u << MUST_LABEL_SEGMENTATION,
    MUST_WORLD_DEPTH = 1u << MUST_LABEL_DEPTH,
    MUST_WORLD_NORMAL = 1u << MUST_LABEL_NORMAL,
    MUST_WORLD_ALL_TASKS = (1u << MUST_LABEL_NKINDS) - 1
};

/* "sphere", ...; NULL out of range.  _find returns -1 for an unknown name. */
MUST_API const char *must_world_category_name(int category);
MUST_API int must_world_category_find(const char *name);
/* "sky", "floor", "wall", "ceiling". */
MUST_API const char *must_world_stuff_name(int stuff);
MUST_API int must_world_stuff_find(const char *name);
/* Number of poses of a category (0: upright; 1: lying or standing on edge). */
MUST_API int must_world_category_poses(int category);
/* "classification", ...; the index of bit 1 << i. */
MUST_API const char *must_world_task_name(int i);

typedef struct must_world_material {
    float color[3];  /* albedo, linear RGB in [0, 1] */
    float color2[3]; /* the texture's second colour */
    int texture;     /* MUST_WORLD_TEX_* */
    float freq;      /* texture cycles per unit (object: per size; stuff: per metre) */
    float specular;  /* Blinn-Phong strength, 0..1 */
    int shininess;   /* Blinn-Phong exponent, 1..256 */
} must_world_material;

typedef struct must_world_object {
    int category;
    int pose;
    float pos[3];   /* the centre of its base (bottom face of its bounding box), metres */
    float yaw;      /* turn about the vertical axis, radians */
    float size;     /* metres: the largest extent of the shape */
    must_world_material mat;
} must_world_object;

typedef struct must_world_light {
    float pos[3];
    float color[3];  /* linear RGB times intensity */
} must_world_light;

typedef struct must_world_scene {
    float cam_pos[3], cam_target[3];
    float fov;            /* degrees, horizontal = vertical (square images) */
    int background;       /* MUST_WORLD_BG_* */
    float room[5];        /* room or backdrop: x0, x1, z0, z1, height (backdrop wall at z1) */
    float ground;         /* open ground and backdrop floor: radius around the camera */
    must_world_material floor, wall, ceiling;
    float sky_top[3], sky_horizon[3];
    float ambient[3];     /* light reaching every surface, linear RGB */
    int n_lights;
    must_world_light lights[MUST_WORLD_MAX_LIGHTS];
    int n_objects;
    must_world_object objects[MUST_WORLD_MAX_OBJECTS];
} must_world_scene;

/* What each object left in a frame. */
typedef struct must_world_objstat {
    int category;
    int visible;    /* pixels whose centre ray sees it first */
    int vbox[4];    /* x0, y0, x1, y1 of those pixels, half-open; 0s when none */
    int silhouette; /* pixels whose centre ray meets it at all, occluded or not */
    int sbox[4];    /* the same box for those pixels: its projection in the image */
} must_world_objstat;

/* A rendered image and its labels.  All maps are S x S, row-major. */
typedef struct must_world_frame {
    int size;
    uint8_t *rgb;       /* (S, S, 3) display RGB (gamma 2) */
    uint8_t *semantic;  /* (S, S) global ids: MUST_WORLD_SKY.. or MUST_WORLD_SEM_OBJECT(cat) */
    uint8_t *instance;  /* (S, S) object index + 1, 0 for stuff */
    float *depth;       /* (S, S) z in the camera frame, metres; 0 for sky */
    float *normal;      /* (S, S, 3) unit normals in the camera frame; 0 0 0 for sky */
    int n_objects;
    must_world_objstat objs[MUST_WORLD_MAX_OBJECTS];
    int min_pixels;     /* objects with fewer visible pixels get no box */
    int image_class;    /* category of the object with the most visible pixels, -1 if none */
    void *priv;         /* the renderer's scratch */
} must_world_frame;

/* Allocates the maps for S x S (S in 8..1024); free with must_world_frame_free.
 * A frame may be rendered into any number of times. */
MUST_API int must_world_frame_alloc(must_world_frame *f, int size, must_err *err);
MUST_API void must_world_frame_free(must_world_frame *f);

/* Minimum visible pixels for a box: 8 at 64 x 64, scaled with the area. */
MUST_API int must_world_min_pixels(int size);

/* Renders scene into f (single-threaded; render frames in parallel).
 * Rejects a scene with out-of-range counts, categories or fov. */
MUST_API int must_world_render(const must_world_scene *scene, must_world_frame *f, must_err *err);
/* The same without shading: every label and statistic, but f->rgb is left
 * as it was.  Several times cheaper (no shadow or anti-aliasing rays). */
MUST_API int must_world_render_labels(const must_world_scene *scene, must_world_frame *f,
                                      must_err *err);

/* ------------------------------------------------------------------------ */
/* Domains. */

typedef struct must_world_domain must_world_domain;

/* Loads a domain by name: NAME.ini from each directory of $MUST_WORLD_PATH
 * (colon-separated), then $MUST_SRCDIR/etc/must/world, then the installed
 * $(sysconfdir)/must/world, then the copy built into the library.  A name
 * containing '/' or ending in ".ini" is read as a file path instead. */
MUST_API int must_world_domain_load(const char *name, must_world_domain **out, must_err *err);
/* Parses INI text; `file` names it in error messages.  Domains named in a
 * `mix` key are loaded with must_world_domain_load. */
MUST_API int must_world_domain_parse(const char *text, const char *file, must_world_domain **out,
                                     must_err *err);
MUST_API void must_world_domain_free(must_world_domain *d);

/* The built-in presets, in a fixed order: name and INI text. */
MUST_API int must_world_builtin_count(void);
MUST_API const char *must_world_builtin_name(int i);
MUST_API const char *must_world_builtin_text(int i);

MUST_API const char *must_world_domain_name(const must_world_domain *d);
/* Where it came from: a path, or "built-in:NAME". */
MUST_API const char *must_world_domain_source(const must_world_domain *d);
MUST_API const char *must_world_domain_mirrors(const must_world_domain *d);
MUST_API const char *must_world_domain_role(const must_world_domain *d);  /* teacher|unlabelled|downstream */
MUST_API const char *must_world_domain_description(const must_world_domain *d);
/* Labels written with the images (MUST_WORLD_* task bits). */
MUST_API unsigned must_world_domain_tasks(const must_world_domain *d);
MUST_API int must_world_domain_default_count(const must_world_domain *d);
/* Percent of images in train, val and test. */
MUST_API void must_world_domain_splits(const must_world_domain *d, int pct[3]);
/* The split (0 train, 1 val, 2 test) of image `index`: fixed by the index
 * alone, so a set grows without moving images between splits. */
MUST_API int must_world_domain_split_of(const must_world_domain *d, uint64_t index);

/* The classes of a task, index = class id (classification and detection:
 * object categories; segmentation: "background", the stuff the domain
 * names, then the categories).  Returns the count; names[i] are static. */
MUST_API int must_world_domain_classes(const must_world_domain *d, unsigned task,
                                       const char **names,
                                       int max);
/* Maps a frame's global semantic id to the domain's segmentation class (0
 * background), and a category to its detection/classification class (-1
 * when the domain does not have it). */
MUST_API int must_world_domain_seg_class(const must_world_domain *d, int semantic);
MUST_API int must_world_domain_class_of(const must_world_domain *d, int category);
/* Ignore band: segmentation marks object borders 255 for this many pixels
 * (Pascal's "void" outline); 0 for none. */
MUST_API int must_world_domain_void_edges(const must_world_domain *d);
/* Detection boxes whose visible fraction of the silhouette is below this
 * are flagged difficult (0: never). */
MUST_API float must_world_domain_difficult(const must_world_domain *d);

/* Draws scene `index` for seed `seed`.  `attempt` > 0 draws another scene
 * for the same image (used when a draw leaves no object in view). */
MUST_API int must_world_sample(const must_world_domain *d, uint64_t seed, uint64_t index,
                               int attempt,
                               must_world_scene *scene, must_err *err);

/* Samples and renders image `index`, redrawing (deterministically) until
 * an object of at least min_pixels is visible.  scene may be NULL. */
MUST_API int must_world_render_index(const must_world_domain *d, uint64_t seed, uint64_t index,
                                     must_world_frame *f, must_world_scene *scene, must_err *err);
/* The same with must_world_render_labels: the same labels, no image. */
MUST_API int must_world_label_index(const must_world_domain *d, uint64_t seed, uint64_t index,
                                    must_world_frame *f, must_world_scene *scene, must_err *err);

/* ------------------------------------------------------------------------ */
/* Writing a dataset (docs/dataset-format.md). */

typedef struct must_world_gen_opts {
    int count;        /* images 0..count-1 */
    int size;         /* S */
    uint64_t seed;
    int threads;      /* <= 0: one per core */
    int truth;        /* also write DIR/truth/ with every task (always on for unlabelled) */
    int quiet;        /* no progress on stderr */
} must_world_gen_opts;

typedef struct must_world_gen_stats {
    int rendered;     /* images made by this call */
    int skipped;      /* images an earlier run had finished */
    double seconds;
} must_world_gen_stats;

/* Writes (or completes) the dataset in dir.  Each image and each label map
 * is written atomically, the image last, so a rerun skips the images whose
 * files are all there.  The text labels (classes, boxes), split lists and
 * dataset.ini are written at the very end, dataset.ini last, the text labels
 * from a second, labels-only render.  A dir made with another domain, seed
 * or size is refused. */
MUST_API int must_world_generate(const must_world_domain *d, const char *dir,
                                 const must_world_gen_opts *opts, must_world_gen_stats *stats,
                                 must_err *err);

#ifdef __cplusplus
}
#endif
#endif
