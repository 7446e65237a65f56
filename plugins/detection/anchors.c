/* anchors.c - the anchor grid over the feature levels. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "det-impl.h"

int det_anchors_make(det_anchors *a, const det_anchor_cfg *cfg, int nlev, const int *fh,
                     const int *fw, const float *stride, must_err *err)
{
    a->nlev = nlev;
    a->A = cfg->nratios * cfg->nscales;
    a->total = 0;
    a->box = NULL;
    for (int l = 0; l < nlev; l++) {
        a->lev[l] = (det_anchor_level){fh[l], fw[l], a->total, stride[l]};
        a->total += a->A * fh[l] * fw[l];
    }
    a->box = malloc((size_t)(a->total ? a->total : 1) * 4 * sizeof(float));
    if (!a->box)
        return det_err(err, MUST_ENOMEM, "detection: out of memory for %d anchors", a->total);
    float *p = a->box;
    for (int l = 0; l < nlev; l++)
        for (int s = 0; s < cfg->nscales; s++)
            for (int r = 0; r < cfg->nratios; r++) {
                /* Equal area for every ratio: w h = size^2, h / w = ratio. */
                float side = cfg->size[l] * cfg->scale[s], q = sqrtf(cfg->ratio[r]);
                float hw = 0.5f * side / q, hh = 0.5f * side * q;
                for (int y = 0; y < fh[l]; y++)
                    for (int x = 0; x < fw[l]; x++, p += 4) {
                        float cx = ((float)x + 0.5f) * stride[l], cy = ((float)y + 0.5f) * stride[l];
                        p[0] = cx - hw;
                        p[1] = cy - hh;
                        p[2] = cx + hw;
                        p[3] = cy + hh;
                    }
            }
    return MUST_OK;
}

void det_anchors_free(det_anchors *a)
{
    free(a->box);
    a->box = NULL;
    a->total = 0;
}
