/* scene.c - drawing a scene from a domain and a seeded generator.
 *
 * Objects are placed by picking a point of the image and following its ray
 * to the floor, so every object starts in view; overlaps with objects
 * already placed, walls and the camera are refused and redrawn.  Only
 * must_rng_uniform/below and IEEE arithmetic are used (see detmath.c), so a
 * scene depends on (domain, seed, index, attempt) alone. */
#include "config.h"

#include <string.h>

#include "world-impl.h"

#define PLACE_TRIES 40

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void must_world_rng_for(must_rng *r, const char *name, uint64_t seed, uint64_t index,
                        int attempt)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    h = splitmix(h ^ seed);
    h = splitmix(h ^ index);
    h = splitmix(h ^ (uint64_t)(unsigned)attempt);
    must_rng_seed(r, h);
}

static float uni(must_rng *r, wrange w)
{
    return w.lo + (w.hi - w.lo) * must_rng_uniform(r);
}

/* A whole number in [lo, hi]. */
static int uni_int(must_rng *r, wrange w)
{
    int lo = (int)(w.lo + 0.5f), hi = (int)(w.hi + 0.5f);
    return hi > lo ? lo + (int)must_rng_below(r, (uint32_t)(hi - lo + 1)) : lo;
}

static int pick(must_rng *r, const float *w, int n)
{
    float sum = 0;
    for (int i = 0; i < n; i++)
        sum += w[i];
    float x = must_rng_uniform(r) * sum;
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    for (int i = n - 1; i > 0; i--)
        if (w[i] > 0)
            return i;
    return 0;
}

/* HSV (hue in degrees) to linear RGB, squaring as the inverse of the
 * renderer's gamma 2. */
static void hsv_lin(float h, float s, float v, float *out)
{
    h = h - 360.0f * floorf(h / 360.0f);
    float c = v * s, hp = h / 60.0f;
    float x = c * (1.0f - fabsf(hp - 2.0f * floorf(hp / 2.0f) - 1.0f));
    float r = 0, g = 0, b = 0;
    int sec = (int)hp;
    switch (sec) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
    }
    float m = v - c;
    out[0] = (r + m) * (r + m);
    out[1] = (g + m) * (g + m);
    out[2] = (b + m) * (b + m);
}

static void sample_material(const must_world_domain *d, must_rng *r, must_world_material *m)
{
    float h = uni(r, d->hue), s = uni(r, d->sat), v = uni(r, d->val), c = uni(r, d->contrast);
    hsv_lin(h, s, v, m->color);
    m->texture = pick(r, d->tex_w, MUST_WORLD_NTEX);
    /* the second colour: a nearby hue, darker (or lighter when dark) */
    float h2 = h + 90.0f * (must_rng_uniform(r) - 0.5f);
    float v2 = v >= 0.5f ? v * (1.0f - c) : v + (1.0f - v) * c;
    hsv_lin(h2, s * (0.6f + 0.4f * must_rng_uniform(r)), v2, m->color2);
    m->freq = uni(r, d->freq);
    m->specular = uni(r, d->specular);
    m->shininess = (int)(uni(r, d->shininess) + 0.5f);
}

static void sample_surface(must_rng *r, const float *tex_w, wrange hue, wrange sat, wrange val,
                           wrange freq, must_world_material *m)
{
    float h = uni(r, hue), s = uni(r, sat), v = uni(r, val);
    hsv_lin(h, s, v, m->color);
    m->texture = pick(r, tex_w, MUST_WORLD_NTEX);
    float v2 = v >= 0.5f ? v * 0.7f : v + (1.0f - v) * 0.3f;
    hsv_lin(h + 20.0f * (must_rng_uniform(r) - 0.5f), s, v2, m->color2);
    m->freq = uni(r, freq);
    m->specular = 0.1f * must_rng_uniform(r);
    m->shininess = 16;
}

/* The posed shape's box in canonical units (see setup_object in render.c). */
static void posed_extent(int cat, int pose, float *ex, float *ey, float *ez)
{
    const world_shape *sh = &must_world_shape_table[cat];
    float x = sh->hi[0] - sh->lo[0], y = sh->hi[1] - sh->lo[1], z = sh->hi[2] - sh->lo[2];
    *ex = x;
    *ey = pose ? z : y;
    *ez = pose ? y : z;
}

/* Radius of the object's footprint on the floor, whatever its yaw. */
static float footprint(const must_world_object *o)
{
    float ex, ey, ez;
    posed_extent(o->category, o->pose, &ex, &ey, &ez);
    return 0.5f * o->size * sqrtf(ex * ex + ez * ez);
}

