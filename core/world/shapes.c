/* shapes.c - the object categories as unions of simple parts.
 *
 * Each shape sits in a canonical frame with y up and a largest extent of
 * about 1, so that an object's size scales it to metres.  Plane normals need
 * not be unit length: intersections only use their direction. */
#include "config.h"

#include <string.h>

#include "world-impl.h"

#define H4 0.20412415f /* a quarter of the height of a regular tetrahedron of edge 1 */
#define H34 0.61237244f
#define R3 0.57735027f /* its base's circumradius */
#define C30 0.8660254f /* cos 30 degrees */
#define AP6 0.4330127f /* apothem of a hexagon of circumradius 0.5 */

const world_shape must_world_shape_table[MUST_WORLD_NCAT] = {
    [MUST_WORLD_SPHERE] = {"sphere", 1, {{.kind = PRIM_SPHERE, .a = {0.5f}}},
                           {-0.5f, -0.5f, -0.5f}, {0.5f, 0.5f, 0.5f}, 1},
    [MUST_WORLD_CUBE] = {"cube", 1, {{.kind = PRIM_BOX, .a = {0.5f, 0.5f, 0.5f}}},
                         {-0.5f, -0.5f, -0.5f}, {0.5f, 0.5f, 0.5f}, 1},
    [MUST_WORLD_CYLINDER] = {"cylinder", 1, {{.kind = PRIM_CYL, .a = {0.3f, 0.5f}}},
                             {-0.3f, -0.5f, -0.3f}, {0.3f, 0.5f, 0.3f}, 2},
    [MUST_WORLD_CONE] = {"cone", 1, {{.kind = PRIM_CONE, .c = {0, -0.5f, 0}, .a = {0.4f, 1.0f}}},
                         {-0.4f, -0.5f, -0.4f}, {0.4f, 0.5f, 0.4f}, 1},
    [MUST_WORLD_TORUS] = {"torus", 1, {{.kind = PRIM_TORUS, .a = {0.35f, 0.15f}}},
                          {-0.5f, -0.15f, -0.5f}, {0.5f, 0.15f, 0.5f}, 2},
    [MUST_WORLD_CAPSULE] = {"capsule", 1, {{.kind = PRIM_CAPSULE, .a = {0.2f, 0.3f}}},
                            {-0.2f, -0.5f, -0.2f}, {0.2f, 0.5f, 0.2f}, 2},
    [MUST_WORLD_PYRAMID] = {"pyramid", 1,
                            {{.kind = PRIM_POLY,
                              .np = 5,
                              .planes = {{0.8f, 0.5f, 0, 0.2f},
                                         {-0.8f, 0.5f, 0, 0.2f},
                                         {0, 0.5f, 0.8f, 0.2f},
                                         {0, 0.5f, -0.8f, 0.2f},
                                         {0, -1, 0, 0.4f}}}},
                            {-0.5f, -0.4f, -0.5f}, {0.5f, 0.4f, 0.5f}, 1},
    [MUST_WORLD_RING] = {"ring", 2,
                         {{.kind = PRIM_CYL, .a = {0.5f, 0.1f}, .minus = 2},
                          {.kind = PRIM_CYL, .a = {0.3f, 0.2f}, .hidden = 1}},
                         {-0.5f, -0.1f, -0.5f}, {0.5f, 0.1f, 0.5f}, 2},
    [MUST_WORLD_EGG] = {"egg", 1, {{.kind = PRIM_ELLIPSOID, .a = {0.3f, 0.5f, 0.3f}}},
                        {-0.3f, -0.5f, -0.3f}, {0.3f, 0.5f, 0.3f}, 2},
    [MUST_WORLD_OCTAHEDRON] = {"octahedron", 1,
                               {{.kind = PRIM_POLY,
                                 .np = 8,
                                 .planes = {{1, 1, 1, 0.5f},
                                            {1, 1, -1, 0.5f},
                                            {1, -1, 1, 0.5f},
                                            {1, -1, -1, 0.5f},
                                            {-1, 1, 1, 0.5f},
                                            {-1, 1, -1, 0.5f},
                                            {-1, -1, 1, 0.5f},
                                            {-1, -1, -1, 0.5f}}}},
                               {-0.5f, -0.5f, -0.5f}, {0.5f, 0.5f, 0.5f}, 1},
    [MUST_WORLD_WEDGE] = {"wedge", 1,
                          {{.kind = PRIM_POLY,
                            .np = 5,
                            .planes = {{0, -1, 0, 0.35f},
                                       {0, 0, 1, 0.3f},
                                       {0, 0, -1, 0.3f},
                                       {0.7f, 0.5f, 0, 0.175f},
                                       {-0.7f, 0.5f, 0, 0.175f}}}},
                          {-0.5f, -0.35f, -0.3f}, {0.5f, 0.35f, 0.3f}, 1},
    [MUST_WORLD_HEXPRISM] = {"hexprism", 1,
                             {{.kind = PRIM_POLY,
                               .np = 8,
                               .planes = {{C30, 0, 0.5f, AP6},
                                          {0, 0, 1, AP6},
                                          {-C30, 0, 0.5f, AP6},
                                          {-C30, 0, -0.5f, AP6},
                                          {0, 0, -1, AP6},
                                          {C30, 0, -0.5f, AP6},
                                          {0, 1, 0, 0.3f},
                                          {0, -1, 0, 0.3f}}}},
                             {-0.5f, -0.3f, -AP6}, {0.5f, 0.3f, AP6}, 2},
    [MUST_WORLD_TETRAHEDRON] = {"tetrahedron", 1,
                                {{.kind = PRIM_POLY,
                                  .np = 4,
                                  .planes = {{0, -1, 0, H4},
                                             {0, H4, -R3, 0.125f},
                                             {0.5f, H4, 0.5f * R3, 0.125f},
                                             {-0.5f, H4, 0.5f * R3, 0.125f}}}},
                                {-0.5f, -H4, -0.5f * R3}, {0.5f, H34, R3}, 1},
    [MUST_WORLD_PLANK] = {"plank", 1, {{.kind = PRIM_BOX, .a = {0.5f, 0.05f, 0.15f}}},
                          {-0.5f, -0.05f, -0.15f}, {0.5f, 0.05f, 0.15f}, 2},
    [MUST_WORLD_CROSS] = {"cross", 2,
                          {{.kind = PRIM_BOX, .a = {0.1f, 0.5f, 0.1f}},
                           {.kind = PRIM_BOX, .c = {0, 0.15f, 0}, .a = {0.35f, 0.1f, 0.1f}}},
                          {-0.35f, -0.5f, -0.1f}, {0.35f, 0.5f, 0.1f}, 1},
    [MUST_WORLD_DUMBBELL] = {"dumbbell", 3,
                             {{.kind = PRIM_SPHERE, .c = {-0.3f, 0, 0}, .a = {0.2f}},
                              {.kind = PRIM_SPHERE, .c = {0.3f, 0, 0}, .a = {0.2f}},
                              {.kind = PRIM_CYL, .a = {0.07f, 0.3f}, .axis = 1}},
                             {-0.5f, -0.2f, -0.2f}, {0.5f, 0.2f, 0.2f}, 1},
    [MUST_WORLD_SNOWMAN] = {"snowman", 3,
                            {{.kind = PRIM_SPHERE, .c = {0, -0.25f, 0}, .a = {0.25f}},
                             {.kind = PRIM_SPHERE, .c = {0, 0.13f, 0}, .a = {0.18f}},
                             {.kind = PRIM_SPHERE, .c = {0, 0.38f, 0}, .a = {0.12f}}},
                            {-0.25f, -0.5f, -0.25f}, {0.25f, 0.5f, 0.25f}, 1},
    [MUST_WORLD_TABLE] = {"table", 5,
                          {{.kind = PRIM_BOX, .c = {0, 0.31f, 0}, .a = {0.5f, 0.04f, 0.35f}},
                           {.kind = PRIM_BOX, .c = {0.42f, -0.04f, 0.27f}, .a = {0.04f, 0.31f, 0.04f}},
                           {.kind = PRIM_BOX, .c = {-0.42f, -0.04f, 0.27f}, .a = {0.04f, 0.31f, 0.04f}},
                           {.kind = PRIM_BOX, .c = {0.42f, -0.04f, -0.27f}, .a = {0.04f, 0.31f, 0.04f}},
                           {.kind = PRIM_BOX, .c = {-0.42f, -0.04f, -0.27f}, .a = {0.04f, 0.31f, 0.04f}}},
                          {-0.5f, -0.35f, -0.35f}, {0.5f, 0.35f, 0.35f}, 1},
    [MUST_WORLD_MUSHROOM] = {"mushroom", 2,
                             {{.kind = PRIM_CYL, .c = {0, -0.25f, 0}, .a = {0.12f, 0.25f}},
                              {.kind = PRIM_SPHERE,
                               .c = {0, -0.05f, 0},
                               .a = {0.45f},
                               .has_cut = 1,
                               .cut = {0, -1, 0, 0}}},
                             {-0.45f, -0.5f, -0.45f}, {0.45f, 0.4f, 0.45f}, 1},
    [MUST_WORLD_ARCH] = {"arch", 3,
                         {{.kind = PRIM_BOX, .c = {-0.35f, -0.1f, 0}, .a = {0.1f, 0.4f, 0.12f}},
                          {.kind = PRIM_BOX, .c = {0.35f, -0.1f, 0}, .a = {0.1f, 0.4f, 0.12f}},
                          {.kind = PRIM_BOX, .c = {0, 0.4f, 0}, .a = {0.5f, 0.1f, 0.12f}}},
                         {-0.5f, -0.5f, -0.12f}, {0.5f, 0.5f, 0.12f}, 1},
};

