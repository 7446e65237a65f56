/* detmath.c - sine and cosine that give the same bits on every machine.
 *
 * libm's sin and cos may differ in the last bit between C libraries and
 * versions; a scene set up with them could then differ between machines.
 * These use only IEEE +, *, / and nearbyint, in a fixed order. */
#include "config.h"

#include <math.h>

#include "world-impl.h"

/* x reduced to [-pi, pi]; the Taylor series of degree 25 is then exact to
 * about 1e-12, far below what a float scene can tell apart. */
static double reduce(double x)
{
    const double two_pi = 2.0 * MUST_WORLD_PI;
    return x - two_pi * nearbyint(x / two_pi);
}

double must_world_sin(double x)
{
    x = reduce(x);
    double x2 = x * x, term = x, sum = x;
    for (int k = 1; k <= 12; k++) {
        term = -term * x2 / (double)((2 * k) * (2 * k + 1));
        sum += term;
    }
    return sum;
}

double must_world_cos(double x)
{
    x = reduce(x);
    double x2 = x * x, term = 1.0, sum = 1.0;
    for (int k = 1; k <= 13; k++) {
        term = -term * x2 / (double)((2 * k - 1) * (2 * k));
        sum += term;
    }
    return sum;
}

float must_world_tan_half(float fov_deg)
{
    double a = 0.5 * (double)fov_deg * (MUST_WORLD_PI / 180.0);
    return (float)(must_world_sin(a) / must_world_cos(a));
}
