/* render.c - casting rays through a scene: labels and anti-aliased RGB.
 *
 * Pass 1 casts the ray through each pixel centre.  Its first surface gives
 * the labels (class, instance, depth, normal) exactly for that ray, and its
 * shading gives a first colour.  Pass 2 finds pixels crossed by an edge
 * (a neighbour sees another surface) or a shadow boundary (a neighbour sees
 * another set of lights) and replaces their colour by the mean of four rays
 * in a rotated grid.  Textures are box-filtered analytically over each ray's
 * footprint, so flat areas need no extra rays. */
#include "config.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "texture.h"
#include "world-impl.h"

#define TINF FLT_MAX
#define SHADOW_EPS 2e-3f /* metres: lifts shadow rays off the surface they leave */

/* An object ready for rays: canonical frame -> world is T + s * M x. */
typedef struct wobj {
    const world_shape *shape;
    const must_world_material *mat;
    v3 col[3];      /* columns of the rotation M */
    v3 T;
    float s, inv_s;
    v3 bc;          /* bounding sphere */
    float br;
    int x0, x1, y0, y1; /* pixels whose rays may meet it (half-open) */
} wobj;

/* What a ray met first. */
typedef struct rhit {
    float t;
    int obj;        /* object index, or -1 for stuff */
    int stuff;      /* MUST_WORLD_* when obj < 0 */
    v3 n;           /* unit world normal */
    v3 tp;          /* texture coordinates: canonical (objects) or world (stuff) */
    float scale;    /* metres per texture unit */
} rhit;

typedef struct rctx {
    const must_world_scene *sc;
    int S;
    v3 eye, fwd, right, down;
    float th;       /* tan(fov / 2) */
    float pix;      /* angle of one pixel at the centre, radians (small-angle) */
    int n;
    wobj obj[MUST_WORLD_MAX_OBJECTS];
    v3 lpos[MUST_WORLD_MAX_LIGHTS], lcol[MUST_WORLD_MAX_LIGHTS];
    int nl;
} rctx;

typedef struct frame_priv {
    float *col;      /* (S, S, 3) linear colour of the centre ray */
    int16_t *id;     /* (S, S) object index, or -1 - stuff */
    uint8_t *lit;    /* (S, S) bit per light that reaches the centre ray's surface */
} frame_priv;

int must_world_min_pixels(int size)
{
    int m = (int)((8.0 * size * size) / 4096.0 + 0.5);
    return m < 1 ? 1 : m;
}

int must_world_frame_alloc(must_world_frame *f, int size, must_err *err)
{
    memset(f, 0, sizeof *f);
    if (size < 8 || size > 1024)
        return must_err_set(err, MUST_EINVAL, "world frame: size %d outside 8..1024", size);
    size_t np = (size_t)size * (size_t)size;
    frame_priv *p = calloc(1, sizeof *p);
    f->size = size;
    f->rgb = malloc(np * 3);
    f->semantic = malloc(np);
    f->instance = malloc(np);
    f->depth = malloc(np * sizeof(float));
    f->normal = malloc(np * 3 * sizeof(float));
    f->priv = p;
    if (p) {
        p->col = malloc(np * 3 * sizeof(float));
        p->id = malloc(np * sizeof(int16_t));
        p->lit = malloc(np);
    }
    if (!p || !f->rgb || !f->semantic || !f->instance || !f->depth || !f->normal || !p->col ||
        !p->id || !p->lit) {
        must_world_frame_free(f);
        return must_err_set(err, MUST_ENOMEM, "world frame %dx%d: out of memory", size, size);
    }
    f->min_pixels = must_world_min_pixels(size);
    f->image_class = -1;
    return MUST_OK;
}

