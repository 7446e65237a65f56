/* test_world.c - the built-in world: geometry against closed forms, labels,
 * determinism, domain presets and their errors, dataset writing. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "must/image.h"
#include "must/io.h"
#include "must/world.h"
#include "testutil.h"
#include "world/texture.h"

/* ------------------------------------------------------------------------ */
/* Helpers. */

/* A bare scene: open ground, one light overhead, camera at eye looking at target. */
static void bare_scene(must_world_scene *sc, double ex, double ey, double ez, double tx,
                       double ty, double tz, float fov)
{
    memset(sc, 0, sizeof *sc);
    sc->cam_pos[0] = (float)ex, sc->cam_pos[1] = (float)ey, sc->cam_pos[2] = (float)ez;
    sc->cam_target[0] = (float)tx, sc->cam_target[1] = (float)ty, sc->cam_target[2] = (float)tz;
    sc->fov = fov;
    sc->background = MUST_WORLD_BG_OPEN;
    sc->ground = 40.0f;
    for (int c = 0; c < 3; c++) {
        sc->floor.color[c] = 0.3f;
        sc->sky_top[c] = 0.5f;
        sc->sky_horizon[c] = 0.8f;
        sc->ambient[c] = 0.3f;
    }
    sc->n_lights = 1;
    sc->lights[0].pos[1] = 10.0f;
    sc->lights[0].color[0] = sc->lights[0].color[1] = sc->lights[0].color[2] = 1.0f;
}

static void add_object(must_world_scene *sc, int cat, double x, double y, double z, float size,
                       float yaw)
{
    must_world_object *o = &sc->objects[sc->n_objects++];
    memset(o, 0, sizeof *o);
    o->category = cat;
    o->pos[0] = (float)x, o->pos[1] = (float)y, o->pos[2] = (float)z;
    o->size = size;
    o->yaw = yaw;
    o->mat.color[0] = 0.8f, o->mat.color[1] = 0.2f, o->mat.color[2] = 0.2f;
}

typedef struct { double x, y, z; } d3;

static d3 d3sub(d3 a, d3 b) { return (d3){a.x - b.x, a.y - b.y, a.z - b.z}; }
static double d3dot(d3 a, d3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static d3 d3norm(d3 a)
{
    double l = sqrt(d3dot(a, a));
    return (d3){a.x / l, a.y / l, a.z / l};
}
static d3 d3cross(d3 a, d3 b)
{
    return (d3){a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}

/* The camera of world.h's header comment, in double precision. */
typedef struct { d3 eye, fwd, right, down; double th; int S; } cam;

static cam make_cam(const must_world_scene *sc, int S)
{
    cam c;
    c.eye = (d3){sc->cam_pos[0], sc->cam_pos[1], sc->cam_pos[2]};
    d3 t = {sc->cam_target[0], sc->cam_target[1], sc->cam_target[2]};
    c.fwd = d3norm(d3sub(t, c.eye));
    c.right = d3norm(d3cross((d3){0, 1, 0}, c.fwd));
    c.down = d3cross(c.right, c.fwd);
    c.th = tan(0.5 * sc->fov * M_PI / 180.0);
    c.S = S;
    return c;
}

/* World point -> camera frame. */
static d3 to_cam(const cam *c, d3 p)
{
    d3 r = d3sub(p, c->eye);
    return (d3){d3dot(r, c->right), d3dot(r, c->down), d3dot(r, c->fwd)};
}

/* Camera-frame direction of pixel (i, j)'s centre ray, unit length. */
static d3 pixel_dir(const cam *c, int i, int j)
{
    double u = (2.0 * (j + 0.5) / c->S - 1.0) * c->th, v = (2.0 * (i + 0.5) / c->S - 1.0) * c->th;
    return d3norm((d3){u, v, 1.0});
}

/* Continuous image coordinates of a camera-frame point. */
static void project(const cam *c, d3 p, double *px, double *py)
{
    *px = (p.x / p.z / c->th + 1.0) * 0.5 * c->S;
    *py = (p.y / p.z / c->th + 1.0) * 0.5 * c->S;
}

static char *tmp_path(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 1024, "%s/%s", test_tmpdir(), name);
    return b;
}

static void rm_rf(const char *path)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t frame_hash(const must_world_frame *f)
{
    size_t np = (size_t)f->size * f->size;
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(f->rgb, np * 3, h);
    h = fnv(f->semantic, np, h);
    h = fnv(f->instance, np, h);
    h = fnv(f->depth, np * sizeof(float), h);
    h = fnv(f->normal, np * 3 * sizeof(float), h);
    return h;
}

/* ------------------------------------------------------------------------ */
/* Geometry against closed forms. */

/* A sphere of radius r centred at c (camera frame): depth and normal of the
 * nearer intersection of each pixel's centre ray. */
static void check_sphere(const must_world_scene *sc, int S, d3 centre_world, double r)
{
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, S, NULL), MUST_OK);
    must_err err = {0};
    ck_assert_msg(must_world_render(sc, &f, &err) == MUST_OK, "%s", err.msg);
    cam c = make_cam(sc, S);
    d3 cc = to_cam(&c, centre_world);
    int checked = 0;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            d3 d = pixel_dir(&c, i, j);
            double b = d3dot(d, cc), disc = b * b - (d3dot(cc, cc) - r * r);
            size_t q = (size_t)i * S + j;
            if (disc < 1e-3 * r * r && disc > -1e-3 * r * r)
                continue; /* too close to the silhouette to call */
            if (disc < 0) {
                ck_assert_int_ne(f.instance[q], 1);
                continue;
            }
            ck_assert_int_eq(f.instance[q], 1);
            ck_assert_int_eq(f.semantic[q], MUST_WORLD_SEM_OBJECT(MUST_WORLD_SPHERE));
            double t = b - sqrt(disc);
            double z = t * d.z;
            ck_assert_float_near(f.depth[q], z, 2e-5 * z);
            d3 n = {(t * d.x - cc.x) / r, (t * d.y - cc.y) / r, (t * d.z - cc.z) / r};
            ck_assert_float_near(f.normal[3 * q], n.x, 2e-4);
            ck_assert_float_near(f.normal[3 * q + 1], n.y, 2e-4);
            ck_assert_float_near(f.normal[3 * q + 2], n.z, 2e-4);
            checked++;
        }
    ck_assert_int_gt(checked, 100);
    must_world_frame_free(&f);
}