static void sample_object(const must_world_domain *d, must_rng *r, must_world_object *o)
{
    memset(o, 0, sizeof *o);
    o->category = d->classes[must_rng_below(r, (uint32_t)d->n_classes)];
    o->pose = 0;
    if (must_world_shape_table[o->category].poses > 1 && must_rng_uniform(r) < d->lying)
        o->pose = 1;
    o->size = uni(r, d->size);
    o->yaw = (float)(2.0 * MUST_WORLD_PI) * must_rng_uniform(r);
    sample_material(d, r, &o->mat);
}

typedef struct place_ctx {
    must_world_scene *sc;
    v3 eye, fwd, right, down;
    float th;
    float min_dist;  /* objects behind a dominant one start this far away */
} place_ctx;

static int fits(const place_ctx *pc, const must_world_object *o, float x, float z)
{
    const must_world_scene *sc = pc->sc;
    float r = footprint(o);
    float dx = x - pc->eye.x, dz = z - pc->eye.z;
    float dist = sqrtf(dx * dx + dz * dz);
    if (dist < r + 0.4f || dist < pc->min_dist)
        return 0;
    if (sc->background == MUST_WORLD_BG_ROOM &&
        (x - r < sc->room[0] + 0.05f || x + r > sc->room[1] - 0.05f ||
         z - r < sc->room[2] + 0.05f || z + r > sc->room[3] - 0.05f))
        return 0;
    if (sc->background == MUST_WORLD_BG_BACKDROP && z + r > sc->room[3] - 0.05f)
        return 0;
    if (sc->background != MUST_WORLD_BG_ROOM && dist + r > sc->ground)
        return 0;
    for (int i = 0; i < sc->n_objects; i++) {
        const must_world_object *p = &sc->objects[i];
        float ax = x - p->pos[0], az = z - p->pos[2], rr = r + footprint(p) + 0.05f;
        if (ax * ax + az * az < rr * rr)
            return 0;
    }
    return 1;
}

/* Finds a floor point in view, in the distance range, where o fits. */
static int place(const place_ctx *pc, const must_world_domain *d, must_rng *r,
                 must_world_object *o)
{
    for (int t = 0; t < PLACE_TRIES; t++) {
        float u = (must_rng_uniform(r) * 1.8f - 0.9f) * pc->th;
        float v = (must_rng_uniform(r) * 1.8f - 0.9f) * pc->th;
        v3 ray = v3add(pc->fwd, v3add(v3mul(pc->right, u), v3mul(pc->down, v)));
        if (ray.y > -1e-3f)
            continue;
        float k = -pc->eye.y / ray.y;
        float x = pc->eye.x + k * ray.x, z = pc->eye.z + k * ray.z;
        float dx = x - pc->eye.x, dz = z - pc->eye.z;
        float dist = sqrtf(dx * dx + dz * dz);
        if (dist < d->distance.lo || dist > d->distance.hi || !fits(pc, o, x, z))
            continue;
        o->pos[0] = x;
        o->pos[1] = 0.0f;
        o->pos[2] = z;
        return 1;
    }
    return 0;
}

static void camera_basis(place_ctx *pc)
{
    const must_world_scene *sc = pc->sc;
    pc->eye = v3a(sc->cam_pos);
    pc->fwd = v3norm(v3sub(v3a(sc->cam_target), pc->eye));
    pc->right = v3norm(v3cross(v3m(0, 1, 0), pc->fwd));
    pc->down = v3cross(pc->right, pc->fwd);
    pc->th = must_world_tan_half(sc->fov);
}

