/* levin_conv.c -- conv2d (incl. depthwise and grouped) and fully connected, dense and sparse.
 *
 * Coded weights: loop over output channels outermost; each channel's weights are decoded once
 * into scratch and then used for every output pixel, so RAM holds one channel. The sparse
 * variants iterate over the nonzero weights only.
 * Conv2d with weights read in place from flash (raw int8): loop over output pixels outermost,
 * writing the output in order, so the planner may stream it over its own input
 * (analyze/memory.py, stream_shift): pixel p never writes past input a later pixel reads.
 */
#include "levin_kernels.h"

static uint32_t per_channel(const levin_weights *w) {
    return w->channels != 0u ? w->size / w->channels : 0u; /* 0: refused by levin_weights_check */
}

static int is_sparse(const levin_weights *w) {
    return w->pos_method != LEVIN_POS_DENSE;
}

static int8_t output_code(int32_t acc, int32_t multiplier, int32_t shift, int32_t out_zp) {
    return (int8_t)levin_clamp(levin_mbqm(acc, multiplier, shift) + out_zp, -128, 127);
}

uint32_t levin_linear_s8_scratch_size(const levin_weights *w) {
    return is_sparse(w) ? 3u * per_channel(w) : levin_weights_dense_scratch(w);
}

uint32_t levin_conv2d_s8_scratch_size(const levin_weights *w) {
    return is_sparse(w) ? 5u * per_channel(w) : levin_weights_dense_scratch(w);
}

/* One output pixel of a dense channel: sum over the window of (x - zp) * w. */
static int32_t conv_dense_pixel(const levin_conv_params *p, const int8_t *in, const int8_t *wch,
                                int32_t iy0, int32_t ix0, int32_t cin0, int32_t cg) {
    int32_t acc = 0, ky, kx, ci;
    for (ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            continue;
        }
        for (kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            const int8_t *xp, *wp;
            if (ix < 0 || ix >= p->in_w) {
                continue;
            }
            xp = in + (iy * p->in_w + ix) * p->in_c + cin0;
            wp = wch + (ky * p->kernel_w + kx) * cg;
            for (ci = 0; ci < cg; ++ci) {
                acc += ((int32_t)xp[ci] - p->in_zp) * (int32_t)wp[ci];
            }
        }
    }
    return acc;
}

/* Pixel after pixel, all channels of a pixel before the next: the order streaming relies on. */
static void conv_pixel_major(const levin_conv_params *p, const int8_t *in, const int8_t *weights,
                             uint32_t per, const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int8_t *out) {
    const int32_t cg = p->in_c / p->groups, per_group = p->out_c / p->groups;
    int32_t o, oy, ox;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *px = out + (oy * p->out_w + ox) * p->out_c;
            for (o = 0; o < p->out_c; ++o) {
                const int32_t acc = conv_dense_pixel(p, in, weights + (uint32_t)o * per, iy0, ix0,
                                                     (o / per_group) * cg, cg);
                px[o] = output_code(acc + (bias ? bias[o] : 0), multiplier[o], shift[o], p->out_zp);
            }
        }
    }
}

levin_status levin_conv2d_s8(const levin_conv_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch) {
    const int32_t cg = p->in_c / p->groups, per_group = p->out_c / p->groups;
    const uint32_t per = per_channel(w);
    uint16_t *idx = (uint16_t *)(void *)scratch; /* sparse: [idx 2*per][val per][ky per][kx per] */
    int8_t *val = (int8_t *)(scratch + 2u * per);
    uint8_t *ky = scratch + 3u * per, *kx = scratch + 4u * per;
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    int32_t o, oy, ox;
    uint32_t j, count = 0u;
    if (status != LEVIN_OK) {
        return status;
    }
    if ((int32_t)w->channels != p->out_c || (int32_t)per != p->kernel_h * p->kernel_w * cg) {
        return LEVIN_ERR_ARG;
    }
    if (levin_weights_in_flash(w)) {
        conv_pixel_major(p, in, (const int8_t *)w->data, per, bias, multiplier, shift, out);
        return LEVIN_OK;
    }
    for (o = 0; o < p->out_c; ++o) {
        const int32_t cin0 = (o / per_group) * cg, b = bias ? bias[o] : 0;
        const int8_t *wch = 0;
        if (is_sparse(w)) {
            status = levin_weights_next_sparse(&r, idx, val, &count);
            for (j = 0u; j < count; ++j) { /* position -> (ky, kx, ci); ci stays in idx */
                const uint32_t t = idx[j] / (uint32_t)cg;
                idx[j] = (uint16_t)(idx[j] % (uint32_t)cg);
                kx[j] = (uint8_t)(t % (uint32_t)p->kernel_w);
                ky[j] = (uint8_t)(t / (uint32_t)p->kernel_w);
            }
        } else {
            wch = levin_weights_next_dense(&r, (int8_t *)scratch, &status);
        }
        if (status != LEVIN_OK) {
            return status;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t acc = 0;
                if (wch) {
                    acc = conv_dense_pixel(p, in, wch, iy0, ix0, cin0, cg);
                } else {
                    for (j = 0u; j < count; ++j) {
                        const int32_t iy = iy0 + (int32_t)ky[j] * p->dilation_h;
                        const int32_t ix = ix0 + (int32_t)kx[j] * p->dilation_w;
                        if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                            acc += ((int32_t)in[(iy * p->in_w + ix) * p->in_c + cin0 + idx[j]] - p->in_zp) *
                                   (int32_t)val[j];
                        }
                    }
                }
                out[(oy * p->out_w + ox) * p->out_c + o] = output_code(acc + b, multiplier[o], shift[o], p->out_zp);
            }
        }
    }
    return levin_weights_end(&r);
}

levin_status levin_linear_s8(const levin_linear_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch) {
    const uint32_t per = per_channel(w);
    uint16_t *idx = (uint16_t *)(void *)scratch; /* sparse: [idx 2*per][val per] */
    int8_t *val = (int8_t *)(scratch + 2u * per);
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    int32_t o, i;
    uint32_t j, count;
    if (status != LEVIN_OK) {
        return status;
    }
    if ((int32_t)w->channels != p->out_features || (int32_t)per != p->in_features) {
        return LEVIN_ERR_ARG;
    }
    for (o = 0; o < p->out_features; ++o) {
        int32_t acc = bias ? bias[o] : 0;
        if (is_sparse(w)) {
            status = levin_weights_next_sparse(&r, idx, val, &count);
            if (status != LEVIN_OK) {
                return status;
            }
            for (j = 0u; j < count; ++j) {
                acc += ((int32_t)in[idx[j]] - p->in_zp) * (int32_t)val[j];
            }
        } else {
            const int8_t *wch = levin_weights_next_dense(&r, (int8_t *)scratch, &status);
            if (status != LEVIN_OK) {
                return status;
            }
            for (i = 0; i < p->in_features; ++i) {
                acc += ((int32_t)in[i] - p->in_zp) * (int32_t)wch[i];
            }
        }
        out[o] = output_code(acc, multiplier[o], shift[o], p->out_zp);
    }
    return levin_weights_end(&r);
}