START_TEST(sphere_facing_camera_has_analytic_depth_and_normals)
{
    must_world_scene sc;
    /* straight ahead, level camera */
    bare_scene(&sc, 0, 1, 0, 0, 1, 1, 60.0f);
    add_object(&sc, MUST_WORLD_SPHERE, 0, 0.5, 4, 1.0f, 0.0f);
    check_sphere(&sc, 64, (d3){0, 1, 4}, 0.5);
    /* off-centre, camera turned and pitched, a narrower lens */
    bare_scene(&sc, 0.3, 1.7, -0.5, 1.0, 0.6, 3.0, 45.0f);
    add_object(&sc, MUST_WORLD_SPHERE, 0.9, 0.2, 3.2, 1.2f, 1.3f);
    check_sphere(&sc, 96, (d3){0.9, 0.8, 3.2}, 0.6);
}
END_TEST

/* A cube's eight corners, world space, as the renderer places it: the base
 * centre on pos, turned by yaw (x' = x cos + z sin, z' = -x sin + z cos). */
static void cube_corners(double px, double pz, double s, double yaw, d3 out[8])
{
    double c = cos(yaw), sn = sin(yaw);
    int k = 0;
    for (int a = -1; a <= 1; a += 2)
        for (int b = 0; b <= 1; b++)
            for (int e = -1; e <= 1; e += 2) {
                double x = 0.5 * a * s, y = b * s, z = 0.5 * e * s;
                out[k++] = (d3){px + c * x + sn * z, y, pz - sn * x + c * z};
            }
}

/* The pixels whose centres fall inside [lo, hi] on one axis, half-open. */
static void pixel_span(double lo, double hi, int S, int *a, int *b)
{
    *a = (int)ceil(lo - 0.5);
    *b = (int)floor(hi - 0.5) + 1;
    if (*a < 0)
        *a = 0;
    if (*b > S)
        *b = S;
}

START_TEST(unoccluded_box_matches_projection)
{
    const int S = 128;
    const double px = 0.3, pz = 5.0, s = 1.0, yaw = 0.4;
    must_world_scene sc;
    bare_scene(&sc, 0, 1.5, 0, 0, 0.5, 5, 50.0f);
    add_object(&sc, MUST_WORLD_CUBE, px, 0, pz, (float)s, (float)yaw);
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, S, NULL), MUST_OK);
    ck_assert_int_eq(must_world_render(&sc, &f, NULL), MUST_OK);
    cam c = make_cam(&sc, S);
    d3 k[8];
    cube_corners(px, pz, s, yaw, k);
    double x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
    for (int i = 0; i < 8; i++) {
        double u, v;
        project(&c, to_cam(&c, k[i]), &u, &v);
        x0 = fmin(x0, u), x1 = fmax(x1, u), y0 = fmin(y0, v), y1 = fmax(y1, v);
    }
    int ex0, ex1, ey0, ey1;
    pixel_span(x0, x1, S, &ex0, &ex1);
    pixel_span(y0, y1, S, &ey0, &ey1);
    const must_world_objstat *st = &f.objs[0];
    /* a corner of the silhouette may miss the nearest pixel centre: 1 px */
    ck_assert_int_le(abs(st->vbox[0] - ex0), 1);
    ck_assert_int_le(abs(st->vbox[1] - ey0), 1);
    ck_assert_int_le(abs(st->vbox[2] - ex1), 1);
    ck_assert_int_le(abs(st->vbox[3] - ey1), 1);
    ck_assert_int_eq(st->visible, st->silhouette);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(st->vbox[i], st->sbox[i]);
    ck_assert_int_eq(f.image_class, MUST_WORLD_CUBE);
    must_world_frame_free(&f);
}
END_TEST

START_TEST(occluded_box_shrinks)
{
    const int S = 96;
    must_world_scene sc;
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, S, NULL), MUST_OK);
    /* the far cube alone */
    bare_scene(&sc, 0, 1.2, 0, 0, 0.5, 6, 55.0f);
    add_object(&sc, MUST_WORLD_CUBE, 0.2, 0, 6, 1.2f, 0.3f);
    ck_assert_int_eq(must_world_render(&sc, &f, NULL), MUST_OK);
    must_world_objstat alone = f.objs[0];
    ck_assert_int_gt(alone.visible, 100);
    /* a near cylinder hides its left part */
    add_object(&sc, MUST_WORLD_CYLINDER, -0.35, 0, 3.5, 1.2f, 0.0f);
    ck_assert_int_eq(must_world_render(&sc, &f, NULL), MUST_OK);
    const must_world_objstat *far = &f.objs[0], *near = &f.objs[1];
    ck_assert_int_lt(far->visible, alone.visible);
    ck_assert_int_eq(far->silhouette, alone.silhouette);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(far->sbox[i], alone.sbox[i]); /* the projection did not change */
    ck_assert_int_gt(far->vbox[0], alone.vbox[0]);     /* the visible box lost its left part */
    ck_assert_int_eq(far->vbox[2], alone.vbox[2]);
    ck_assert_int_le(far->vbox[2] - far->vbox[0], alone.vbox[2] - alone.vbox[0] - 3);
    ck_assert_int_eq(near->visible, near->silhouette);
    /* the near object is larger in the image: it names the image */
    ck_assert_int_gt(near->visible, far->visible);
    ck_assert_int_eq(f.image_class, MUST_WORLD_CYLINDER);
    must_world_frame_free(&f);
}
END_TEST

