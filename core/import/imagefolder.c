/* imagefolder.c - DIR/<class>/<image> (PNG or JPEG) to a classification set
 * with a seeded train/val/test split per class. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "import-impl.h"
#include "must/io.h"
#include "must/sampler.h"

/* Class c's images (the files of cdir that are images) into the writer. */
static int import_class(must_dataset_writer *w, const char *cdir, const char *cls, int c,
                        const must_import_opts *o, must_import_counts *cnt, must_err *err)
{
    char **files = NULL;
    int nfiles = 0, nimg = 0;
    int rc = imp_list_dir(cdir, 0, &files, &nfiles, err);
    int *pick = rc ? NULL : malloc((size_t)(nfiles ? nfiles : 1) * sizeof *pick);
    if (!rc && !pick)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < nfiles; i++) {
        if (imp_image_ext(files[i]))
            pick[nimg++] = i;
        else
            cnt->skipped++;
    }
    if (!rc && nimg == 0)
        imp_note(o, "warning: class '%s' has no images (.png, .jpg, .jpeg)", cls);
    /* Per class: test first, then val, in a seeded order of the files. */
    uint64_t key = must_hash64(o->seed, (uint64_t)c);
    for (int r = 0; !rc && r < nimg; r++) {
        const char *file = files[pick[must_permute(key, (size_t)nimg, (size_t)r)]];
        int split = imp_split_of(r, nimg, o->val, o->test);
        char id[MUST_ID_MAX + 1];
        imp_make_id(id, cls, file, strlen(file) - imp_image_ext(file));
        char *path = must_path_join(cdir, file);
        must_labels l;
        must_labels_init(&l);
        l.has = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
        l.cls = c;
        rc = path ? must_dataset_writer_add_file(w, id, split, path, &l, err)
                  : must_err_set(err, MUST_ENOMEM, "out of memory");
        if (rc == MUST_EINVAL && strstr(err->msg, "duplicate image id"))
            must_err_set(err, MUST_EINVAL, "%s: its id '%s' is taken by an earlier file "
                         "(names that differ only in their extension, or in characters outside "
                         "A-Z a-z 0-9 _ - .)",
                         path, id);
        free(path);
        cnt->split[split]++;
        cnt->images++;
    }
    free(pick);
    imp_names_free(files, nfiles);
    return rc;
}

int must_import_imagefolder(const char *dir, const char *out, const must_import_opts *o,
                            must_import_counts *c, must_err *err)
{
    must_import_opts defaults;
    if (!o) {
        must_import_defaults(&defaults);
        o = &defaults;
    }
    memset(c, 0, sizeof *c);
    if (o->val < 0 || o->test < 0 || o->val + o->test > 1.0)
        return must_err_set(err, MUST_EINVAL, "val %g and test %g are not fractions that "
                            "leave room for train", o->val, o->test);
    char **classes = NULL;
    int ncls = 0;
    must_dataset_writer *w = NULL;
    int rc = imp_list_dir(dir, 1, &classes, &ncls, err);
    if (!rc && ncls == 0)
        rc = must_err_set(err, MUST_EINVAL, "%s: no class subdirectories", dir);
    if (!rc) {
        must_dataset_spec spec = {.name = imp_set_name(o, out),
                                  .tasks = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)};
        spec.task[MUST_LABEL_CLASSIFICATION].nclasses = ncls;
        spec.task[MUST_LABEL_CLASSIFICATION].classes = (const char *const *)classes;
        spec.task[MUST_LABEL_CLASSIFICATION].source = MUST_SOURCE_SUPERVISED;
        rc = must_dataset_writer_new(out, &spec, &w, err);
        if (!rc) /* under mpirun, each rank writes its share (must/dataset.h) */
            must_dataset_writer_share(w);
    }
    for (int k = 0; !rc && k < ncls; k++) {
        char *cdir = must_path_join(dir, classes[k]);
        rc = cdir ? import_class(w, cdir, classes[k], k, o, c, err)
                  : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(cdir);
    }
    /* A folder of only other files (or of images the names above miss)
     * would make a set of nothing and look like success. */
    if (!rc && c->images == 0)
        rc = must_err_set(err, MUST_ENOTFOUND, "%s: no images (.png, .jpg, .jpeg) in any of its "
                          "%d class folders", dir, ncls);
    if (!rc) {
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    }
    must_dataset_writer_abort(w);
    c->classes = ncls;
    imp_names_free(classes, ncls);
    return rc;
}
