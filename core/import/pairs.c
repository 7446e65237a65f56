/* pairs.c - images and their label maps in two folders, paired by file
 * stem (NYU's and DIODE's exports keep rgb/0001.png beside depth/0001.npy);
 * what has no partner is listed, so that a wrong folder shows at once. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import-impl.h"
#include "maps-impl.h"

/* How many names of each unpaired list a message shows. */
#define SHOW_NAMES 5

static const char *const image_exts[] = {".png", ".jpg", ".jpeg", NULL};

int imp_has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcasecmp(name + n - e, ext) == 0;
}

static int has_any(const char *name, const char *const *exts)
{
    for (int i = 0; exts[i]; i++)
        if (imp_has_ext(name, exts[i]))
            return 1;
    return 0;
}

/* A file of one folder: its stem (owned) and its name (the listing's). */
typedef struct stemmed {
    char *stem;
    const char *name;
} stemmed;

static int cmp_stem(const void *a, const void *b)
{
    return strcmp(((const stemmed *)a)->stem, ((const stemmed *)b)->stem);
}

static void stems_free(stemmed *s, int n)
{
    for (int i = 0; s && i < n; i++)
        free(s[i].stem);
    free(s);
}

/* The files of names[] with one of exts, by stem; others are counted in
 * *skipped.  Two with one stem are an error naming both. */
static int stems_of(const char *dir, char **names, int n, const char *const *exts, stemmed **out,
                    int *nout, long *skipped, must_err *err)
{
    stemmed *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    *out = s;
    *nout = 0;
    if (!s)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!has_any(names[i], exts)) {
            (*skipped)++;
            continue;
        }
        size_t len = (size_t)(strrchr(names[i], '.') - names[i]);
        if (!(s[*nout].stem = strndup(names[i], len)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        s[(*nout)++].name = names[i];
    }
    if (*nout > 1) /* qsort's base may not be NULL, even for none */
        qsort(s, (size_t)*nout, sizeof *s, cmp_stem);
    for (int i = 1; i < *nout; i++)
        if (strcmp(s[i - 1].stem, s[i].stem) == 0)
            return must_err_set(err, MUST_EINVAL, "%s: %s and %s have the same stem '%s': which "
                                "one is meant is not clear", dir, s[i - 1].name, s[i].name,
                                s[i].stem);
    return MUST_OK;
}

/* "3 images without a depth map in DIR: a.png, b.png, c.png" (the first
 * SHOW_NAMES names, then "and N more") into buf. */
static void list_unpaired(char *buf, size_t len, int count, const char *what, const char *other,
                          const char *dir, const stemmed *s, const char *mark, int n)
{
    size_t at = (size_t)snprintf(buf, len, "%d %s%s without %s in %s:", count, what,
                                 count == 1 ? "" : "s", other, dir);
    int shown = 0;
    for (int i = 0; i < n && shown < SHOW_NAMES && at < len; i++)
        if (mark[i]) {
            at += (size_t)snprintf(buf + at, len - at, "%s %s", shown ? "," : "", s[i].name);
            shown++;
        }
    if (count > shown && at < len)
        snprintf(buf + at, len - at, " and %d more", count - shown);
}

/* Reports the unpaired files of both folders: a note each with skip, else
 * one error for both. */
static int report_unpaired(const char *images_dir, const char *maps_dir, const char *what,
                           int skip, const must_import_opts *o, const imp_pairs *p,
                           const stemmed *im, const char *im_alone, int nim, const stemmed *mp,
                           const char *mp_alone, int nmp, must_err *err)
{
    char a[512] = "", b[512] = "", other[64];
    if (p->unpaired_images) {
        snprintf(other, sizeof other, "a %s", what);
        list_unpaired(a, sizeof a, p->unpaired_images, "image", other, maps_dir, im, im_alone,
                      nim);
    }
    if (p->unpaired_maps)
        list_unpaired(b, sizeof b, p->unpaired_maps, what, "an image", images_dir, mp, mp_alone,
                      nmp);
    if (skip) {
        if (*a)
            imp_note(o, "warning: left out %s", a);
        if (*b)
            imp_note(o, "warning: left out %s", b);
        return MUST_OK;
    }
    if (!*a && !*b)
        return MUST_OK;
    return must_err_set(err, MUST_EINVAL, "%s%s%s (skip the unpaired files to import the pairs "
                        "alone)", a, *a && *b ? "; " : "", b);
}

/* Walks the two sorted stem lists together: pairs into p, the rest marked. */
static int merge(const stemmed *im, int nim, const stemmed *mp, int nmp, imp_pairs *p,
                 char *im_alone, char *mp_alone, must_err *err)
{
    int i = 0, j = 0;
    while (i < nim || j < nmp) {
        int c = i == nim ? 1 : j == nmp ? -1 : strcmp(im[i].stem, mp[j].stem);
        if (c < 0) {
            im_alone[i++] = 1;
            p->unpaired_images++;
        } else if (c > 0) {
            mp_alone[j++] = 1;
            p->unpaired_maps++;
        } else {
            imp_pair *q = &p->v[p->n];
            q->stem = strdup(im[i].stem);
            q->image = strdup(im[i].name);
            q->map = strdup(mp[j].name);
            p->n++;
            if (!q->stem || !q->image || !q->map)
                return must_err_set(err, MUST_ENOMEM, "out of memory");
            i++;
            j++;
        }
    }
    return MUST_OK;
}

int imp_pair_dirs(const char *images_dir, const char *maps_dir, const char *const *map_exts,
                  const char *what, int skip, const must_import_opts *o, imp_pairs *p,
                  must_err *err)
{
    memset(p, 0, sizeof *p);
    char **in = NULL, **mn = NULL;
    int nin = 0, nmn = 0, nim = 0, nmp = 0;
    stemmed *im = NULL, *mp = NULL;
    char *im_alone = NULL, *mp_alone = NULL;
    int rc = imp_list_dir(images_dir, 0, &in, &nin, err);
    if (!rc)
        rc = imp_list_dir(maps_dir, 0, &mn, &nmn, err);
    if (!rc)
        rc = stems_of(images_dir, in, nin, image_exts, &im, &nim, &p->skipped, err);
    if (!rc)
        rc = stems_of(maps_dir, mn, nmn, map_exts, &mp, &nmp, &p->skipped, err);
    if (!rc) {
        im_alone = calloc((size_t)nim + 1, 1);
        mp_alone = calloc((size_t)nmp + 1, 1);
        p->v = calloc((size_t)(nim < nmp ? nim : nmp) + 1, sizeof *p->v);
        rc = im_alone && mp_alone && p->v ? merge(im, nim, mp, nmp, p, im_alone, mp_alone, err)
                                          : must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = report_unpaired(images_dir, maps_dir, what, skip, o, p, im, im_alone, nim, mp,
                             mp_alone, nmp, err);
    if (!rc && p->n == 0)
        rc = must_err_set(err, MUST_EINVAL, "no image of %s (.png, .jpg, .jpeg) has a %s in %s",
                          images_dir, what, maps_dir);
    free(im_alone);
    free(mp_alone);
    stems_free(im, nim);
    stems_free(mp, nmp);
    imp_names_free(in, nin);
    imp_names_free(mn, nmn);
    if (rc)
        imp_pairs_free(p);
    return rc;
}

void imp_pairs_free(imp_pairs *p)
{
    for (int i = 0; p->v && i < p->n; i++) {
        free(p->v[i].stem);
        free(p->v[i].image);
        free(p->v[i].map);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}