static void sample_plain(const must_world_domain *d, must_rng *r, must_world_scene *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->background = pick(r, d->bg_w, MUST_WORLD_NBG);
    sc->fov = uni(r, d->fov);
    float th = must_world_tan_half(sc->fov);
    float h = uni(r, d->cam_height);
    double yaw = (double)uni(r, d->yaw) * (MUST_WORLD_PI / 180.0);
    double pitch = (double)uni(r, d->pitch) * (MUST_WORLD_PI / 180.0);
    float sy = (float)must_world_sin(yaw), cy = (float)must_world_cos(yaw);
    float sp = (float)must_world_sin(pitch), cp = (float)must_world_cos(pitch);
    sc->ground = 40.0f;

    float W = uni(r, d->room_w), D = uni(r, d->room_d), H = uni(r, d->room_h);
    float camx = 0.0f;
    if (sc->background == MUST_WORLD_BG_ROOM) {
        camx = (must_rng_uniform(r) - 0.5f) * 0.3f * W;
        if (h > H - 0.3f)
            h = H - 0.3f;
        sc->room[0] = -0.5f * W;
        sc->room[1] = 0.5f * W;
        sc->room[2] = -0.4f;
        sc->room[3] = D - 0.4f;
        sc->room[4] = H;
    } else if (sc->background == MUST_WORLD_BG_BACKDROP) {
        sc->room[0] = -sc->ground;
        sc->room[1] = sc->ground;
        sc->room[2] = -sc->ground;
        sc->room[3] = d->distance.hi + 1.0f + 3.0f * must_rng_uniform(r);
        sc->room[4] = 1.5f * H;
    }
    sc->cam_pos[0] = camx;
    sc->cam_pos[1] = h;
    sc->cam_pos[2] = 0.0f;
    sc->cam_target[0] = camx + sy * cp;
    sc->cam_target[1] = h - sp;
    sc->cam_target[2] = cy * cp;

    int n = uni_int(r, d->count);
    place_ctx pc = {.sc = sc};
    if (d->dominant) {
        /* one object filling `fill` of the frame, the camera aimed at it */
        must_world_object *o = &sc->objects[0];
        sample_object(d, r, o);
        float dist = uni(r, d->distance), fill = uni(r, d->fill);
        float ex, ey, ez;
        posed_extent(o->category, o->pose, &ex, &ey, &ez);
        float s = fill * 2.0f * dist * th;
        if (s > 0.9f * dist)
            s = 0.9f * dist;
        o->size = s;
        o->pos[0] = camx + sy * dist;
        o->pos[1] = 0.0f;
        o->pos[2] = cy * dist;
        float r0 = footprint(o);
        if (sc->background == MUST_WORLD_BG_ROOM) {
            /* grow the room around it rather than move it */
            if (sc->room[3] < o->pos[2] + r0 + 0.5f)
                sc->room[3] = o->pos[2] + r0 + 0.5f;
            if (sc->room[1] < o->pos[0] + r0 + 0.3f)
                sc->room[1] = o->pos[0] + r0 + 0.3f;
            if (sc->room[0] > o->pos[0] - r0 - 0.3f)
                sc->room[0] = o->pos[0] - r0 - 0.3f;
            if (sc->room[4] < s * ey + 0.5f)
                sc->room[4] = s * ey + 0.5f;
            if (h > sc->room[4] - 0.3f)
                h = sc->room[4] - 0.3f;
            sc->cam_pos[1] = h;
        } else if (sc->background == MUST_WORLD_BG_BACKDROP &&
                   sc->room[3] < o->pos[2] + r0 + 0.5f) {
            sc->room[3] = o->pos[2] + r0 + 0.5f;
        }
        float jx = (must_rng_uniform(r) - 0.5f) * 0.3f * s;
        float jy = (must_rng_uniform(r) - 0.5f) * 0.3f * s;
        sc->cam_target[0] = o->pos[0] + jx;
        sc->cam_target[1] = 0.5f * s * ey + jy;
        sc->cam_target[2] = o->pos[2];
        sc->n_objects = 1;
        pc.min_dist = dist + r0;
    }
    camera_basis(&pc);
    while (sc->n_objects < n) {
        must_world_object o;
        sample_object(d, r, &o);
        if (!place(&pc, d, r, &o))
            break;
        sc->objects[sc->n_objects++] = o;
    }

    sample_surface(r, d->floor_tex_w, d->floor_hue, d->floor_sat, d->floor_val,
                   (wrange){0.6f, 1.6f}, &sc->floor);
    sample_surface(r, d->wall_tex_w, d->wall_hue, d->wall_sat, d->wall_val,
                   (wrange){1.0f, 3.0f}, &sc->wall);
    float plain[MUST_WORLD_NTEX] = {1, 0, 0, 0};
    sample_surface(r, plain, (wrange){30, 60}, (wrange){0, 0.1f}, (wrange){0.8f, 0.95f},
                   (wrange){1, 1}, &sc->ceiling);
    float skh = uni(r, d->sky_hue), sks = uni(r, d->sky_sat), skv = uni(r, d->sky_val);
    hsv_lin(skh, sks, skv, sc->sky_top);
    hsv_lin(skh, 0.4f * sks, skv * 1.1f > 1.0f ? 1.0f : skv * 1.1f, sc->sky_horizon);

    /* lights around the middle of the objects */
    v3 mid = v3add(pc.eye, v3mul(v3m(pc.fwd.x, 0, pc.fwd.z), 4.0f));
    if (sc->n_objects) {
        mid = v3m(0, 0, 0);
        for (int i = 0; i < sc->n_objects; i++)
            mid = v3add(mid, v3a(sc->objects[i].pos));
        mid = v3mul(mid, 1.0f / (float)sc->n_objects);
    }
    sc->n_lights = uni_int(r, d->n_lights);
    float I = uni(r, d->intensity), w = uni(r, d->warmth);
    v3 tint = v3m(1.0f + 0.25f * w, 1.0f, 1.0f - 0.3f * w);
    for (int l = 0; l < sc->n_lights; l++) {
        double a = 2.0 * MUST_WORLD_PI * (double)must_rng_uniform(r);
        float rad = 2.0f + 6.0f * must_rng_uniform(r);
        float x = mid.x + rad * (float)must_world_cos(a), z = mid.z + rad * (float)must_world_sin(a);
        float y = uni(r, d->light_height);
        if (sc->background == MUST_WORLD_BG_ROOM) {
            x = x < sc->room[0] + 0.2f ? sc->room[0] + 0.2f : (x > sc->room[1] - 0.2f ? sc->room[1] - 0.2f : x);
            z = z < sc->room[2] + 0.2f ? sc->room[2] + 0.2f : (z > sc->room[3] - 0.2f ? sc->room[3] - 0.2f : z);
            if (y > sc->room[4] - 0.1f)
                y = sc->room[4] - 0.1f;
        }
        float k = I / (float)sc->n_lights * (0.8f + 0.4f * must_rng_uniform(r));
        sc->lights[l].pos[0] = x;
        sc->lights[l].pos[1] = y;
        sc->lights[l].pos[2] = z;
        sc->lights[l].color[0] = tint.x * k;
        sc->lights[l].color[1] = tint.y * k;
        sc->lights[l].color[2] = tint.z * k;
    }
    float amb = uni(r, d->ambient);
    if (sc->background == MUST_WORLD_BG_ROOM) {
        sc->ambient[0] = amb;
        sc->ambient[1] = 0.97f * amb;
        sc->ambient[2] = 0.92f * amb;
    } else {
        for (int c = 0; c < 3; c++)
            sc->ambient[c] = amb * (0.5f + 0.5f * sc->sky_top[c] / (sc->sky_top[2] + 1e-3f));
    }
}

