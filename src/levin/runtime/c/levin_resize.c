/* levin_resize.c -- TFLite int8 RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR; the source indices
 * (and bilinear's positions) are computed at generation time.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_kernels.h"

void levin_resize_nearest_s8(const levin_resize_params *p, const int32_t *ys, const int32_t *xs,
                             const int8_t *in, int8_t *out) {
    int32_t b, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = in + b * p->in_h * p->in_w * p->channels;
        for (y = 0; y < p->out_h; ++y) {
            const int8_t *row = image + ys[y] * p->in_w * p->channels;
            for (x = 0; x < p->out_w; ++x) {
                const int8_t *px = row + xs[x] * p->channels;
                for (c = 0; c < p->channels; ++c) {
                    *out++ = px[c];
                }
            }
        }
    }
}

/* TFLite int8 RESIZE_BILINEAR: ys holds (y0, y1, py) per output row, xs (x0, x1, px) per column,
 * p the source position in 1/1024 pixel; the codes are interpolated in 2^-20 and rounded half
 * away from zero. int64 sums, as TFLite's. */
void levin_resize_bilinear_s8(const levin_resize_params *p, const int32_t *ys, const int32_t *xs,
                              const int8_t *in, int8_t *out) {
    int32_t b, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = in + b * p->in_h * p->in_w * p->channels;
        for (y = 0; y < p->out_h; ++y) {
            const int8_t *row0 = image + ys[3 * y] * p->in_w * p->channels;
            const int8_t *row1 = image + ys[3 * y + 1] * p->in_w * p->channels;
            const int64_t wy1 = ys[3 * y + 2] - 1024 * ys[3 * y], wy0 = 1024 - wy1;
            for (x = 0; x < p->out_w; ++x) {
                const int32_t c0 = xs[3 * x] * p->channels, c1 = xs[3 * x + 1] * p->channels;
                const int64_t wx1 = xs[3 * x + 2] - 1024 * xs[3 * x], wx0 = 1024 - wx1;
                for (c = 0; c < p->channels; ++c) {
                    const int64_t s = row0[c0 + c] * wy0 * wx0 + row1[c0 + c] * wy1 * wx0 +
                                      row0[c1 + c] * wy0 * wx1 + row1[c1 + c] * wy1 * wx1;
                    *out++ = (int8_t)((s + (s > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
                }
            }
        }
    }
}
