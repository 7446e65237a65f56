/* texture.c - checker, stripes and value noise without aliasing.
 *
 * A square wave has a closed-form integral (a triangle wave), so its mean
 * over the pixel's footprint costs two evaluations: textures stay sharp up
 * close and fade to their mean colour far away, with no extra rays.  A 3-D
 * checker is the product of three square waves, and the mean of a product
 * of functions of separate coordinates over a box is the product of means. */
#include "config.h"

#include "texture.h"

/* The integral of the square wave from 0 to x. */
static float square_int(float x)
{
    float f = x - floorf(x);
    return f < 0.5f ? f : 1.0f - f;
}

float must_world_square(float x, float w)
{
    if (w < 1e-4f)
        return x - floorf(x) < 0.5f ? 1.0f : -1.0f;
    return (square_int(x + 0.5f * w) - square_int(x - 0.5f * w)) / w;
}

static uint32_t hash3(int32_t x, int32_t y, int32_t z)
{
    uint32_t h = (uint32_t)x * 0x8da6b343u ^ (uint32_t)y * 0xd8163841u ^ (uint32_t)z * 0xcb1ab31fu;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

static float lattice(int32_t x, int32_t y, int32_t z)
{
    return (float)(hash3(x, y, z) >> 8) * (1.0f / 16777216.0f);
}

static float fade(float t) { return t * t * (3.0f - 2.0f * t); }

/* Value noise in [0, 1): smooth interpolation of random lattice values. */
static float value_noise(v3 p)
{
    float fx = floorf(p.x), fy = floorf(p.y), fz = floorf(p.z);
    int32_t x = (int32_t)fx, y = (int32_t)fy, z = (int32_t)fz;
    float u = fade(p.x - fx), v = fade(p.y - fy), w = fade(p.z - fz);
    float c[2][2];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            float v0 = lattice(x, y + a, z + b), v1 = lattice(x + 1, y + a, z + b);
            c[a][b] = v0 + (v1 - v0) * u;
        }
    float e0 = c[0][0] + (c[1][0] - c[0][0]) * v;
    float e1 = c[0][1] + (c[1][1] - c[0][1]) * v;
    return e0 + (e1 - e0) * w;
}

/* An octave fades to its mean as the footprint nears its wavelength. */
static float octave_weight(float cycles)
{
    float k = 1.0f - 1.5f * cycles;
    return k < 0.0f ? 0.0f : k;
}

v3 must_world_texture(const must_world_material *m, v3 p, float foot, int stuff)
{
    v3 a = v3a(m->color), b = v3a(m->color2);
    float f = m->freq, w = foot * f, mix;
    /* a quarter-period shift keeps floor and walls, which sit on round
     * coordinates, off the waves' discontinuities */
    v3 q = v3add(v3mul(p, f), v3m(0.25f, 0.25f, 0.25f));
    switch (m->texture) {
    case MUST_WORLD_TEX_CHECKER:
        mix = 0.5f - 0.5f * must_world_square(q.x, w) * must_world_square(q.y, w) *
                         must_world_square(q.z, w);
        break;
    case MUST_WORLD_TEX_STRIPES: {
        float s = stuff == MUST_WORLD_WALL ? q.x + q.z : (stuff >= 0 ? q.x : q.y);
        mix = 0.5f - 0.5f * must_world_square(s, w);
        break;
    }
    case MUST_WORLD_TEX_NOISE: {
        float w1 = octave_weight(w), w2 = octave_weight(2.0f * w);
        float n1 = value_noise(q), n2 = value_noise(v3add(v3mul(q, 2.0f), v3m(17.0f, 5.0f, 11.0f)));
        mix = 0.5f + 0.65f * w1 * (n1 - 0.5f) + 0.35f * w2 * (n2 - 0.5f);
        mix = (mix - 0.5f) * 1.6f + 0.5f;
        mix = mix < 0.0f ? 0.0f : (mix > 1.0f ? 1.0f : mix);
        break;
    }
    default:
        return a;
    }
    return v3add(a, v3mul(v3sub(b, a), mix));
}
