/* levin_conv_window.h -- what the conv and fully connected kernels share (internal, not API):
 * requantization of an accumulator to an output code, and a pixel's window clipped to the input.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_CONV_WINDOW_H
#define LEVIN_CONV_WINDOW_H

#include "levin_config.h"
#include "levin_dot.h"
#include "levin_kernels.h"

static inline uint32_t levin_per_channel(const levin_weights *w) {
    return w->channels != 0u ? w->size / w->channels : 0u; /* 0: refused by levin_weights_check */
}

static inline int levin_is_sparse(const levin_weights *w) {
    return w->pos_method != LEVIN_POS_DENSE;
}

static LEVIN_ALWAYS_INLINE int8_t output_code(int32_t acc, int32_t multiplier, int32_t shift,
                                              int32_t out_zp, int32_t act_min, int32_t act_max) {
    return (int8_t)levin_clamp(levin_requantize(acc, multiplier, shift) + out_zp, act_min, act_max);
}

/* The taps [*lo, *hi) of 0..k-1 whose input index i0 + tap * dil falls in 0..size-1. */
static inline void taps_inside(int32_t i0, int32_t size, int32_t k, int32_t dil, int32_t *lo, int32_t *hi) {
    const int32_t first = i0 < 0 ? (dil - 1 - i0) / dil : 0;
    const int32_t end = size > i0 ? (size - i0 + dil - 1) / dil : 0;
    *lo = first < k ? first : k;
    *hi = end < k ? (end > *lo ? end : *lo) : k;
}

/* One output pixel's window: taps [ky0, ky1) x [kx0, kx1) inside the input. */
typedef struct {
    int32_t iy0, ix0, ky0, ky1, kx0, kx1;
} window;

static inline window window_at(const levin_conv_params *p, int32_t oy, int32_t ox) {
    window v;
    v.iy0 = oy * p->stride_h - p->pad_top;
    v.ix0 = ox * p->stride_w - p->pad_left;
    taps_inside(v.iy0, p->in_h, p->kernel_h, p->dilation_h, &v.ky0, &v.ky1);
    taps_inside(v.ix0, p->in_w, p->kernel_w, p->dilation_w, &v.kx0, &v.kx1);
    return v;
}

/* Sum over a pixel's window of (x - zp) * w for one output channel whose group starts at input
 * channel cin0 (weights wch: [KH, KW, cg]). */
static inline int32_t window_dot(const levin_conv_params *p, const int8_t *in, const int8_t *wch,
                          const window *v, int32_t cin0, int32_t cg, int32_t acc) {
    const int32_t rows = p->in_w * p->in_c;
    int32_t ky, kx;
    for (ky = v->ky0; ky < v->ky1; ++ky) {
        const int8_t *x = in + (v->iy0 + ky * p->dilation_h) * rows + cin0;
        const int8_t *wr = wch + ky * p->kernel_w * cg;
        if (p->groups == 1 && p->dilation_w == 1) { /* the window row is contiguous */
            acc = levin_dot_1x1(x + (v->ix0 + v->kx0) * p->in_c, wr + v->kx0 * cg,
                                (v->kx1 - v->kx0) * cg, -p->in_zp, acc);
            continue;
        }
        for (kx = v->kx0; kx < v->kx1; ++kx) {
            acc = levin_dot_1x1(x + (v->ix0 + kx * p->dilation_w) * p->in_c, wr + kx * cg, cg,
                                -p->in_zp, acc);
        }
    }
    return acc;
}

/* Conv2d over weights that are not read in place (decoded per channel, dense or sparse):
 * levin_conv_coded.c. The caller began the reader and checked its descriptor against p. */
levin_status levin_conv2d_coded(const levin_conv_params *p, const int8_t *in, levin_weights_reader *r,
                                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                int8_t *out, uint8_t *scratch);

#endif /* LEVIN_CONV_WINDOW_H */
