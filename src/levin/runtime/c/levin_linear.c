/* levin_linear.c -- fully connected, weights read in place (output rows in pairs), decoded per
 * row (dense) or as nonzeros (sparse). */
#include "levin_conv_window.h"

uint32_t levin_linear_s8_scratch_size(const levin_weights *w) {
    return levin_is_sparse(w) ? 3u * levin_per_channel(w) : levin_weights_dense_scratch(w);
}


levin_status levin_linear_s8(const levin_linear_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch) {
    const uint32_t per = levin_per_channel(w);
    const int32_t n = p->in_features, off = -p->in_zp;
    uint16_t *idx = (uint16_t *)(void *)scratch; /* sparse: [idx 2*per][val per] */
    int8_t *val = (int8_t *)(scratch + 2u * per);
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    int32_t o;
    uint32_t j, count;
    if (status != LEVIN_OK) {
        return status;
    }
    if ((int32_t)w->channels != p->out_features || (int32_t)per != n) {
        return LEVIN_ERR_ARG;
    }
    if (levin_weights_in_flash(w)) { /* rows in pairs: each input load serves two products */
        const int8_t *rows = (const int8_t *)w->data;
        for (o = 0; o < p->out_features; o += 2) {
            const int32_t o1 = o + 1 < p->out_features ? o + 1 : o;
            int32_t acc[2];
            acc[0] = bias ? bias[o] : 0;
            acc[1] = bias ? bias[o1] : 0;
            levin_dot_1x2(in, rows + o * n, rows + o1 * n, n, off, acc);
            out[o] = output_code(acc[0], multiplier[o], shift[o], p->out_zp, p->act_min, p->act_max);
            out[o1] = output_code(acc[1], multiplier[o1], shift[o1], p->out_zp, p->act_min, p->act_max);
        }
        return LEVIN_OK;
    }
    for (o = 0; o < p->out_features; ++o) {
        int32_t acc = bias ? bias[o] : 0;
        if (levin_is_sparse(w)) {
            status = levin_weights_next_sparse(&r, idx, val, &count);
            if (status != LEVIN_OK) {
                return status;
            }
            for (j = 0u; j < count; ++j) {
                acc += ((int32_t)in[idx[j]] + off) * (int32_t)val[j];
            }
        } else {
            const int8_t *wch = levin_weights_next_dense(&r, (int8_t *)scratch, &status);
            if (status != LEVIN_OK) {
                return status;
            }
            acc = levin_dot_1x1(in, wch, n, off, acc);
        }
        out[o] = output_code(acc, multiplier[o], shift[o], p->out_zp, p->act_min, p->act_max);
    }
    return levin_weights_end(&r);
}
