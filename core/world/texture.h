/* texture.h - procedural textures, box-filtered over a pixel's footprint. */
#ifndef MUST_WORLD_TEXTURE_H
#define MUST_WORLD_TEXTURE_H

#include "world-impl.h"

/* The albedo of material m at texture point p, averaged over a footprint
 * `foot` texture units wide.  stuff is the MUST_WORLD_* of a floor, wall or
 * ceiling (their stripes run along the floor boards or up the walls), or -1
 * for an object. */
v3 must_world_texture(const must_world_material *m, v3 p, float foot, int stuff);

/* The box-filtered square wave of period 1 (+1 on [0, 1/2), -1 on [1/2, 1))
 * averaged over [x - w/2, x + w/2]. */
float must_world_square(float x, float w);

#endif
