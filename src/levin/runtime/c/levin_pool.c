/* levin_pool.c -- TFLite reference int8 MaxPool and AveragePool (NHWC, N = 1). 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_kernels.h"

void levin_max_pool_s8(const levin_pool_params *p, const int8_t *in, int8_t *out) {
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            for (c = 0; c < p->channels; ++c) {
                int32_t best = -128; /* padding is the int8 minimum: it never wins */
                for (ky = 0; ky < p->kernel_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    for (kx = 0; kx < p->kernel_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                            const int32_t v = in[(iy * p->in_w + ix) * p->channels + c];
                            best = v > best ? v : best;
                        }
                    }
                }
                out[(oy * p->out_w + ox) * p->channels + c] = (int8_t)best;
            }
        }
    }
}

void levin_avg_pool_s8(const levin_pool_params *p, const int8_t *in, int8_t *out) {
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            for (c = 0; c < p->channels; ++c) {
                int32_t total = 0, count = 0, num;
                for (ky = 0; ky < p->kernel_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    for (kx = 0; kx < p->kernel_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                            total += in[(iy * p->in_w + ix) * p->channels + c];
                            count++;
                        } else if (p->count_include_pad) {
                            total += p->pad_value;
                            count++;
                        }
                    }
                }
                /* rounded half away from zero, with C's truncating division, as TFLite */
                num = total > 0 ? total + count / 2 : total - count / 2;
                out[(oy * p->out_w + ox) * p->channels + c] = (int8_t)levin_clamp(num / count, -128, 127);
            }
        }
    }
}
