/* levin_conv_coded.c -- conv2d over coded weights: loop over output channels outermost; each
 * channel's weights are decoded once into scratch and then used for every output pixel, so RAM
 * holds one channel. The sparse variant iterates over the nonzero weights only.
 */
#include "levin_conv_window.h"

levin_status levin_conv2d_coded(const levin_conv_params *p, const int8_t *in, levin_weights_reader *r,
                                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                int8_t *out, uint8_t *scratch) {
    const levin_weights *w = r->w;
    const int32_t cg = p->in_c / p->groups, per_group = p->out_c / p->groups;
    const uint32_t per = levin_per_channel(w);
    uint16_t *idx = (uint16_t *)(void *)scratch; /* sparse: [idx 2*per][val per][ky per][kx per] */
    int8_t *val = (int8_t *)(scratch + 2u * per);
    uint8_t *ky = scratch + 3u * per, *kx = scratch + 4u * per;
    levin_status status = LEVIN_OK;
    int32_t o, oy, ox;
    uint32_t j, count = 0u;
    for (o = 0; o < p->out_c; ++o) {
        const int32_t cin0 = (o / per_group) * cg, b = bias ? bias[o] : 0;
        const int8_t *wch = 0;
        if (levin_is_sparse(w)) {
            status = levin_weights_next_sparse(r, idx, val, &count);
            for (j = 0u; j < count; ++j) { /* position -> (ky, kx, ci); ci stays in idx */
                const uint32_t t = idx[j] / (uint32_t)cg;
                idx[j] = (uint16_t)(idx[j] % (uint32_t)cg);
                kx[j] = (uint8_t)(t % (uint32_t)p->kernel_w);
                ky[j] = (uint8_t)(t / (uint32_t)p->kernel_w);
            }
        } else {
            wch = levin_weights_next_dense(r, (int8_t *)scratch, &status);
        }
        if (status != LEVIN_OK) {
            return status;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int32_t acc = b;
                if (wch) {
                    const window v = window_at(p, oy, ox);
                    acc = window_dot(p, in, wch, &v, cin0, cg, acc);
                } else {
                    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                    for (j = 0u; j < count; ++j) {
                        const int32_t iy = iy0 + (int32_t)ky[j] * p->dilation_h;
                        const int32_t ix = ix0 + (int32_t)kx[j] * p->dilation_w;
                        if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                            acc += ((int32_t)in[(iy * p->in_w + ix) * p->in_c + cin0 + idx[j]] - p->in_zp) *
                                   (int32_t)val[j];
                        }
                    }
                }
                out[(oy * p->out_w + ox) * p->out_c + o] =
                    output_code(acc, multiplier[o], shift[o], p->out_zp, p->act_min, p->act_max);
            }
        }
    }
    return levin_weights_end(r);
}

