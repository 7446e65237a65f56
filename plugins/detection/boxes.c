/* boxes.c - box arithmetic: area, IoU, the (dx, dy, dw, dh) box coder, clipping. */
#include "config.h"

#include <math.h>

#include "det-impl.h"

float det_box_area(const float *b)
{
    float w = b[2] - b[0], h = b[3] - b[1];
    return w > 0.0f && h > 0.0f ? w * h : 0.0f;
}

float det_iou(const float *a, const float *b)
{
    float iw = DET_MIN(a[2], b[2]) - DET_MAX(a[0], b[0]);
    float ih = DET_MIN(a[3], b[3]) - DET_MAX(a[1], b[1]);
    if (iw <= 0.0f || ih <= 0.0f)
        return 0.0f;
    float inter = iw * ih, uni = det_box_area(a) + det_box_area(b) - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

void det_box_encode(const float *src, const float *dst, const float *w, float *d)
{
    float sw = src[2] - src[0], sh = src[3] - src[1];
    float dw = dst[2] - dst[0], dh = dst[3] - dst[1];
    d[0] = w[0] * (0.5f * (dst[0] + dst[2]) - 0.5f * (src[0] + src[2])) / sw;
    d[1] = w[1] * (0.5f * (dst[1] + dst[3]) - 0.5f * (src[1] + src[3])) / sh;
    d[2] = w[2] * logf(dw / sw);
    d[3] = w[3] * logf(dh / sh);
}

void det_box_decode(const float *src, const float *d, const float *w, float *out)
{
    float sw = src[2] - src[0], sh = src[3] - src[1];
    float cx = 0.5f * (src[0] + src[2]) + d[0] / w[0] * sw;
    float cy = 0.5f * (src[1] + src[3]) + d[1] / w[1] * sh;
    float ew = fminf(d[2] / w[2], DET_DWH_CLAMP), eh = fminf(d[3] / w[3], DET_DWH_CLAMP);
    float hw = 0.5f * sw * expf(ew), hh = 0.5f * sh * expf(eh);
    out[0] = cx - hw;
    out[1] = cy - hh;
    out[2] = cx + hw;
    out[3] = cy + hh;
}

void det_box_clip(float *b, float width, float height)
{
    b[0] = fminf(fmaxf(b[0], 0.0f), width);
    b[1] = fminf(fmaxf(b[1], 0.0f), height);
    b[2] = fminf(fmaxf(b[2], 0.0f), width);
    b[3] = fminf(fmaxf(b[3], 0.0f), height);
}
