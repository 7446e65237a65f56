/* intersect.c - rays against the parts of a shape, in its canonical frame.
 *
 * Every convex part yields the interval of t where the ray is inside it,
 * with the surface normal at both ends; cuts and subtractions are interval
 * arithmetic on top.  The ray direction is not unit length (it carries the
 * object's scale), so t is the world ray's parameter throughout. */
#include "config.h"

#include <float.h>

#include "world-impl.h"

typedef struct ival {
    float t0, t1;
    v3 n0, n1;
} ival;

#define TINF FLT_MAX

static void ival_all(ival *iv)
{
    iv->t0 = -TINF;
    iv->t1 = TINF;
    iv->n0 = iv->n1 = v3m(0, 1, 0);
}

/* Intersects iv with the half-space n . x <= d; returns 0 when empty. */
static int clip_plane(ival *iv, v3 o, v3 dir, v3 n, float d)
{
    float den = v3dot(n, dir), num = d - v3dot(n, o);
    if (den == 0.0f)
        return num >= 0.0f;
    float t = num / den;
    if (den < 0.0f) {
        if (t > iv->t0) {
            iv->t0 = t;
            iv->n0 = n;
        }
    } else if (t < iv->t1) {
        iv->t1 = t;
        iv->n1 = n;
    }
    return iv->t0 <= iv->t1;
}

/* Roots of A t^2 + 2 B t + C = 0 with A > 0, in order, computed without
 * cancellation; 0 when there are none. */
static int quad(float A, float B, float C, float *r0, float *r1)
{
    float disc = B * B - A * C;
    if (disc < 0.0f)
        return 0;
    float s = sqrtf(disc);
    float q = B >= 0.0f ? -(B + s) : -(B - s);
    if (q == 0.0f) {
        *r0 = *r1 = 0.0f;
        return 1;
    }
    float a = q / A, b = C / q;
    *r0 = a < b ? a : b;
    *r1 = a < b ? b : a;
    return 1;
}

static int sphere_ival(v3 c, float r, v3 o, v3 d, ival *iv)
{
    v3 oc = v3sub(o, c);
    float t0, t1;
    if (!quad(v3dot(d, d), v3dot(oc, d), v3dot(oc, oc) - r * r, &t0, &t1))
        return 0;
    iv->t0 = t0;
    iv->t1 = t1;
    iv->n0 = v3add(oc, v3mul(d, t0));
    iv->n1 = v3add(oc, v3mul(d, t1));
    return 1;
}

static int ellipsoid_ival(v3 c, const float *a, v3 o, v3 d, ival *iv)
{
    v3 ia = v3m(1.0f / a[0], 1.0f / a[1], 1.0f / a[2]);
    v3 os = v3had(v3sub(o, c), ia), ds = v3had(d, ia);
    if (!sphere_ival(v3m(0, 0, 0), 1.0f, os, ds, iv))
        return 0;
    /* the gradient of |x / a|^2 is x / a^2: the scaled point over a again */
    iv->n0 = v3had(iv->n0, ia);
    iv->n1 = v3had(iv->n1, ia);
    return 1;
}

static int box_ival(v3 c, const float *a, v3 o, v3 d, ival *iv)
{
    ival_all(iv);
    v3 oc = v3sub(o, c);
    return clip_plane(iv, oc, d, v3m(1, 0, 0), a[0]) && clip_plane(iv, oc, d, v3m(-1, 0, 0), a[0]) &&
           clip_plane(iv, oc, d, v3m(0, 1, 0), a[1]) && clip_plane(iv, oc, d, v3m(0, -1, 0), a[1]) &&
           clip_plane(iv, oc, d, v3m(0, 0, 1), a[2]) && clip_plane(iv, oc, d, v3m(0, 0, -1), a[2]);
}

/* Swaps the y axis with the part's axis (an involution, so it also maps back). */
static v3 axis_swap(v3 p, int axis)
{
    if (axis == 1)
        return v3m(p.y, p.x, p.z);
    if (axis == 2)
        return v3m(p.x, p.z, p.y);
    return p;
}

/* The infinite cylinder x^2 + z^2 <= r^2 as an interval. */
static int tube_ival(float r, v3 o, v3 d, ival *iv)
{
    float A = d.x * d.x + d.z * d.z, C = o.x * o.x + o.z * o.z - r * r;
    if (A == 0.0f) {
        ival_all(iv);
        return C <= 0.0f;
    }
    float t0, t1;
    if (!quad(A, o.x * d.x + o.z * d.z, C, &t0, &t1))
        return 0;
    iv->t0 = t0;
    iv->t1 = t1;
    iv->n0 = v3m(o.x + t0 * d.x, 0, o.z + t0 * d.z);
    iv->n1 = v3m(o.x + t1 * d.x, 0, o.z + t1 * d.z);
    return 1;
}

