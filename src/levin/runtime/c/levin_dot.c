/* levin_dot.c -- the inner products of levin_dot.h as functions, for kernels whose callers are
 * not hot enough to inline them (a call per row or channel). Their callers may have just written
 * the rows (decoded weights, a gathered window): each starts with LEVIN_STORES_DONE.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_conv_window.h"

#ifdef LEVIN_DOT_ASM
/* The shared copy kernels call at -Os (levin_conv_window.h). Defined at every level, so that
 * files built with different flags still link; --gc-sections drops it where nothing calls it. */
void levin_output_codes4(const int32_t *acc, const int32_t *multiplier, const int32_t *shift, int8_t *y,
                         const levin_out4 *q) {
    output_codes4_inline(acc, multiplier, shift, y, q);
}
#endif

void levin_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t off,
                   int32_t *acc) {
    LEVIN_STORES_DONE();
    levin_row_1x2(x, w0, w1, n, off, acc);
}

/* The window's rows in one call: the call costs more than a short row (a 10x4 kernel over one
 * input channel has rows of 4 bytes). */
void levin_dot_rows_1x2(const levin_dot_window *g, const int8_t *x, const int8_t *w0, const int8_t *w1,
                        int32_t *acc) {
    int32_t r;
    LEVIN_STORES_DONE();
    for (r = 0; r < g->rows; ++r, x += g->x_step, w0 += g->w_step, w1 += g->w_step) {
        levin_row_1x2(x, w0, w1, g->len, g->off, acc);
    }
}

void levin_dot_rows_2x2(const levin_dot_window *g, const int8_t *x0, const int8_t *x1, const int8_t *w0,
                        const int8_t *w1, int32_t *acc) {
    int32_t r;
    LEVIN_STORES_DONE();
    for (r = 0; r < g->rows; ++r, x0 += g->x_step, x1 += g->x_step, w0 += g->w_step, w1 += g->w_step) {
        levin_row_2x2(x0, x1, w0, w1, g->len, g->off, acc);
    }
}

int32_t levin_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t off, int32_t acc) {
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = levin_offset2(off);
    const int8_t *const end = x + (n & ~3);
    n &= 3;
    while (x != end) {
        const uint32_t u = levin_load4(x), p = levin_load4(w);
        x += 4;
        w += 4;
        acc = levin_mac2(levin_even_plus(o2, u), levin_even(p), acc);
        acc = levin_mac2(levin_odd_plus(o2, u), levin_odd(p), acc);
    }
#endif
    for (; n > 0; --n) {
        acc += ((int32_t)*x++ + off) * (int32_t)*w++;
    }
    return acc;
}
