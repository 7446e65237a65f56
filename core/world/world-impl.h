/* world-impl.h - internals of the built-in world shared by its files. */
#ifndef MUST_WORLD_IMPL_H
#define MUST_WORLD_IMPL_H

#include <math.h>
#include <stdint.h>

#include "base/conf-impl.h"
#include "must/tensor.h"
#include "must/world.h"

/* ------------------------------------------------------------------------ */
/* Small vector algebra.  Float only; every expression is written out so the
 * order of operations (and so every rounding) is fixed by the source. */

typedef struct { float x, y, z; } v3;

static inline v3 v3m(float x, float y, float z) { v3 r = {x, y, z}; return r; }
static inline v3 v3a(const float *p) { return v3m(p[0], p[1], p[2]); }
static inline v3 v3add(v3 a, v3 b) { return v3m(a.x + b.x, a.y + b.y, a.z + b.z); }
static inline v3 v3sub(v3 a, v3 b) { return v3m(a.x - b.x, a.y - b.y, a.z - b.z); }
static inline v3 v3mul(v3 a, float s) { return v3m(a.x * s, a.y * s, a.z * s); }
static inline v3 v3had(v3 a, v3 b) { return v3m(a.x * b.x, a.y * b.y, a.z * b.z); }
static inline float v3dot(v3 a, v3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static inline v3 v3cross(v3 a, v3 b)
{
    return v3m(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}
static inline float v3len(v3 a) { return sqrtf(v3dot(a, a)); }
static inline v3 v3norm(v3 a)
{
    float l = v3len(a);
    return l > 0.0f ? v3mul(a, 1.0f / l) : a;
}

/* Sine and cosine of double x by range reduction and a Taylor polynomial:
 * the same bits on every machine, unlike libm's.  Only scene set-up uses
 * them, so speed does not matter. */
double must_world_sin(double x);
double must_world_cos(double x);
#define MUST_WORLD_PI 3.14159265358979323846

/* tan(fov / 2) for fov in degrees. */
float must_world_tan_half(float fov_deg);

/* ------------------------------------------------------------------------ */
/* Shapes: each category is a union of up to WORLD_MAX_PARTS parts in a
 * canonical frame (y up, largest extent about 1).  A part is a convex
 * primitive, optionally cut by a half-space and minus another convex part
 * (a ring is a disc minus a narrower, taller disc), or a torus. */

enum world_prim {
    PRIM_SPHERE,    /* c, a[0] = radius */
    PRIM_ELLIPSOID, /* c, a = radii */
    PRIM_BOX,       /* c, a = half extents */
    PRIM_CYL,       /* c, a[0] = radius, a[1] = half height; axis y */
    PRIM_CONE,      /* c = base centre, a[0] = base radius, a[1] = height; apex up */
    PRIM_CAPSULE,   /* c, a[0] = radius, a[1] = half length of the axis segment; axis y */
    PRIM_POLY,      /* np planes n . x <= d */
    PRIM_TORUS      /* c, a[0] = ring radius, a[1] = tube radius; axis y */
};

#define WORLD_MAX_PARTS 6
#define WORLD_MAX_PLANES 8

typedef struct world_part {
    int kind;
    float c[3];
    float a[3];
    int np;
    float planes[WORLD_MAX_PLANES][4];
    int has_cut;          /* keep only n . x <= d of cut */
    float cut[4];
    int axis;             /* cylinders and capsules: 0 along y, 1 along x, 2 along z */
    int minus;            /* 1 + index of a part subtracted from this one; 0 for none */
    int hidden;           /* a part that only serves as a subtrahend */
} world_part;

typedef struct world_shape {
    const char *name;
    int nparts;
    world_part parts[WORLD_MAX_PARTS];
    float lo[3], hi[3];   /* canonical bounding box */
    int poses;            /* 1, or 2 when it may also lie (rotated 90 degrees about x) */
} world_shape;

/* The shape table, indexed by category (constant data). */
extern const world_shape must_world_shape_table[MUST_WORLD_NCAT];

/* The first surface of part `part` (or of the whole shape) that the ray
 * o + t d meets with tmin <= t <= tmax, in the canonical frame: t and an
 * outward normal, not unit length.  0 when none. */
int must_world_part_hit(const world_shape *s, int part, v3 o, v3 d, float tmin, float tmax,
                        float *t_out, v3 *n_out);
int must_world_shape_hit(const world_shape *s, v3 o, v3 d, float tmin, float tmax, float *t_out,
                         v3 *n_out);

/* ------------------------------------------------------------------------ */
/* Domains. */

typedef struct { float lo, hi; } wrange;

#define WORLD_MAX_MIX 8
#define WORLD_NAME_MAX 64

struct must_world_domain {
    char name[WORLD_NAME_MAX];
    char *source;
    char mirrors[128];
    char role[16];
    char description[256];
    unsigned tasks;
    int default_count;
    int splits[3];

    /* objects */
    int n_classes;
    int classes[MUST_WORLD_NCAT];    /* category of class i */
    int class_of[MUST_WORLD_NCAT];   /* class of category, or -1 */
    unsigned stuff;                  /* bit per MUST_WORLD_* stuff segmented on its own */
    wrange count, size, fill, distance;
    int dominant;
    float lying;
    int void_edges;
    float difficult;

    /* look */
    float tex_w[MUST_WORLD_NTEX];
    wrange hue, sat, val, contrast, freq, specular, shininess;

    /* background */
    float bg_w[MUST_WORLD_NBG];
    wrange room_w, room_d, room_h;
    float floor_tex_w[MUST_WORLD_NTEX], wall_tex_w[MUST_WORLD_NTEX];
    wrange floor_hue, floor_sat, floor_val, wall_hue, wall_sat, wall_val;
    wrange sky_hue, sky_sat, sky_val;

    /* camera */
    wrange cam_height, pitch, yaw, fov;

    /* lights */
    wrange n_lights, intensity, ambient, warmth, light_height;

    /* a mixture of other domains: each image draws its component first */
    int n_mix;
    must_world_domain *mix[WORLD_MAX_MIX];
    float mix_w[WORLD_MAX_MIX];
};

/* The seed of image `index`: FNV-1a of the name mixed with seed, index and
 * attempt through splitmix64, so neighbouring indices are unrelated. */
void must_world_rng_for(must_rng *r, const char *name, uint64_t seed, uint64_t index,
                        int attempt);

/* Reads a domain preset's INI text into d, from the defaults up (every key,
 * and the checks that need no other domain; domain_ini.c).  A mix's
 * component names go to mix_names (d->n_mix of them, not yet loaded: d->mix
 * is NULL) and the line of its key to *mix_line.  d's name and source are
 * left empty. */
int must_world_domain_read(must_world_domain *d, const char *text, const char *file,
                           char mix_names[][WORLD_NAME_MAX], int *mix_line, must_err *err);
/* Calls fn for every key of a domain INI: section, key, default ("" for
 * none), help. */
void must_world_domain_describe(must_conf_doc_fn fn, void *user);

/* Built-in preset texts (generated at build time from etc/must/world). */
typedef struct world_builtin {
    const char *name;
    const char *text;
} world_builtin;
extern const world_builtin must_world_builtins[];
extern const int must_world_n_builtins;

#endif