START_TEST(every_category_renders_with_unit_normals)
{
    const int S = 64;
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, S, NULL), MUST_OK);
    for (int cat = 0; cat < MUST_WORLD_NCAT; cat++) {
        for (int pose = 0; pose < must_world_category_poses(cat); pose++) {
            must_world_scene sc;
            bare_scene(&sc, 0, 1.4, 0, 0, 0.4, 3, 50.0f);
            add_object(&sc, cat, 0, 0, 3, 1.0f, 0.6f);
            sc.objects[0].pose = pose;
            ck_assert_int_eq(must_world_render(&sc, &f, NULL), MUST_OK);
            ck_assert_msg(f.objs[0].visible > 60, "%s pose %d: %d pixels",
                          must_world_category_name(cat), pose, f.objs[0].visible);
            ck_assert_int_eq(f.image_class, cat);
            cam c = make_cam(&sc, S);
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    size_t q = (size_t)i * S + j;
                    const float *n = &f.normal[3 * q];
                    double len = sqrt((double)n[0] * n[0] + (double)n[1] * n[1] + (double)n[2] * n[2]);
                    if (f.semantic[q] == MUST_WORLD_SKY) {
                        ck_assert(len == 0.0 && f.depth[q] == 0.0f);
                        continue;
                    }
                    ck_assert_msg(fabs(len - 1.0) < 1e-4, "%s: |n| = %g", must_world_category_name(cat), len);
                    ck_assert(f.depth[q] > 0.0f);
                    /* every surface seen faces the camera */
                    d3 d = pixel_dir(&c, i, j);
                    ck_assert_msg(d.x * n[0] + d.y * n[1] + d.z * n[2] < 1e-3,
                                  "%s: normal faces away at (%d, %d)", must_world_category_name(cat), i, j);
                }
        }
    }
    must_world_frame_free(&f);
}
END_TEST

START_TEST(object_resting_on_floor_touches_it)
{
    /* a cube of size 1 resting at pos: its top face is at y = 1; a ray
     * straight down from above the cube's centre sees it at depth h - 1 */
    must_world_scene sc;
    bare_scene(&sc, 0, 3, 4.0, 0, 0, 4.5, 30.0f);
    add_object(&sc, MUST_WORLD_CUBE, 0, 0, 4.0, 1.0f, 0.0f);
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, 32, NULL), MUST_OK);
    ck_assert_int_eq(must_world_render(&sc, &f, NULL), MUST_OK);
    size_t q = (size_t)16 * 32 + 16;
    ck_assert_int_eq(f.instance[q], 1);
    cam c = make_cam(&sc, 32);
    d3 d = pixel_dir(&c, 16, 16);
    /* the top plane y = 1 along the ray: z = t dz with t = (3 - 1) / -(world dy) */
    double wdy = d.x * c.right.y + d.y * c.down.y + d.z * c.fwd.y;
    double t = 2.0 / -wdy;
    ck_assert_float_near(f.depth[q], t * d.z, 1e-4);
    must_world_frame_free(&f);
}
END_TEST

