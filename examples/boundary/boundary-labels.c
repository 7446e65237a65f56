/* boundary-labels.c - writes boundary labels into world sets, derived from
 * the world's exact segmentation: a pixel is on a boundary when one of its
 * four neighbours has another class (the ignored class 255 gives unknown
 * pixels).  For each SET given:
 *
 *   - SET itself gets the boundary kind when it carries segmentation labels
 *     (a labelled set: a teacher's or a transfer's);
 *   - SET/truth, the hidden exact labels of a world set, gets it too, so
 *     that `must run` can score the boundary teacher's pseudo labels.
 *
 * A set that has the kind already is left alone, so rerunning is harmless.
 * The kind is the boundary plugin's: the tool loads it (by name, from
 * MUST_PLUGIN_PATH, or from the file given with -p) and writes through
 * must_dataset_add_kind, which stores each label with the plugin's codec.
 *
 *     usage: boundary-labels [-p boundary.so] SET...
 *
 * It links libmust (pkg-config --libs must), unlike the plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <must/dataset.h>
#include <must/plugin.h>

/* Image `index`'s boundary map from the set's segmentation. */
static int from_segmentation(void *user, const must_dataset *ds, int index, must_labels *out,
                             must_err *err)
{
    int kind = *(const int *)user;
    must_labels l;
    must_labels_init(&l);
    int rc = must_dataset_load(ds, index, MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION), NULL, &l, err);
    if (rc)
        return rc;
    const must_map *s = &l.seg;
    int W = s->width, H = s->height;
    must_map *m = calloc(1, sizeof *m);
    if (!m || must_map_alloc(m, 1, H, W, err) != MUST_OK) {
        free(m);
        must_labels_free(&l);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float c = s->data[y * W + x];
            float v = 0.0f;
            if (c == MUST_SEG_IGNORE)
                v = 255.0f;
            else if ((x + 1 < W && s->data[y * W + x + 1] != c) ||
                     (y + 1 < H && s->data[(y + 1) * W + x] != c) ||
                     (x > 0 && s->data[y * W + x - 1] != c) ||
                     (y > 0 && s->data[(y - 1) * W + x] != c))
                v = 1.0f;
            m->data[y * W + x] = v;
        }
    must_labels_free(&l);
    /* The plugin's codec frees it (its labels are must_map objects). */
    out->ext[kind] = m;
    out->has |= MUST_LABEL_BIT(kind);
    return MUST_OK;
}

/* Adds the kind to the set at dir when it has segmentation and lacks it. */
static int label_set(const char *dir, int kind, int *done, must_err *err)
{
    must_dataset *ds;
    int rc = must_dataset_open(dir, &ds, err);
    if (rc)
        return rc;
    unsigned tasks = must_dataset_tasks(ds);
    must_dataset_close(ds);
    if (!(tasks & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)) || (tasks & MUST_LABEL_BIT(kind)))
        return MUST_OK;
    must_dataset_spec spec = {0};
    spec.task[kind].source = MUST_SOURCE_SUPERVISED; /* exact: from the world's truth */
    rc = must_dataset_add_kind(dir, kind, &spec, from_segmentation, &kind, err);
    if (rc == MUST_OK) {
        printf("%s: boundary labels written\n", dir);
        (*done)++;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int a = 1;
    if (a + 1 < argc && !strcmp(argv[a], "-p")) {
        file = argv[a + 1];
        a += 2;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: boundary-labels [-p boundary.so] SET...\n");
        return 2;
    }
    must_err e = {0};
    must_plugin *p;
    if ((file ? must_plugin_load_file(file, &p, &e) : must_plugin_load("boundary", &p, &e))) {
        fprintf(stderr, "boundary-labels: %s\n", e.msg);
        return 1;
    }
    int kind = must_label_kind_parse("boundary"), status = 0;
    for (; a < argc; a++) {
        int done = 0;
        char truth[4096], ini[4200];
        snprintf(truth, sizeof truth, "%s/truth", argv[a]);
        snprintf(ini, sizeof ini, "%s/dataset.ini", truth);
        FILE *fp = fopen(ini, "r");
        int has_truth = fp != NULL;
        if (fp)
            fclose(fp);
        if (label_set(argv[a], kind, &done, &e) ||
            (has_truth && label_set(truth, kind, &done, &e))) {
            fprintf(stderr, "boundary-labels: %s\n", e.msg);
            status = 1;
        } else if (!done) {
            printf("%s: nothing to do (no segmentation to derive from, or labelled already)\n",
                   argv[a]);
        }
    }
    must_plugin_unload(p);
    return status;
}
