/* labelled.c - the pseudo-labelled sets of a run (RUN/label/SET/part-NNN),
 * the hidden truth beside a world set (SET/truth), and moving labels
 * between two sets' classes by name. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "run-impl.h"

int run_labelled_parts(run_state *r, int li, must_dataset ***parts, int *n, must_err *err)
{
    const char *set = r->e->data[r->e->label.data[li]].name;
    *parts = NULL;
    *n = 0;
    int rc = MUST_OK;
    for (int p = 0; rc == MUST_OK; p++) {
        char part[32];
        snprintf(part, sizeof part, "part-%03d", p);
        char *dir = run_path(r, "label", set, part);
        char *ini = dir ? must_path_join(dir, "dataset.ini") : NULL;
        int there = ini && must_file_exists(ini);
        free(ini);
        if (!there) {
            free(dir);
            break;
        }
        must_dataset **v = realloc(*parts, (size_t)(*n + 1) * sizeof *v);
        if (!v) {
            free(dir);
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            break;
        }
        *parts = v;
        rc = must_dataset_open(dir, &v[*n], err);
        if (!rc)
            (*n)++;
        free(dir);
    }
    if (!rc && *n == 0)
        rc = must_err_set(err, MUST_ENOTFOUND, "[label] %s: no pseudo-labelled part in %s/label/%s",
                          set, r->out, set);
    if (rc) {
        run_labelled_parts_free(*parts, *n);
        *parts = NULL;
        *n = 0;
    }
    return rc;
}

void run_labelled_parts_free(must_dataset **parts, int n)
{
    for (int i = 0; i < n; i++)
        must_dataset_close(parts[i]);
    free(parts);
}

char *run_truth_dir(const must_dataset *ds)
{
    char *dir = must_path_join(must_dataset_dir(ds), "truth");
    char *ini = dir ? must_path_join(dir, "dataset.ini") : NULL;
    int there = ini && must_file_exists(ini);
    free(ini);
    if (!there) {
        free(dir);
        return NULL;
    }
    return dir;
}

int run_kind_has_classes(int kind)
{
    return kind == MUST_LABEL_CLASSIFICATION || kind == MUST_LABEL_DETECTION ||
           kind == MUST_LABEL_SEGMENTATION;
}

int run_open_labelled(run_state *r, int li, must_err *err)
{
    for (int i = 0; i < r->nlabelled; i++)
        if (r->labelled_set[i] == li)
            return MUST_OK; /* opened already */
    must_dataset **parts;
    int n;
    int rc = run_labelled_parts(r, li, &parts, &n, err);
    if (rc)
        return rc;
    must_dataset **v = realloc(r->labelled, (size_t)(r->nlabelled + n) * sizeof *v);
    int *vs = v ? realloc(r->labelled_set, (size_t)(r->nlabelled + n) * sizeof *vs) : NULL;
    if (v)
        r->labelled = v;
    if (vs)
        r->labelled_set = vs;
    if (!v || !vs) {
        run_labelled_parts_free(parts, n);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int k = 0; k < n; k++) {
        r->labelled[r->nlabelled] = parts[k];
        r->labelled_set[r->nlabelled++] = li;
    }
    free(parts); /* the sets now belong to r */
    return MUST_OK;
}

int run_class_map(const must_dataset *from, const must_dataset *to, int kind, int *map,
                  unsigned char *known)
{
    int nf = must_dataset_nclasses(from, kind), nt = must_dataset_nclasses(to, kind), miss = 0;
    if (known)
        memset(known, 0, (size_t)(nt > 0 ? nt : 1));
    for (int c = 0; c < nf; c++) {
        map[c] = -1;
        for (int k = 0; k < nt && map[c] < 0; k++)
            if (!strcmp(must_dataset_class_name(from, kind, c),
                        must_dataset_class_name(to, kind, k)))
                map[c] = k;
        miss += map[c] < 0;
        if (known && map[c] >= 0)
            known[map[c]] = 1;
    }
    return miss;
}

int run_labels_remap(must_labels *g, int kind, const int *map, int nfrom, int nto, must_err *err)
{
    if (!(g->has & MUST_LABEL_BIT(kind)))
        return MUST_OK;
    if (kind == MUST_LABEL_CLASSIFICATION) {
        if (!g->soft) {
            g->cls = g->cls >= 0 && g->cls < nfrom ? map[g->cls] : -1;
            return MUST_OK;
        }
        float *p = calloc((size_t)nto + 1, sizeof *p);
        if (!p)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        double sum = 0;
        for (int c = 0; c < g->nsoft && c < nfrom; c++)
            if (map[c] >= 0) {
                p[map[c]] += g->soft[c];
                sum += g->soft[c];
            }
        int rc = MUST_OK;
        if (sum > 0) {
            for (int k = 0; k < nto; k++)
                p[k] = (float)(p[k] / sum);
            rc = must_labels_set_soft(g, nto, p, err);
        } else {
            free(g->soft);
            g->soft = NULL;
            g->nsoft = 0;
            g->cls = -1;
        }
        free(p);
        return rc;
    }
    if (kind == MUST_LABEL_DETECTION) {
        int n = 0;
        for (int q = 0; q < g->boxes.n; q++) {
            int c = g->boxes.v[q].cls;
            if (c >= 0 && c < nfrom && map[c] >= 0) {
                g->boxes.v[n] = g->boxes.v[q];
                g->boxes.v[n++].cls = map[c];
            }
        }
        g->boxes.n = n;
        return MUST_OK;
    }
    if (kind == MUST_LABEL_SEGMENTATION) {
        size_t n = (size_t)g->seg.height * g->seg.width;
        for (size_t q = 0; q < n; q++) {
            int v = (int)g->seg.data[q];
            if (v >= 0 && v < nfrom)
                g->seg.data[q] = map[v] >= 0 ? (float)map[v] : (float)MUST_SEG_IGNORE;
        }
    }
    return MUST_OK;
}
