/* levin_conv_transpose.c -- TFLite int8 TRANSPOSE_CONV, per-channel, in gather form.
 *
 * TFLite scatters each input pixel's products into an int32 output; here each output pixel
 * gathers the taps that reach it (ky with oy + pad_top - ky a multiple of the stride), which
 * sums the same integer products. One output channel at a time, its weights decoded once by
 * the conv's reader (dense or sparse), so RAM holds one channel and no int32 output map.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_kernels.h"

/* The input row (or column) output index `o` reads through tap `k`, or -1 if none. */
static int32_t source(int32_t o, int32_t k, int32_t pad, int32_t stride, int32_t size) {
    const int32_t t = o + pad - k;
    if (t < 0 || t % stride != 0 || t / stride >= size) {
        return -1;
    }
    return t / stride;
}

static int32_t gather_dense(const levin_conv_transpose_params *p, const int8_t *image, const int8_t *wch,
                            int32_t oy, int32_t ox) {
    int32_t acc = 0, ky, kx, ci;
    for (ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = source(oy, ky, p->pad_top, p->stride_h, p->in_h);
        if (iy < 0) {
            continue;
        }
        for (kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = source(ox, kx, p->pad_left, p->stride_w, p->in_w);
            const int8_t *xp, *wp;
            if (ix < 0) {
                continue;
            }
            xp = image + (iy * p->in_w + ix) * p->in_c;
            wp = wch + (ky * p->kernel_w + kx) * p->in_c;
            for (ci = 0; ci < p->in_c; ++ci) {
                acc += ((int32_t)xp[ci] - p->in_zp) * (int32_t)wp[ci];
            }
        }
    }
    return acc;
}

uint32_t levin_conv_transpose2d_s8_scratch_size(const levin_weights *w) {
    const uint32_t per = w->channels != 0u ? w->size / w->channels : 0u;
    return w->pos_method != LEVIN_POS_DENSE ? 5u * per : levin_weights_dense_scratch(w);
}

levin_status levin_conv_transpose2d_s8(const levin_conv_transpose_params *p, const int8_t *in,
                                       const levin_weights *w, const int32_t *bias,
                                       const int32_t *multiplier, const int32_t *shift, int8_t *out,
                                       uint8_t *scratch) {
    const uint32_t per = w->channels != 0u ? w->size / w->channels : 0u;
    uint16_t *idx = (uint16_t *)(void *)scratch; /* sparse: [idx 2*per][val per][ky per][kx per] */
    int8_t *val = (int8_t *)(scratch + 2u * per);
    uint8_t *ky = scratch + 3u * per, *kx = scratch + 4u * per;
    const int32_t in_size = p->in_h * p->in_w * p->in_c, out_size = p->out_h * p->out_w * p->out_c;
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    int32_t o, b, oy, ox;
    uint32_t j, count = 0u;
    if (status != LEVIN_OK) {
        return status;
    }
    if ((int32_t)w->channels != p->out_c || (int32_t)per != p->kernel_h * p->kernel_w * p->in_c) {
        return LEVIN_ERR_ARG;
    }
    for (o = 0; o < p->out_c; ++o) {
        const int8_t *wch = 0;
        if (w->pos_method != LEVIN_POS_DENSE) {
            status = levin_weights_next_sparse(&r, idx, val, &count);
            for (j = 0u; j < count; ++j) { /* position -> (ky, kx, ci); ci stays in idx */
                const uint32_t t = idx[j] / (uint32_t)p->in_c;
                idx[j] = (uint16_t)(idx[j] % (uint32_t)p->in_c);
                kx[j] = (uint8_t)(t % (uint32_t)p->kernel_w);
                ky[j] = (uint8_t)(t / (uint32_t)p->kernel_w);
            }
        } else {
            wch = levin_weights_next_dense(&r, (int8_t *)scratch, &status);
        }
        if (status != LEVIN_OK) {
            return status;
        }
        for (b = 0; b < p->batches; ++b) {
            const int8_t *image = in + b * in_size;
            int8_t *dst = out + b * out_size;
            for (oy = 0; oy < p->out_h; ++oy) {
                for (ox = 0; ox < p->out_w; ++ox) {
                    int32_t acc = 0;
                    if (wch) {
                        acc = gather_dense(p, image, wch, oy, ox);
                    } else {
                        for (j = 0u; j < count; ++j) {
                            const int32_t iy = source(oy, ky[j], p->pad_top, p->stride_h, p->in_h);
                            const int32_t ix = source(ox, kx[j], p->pad_left, p->stride_w, p->in_w);
                            if (iy >= 0 && ix >= 0) {
                                acc += ((int32_t)image[(iy * p->in_w + ix) * p->in_c + idx[j]] - p->in_zp) *
                                       (int32_t)val[j];
                            }
                        }
                    }
                    acc += bias ? bias[o] : 0;
                    dst[(oy * p->out_w + ox) * p->out_c + o] = (int8_t)levin_clamp(
                        levin_mbqm(acc, multiplier[o], shift[o]) + p->out_zp, -128, 127);
                }
            }
        }
    }
    return levin_weights_end(&r);
}