START_TEST(square_wave_filter_hand_values)
{
    ck_assert_float_near(must_world_square(0.25f, 0.0f), 1.0, 0);
    ck_assert_float_near(must_world_square(0.75f, 0.0f), -1.0, 0);
    ck_assert_float_near(must_world_square(0.25f, 0.5f), 1.0, 1e-6);   /* [0, .5] all +1 */
    ck_assert_float_near(must_world_square(0.5f, 0.5f), 0.0, 1e-6);    /* half and half */
    ck_assert_float_near(must_world_square(0.45f, 0.2f), 0.5, 1e-5);   /* .15 up, .05 down */
    ck_assert_float_near(must_world_square(3.3f, 1.0f), 0.0, 1e-5);    /* a whole period */
    ck_assert_float_near(must_world_square(-0.25f, 0.5f), -1.0, 1e-6); /* periodic below 0 */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Determinism. */

START_TEST(same_index_same_bytes)
{
    must_err err = {0};
    must_world_domain *d;
    ck_assert_msg(must_world_domain_load("unlabelled", &d, &err) == MUST_OK, "%s", err.msg);
    must_world_frame a, b;
    ck_assert_int_eq(must_world_frame_alloc(&a, 48, NULL), MUST_OK);
    ck_assert_int_eq(must_world_frame_alloc(&b, 48, NULL), MUST_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(must_world_render_index(d, 7, (uint64_t)i, &a, NULL, NULL), MUST_OK);
        /* render something else in between so no state can carry over */
        ck_assert_int_eq(must_world_render_index(d, 8, (uint64_t)i + 100, &b, NULL, NULL), MUST_OK);
        ck_assert_int_eq(must_world_render_index(d, 7, (uint64_t)i, &b, NULL, NULL), MUST_OK);
        ck_assert(frame_hash(&a) == frame_hash(&b));
        ck_assert_int_eq(memcmp(a.rgb, b.rgb, 48 * 48 * 3), 0);
    }
    /* another seed, another image */
    ck_assert_int_eq(must_world_render_index(d, 7, 0, &a, NULL, NULL), MUST_OK);
    ck_assert_int_eq(must_world_render_index(d, 9, 0, &b, NULL, NULL), MUST_OK);
    ck_assert(frame_hash(&a) != frame_hash(&b));
    must_world_frame_free(&a);
    must_world_frame_free(&b);
    must_world_domain_free(d);
}
END_TEST

/* Golden values: the renderer uses only IEEE arithmetic and sqrt, so these
 * hold on every machine.  A deliberate change of the renderer, a shape or a
 * preset changes them: print the new values with WORLD_PRINT_GOLDEN=1. */
START_TEST(golden_images)
{
    static const struct { const char *domain; uint64_t index; uint64_t hash; } gold[] = {
        {"teach-cls", 0, 0x356dedefdae7364full},
        {"teach-det", 1, 0xd72423bb29feb324ull},
        {"down-depth", 2, 0xaf6a247278d090a2ull},
    };
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, 32, NULL), MUST_OK);
    int print = getenv("WORLD_PRINT_GOLDEN") != NULL;
    for (size_t k = 0; k < sizeof gold / sizeof gold[0]; k++) {
        must_world_domain *d;
        ck_assert_int_eq(must_world_domain_load(gold[k].domain, &d, NULL), MUST_OK);
        ck_assert_int_eq(must_world_render_index(d, 0, gold[k].index, &f, NULL, NULL), MUST_OK);
        uint64_t h = frame_hash(&f);
        if (print)
            printf("{\"%s\", %llu, 0x%016llxull},\n", gold[k].domain,
                   (unsigned long long)gold[k].index, (unsigned long long)h);
        else
            ck_assert_msg(h == gold[k].hash, "%s image %llu: hash 0x%016llx, expected 0x%016llx",
                          gold[k].domain, (unsigned long long)gold[k].index,
                          (unsigned long long)h, (unsigned long long)gold[k].hash);
        must_world_domain_free(d);
    }
    must_world_frame_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Domains. */

START_TEST(every_preset_loads_renders_and_matches_its_file)
{
    ck_assert_int_ge(must_world_builtin_count(), 11);
    const char *src = getenv("MUST_SRCDIR");
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, 48, NULL), MUST_OK);
    int roles[3] = {0};
    for (int i = 0; i < must_world_builtin_count(); i++) {
        const char *name = must_world_builtin_name(i);
        must_err err = {0};
        must_world_domain *d;
        ck_assert_msg(must_world_domain_load(name, &d, &err) == MUST_OK, "%s: %s", name, err.msg);
        ck_assert_str_eq(must_world_domain_name(d), name);
        ck_assert(must_world_domain_mirrors(d)[0] != '\0');
        const char *role = must_world_domain_role(d);
        roles[strcmp(role, "teacher") == 0 ? 0 : strcmp(role, "unlabelled") == 0 ? 1 : 2]++;
        if (strcmp(role, "unlabelled") == 0)
            ck_assert_uint_eq(must_world_domain_tasks(d), 0);
        else /* teachers' and downstream sets carry exactly one task */
            ck_assert_int_eq(__builtin_popcount(must_world_domain_tasks(d)), 1);
        const char *cls[64];
        int nc = must_world_domain_classes(d, MUST_WORLD_DETECTION, cls, 64);
        ck_assert_int_ge(nc, 2);
        for (int k = 0; k < 3; k++) {
            ck_assert_msg(must_world_render_index(d, 0, (uint64_t)k, &f, NULL, &err) == MUST_OK,
                          "%s: %s", name, err.msg);
            ck_assert_int_ge(must_world_domain_class_of(d, f.image_class), 0);
            for (int o = 0; o < f.n_objects; o++) {
                const must_world_objstat *s = &f.objs[o];
                ck_assert_int_ge(must_world_domain_class_of(d, s->category), 0);
                if (s->visible)
                    ck_assert(s->vbox[0] < s->vbox[2] && s->vbox[2] <= 48 && s->vbox[1] < s->vbox[3] &&
                              s->vbox[3] <= 48);
            }
        }
        /* the built-in copy is the file in etc/must/world, byte for byte */
        if (src) {
            char path[2048], *text;
            snprintf(path, sizeof path, "%s/etc/must/world/%s.ini", src, name);
            ck_assert_int_eq(must_file_read(path, &text, NULL, NULL), MUST_OK);
            ck_assert_msg(strcmp(text, must_world_builtin_text(i)) == 0,
                          "%s differs from the built-in copy: rebuild", path);
            free(text);
        }
        must_world_domain_free(d);
    }
    ck_assert_int_eq(roles[0], 4); /* ImageNet, Objects365, COCO, MiDaS */
    ck_assert_int_eq(roles[1], 1); /* JFT */
    ck_assert_int_eq(roles[2], 6); /* CIFAR-100, Pascal x2, NYU, ADE, DIODE */
    must_world_frame_free(&f);
}
END_TEST

START_TEST(downstream_classification_uses_another_class_set)
{
    must_world_domain *t, *d;
    ck_assert_int_eq(must_world_domain_load("teach-cls", &t, NULL), MUST_OK);
    ck_assert_int_eq(must_world_domain_load("down-cls", &d, NULL), MUST_OK);
    const char *a[64], *b[64];
    int na = must_world_domain_classes(t, MUST_WORLD_CLASSIFICATION, a, 64);
    int nb = must_world_domain_classes(d, MUST_WORLD_CLASSIFICATION, b, 64);
    int shared = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            shared += strcmp(a[i], b[j]) == 0;
    ck_assert_int_ge(na, 10);
    ck_assert_int_ge(nb, 10);
    ck_assert_int_le(shared, nb / 2);
    must_world_domain_free(t);
    must_world_domain_free(d);
}
END_TEST

