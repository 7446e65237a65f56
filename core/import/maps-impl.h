/* maps-impl.h - what the depth and normal importers are made of (private):
 * the pairing of images with their label maps by file stem (pairs.c), and
 * the conversion of other sets' depth and normal files into must's label
 * maps (maps.c).  must_import_depth and must_import_normals (dense.c)
 * join them; the Check suite test_import_maps tests each piece. */
#ifndef MUST_MAPS_IMPL_H
#define MUST_MAPS_IMPL_H

#include "data/npy-impl.h"
#include "must/import.h"
#include "must/labels.h"

/* ---- pairs.c ---- */

/* An image and its label map, file names in their folders. */
typedef struct imp_pair {
    char *stem;    /* the name up to its last '.' */
    char *image;
    char *map;
} imp_pair;

typedef struct imp_pairs {
    int n;
    imp_pair *v;   /* in byte order of the stems */
    long skipped;  /* files of either folder with an extension of neither kind */
    int unpaired_images, unpaired_maps;
} imp_pairs;

/* Pairs the images in images_dir (.png, .jpg, .jpeg, any case) with the
 * files of maps_dir whose extension is one of map_exts (lower case, with
 * the dot, NULL-ended; any case matches), by stem.  `what` names a map in
 * messages ("depth map").  Two files of one folder with the same stem are
 * an error.  Unpaired files: an error that lists the first few of each
 * folder and counts them, or with skip a note that does, and they are left
 * out.  No pair at all is an error.  Free with imp_pairs_free. */
int imp_pair_dirs(const char *images_dir, const char *maps_dir, const char *const *map_exts,
                  const char *what, int skip, const must_import_opts *o, imp_pairs *p,
                  must_err *err);
void imp_pairs_free(imp_pairs *p);

/* 1 when name ends in ext (".npy"), compared without case. */
int imp_has_ext(const char *name, const char *ext);

/* ---- maps.c ---- */

/* The largest stored unit of a 16-bit depth map: the writer rounds to the
 * nearest unit and refuses what rounds past 65535. */
#define IMP_DEPTH_UNITS_MAX 65535.49

/* Depth from a .npy array of shape (H, W) or (H, W, 1), in metres: 0, NaN
 * and +-inf are no data (0 in m); a negative depth is an error naming the
 * pixel, and so is one that scale cannot store (more than 65535 units), with
 * the scale that would.  *invalid (may be NULL) gets the pixels without
 * data.  m is allocated (must_map_free). */
int imp_depth_from_npy(const char *path, const npy_array *a, double scale, must_map *m,
                       long *invalid, must_err *err);
/* The depth map at path, by its extension: .npy as above, .png a 16-bit
 * gray PNG of metres = value * scale (0 = no data). */
int imp_depth_read(const char *path, double scale, must_map *m, long *invalid, must_err *err);

/* How a source's normal components lie in must's camera frame (x right,
 * y down, z forward, into the scene): must[to[i]] += sign[i] * source[i]. */
typedef struct imp_axes {
    int to[3];
    int sign[3];
} imp_axes;

/* Parses a convention: NULL, "", "must" or "opencv" (x-right,y-down,
 * z-forward: must's own), "opengl" (x-right,y-up,z-camera), or three
 * comma-separated items AXIS-DIRECTION, each of x, y and z once, the
 * directions right, left, up, down, forward (or away: into the scene) and
 * backward (or camera: towards the camera), one along each of must's axes. */
int imp_axes_parse(const char *spec, imp_axes *ax, must_err *err);

/* One source vector into must's frame, of unit length: 1, or 0 (out is
 * 0 0 0) when the vector is not finite or has length 0. */
int imp_normal_convert(const imp_axes *ax, const double src[3], float out[3]);

/* Normals from a .npy array of shape (H, W, 3): each vector converted and
 * renormalised; a zero or non-finite one is invalid (0 0 0).  *invalid (may
 * be NULL) gets the invalid pixels. */
int imp_normal_from_npy(const char *path, const npy_array *a, const imp_axes *ax, must_map *m,
                        long *invalid, must_err *err);
/* The normal map at path, by its extension: .npy as above, .png an RGB PNG
 * of 8 or 16 bits where a channel's value v of the largest V (255 or
 * 65535) encodes n = v / V * 2 - 1; a pixel 0 0 0 is invalid, and so is one
 * whose vector is shorter than 0.5 (mid-grey: some sets mark "no normal"
 * so; a unit vector decodes to length 1 within rounding). */
int imp_normal_read(const char *path, const imp_axes *ax, must_map *m, long *invalid,
                    must_err *err);

#endif