int must_world_sample(const must_world_domain *d, uint64_t seed, uint64_t index, int attempt,
                      must_world_scene *scene, must_err *err)
{
    if (!d || !scene)
        return must_err_set(err, MUST_EINVAL, "world sample: no domain or scene");
    must_rng r;
    must_world_rng_for(&r, d->name, seed, index, attempt);
    if (d->n_mix) {
        int k = pick(&r, d->mix_w, d->n_mix);
        sample_plain(d->mix[k], &r, scene);
    } else {
        sample_plain(d, &r, scene);
    }
    return MUST_OK;
}

#define MAX_ATTEMPTS 16

static int render_index(const must_world_domain *d, uint64_t seed, uint64_t index,
                        must_world_frame *f, must_world_scene *scene, int shading, must_err *err)
{
    must_world_scene local;
    must_world_scene *sc = scene ? scene : &local;
    for (int a = 0; a < MAX_ATTEMPTS; a++) {
        int rc = must_world_sample(d, seed, index, a, sc, err);
        if (!rc)
            rc = shading ? must_world_render(sc, f, err) : must_world_render_labels(sc, f, err);
        if (rc)
            return rc;
        if (f->image_class >= 0)
            return MUST_OK;
    }
    return must_err_set(err, MUST_EINVAL,
                        "world domain '%s': image %llu shows no object of %d pixels or more "
                        "after %d draws; widen [objects] or [camera] ranges",
                        d->name, (unsigned long long)index, f->min_pixels, MAX_ATTEMPTS);
}

int must_world_render_index(const must_world_domain *d, uint64_t seed, uint64_t index,
                            must_world_frame *f, must_world_scene *scene, must_err *err)
{
    return render_index(d, seed, index, f, scene, 1, err);
}

int must_world_label_index(const must_world_domain *d, uint64_t seed, uint64_t index,
                           must_world_frame *f, must_world_scene *scene, must_err *err)
{
    return render_index(d, seed, index, f, scene, 0, err);
}