static int cyl_ival(float r, float hh, v3 o, v3 d, ival *iv)
{
    if (!tube_ival(r, o, d, iv))
        return 0;
    return clip_plane(iv, o, d, v3m(0, 1, 0), hh) && clip_plane(iv, o, d, v3m(0, -1, 0), hh);
}

/* The solid cone with base radius r at y = 0 and apex at y = h (o relative
 * to the base centre).  The quadric x^2 + z^2 <= k^2 (h - y)^2 holds both
 * nappes; the slab 0 <= y <= h keeps the lower one, which is convex, so at
 * most one piece of the quadric's solution set survives. */
static int cone_ival(float r, float h, v3 o, v3 d, ival *iv)
{
    float k2 = (r / h) * (r / h), hy = h - o.y;
    float A = d.x * d.x + d.z * d.z - k2 * d.y * d.y;
    float B = o.x * d.x + o.z * d.z + k2 * hy * d.y;
    float C = o.x * o.x + o.z * o.z - k2 * hy * hy;
    ival slab;
    ival_all(&slab);
    if (!clip_plane(&slab, o, d, v3m(0, 1, 0), h) || !clip_plane(&slab, o, d, v3m(0, -1, 0), 0))
        return 0;
    float lo[2], hi[2];
    int np = 0;
    if (A == 0.0f) {
        if (B == 0.0f) {
            if (C > 0.0f)
                return 0;
            lo[0] = -TINF, hi[0] = TINF, np = 1;
        } else if (B > 0.0f) {
            lo[0] = -TINF, hi[0] = -C / (2.0f * B), np = 1;
        } else {
            lo[0] = -C / (2.0f * B), hi[0] = TINF, np = 1;
        }
    } else if (A > 0.0f) {
        float t0, t1;
        if (!quad(A, B, C, &t0, &t1))
            return 0;
        lo[0] = t0, hi[0] = t1, np = 1;
    } else {
        float t0, t1;
        if (!quad(-A, -B, -C, &t0, &t1)) {
            lo[0] = -TINF, hi[0] = TINF, np = 1;
        } else {
            lo[0] = -TINF, hi[0] = t0;
            lo[1] = t1, hi[1] = TINF;
            np = 2;
        }
    }
    for (int i = 0; i < np; i++) {
        float a = lo[i] > slab.t0 ? lo[i] : slab.t0;
        float b = hi[i] < slab.t1 ? hi[i] : slab.t1;
        if (a >= b)
            continue;
        iv->t0 = a;
        iv->t1 = b;
        if (lo[i] > slab.t0) {
            v3 p = v3add(o, v3mul(d, a));
            iv->n0 = v3m(p.x, k2 * (h - p.y), p.z);
        } else {
            iv->n0 = slab.n0;
        }
        if (hi[i] < slab.t1) {
            v3 p = v3add(o, v3mul(d, b));
            iv->n1 = v3m(p.x, k2 * (h - p.y), p.z);
        } else {
            iv->n1 = slab.n1;
        }
        return 1;
    }
    return 0;
}

/* A capsule is convex and the union of its three pieces, so its interval
 * runs from the first entry to the last exit among them. */
static int capsule_ival(float r, float hl, v3 o, v3 d, ival *iv)
{
    ival p[3];
    int ok[3];
    ok[0] = cyl_ival(r, hl, o, d, &p[0]);
    ok[1] = sphere_ival(v3m(0, hl, 0), r, o, d, &p[1]);
    ok[2] = sphere_ival(v3m(0, -hl, 0), r, o, d, &p[2]);
    int any = 0;
    for (int i = 0; i < 3; i++) {
        if (!ok[i])
            continue;
        if (!any) {
            *iv = p[i];
            any = 1;
            continue;
        }
        if (p[i].t0 < iv->t0) {
            iv->t0 = p[i].t0;
            iv->n0 = p[i].n0;
        }
        if (p[i].t1 > iv->t1) {
            iv->t1 = p[i].t1;
            iv->n1 = p[i].n1;
        }
    }
    return any;
}

static int poly_ival(const world_part *p, v3 o, v3 d, ival *iv)
{
    ival_all(iv);
    for (int i = 0; i < p->np; i++)
        if (!clip_plane(iv, o, d, v3m(p->planes[i][0], p->planes[i][1], p->planes[i][2]),
                        p->planes[i][3]))
            return 0;
    return 1;
}