static const char *const stuff_names[MUST_WORLD_NSTUFF] = {"sky", "floor", "wall", "ceiling"};
static const char *const task_names[5] = {"classification", "detection", "segmentation",
                                          "depth", "normal"};

const char *must_world_category_name(int category)
{
    return category >= 0 && category < MUST_WORLD_NCAT ? must_world_shape_table[category].name
                                                       : NULL;
}

int must_world_category_find(const char *name)
{
    for (int i = 0; i < MUST_WORLD_NCAT; i++)
        if (strcmp(must_world_shape_table[i].name, name) == 0)
            return i;
    return -1;
}

int must_world_category_poses(int category)
{
    return category >= 0 && category < MUST_WORLD_NCAT ? must_world_shape_table[category].poses
                                                       : 0;
}

const char *must_world_stuff_name(int stuff)
{
    return stuff >= 0 && stuff < MUST_WORLD_NSTUFF ? stuff_names[stuff] : NULL;
}

int must_world_stuff_find(const char *name)
{
    for (int i = 0; i < MUST_WORLD_NSTUFF; i++)
        if (strcmp(stuff_names[i], name) == 0)
            return i;
    return -1;
}

const char *must_world_task_name(int i)
{
    return i >= 0 && i < 5 ? task_names[i] : NULL;
}