void must_world_frame_free(must_world_frame *f)
{
    frame_priv *p = f->priv;
    if (p) {
        free(p->col);
        free(p->id);
        free(p->lit);
        free(p);
    }
    free(f->rgb);
    free(f->semantic);
    free(f->instance);
    free(f->depth);
    free(f->normal);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------------ */
/* Set-up. */

static int check_scene(const must_world_scene *sc, must_err *err)
{
    if (!(sc->fov >= 5.0f && sc->fov <= 150.0f))
        return must_err_set(err, MUST_EINVAL, "world scene: fov %g outside 5..150 degrees",
                            (double)sc->fov);
    if (sc->background < 0 || sc->background >= MUST_WORLD_NBG)
        return must_err_set(err, MUST_EINVAL, "world scene: background %d unknown",
                            sc->background);
    if (sc->n_lights < 0 || sc->n_lights > MUST_WORLD_MAX_LIGHTS)
        return must_err_set(err, MUST_EINVAL, "world scene: %d lights (at most %d)",
                            sc->n_lights, MUST_WORLD_MAX_LIGHTS);
    if (sc->n_objects < 0 || sc->n_objects > MUST_WORLD_MAX_OBJECTS)
        return must_err_set(err, MUST_EINVAL, "world scene: %d objects (at most %d)",
                            sc->n_objects, MUST_WORLD_MAX_OBJECTS);
    v3 f = v3sub(v3a(sc->cam_target), v3a(sc->cam_pos));
    float fl = v3len(f);
    if (!(fl > 1e-6f) || fabsf(f.y) > 0.999f * fl)
        return must_err_set(err, MUST_EINVAL,
                            "world scene: camera target must differ from the camera position "
                            "and not lie straight above or below it");
    for (int i = 0; i < sc->n_objects; i++) {
        const must_world_object *o = &sc->objects[i];
        if (o->category < 0 || o->category >= MUST_WORLD_NCAT)
            return must_err_set(err, MUST_EINVAL, "world scene: object %d: category %d unknown",
                                i, o->category);
        if (o->pose < 0 || o->pose >= must_world_shape_table[o->category].poses)
            return must_err_set(err, MUST_EINVAL, "world scene: object %d (%s): pose %d unknown",
                                i, must_world_category_name(o->category), o->pose);
        if (!(o->size > 1e-3f && o->size < 1e3f))
            return must_err_set(err, MUST_EINVAL, "world scene: object %d: size %g", i,
                                (double)o->size);
    }
    return MUST_OK;
}

/* Pixel range [lo, hi) whose rays may meet a sphere at camera coordinates
 * (c, cz) of radius r along one image axis: the tangent lines from the eye. */
static void sphere_span(float c, float cz, float r, float th, int S, int *lo, int *hi)
{
    float den = cz * cz - r * r;
    float root = sqrtf(c * c + den);
    float m0 = (c * cz - r * root) / den, m1 = (c * cz + r * root) / den;
    float half = 0.5f * (float)S;
    float p0 = (m0 / th + 1.0f) * half - 0.5f, p1 = (m1 / th + 1.0f) * half - 0.5f;
    /* a pixel's rays span half a pixel either side of its centre */
    float a = floorf(p0 - 1.0f), b = ceilf(p1 + 1.0f);
    *lo = a < 0.0f ? 0 : (a > (float)S ? S : (int)a);
    *hi = b < 0.0f ? 0 : (b >= (float)S ? S : (int)b + 1);
}

static void setup_object(rctx *rc, int i)
{
    const must_world_object *o = &rc->sc->objects[i];
    wobj *w = &rc->obj[i];
    const world_shape *sh = &must_world_shape_table[o->category];
    w->shape = sh;
    w->mat = &o->mat;
    w->s = o->size;
    w->inv_s = 1.0f / o->size;
    /* M = Ry(yaw) * P, P the pose: identity, or 90 degrees about x (y -> z) */
    v3 pc[3] = {v3m(1, 0, 0), v3m(0, 1, 0), v3m(0, 0, 1)};
    v3 lo = v3a(sh->lo), hi = v3a(sh->hi);
    if (o->pose == 1) {
        pc[1] = v3m(0, 0, 1);
        pc[2] = v3m(0, -1, 0);
        v3 l2 = v3m(lo.x, -hi.z, lo.y), h2 = v3m(hi.x, -lo.z, hi.y);
        lo = l2;
        hi = h2;
    }
    float cy = (float)must_world_cos((double)o->yaw), sy = (float)must_world_sin((double)o->yaw);
    for (int k = 0; k < 3; k++)
        w->col[k] = v3m(cy * pc[k].x + sy * pc[k].z, pc[k].y, -sy * pc[k].x + cy * pc[k].z);
    /* rest the posed box's bottom centre on pos */
    v3 off = v3m(0.5f * (lo.x + hi.x), lo.y, 0.5f * (lo.z + hi.z));
    v3 roff = v3m(cy * off.x + sy * off.z, off.y, -sy * off.x + cy * off.z);
    w->T = v3sub(v3a(o->pos), v3mul(roff, w->s));
    v3 c0 = v3mul(v3add(v3a(sh->lo), v3a(sh->hi)), 0.5f);
    v3 mc = v3add(v3add(v3mul(w->col[0], c0.x), v3mul(w->col[1], c0.y)), v3mul(w->col[2], c0.z));
    w->bc = v3add(w->T, v3mul(mc, w->s));
    w->br = 0.5f * w->s * v3len(v3sub(v3a(sh->hi), v3a(sh->lo))) * 1.001f;

    v3 rel = v3sub(w->bc, rc->eye);
    float cx = v3dot(rel, rc->right), cyy = v3dot(rel, rc->down), cz = v3dot(rel, rc->fwd);
    if (cz <= w->br * 1.01f + 1e-3f) {
        w->x0 = w->y0 = 0;
        w->x1 = w->y1 = rc->S;
        return;
    }
    sphere_span(cx, cz, w->br, rc->th, rc->S, &w->x0, &w->x1);
    sphere_span(cyy, cz, w->br, rc->th, rc->S, &w->y0, &w->y1);
}

static void setup(rctx *rc, const must_world_scene *sc, int S)
{
    rc->sc = sc;
    rc->S = S;
    rc->eye = v3a(sc->cam_pos);
    rc->fwd = v3norm(v3sub(v3a(sc->cam_target), rc->eye));
    rc->right = v3norm(v3cross(v3m(0, 1, 0), rc->fwd));
    rc->down = v3cross(rc->right, rc->fwd);
    rc->th = must_world_tan_half(sc->fov);
    rc->pix = 2.0f * rc->th / (float)S;
    rc->n = sc->n_objects;
    for (int i = 0; i < rc->n; i++)
        setup_object(rc, i);
    rc->nl = sc->n_lights;
    for (int l = 0; l < rc->nl; l++) {
        rc->lpos[l] = v3a(sc->lights[l].pos);
        rc->lcol[l] = v3a(sc->lights[l].color);
    }
}

/* ------------------------------------------------------------------------ */
/* Rays. */

static v3 pixel_ray(const rctx *rc, float px, float py)
{
    float u = (2.0f * px / (float)rc->S - 1.0f) * rc->th;
    float v = (2.0f * py / (float)rc->S - 1.0f) * rc->th;
    return v3norm(v3add(rc->fwd, v3add(v3mul(rc->right, u), v3mul(rc->down, v))));
}

/* Does the ray o + t d (d unit) come within the bounding sphere for some
 * t in [0, tmax]? */
static int sphere_near(const wobj *w, v3 o, v3 d, float tmax)
{
    v3 oc = v3sub(w->bc, o);
    float b = v3dot(oc, d), c = v3dot(oc, oc) - w->br * w->br;
    if (c > 0.0f && b < 0.0f)
        return 0;
    float disc = b * b - c;
    if (disc < 0.0f)
        return 0;
    return b - sqrtf(disc) <= tmax;
}

/* The object's first surface along o + t d in [tmin, tmax]; the normal
 * comes back in world space, unit length, and tp in canonical coordinates. */
static int object_hit(const wobj *w, v3 o, v3 d, float tmin, float tmax, float *t, v3 *n,
                      v3 *tp)
{
    v3 r = v3sub(o, w->T);
    v3 ol = v3mul(v3m(v3dot(w->col[0], r), v3dot(w->col[1], r), v3dot(w->col[2], r)), w->inv_s);
    v3 dl = v3mul(v3m(v3dot(w->col[0], d), v3dot(w->col[1], d), v3dot(w->col[2], d)), w->inv_s);
    v3 nl;
    if (!must_world_shape_hit(w->shape, ol, dl, tmin, tmax, t, &nl))
        return 0;
    if (n)
        *n = v3norm(v3add(v3add(v3mul(w->col[0], nl.x), v3mul(w->col[1], nl.y)),
                          v3mul(w->col[2], nl.z)));
    if (tp)
        *tp = v3add(ol, v3mul(dl, *t));
    return 1;
}

/* Floor, walls, ceiling; t = TINF and stuff = sky when the ray escapes. */
static void env_hit(const rctx *rc, v3 o, v3 d, rhit *h)
{
    const must_world_scene *sc = rc->sc;
    h->t = TINF;
    h->obj = -1;
    h->stuff = MUST_WORLD_SKY;
    h->scale = 1.0f;
    if (sc->background == MUST_WORLD_BG_ROOM) {
        /* leave the box [x0, x1] x [0, H] x [z0, z1] from inside */
        float tx = d.x > 0.0f ? (sc->room[1] - o.x) / d.x : d.x < 0.0f ? (sc->room[0] - o.x) / d.x : TINF;
        float ty = d.y > 0.0f ? (sc->room[4] - o.y) / d.y : d.y < 0.0f ? -o.y / d.y : TINF;
        float tz = d.z > 0.0f ? (sc->room[3] - o.z) / d.z : d.z < 0.0f ? (sc->room[2] - o.z) / d.z : TINF;
        if (ty <= tx && ty <= tz) {
            h->t = ty;
            h->stuff = d.y < 0.0f ? MUST_WORLD_FLOOR : MUST_WORLD_CEILING;
            h->n = v3m(0, d.y < 0.0f ? 1.0f : -1.0f, 0);
        } else if (tx <= tz) {
            h->t = tx;
            h->stuff = MUST_WORLD_WALL;
            h->n = v3m(d.x > 0.0f ? -1.0f : 1.0f, 0, 0);
        } else {
            h->t = tz;
            h->stuff = MUST_WORLD_WALL;
            h->n = v3m(0, 0, d.z > 0.0f ? -1.0f : 1.0f);
        }
        h->tp = v3add(o, v3mul(d, h->t));
        return;
    }
    float R2 = sc->ground * sc->ground;
    if (d.y < 0.0f) {
        float t = -o.y / d.y;
        v3 p = v3add(o, v3mul(d, t));
        float dx = p.x - sc->cam_pos[0], dz = p.z - sc->cam_pos[2];
        if (dx * dx + dz * dz <= R2) {
            h->t = t;
            h->stuff = MUST_WORLD_FLOOR;
            h->n = v3m(0, 1, 0);
            h->tp = p;
        }
    }
    if (sc->background == MUST_WORLD_BG_BACKDROP && d.z > 0.0f) {
        float t = (sc->room[3] - o.z) / d.z;
        v3 p = v3add(o, v3mul(d, t));
        if (t < h->t && p.y >= 0.0f && p.y <= sc->room[4] &&
            fabsf(p.x - sc->cam_pos[0]) <= sc->ground) {
            h->t = t;
            h->stuff = MUST_WORLD_WALL;
            h->n = v3m(0, 0, -1);
            h->tp = p;
        }
    }
}

/* Is anything between p and the light at distance dist along l? */
static int occluded(const rctx *rc, v3 p, v3 l, float dist)
{
    for (int i = 0; i < rc->n; i++) {
        const wobj *w = &rc->obj[i];
        float t;
        if (sphere_near(w, p, l, dist) && object_hit(w, p, l, 0.0f, dist, &t, NULL, NULL))
            return 1;
    }
    return 0;
}

static const must_world_material *hit_material(const rctx *rc, const rhit *h)
{
    if (h->obj >= 0)
        return rc->obj[h->obj].mat;
    if (h->stuff == MUST_WORLD_FLOOR)
        return &rc->sc->floor;
    if (h->stuff == MUST_WORLD_CEILING)
        return &rc->sc->ceiling;
    return &rc->sc->wall;
}

static v3 sky(const rctx *rc, v3 d)
{
    float g = d.y > 0.0f ? d.y : 0.0f;
    g = g * (2.0f - g);
    v3 hz = v3a(rc->sc->sky_horizon), top = v3a(rc->sc->sky_top);
    return v3add(hz, v3mul(v3sub(top, hz), g));
}

static float powi(float x, int n)
{
    float r = 1.0f;
    while (n > 0) {
        if (n & 1)
            r *= x;
        x *= x;
        n >>= 1;
    }
    return r;
}

/* Linear colour of the surface h seen along d; *lit gets a bit per light. */
static v3 shade(const rctx *rc, v3 o, v3 d, const rhit *h, unsigned *lit)
{
    *lit = 0;
    if (h->t == TINF)
        return sky(rc, d);
    const must_world_material *m = hit_material(rc, h);
    v3 p = v3add(o, v3mul(d, h->t)), n = h->n;
    float cosv = fabsf(v3dot(n, d));
    /* the pixel's footprint on the surface, in texture units */
    float foot = h->t * rc->pix / (cosv > 0.2f ? cosv : 0.2f) / h->scale;
    v3 albedo = must_world_texture(m, h->tp, foot, h->obj < 0 ? h->stuff : -1);
    v3 amb = v3mul(v3a(rc->sc->ambient), 0.8f + 0.2f * n.y);
    v3 c = v3had(albedo, amb);
    v3 q = v3add(p, v3mul(n, SHADOW_EPS));
    v3 view = v3mul(d, -1.0f);
    for (int l = 0; l < rc->nl; l++) {
        v3 L = v3sub(rc->lpos[l], q);
        float dist = v3len(L);
        v3 ld = v3mul(L, 1.0f / dist);
        float ndl = v3dot(n, ld);
        if (ndl <= 0.0f || occluded(rc, q, ld, dist))
            continue;
        *lit |= 1u << l;
        c = v3add(c, v3mul(v3had(albedo, rc->lcol[l]), ndl));
        if (m->specular > 0.0f) {
            float nh = v3dot(n, v3norm(v3add(ld, view)));
            if (nh > 0.0f)
                c = v3add(c, v3mul(rc->lcol[l], m->specular * powi(nh, m->shininess)));
        }
    }
    return c;
}

/* Counts pixel (i, j) into a pixel count and its half-open box. */
static void count_pixel(int *n, int box[4], int i, int j)
{
    if (*n == 0 || j < box[0])
        box[0] = j;
    if (*n == 0 || i < box[1])
        box[1] = i;
    if (j + 1 > box[2])
        box[2] = j + 1;
    if (i + 1 > box[3])
        box[3] = i + 1;
    (*n)++;
}

/* The first surface along the ray of image point (px, py) of pixel (i, j).
 * With stat, also counts every object the ray meets (silhouettes). */
static void trace(const rctx *rc, float px, float py, int i, int j, v3 *d_out, rhit *h,
                  must_world_objstat *stat)
{
    v3 d = pixel_ray(rc, px, py);
    *d_out = d;
    env_hit(rc, rc->eye, d, h);
    float best = TINF;
    for (int k = 0; k < rc->n; k++) {
        const wobj *w = &rc->obj[k];
        if (j < w->x0 || j >= w->x1 || i < w->y0 || i >= w->y1)
            continue;
        float t;
        v3 n, tp;
        float tmax = stat ? TINF : best;
        if (!sphere_near(w, rc->eye, d, tmax) || !object_hit(w, rc->eye, d, 0.0f, tmax, &t, &n, &tp))
            continue;
        if (stat)
            count_pixel(&stat[k].silhouette, stat[k].sbox, i, j);
        if (t < best) {
            best = t;
            if (t < h->t) {
                h->t = t;
                h->obj = k;
                h->n = n;
                h->tp = tp;
                h->scale = w->s;
            }
        }
    }
}

/* Rotated-grid offsets inside a pixel. */
static const float aa_off[4][2] = {{0.375f, 0.125f}, {0.875f, 0.375f}, {0.625f, 0.875f},
                                   {0.125f, 0.625f}};

static uint8_t to_byte(float c)
{
    c = c < 0.0f ? 0.0f : (c > 1.0f ? 1.0f : c);
    return (uint8_t)(sqrtf(c) * 255.0f + 0.5f);
}

static int render(const must_world_scene *sc, must_world_frame *f, int shading, must_err *err)
{
    int bad = check_scene(sc, err);
    if (bad)
        return bad;
    if (!f || !f->priv)
        return must_err_set(err, MUST_EINVAL, "world render: frame not allocated");
    int S = f->size;
    frame_priv *fp = f->priv;
    rctx *rc = malloc(sizeof *rc);
    if (!rc)
        return must_err_set(err, MUST_ENOMEM, "world render: out of memory");
    setup(rc, sc, S);

    f->n_objects = sc->n_objects;
    memset(f->objs, 0, sizeof f->objs);
    for (int k = 0; k < sc->n_objects; k++)
        f->objs[k].category = sc->objects[k].category;

    /* pass 1: centre rays, labels, first colour */
    for (int i = 0; i < S; i++) {
        for (int j = 0; j < S; j++) {
            size_t q = (size_t)i * S + j;
            v3 d;
            rhit h;
            trace(rc, (float)j + 0.5f, (float)i + 0.5f, i, j, &d, &h, f->objs);
            if (shading) {
                unsigned lit;
                v3 c = shade(rc, rc->eye, d, &h, &lit);
                fp->col[3 * q] = c.x;
                fp->col[3 * q + 1] = c.y;
                fp->col[3 * q + 2] = c.z;
                fp->lit[q] = (uint8_t)lit;
            }
            if (h.obj >= 0) {
                fp->id[q] = (int16_t)h.obj;
                f->instance[q] = (uint8_t)(h.obj + 1);
                f->semantic[q] = (uint8_t)MUST_WORLD_SEM_OBJECT(sc->objects[h.obj].category);
                count_pixel(&f->objs[h.obj].visible, f->objs[h.obj].vbox, i, j);
            } else {
                fp->id[q] = (int16_t)(-1 - h.stuff);
                f->instance[q] = 0;
                f->semantic[q] = (uint8_t)h.stuff;
            }
            if (h.t == TINF) {
                f->depth[q] = 0.0f;
                f->normal[3 * q] = f->normal[3 * q + 1] = f->normal[3 * q + 2] = 0.0f;
            } else {
                f->depth[q] = h.t * v3dot(d, rc->fwd);
                f->normal[3 * q] = v3dot(h.n, rc->right);
                f->normal[3 * q + 1] = v3dot(h.n, rc->down);
                f->normal[3 * q + 2] = v3dot(h.n, rc->fwd);
            }
        }
    }

    /* pass 2: more rays where a neighbour differs */
    for (int i = 0; i < S && shading; i++) {
        for (int j = 0; j < S; j++) {
            size_t q = (size_t)i * S + j;
            int edge = 0;
            for (int dy = -1; dy <= 1 && !edge; dy++)
                for (int dx = -1; dx <= 1 && !edge; dx++) {
                    int y = i + dy, x = j + dx;
                    if (y < 0 || y >= S || x < 0 || x >= S)
                        continue;
                    size_t r = (size_t)y * S + x;
                    edge = fp->id[r] != fp->id[q] || fp->lit[r] != fp->lit[q];
                }
            v3 c = v3m(fp->col[3 * q], fp->col[3 * q + 1], fp->col[3 * q + 2]);
            if (edge) {
                c = v3m(0, 0, 0);
                for (int s = 0; s < 4; s++) {
                    v3 d;
                    rhit h;
                    unsigned lit;
                    trace(rc, (float)j + aa_off[s][0], (float)i + aa_off[s][1], i, j, &d, &h, NULL);
                    c = v3add(c, shade(rc, rc->eye, d, &h, &lit));
                }
                c = v3mul(c, 0.25f);
            }
            f->rgb[3 * q] = to_byte(c.x);
            f->rgb[3 * q + 1] = to_byte(c.y);
            f->rgb[3 * q + 2] = to_byte(c.z);
        }
    }

    f->min_pixels = must_world_min_pixels(S);
    f->image_class = -1;
    int most = 0;
    for (int k = 0; k < sc->n_objects; k++)
        if (f->objs[k].visible > most) {
            most = f->objs[k].visible;
            if (most >= f->min_pixels)
                f->image_class = f->objs[k].category;
        }
    free(rc);
    return MUST_OK;
}

int must_world_render(const must_world_scene *sc, must_world_frame *f, must_err *err)
{
    return render(sc, f, 1, err);
}

int must_world_render_labels(const must_world_scene *sc, must_world_frame *f, must_err *err)
{
    return render(sc, f, 0, err);
}