static int convex_ival(const world_part *p, v3 o, v3 d, ival *iv)
{
    v3 c = v3a(p->c);
    int ok;
    switch (p->kind) {
    case PRIM_SPHERE:
        ok = sphere_ival(c, p->a[0], o, d, iv);
        break;
    case PRIM_ELLIPSOID:
        ok = ellipsoid_ival(c, p->a, o, d, iv);
        break;
    case PRIM_BOX:
        ok = box_ival(c, p->a, o, d, iv);
        break;
    case PRIM_CYL:
    case PRIM_CAPSULE: {
        v3 oc = axis_swap(v3sub(o, c), p->axis), ds = axis_swap(d, p->axis);
        ok = p->kind == PRIM_CYL ? cyl_ival(p->a[0], p->a[1], oc, ds, iv)
                                 : capsule_ival(p->a[0], p->a[1], oc, ds, iv);
        if (ok) {
            iv->n0 = axis_swap(iv->n0, p->axis);
            iv->n1 = axis_swap(iv->n1, p->axis);
        }
        break;
    }
    case PRIM_CONE:
        ok = cone_ival(p->a[0], p->a[1], v3sub(o, c), d, iv);
        break;
    case PRIM_POLY:
        ok = poly_ival(p, o, d, iv);
        break;
    default:
        return 0;
    }
    if (ok && p->has_cut)
        ok = clip_plane(iv, o, d, v3m(p->cut[0], p->cut[1], p->cut[2]), p->cut[3]);
    return ok;
}

/* The torus is not convex: sphere-trace its exact distance function between
 * the ends of its bounding sphere, which never overshoots the surface. */
static int torus_hit(const world_part *p, v3 o, v3 d, float tmin, float tmax, float *t_out,
                     v3 *n_out)
{
    float R = p->a[0], r = p->a[1];
    ival b;
    v3 oc = v3sub(o, v3a(p->c));
    if (!sphere_ival(v3m(0, 0, 0), R + r, oc, d, &b))
        return 0;
    float t = b.t0 > tmin ? b.t0 : tmin, end = b.t1 < tmax ? b.t1 : tmax;
    float inv_len = 1.0f / v3len(d);
    /* the tolerance is relative to the tube so that it holds at any scale */
    float eps = 1e-4f * r;
    for (int it = 0; it < 160 && t <= end; it++) {
        v3 q = v3add(oc, v3mul(d, t));
        float rho = sqrtf(q.x * q.x + q.z * q.z);
        float a = rho - R;
        float dist = sqrtf(a * a + q.y * q.y) - r;
        if (dist < eps) {
            float f = rho > 0.0f ? 1.0f - R / rho : 0.0f;
            *t_out = t;
            *n_out = v3m(q.x * f, q.y, q.z * f);
            return 1;
        }
        t += dist * inv_len;
    }
    return 0;
}

int must_world_part_hit(const world_shape *s, int part, v3 o, v3 d, float tmin, float tmax,
                        float *t_out, v3 *n_out)
{
    const world_part *p = &s->parts[part];
    if (p->kind == PRIM_TORUS)
        return torus_hit(p, o, d, tmin, tmax, t_out, n_out);
    ival a;
    if (!convex_ival(p, o, d, &a) || a.t1 < tmin || a.t0 > tmax)
        return 0;
    ival b;
    int has_b = p->minus > 0 && convex_ival(&s->parts[p->minus - 1], o, d, &b) && b.t0 <= b.t1;
    float best = TINF;
    v3 bn = v3m(0, 1, 0);
    /* entering A, unless that point lies inside the subtrahend */
    if (a.t0 >= tmin && a.t0 <= tmax && !(has_b && b.t0 < a.t0 && a.t0 < b.t1)) {
        best = a.t0;
        bn = a.n0;
    }
    /* leaving the subtrahend while inside A: the inner wall, facing inwards */
    if (has_b && b.t1 >= tmin && b.t1 <= tmax && b.t1 >= a.t0 && b.t1 <= a.t1 && b.t1 < best) {
        best = b.t1;
        bn = v3mul(b.n1, -1.0f);
    }
    if (best == TINF)
        return 0;
    *t_out = best;
    *n_out = bn;
    return 1;
}

int must_world_shape_hit(const world_shape *s, v3 o, v3 d, float tmin, float tmax,
                         float *t_out, v3 *n_out)
{
    int hit = 0;
    for (int i = 0; i < s->nparts; i++) {
        float t;
        v3 n;
        if (s->parts[i].hidden || !must_world_part_hit(s, i, o, d, tmin, tmax, &t, &n))
            continue;
        tmax = t;
        *t_out = t;
        *n_out = n;
        hit = 1;
    }
    return hit;
}