START_TEST(segmentation_classes_map_stuff_and_objects)
{
    must_world_domain *d;
    ck_assert_int_eq(must_world_domain_load("teach-seg", &d, NULL), MUST_OK);
    const char *n[64];
    int k = must_world_domain_classes(d, MUST_WORLD_SEGMENTATION, n, 64);
    ck_assert_str_eq(n[0], "background");
    ck_assert_str_eq(n[1], "sky");
    ck_assert_str_eq(n[2], "floor");
    ck_assert_str_eq(n[3], "wall");
    ck_assert_str_eq(n[4], "sphere");
    ck_assert_int_eq(must_world_domain_seg_class(d, MUST_WORLD_SKY), 1);
    ck_assert_int_eq(must_world_domain_seg_class(d, MUST_WORLD_WALL), 3);
    ck_assert_int_eq(must_world_domain_seg_class(d, MUST_WORLD_CEILING), 0); /* not its class */
    ck_assert_int_eq(must_world_domain_seg_class(d, MUST_WORLD_SEM_OBJECT(MUST_WORLD_SPHERE)), 4);
    int table = must_world_domain_seg_class(d, MUST_WORLD_SEM_OBJECT(MUST_WORLD_TABLE));
    ck_assert_str_eq(n[table], "table");
    ck_assert_int_lt(table, k);
    must_world_domain_free(d);
}
END_TEST

/* Parses text as a domain named by `file`; the error must mention each of
 * the NULL-terminated strings. */
static void expect_error(const char *text, const char *file, ...)
{
    must_err err = {0};
    must_world_domain *d = NULL;
    ck_assert_int_ne(must_world_domain_parse(text, file, &d, &err), MUST_OK);
    ck_assert_ptr_null(d);
    ck_assert_int_lt(err.code, 0);
    va_list ap;
    va_start(ap, file);
    for (const char *s; (s = va_arg(ap, const char *));)
        ck_assert_msg(strstr(err.msg, s) != NULL, "'%s' lacks '%s'", err.msg, s);
    va_end(ap);
}

#define HEAD "[domain]\nrole = teacher\ntasks = detection\n[objects]\nclasses = sphere, cube\n"

START_TEST(bad_domain_ini_names_file_line_key)
{
    must_err err = {0};
    must_world_domain *d;
    ck_assert_msg(must_world_domain_parse(HEAD, "ok.ini", &d, &err) == MUST_OK, "%s", err.msg);
    ck_assert_str_eq(must_world_domain_name(d), "ok");
    must_world_domain_free(d);

    expect_error(HEAD "size = 2, 1\n", "bad.ini", "bad.ini:6", "[objects] size", "ordered", NULL);
    expect_error(HEAD "[look]\ncolour = red\n", "bad.ini", "bad.ini:7", "[look] colour",
                 "unknown key", NULL);
    expect_error(HEAD "[colours]\nred = 1\n", "bad.ini", "bad.ini:6", "unknown section [colours]",
                 NULL);
    expect_error(HEAD "count = 1, 3\ncount = 2\n", "bad.ini", "bad.ini:7", "[objects] count",
                 "twice", "line 6", NULL);
    expect_error("[domain]\nrole = teacher\ntasks = detection\n[objects]\nclasses = sphere, boat\n",
                 "bad.ini", "bad.ini:5", "[objects] classes", "'boat'", NULL);
    expect_error("[domain]\ntasks = detection\n[objects]\nclasses = sphere\n", "bad.ini",
                 "[domain] role", "missing", NULL);
    expect_error("[domain]\nrole = unlabelled\ntasks = depth\nmix = teach-cls\n", "bad.ini",
                 "bad.ini:3", "tasks", "unlabelled", NULL);
    expect_error(HEAD "[camera]\nfov = 10, 50\n", "bad.ini", "bad.ini:7", "[camera] fov", "20..120",
                 NULL);
    expect_error(HEAD "[look]\ntextures = plain:1, marble:2\n", "bad.ini", "bad.ini:7",
                 "[look] textures", "'marble'", NULL);
    expect_error(HEAD "this line has no equals sign\n", "bad.ini", "bad.ini:6", "syntax", NULL);
    expect_error("[domain]\nrole = unlabelled\ntasks =\nmix = unlabelled\n", "mixy.ini",
                 "mixy.ini:4", "mix", NULL);
    expect_error("[domain]\nrole = unlabelled\ntasks =\nmix = no-such-domain\n", "m.ini", "m.ini:4",
                 "no-such-domain", "not found", NULL);
    expect_error("[domain]\nrole = unlabelled\ntasks =\nmix = teach-cls\n[camera]\nfov = 50\n",
                 "m.ini", "m.ini:5", "[camera]", NULL);
    /* CRLF line ends are fine */
    ck_assert_int_eq(must_world_domain_parse("[domain]\r\nrole = teacher\r\ntasks = depth\r\n"
                                             "[objects]\r\nclasses = cube\r\n",
                                             "crlf.ini", &d, &err),
                     MUST_OK);
    must_world_domain_free(d);
}
END_TEST

START_TEST(domain_found_on_world_path)
{
    char *dir = tmp_path("world-path");
    rm_rf(dir);
    ck_assert_int_eq(must_mkdir_p(dir, NULL), MUST_OK);
    char file[1200];
    snprintf(file, sizeof file, "%s/tiny.ini", dir);
    const char *text = HEAD "count = 1, 1\n";
    ck_assert_int_eq(must_file_write_atomic(file, text, strlen(text), NULL), MUST_OK);
    setenv("MUST_WORLD_PATH", dir, 1);
    must_world_domain *d;
    must_err err = {0};
    ck_assert_msg(must_world_domain_load("tiny", &d, &err) == MUST_OK, "%s", err.msg);
    ck_assert_str_eq(must_world_domain_source(d), file);
    must_world_domain_free(d);
    /* a path works as a name too */
    ck_assert_int_eq(must_world_domain_load(file, &d, NULL), MUST_OK);
    must_world_domain_free(d);
    unsetenv("MUST_WORLD_PATH");
    ck_assert_int_eq(must_world_domain_load("tiny", &d, &err), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "tiny"));
    ck_assert_int_eq(must_world_domain_load("../etc/passwd", &d, &err) != MUST_OK, 1);
    /* a path that does not end in .ini is refused, even when it holds a
     * valid domain: "world = ../../etc/passwd" is a traversal, not a name */
    char bare[1200];
    snprintf(bare, sizeof bare, "%s/tiny", dir);
    ck_assert_int_eq(must_file_write_atomic(bare, text, strlen(text), NULL), MUST_OK);
    ck_assert_int_eq(must_world_domain_load(bare, &d, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, ".ini"));
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(splits_are_exact_per_hundred)
{
    must_world_domain *d;
    ck_assert_int_eq(must_world_domain_load("down-det", &d, NULL), MUST_OK);
    int pct[3], n[3] = {0};
    must_world_domain_splits(d, pct);
    for (int i = 0; i < 300; i++)
        n[must_world_domain_split_of(d, (uint64_t)i)]++;
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(n[s], 3 * pct[s]);
    must_world_domain_free(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Writing datasets. */

static char *slurp(const char *path)
{
    char *t = NULL;
    ck_assert_msg(must_file_read(path, &t, NULL, NULL) == MUST_OK, "cannot read %s", path);
    return t;
}

static int count_lines(const char *path)
{
    char *t = slurp(path);
    int n = 0;
    for (char *p = t; *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

static void same_file(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    ck_assert_int_eq(must_file_read(a, &x, &nx, NULL), MUST_OK);
    ck_assert_int_eq(must_file_read(b, &y, &ny, NULL), MUST_OK);
    ck_assert_msg(nx == ny && memcmp(x, y, nx) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

static must_world_gen_opts opts(int count, int size, int threads)
{
    must_world_gen_opts o = {.count = count, .size = size, .seed = 3, .threads = threads,
                             .quiet = 1};
    return o;
}

START_TEST(generate_writes_the_format_and_resumes)
{
    must_world_domain *d;
    ck_assert_int_eq(must_world_domain_load("down-det", &d, NULL), MUST_OK);
    char *dir = tmp_path("gen-det");
    rm_rf(dir);
    must_world_gen_opts o = opts(24, 40, 2);
    o.truth = 1;
    must_world_gen_stats st;
    must_err err = {0};
    ck_assert_msg(must_world_generate(d, dir, &o, &st, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(st.rendered, 24);
    char p[2048], q[2048];
    snprintf(p, sizeof p, "%s/dataset.ini", dir);
    char *ini = slurp(p);
    ck_assert_ptr_nonnull(strstr(ini, "tasks = detection\n"));
    ck_assert_ptr_nonnull(strstr(ini, "count = 24\n"));
    ck_assert_ptr_nonnull(strstr(ini, "[detection]\nclasses = sphere, cube,"));
    ck_assert_ptr_null(strstr(ini, "[segmentation]"));
    free(ini);
    int total = 0;
    static const char *const sp[3] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++) {
        snprintf(p, sizeof p, "%s/splits/%s.txt", dir, sp[s]);
        total += count_lines(p);
    }
    ck_assert_int_eq(total, 24);
    /* only the set's own task beside the images; every task under truth/ */
    snprintf(p, sizeof p, "%s/labels/segmentation", dir);
    ck_assert_int_ne(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/truth/labels/normal/000023.png", dir);
    ck_assert(must_file_exists(p));
    snprintf(p, sizeof p, "%s/truth/images/000005.png", dir);
    ck_assert(must_file_exists(p));
    snprintf(p, sizeof p, "%s/labels/detection.txt", dir);
    snprintf(q, sizeof q, "%s/truth/labels/detection.txt", dir);
    same_file(p, q);
    /* every box: inside the image, class in range, score 1 */
    char *det = slurp(p);
    int boxes = 0;
    for (char *line = strtok(det, "\n"); line; line = strtok(NULL, "\n")) {
        char id[16];
        int x0, y0, x1, y1, c, score;
        ck_assert_int_ge(sscanf(line, "%15s %d %d %d %d %d %d", id, &x0, &y0, &x1, &y1, &c, &score), 7);
        ck_assert(0 <= x0 && x0 < x1 && x1 <= 40 && 0 <= y0 && y0 < y1 && y1 <= 40);
        ck_assert(c >= 0 && c < 10 && score == 1);
        boxes++;
    }
    free(det);
    ck_assert_int_ge(boxes, 24);

    /* cut the run short: lose one image and another's label map, and
     * leave the temporary file of a write that never finished */
    char *det_before = slurp(q);
    snprintf(p, sizeof p, "%s/images/000007.png", dir);
    char *img7;
    size_t n7;
    ck_assert_int_eq(must_file_read(p, &img7, &n7, NULL), MUST_OK);
    ck_assert_int_eq(remove(p), 0);
    snprintf(p, sizeof p, "%s/truth/labels/depth/000011.png", dir);
    ck_assert_int_eq(remove(p), 0);
    char stale[2048];
    snprintf(stale, sizeof stale, "%s/images/000009.png.tmp.99999", dir);
    ck_assert_int_eq(must_file_write_atomic(stale, "x", 1, NULL), MUST_OK);
    ck_assert_msg(must_world_generate(d, dir, &o, &st, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(st.rendered, 2);
    ck_assert_int_eq(st.skipped, 22);
    ck_assert(!must_file_exists(stale));
    ck_assert(must_file_exists(p));
    snprintf(p, sizeof p, "%s/images/000007.png", dir);
    char *again;
    size_t na;
    ck_assert_int_eq(must_file_read(p, &again, &na, NULL), MUST_OK);
    ck_assert(na == n7 && memcmp(again, img7, na) == 0);
    free(again);
    free(img7);
    char *det_after = slurp(q);
    ck_assert_str_eq(det_after, det_before);
    free(det_before);
    free(det_after);
    /* nothing left to do */
    ck_assert_int_eq(must_world_generate(d, dir, &o, &st, &err), MUST_OK);
    ck_assert_int_eq(st.rendered, 0);
    /* more images extend the set */
    o.count = 30;
    ck_assert_int_eq(must_world_generate(d, dir, &o, &st, &err), MUST_OK);
    ck_assert_int_eq(st.rendered, 6);
    /* fewer would orphan some; another seed or size is another set */
    o.count = 10;
    ck_assert_int_eq(must_world_generate(d, dir, &o, &st, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than 10"));
    o.count = 30;
    o.seed = 4;
    ck_assert_int_eq(must_world_generate(d, dir, &o, &st, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "other parameters"));
    must_world_domain_free(d);
}
END_TEST

START_TEST(generate_is_the_same_with_one_or_two_threads)
{
    must_world_domain *d;
    ck_assert_int_eq(must_world_domain_load("teach-seg", &d, NULL), MUST_OK);
    char *a = tmp_path("gen-seg-1"), *b = tmp_path("gen-seg-2");
    rm_rf(a);
    rm_rf(b);
    must_world_gen_opts o1 = opts(10, 32, 1), o2 = opts(10, 32, 2);
    must_err err = {0};
    ck_assert_msg(must_world_generate(d, a, &o1, NULL, &err) == MUST_OK, "%s", err.msg);
    ck_assert_msg(must_world_generate(d, b, &o2, NULL, &err) == MUST_OK, "%s", err.msg);
    char p[2048], q[2048];
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/images/%06d.png", a, i);
        snprintf(q, sizeof q, "%s/images/%06d.png", b, i);
        same_file(p, q);
        snprintf(p, sizeof p, "%s/labels/segmentation/%06d.png", a, i);
        snprintf(q, sizeof q, "%s/labels/segmentation/%06d.png", b, i);
        same_file(p, q);
    }
    snprintf(p, sizeof p, "%s/dataset.ini", a);
    snprintf(q, sizeof q, "%s/dataset.ini", b);
    same_file(p, q);
    must_world_domain_free(d);
}
END_TEST

START_TEST(written_labels_decode_to_the_frame)
{
    must_world_domain *d;
    ck_assert_int_eq(must_world_domain_load("unlabelled", &d, NULL), MUST_OK);
    char *dir = tmp_path("gen-unlabelled");
    rm_rf(dir);
    must_world_gen_opts o = opts(4, 32, 1);
    must_err err = {0};
    ck_assert_msg(must_world_generate(d, dir, &o, NULL, &err) == MUST_OK, "%s", err.msg);
    char p[2048];
    /* no labels beside the images; the truth has all five */
    snprintf(p, sizeof p, "%s/labels", dir);
    ck_assert_int_ne(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/dataset.ini", dir);
    char *ini = slurp(p);
    ck_assert_ptr_nonnull(strstr(ini, "tasks = \n"));
    free(ini);
    snprintf(p, sizeof p, "%s/truth/dataset.ini", dir);
    ini = slurp(p);
    ck_assert_ptr_nonnull(strstr(ini, "tasks = classification, detection, segmentation, depth, normal\n"));
    ck_assert_ptr_nonnull(strstr(ini, "scale = 0.001\n"));
    ck_assert_ptr_nonnull(strstr(ini, "encoding = unit16\n"));
    free(ini);

    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, 32, NULL), MUST_OK);
    ck_assert_int_eq(must_world_render_index(d, 3, 2, &f, NULL, NULL), MUST_OK);
    must_image im;
    snprintf(p, sizeof p, "%s/images/000002.png", dir);
    ck_assert_int_eq(must_png_read(p, &im, 3, 8, NULL), MUST_OK);
    ck_assert_int_eq(memcmp(im.pixels, f.rgb, 32 * 32 * 3), 0);
    must_image_free(&im);
    snprintf(p, sizeof p, "%s/truth/labels/depth/000002.png", dir);
    ck_assert_int_eq(must_png_read(p, &im, 1, 16, NULL), MUST_OK);
    const uint16_t *dep = im.pixels;
    for (int q = 0; q < 32 * 32; q++) {
        if (f.depth[q] == 0.0f)
            ck_assert_int_eq(dep[q], 0);
        else
            ck_assert_float_near(dep[q] * 0.001, f.depth[q], 0.0005 + 1e-6);
    }
    must_image_free(&im);
    snprintf(p, sizeof p, "%s/truth/labels/normal/000002.png", dir);
    ck_assert_int_eq(must_png_read(p, &im, 3, 16, NULL), MUST_OK);
    const uint16_t *nm = im.pixels;
    for (int q = 0; q < 32 * 32; q++)
        for (int c = 0; c < 3; c++) {
            if (f.depth[q] == 0.0f) {
                ck_assert_int_eq(nm[3 * q + c], 0);
                continue;
            }
            double n = (nm[3 * q + c] - 1) / 65534.0 * 2.0 - 1.0;
            ck_assert_float_near(n, f.normal[3 * q + c], 2.0 / 65534.0);
        }
    must_image_free(&im);
    snprintf(p, sizeof p, "%s/truth/labels/segmentation/000002.png", dir);
    ck_assert_int_eq(must_png_read(p, &im, 1, 8, NULL), MUST_OK);
    const uint8_t *seg = im.pixels;
    for (int q = 0; q < 32 * 32; q++)
        ck_assert_int_eq(seg[q], must_world_domain_seg_class(d, f.semantic[q]));
    must_image_free(&im);
    /* the classification truth is the largest visible object */
    snprintf(p, sizeof p, "%s/truth/labels/classification.txt", dir);
    char *cls = slurp(p), want[64];
    snprintf(want, sizeof want, "000002 %d\n", must_world_domain_class_of(d, f.image_class));
    ck_assert_ptr_nonnull(strstr(cls, want));
    free(cls);
    must_world_frame_free(&f);
    must_world_domain_free(d);
}
END_TEST

START_TEST(pascal_like_masks_have_void_outlines)
{
    must_world_domain *d;
    ck_assert_int_eq(must_world_domain_load("down-seg", &d, NULL), MUST_OK);
    char *dir = tmp_path("gen-voc");
    rm_rf(dir);
    must_world_gen_opts o = opts(2, 48, 1);
    ck_assert_int_eq(must_world_generate(d, dir, &o, NULL, NULL), MUST_OK);
    char p[2048];
    snprintf(p, sizeof p, "%s/labels/segmentation/000000.png", dir);
    must_image im;
    ck_assert_int_eq(must_png_read(p, &im, 1, 8, NULL), MUST_OK);
    must_world_frame f;
    ck_assert_int_eq(must_world_frame_alloc(&f, 48, NULL), MUST_OK);
    ck_assert_int_eq(must_world_render_index(d, 3, 0, &f, NULL, NULL), MUST_OK);
    const uint8_t *m = im.pixels;
    int voids = 0;
    for (int i = 0; i < 48; i++)
        for (int j = 0; j < 48; j++) {
            int q = i * 48 + j, border = 0;
            for (int y = i - 1; y <= i + 1; y++)
                for (int x = j - 1; x <= j + 1; x++)
                    if (y >= 0 && y < 48 && x >= 0 && x < 48 && f.instance[y * 48 + x] != f.instance[q])
                        border = 1;
            if (border) {
                ck_assert_int_eq(m[q], 255);
                voids++;
            } else {
                ck_assert_int_eq(m[q], must_world_domain_seg_class(d, f.semantic[q]));
            }
        }
    ck_assert_int_gt(voids, 0);
    must_image_free(&im);
    must_world_frame_free(&f);
    must_world_domain_free(d);
}
END_TEST

START_TEST(bad_scenes_are_refused)
{
    must_world_scene sc;
    must_world_frame f;
    must_err err = {0};
    ck_assert_int_eq(must_world_frame_alloc(&f, 16, NULL), MUST_OK);
    bare_scene(&sc, 0, 1, 0, 0, 1, 1, 60.0f);
    add_object(&sc, MUST_WORLD_NCAT, 0, 0, 3, 1, 0);
    ck_assert_int_eq(must_world_render(&sc, &f, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "category"));
    bare_scene(&sc, 0, 1, 0, 0, 5, 0, 60.0f); /* straight up */
    ck_assert_int_eq(must_world_render(&sc, &f, &err), MUST_EINVAL);
    bare_scene(&sc, 0, 1, 0, 0, 1, 1, 1.0f);
    ck_assert_int_eq(must_world_render(&sc, &f, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "fov"));
    must_world_frame_free(&f);
    ck_assert_int_eq(must_world_frame_alloc(&f, 4, &err), MUST_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("world");
    TCase *g = tcase_create("geometry");
    tcase_add_test(g, sphere_facing_camera_has_analytic_depth_and_normals);
    tcase_add_test(g, unoccluded_box_matches_projection);
    tcase_add_test(g, occluded_box_shrinks);
    tcase_add_test(g, every_category_renders_with_unit_normals);
    tcase_add_test(g, object_resting_on_floor_touches_it);
    tcase_add_test(g, square_wave_filter_hand_values);
    tcase_add_test(g, bad_scenes_are_refused);
    suite_add_tcase(s, g);
    TCase *d = tcase_create("determinism");
    tcase_add_test(d, same_index_same_bytes);
    tcase_add_test(d, golden_images);
    suite_add_tcase(s, d);
    TCase *m = tcase_create("domains");
    tcase_add_test(m, every_preset_loads_renders_and_matches_its_file);
    tcase_add_test(m, downstream_classification_uses_another_class_set);
    tcase_add_test(m, segmentation_classes_map_stuff_and_objects);
    tcase_add_test(m, bad_domain_ini_names_file_line_key);
    tcase_add_test(m, domain_found_on_world_path);
    tcase_add_test(m, splits_are_exact_per_hundred);
    suite_add_tcase(s, m);
    TCase *w = tcase_create("generate");
    tcase_set_timeout(w, 60);
    tcase_add_test(w, generate_writes_the_format_and_resumes);
    tcase_add_test(w, generate_is_the_same_with_one_or_two_threads);
    tcase_add_test(w, written_labels_decode_to_the_frame);
    tcase_add_test(w, pascal_like_masks_have_void_outlines);
    suite_add_tcase(s, w);
    return test_run(s);
}
