/* levin_conv.c -- conv2d (incl. depthwise and grouped) with weights read in place from flash
 * (raw int8), the deployed case; coded weights go to levin_conv_coded.c.
 *
 * Loop over output pixels outermost, writing the output in order, so the planner may stream it
 * over its own input (analyze/memory.py, stream_shift): pixel p never writes past input a later
 * pixel reads. (The widened-weights 1x1 below, whose output the plan keeps apart, is the one
 * that loops over channels outermost.)
 *   - groups 1, no horizontal dilation: a window row is kernel_w * in_c contiguous bytes of both
 *     input and weights, one inner product (levin_dot.h); output channels go in pairs, and
 *     interior pixels in pairs where the plan allows (params.pairs), so each load serves two
 *     products;
 *   - a 1x1 conv with scratch for its input widened to int16: each widened input word serves
 *     four output channels (one pixel) or two, and each weight word two pixels (two pixels
 *     widened at a time where the plan had room for both, in_c a multiple of 4, DSP cores);
 *   - a 1x1 conv whose output the planner keeps apart from its input (DSP cores): four output
 *     channels at a time over every pixel, their weights widened to int16 once
 *     (levin_conv1x1_wide4, levin_conv_coded.c);
 *   - depthwise (one output channel per input channel): a 3x3 window inside the input (or
 *     gathered at the border) four channels per word load, the rest one channel at a time;
 *   - anything else (grouped, dilated along x): one inner product per tap.
 * Every window is clipped to the input once per pixel, so padding costs nothing inside the
 * loops (a padded tap would add (zp - zp) * w = 0).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_conv_window.h"

uint32_t levin_conv2d_s8_scratch_size(const levin_weights *w) {
    const uint32_t per = levin_weights_dense_scratch(w);
    if (levin_is_sparse(w)) {
        return 5u * levin_per_channel(w);
    }
    /* Coded dense (levin_conv_coded.c): the whole tensor when small, else two channels. */
    return per == 0u ? 0u : w->size <= LEVIN_WEIGHTS_WHOLE_MAX ? w->size : 2u * per;
}

static LEVIN_ALWAYS_INLINE int8_t job_code(const conv_job *j, int32_t o, int32_t acc) {
    return output_code(acc, j->multiplier[o], j->shift[o], j->p->out_zp, j->p->act_min, j->p->act_max);
}

/* Groups 1, dilation_w 1, one pixel: its output channels two at a time against the window
 * g (rows of contiguous input and weights). Parameters are copied into locals because a
 * store through int8_t * may alias any memory: read through j they were reloaded per output.
 * An odd last channel is computed twice. */
static LEVIN_NOINLINE void rows_one_pixel(const conv_job *j, const levin_dot_window *g, const int8_t *x,
                                          const int8_t *w, int8_t *y) {
    const levin_conv_params *p = j->p;
    const int32_t *const bias = j->bias, *const mult = j->multiplier, *const shift = j->shift;
    const int32_t out_c = p->out_c, per = j->per, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int32_t rows = g->rows, len = g->len, x_step = g->x_step, w_step = g->w_step, off = g->off;
    int32_t o, r;
    LEVIN_STORES_DONE(); /* the window may be a gather just written */
    for (o = 0; o < out_c; o += 2, w += 2 * per) {
        const int32_t o1 = o + 1 < out_c ? o + 1 : o;
        const int8_t *w1 = w + (o1 - o) * per;
        int32_t acc[2]; /* never leaves this function: kept in registers */
        acc[0] = bias ? bias[o] : 0;
        acc[1] = bias ? bias[o1] : 0;
        if (rows == 1) { /* a 1x1 conv, or a window of whole rows */
            levin_row_1x2(x, w, w1, len, off, acc);
        } else {
            for (r = 0; r < rows; ++r) {
                levin_row_1x2(x + r * x_step, w + r * w_step, w1 + r * w_step, len, off, acc);
            }
        }
        y[o] = output_code(acc[0], mult[o], shift[o], zp, lo, hi);
        y[o1] = output_code(acc[1], mult[o1], shift[o1], zp, lo, hi);
    }
}

/* The same for two pixels whose windows clip alike (x1 = x0 + stride_w * in_c): each weight
 * load serves both. */
static LEVIN_NOINLINE void rows_two_pixels(const conv_job *j, const levin_dot_window *g, const int8_t *x0,
                                           const int8_t *x1, const int8_t *w, int8_t *y0, int8_t *y1) {
    const levin_conv_params *p = j->p;
    const int32_t *const bias = j->bias, *const mult = j->multiplier, *const shift = j->shift;
    const int32_t out_c = p->out_c, per = j->per, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
#ifdef LEVIN_DOT_ASM
    const int32_t rows = g->rows, len = g->len, x_step = g->x_step, w_step = g->w_step, off = g->off;
#endif
    int32_t o;
    LEVIN_STORES_DONE(); /* the window may be a gather just written */
    for (o = 0; o < out_c; o += 2, w += 2 * per) {
        const int32_t o1 = o + 1 < out_c ? o + 1 : o;
        const int8_t *w1 = w + (o1 - o) * per;
        int32_t acc[4];
        acc[0] = acc[2] = bias ? bias[o] : 0;
        acc[1] = acc[3] = bias ? bias[o1] : 0;
#ifdef LEVIN_DOT_ASM /* inline: the loop is assembly that keeps its accumulators in registers */
        if (rows == 1) { /* a 1x1 conv, or a window of whole rows */
            levin_row_2x2(x0, x1, w, w1, len, off, acc);
        } else {
            int32_t r;
            for (r = 0; r < rows; ++r) {
                levin_row_2x2(x0 + r * x_step, x1 + r * x_step, w + r * w_step, w1 + r * w_step, len, off, acc);
            }
        }
#else /* the C loop needs the whole register file: out of line */
        levin_dot_rows_2x2(g, x0, x1, w, w1, acc);
#endif
        y0[o] = output_code(acc[0], mult[o], shift[o], zp, lo, hi);
        y0[o1] = output_code(acc[1], mult[o1], shift[o1], zp, lo, hi);
        y1[o] = output_code(acc[2], mult[o], shift[o], zp, lo, hi);
        y1[o1] = output_code(acc[3], mult[o1], shift[o1], zp, lo, hi);
    }
}

/* Groups 1, dilation_w 1: every output channel of one pixel (y1 == 0) or of two pixels. */
static void conv_rows_pixels(const conv_job *j, const int8_t *in, const window *v, int8_t *y0, int8_t *y1) {
    const levin_conv_params *p = j->p;
    const int8_t *x0 = in + ((v->iy0 + v->ky0 * p->dilation_h) * p->in_w + v->ix0 + v->kx0) * p->in_c;
    const int8_t *w = j->weights + (v->ky0 * p->kernel_w + v->kx0) * p->in_c;
    levin_dot_window g;
    g.rows = v->ky1 - v->ky0;
    g.len = (v->kx1 - v->kx0) * p->in_c;
    g.x_step = p->dilation_h * p->in_w * p->in_c;
    g.w_step = p->kernel_w * p->in_c;
    g.off = -p->in_zp;
    if (g.len == g.w_step && g.x_step == g.w_step) { /* whole rows: the window is one run */
        g.len *= g.rows;
        g.rows = 1;
    }
    if (y1) {
        rows_two_pixels(j, &g, x0, x0 + p->stride_w * p->in_c, w, y0, y1);
    } else {
        rows_one_pixel(j, &g, x0, w, y0);
    }
}

static LEVIN_NOINLINE void conv_rows(const conv_job *j, const int8_t *in, int8_t *out) {
    const levin_conv_params *p = j->p;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w;) {
            const window v = window_at(p, oy, ox);
            int8_t *y = out + (oy * p->out_w + ox) * p->out_c;
            /* A pair when allowed and both windows lie wholly inside the input along x. */
            const int pair = p->pairs && ox + 1 < p->out_w && v.ix0 >= 0 &&
                             v.ix0 + p->stride_w + p->kernel_w <= p->in_w;
            conv_rows_pixels(j, in, &v, y, pair ? y + p->out_c : 0);
            ox += pair ? 2 : 1;
        }
    }
}

/* One depthwise output pixel, channels ch0 and up: each channel over its clipped window, rows x
 * cols taps from x (channel c at x + c, taps x_tap bytes apart, rows x_row), weights from w
 * (channel c at w + c * per). One channel at a time keeps the tap loop to a handful of live
 * values, which -Os then keeps in registers. */
static LEVIN_NOINLINE void depthwise_pixel(const conv_job *j, const int8_t *x, const int8_t *w, int32_t rows,
                                           int32_t cols, int32_t x_tap, int32_t x_row, int32_t ch0, int8_t *y) {
    const levin_conv_params *p = j->p;
    const int32_t off = -p->in_zp, x_tap2 = 2 * x_tap, w_skip = p->kernel_w - cols;
    int32_t ch, r;
    for (ch = ch0; ch < p->in_c; ++ch) {
        const int8_t *xr = x + ch, *wt = w + ch * j->per;
        int32_t acc = j->bias ? j->bias[ch] : 0;
        for (r = 0; r < rows; ++r, xr += x_row, wt += w_skip) {
            const int8_t *xt = xr, *const end = xr + cols * x_tap;
            if (cols == 3) { /* rows of 3x3 windows at the top and bottom: no loop per tap */
                acc += ((int32_t)xt[0] + off) * (int32_t)wt[0] + ((int32_t)xt[x_tap] + off) * (int32_t)wt[1] +
                       ((int32_t)xt[x_tap2] + off) * (int32_t)wt[2];
                wt += 3;
                continue;
            }
            if (cols == 2) { /* ... and at the left and right */
                acc += ((int32_t)xt[0] + off) * (int32_t)wt[0] + ((int32_t)xt[x_tap] + off) * (int32_t)wt[1];
                wt += 2;
                continue;
            }
            for (; xt != end; xt += x_tap) {
                acc += ((int32_t)*xt + off) * (int32_t)*wt++;
            }
        }
        y[ch] = job_code(j, ch, acc);
    }
}

/* n bytes from src to dst (n any size, either unaligned): words while they last. The runtime
 * links no libc, and a memcpy call per tap would cost more than the copy. */
static void copy_run(int8_t *dst, const int8_t *src, int32_t n) {
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        uint32_t v;
        __builtin_memcpy(&v, src, 4u);
        __builtin_memcpy(dst, &v, 4u);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

/* n >= 0 bytes of value: words, then the n % 4 left without a loop, which GCC turned into a
 * call of memset even for none. */
static void fill_run(int8_t *dst, int8_t value, int32_t n) {
    const uint32_t v = 0x01010101u * (uint8_t)value;
    for (; n >= 4; n -= 4, dst += 4) {
        __builtin_memcpy(dst, &v, 4u);
    }
    if (n & 2) {
        __builtin_memcpy(dst, &v, 2u);
        dst += 2;
    }
    if (n & 1) {
        *dst = value;
    }
}

/* Pixel (oy, ox)'s whole window as one run of kernel_h * kernel_w * in_c bytes, taps outside
 * the input as the zero point (which adds (zp - zp) * w = 0): the weights are one run too. Out
 * of line even where one kernel alone calls it: inlined, its frame adds to that kernel's. */
static LEVIN_NOINLINE void gather_window(const levin_conv_params *p, const int8_t *in, int32_t oy, int32_t ox, int8_t *run) {
    const window v = window_at(p, oy, ox);
    const int8_t zp = (int8_t)p->in_zp;
    const int32_t tap = p->in_c, row = p->kernel_w * tap;
    int32_t ky, kx;
    for (ky = 0; ky < p->kernel_h; ++ky, run += row) {
        const int8_t *x;
        if (ky < v.ky0 || ky >= v.ky1) { /* a row above or below the input */
            fill_run(run, zp, row);
            continue;
        }
        x = in + ((v.iy0 + ky * p->dilation_h) * p->in_w + v.ix0) * tap;
        if (p->dilation_w == 1) { /* padding, the taps inside as one run, padding */
            fill_run(run, zp, v.kx0 * tap);
            copy_run(run + v.kx0 * tap, x + v.kx0 * tap, (v.kx1 - v.kx0) * tap);
            fill_run(run + v.kx1 * tap, zp, (p->kernel_w - v.kx1) * tap);
        } else {
            for (kx = 0; kx < p->kernel_w; ++kx) {
                if (kx < v.kx0 || kx >= v.kx1) {
                    fill_run(run + kx * tap, zp, tap);
                } else {
                    copy_run(run + kx * tap, x + kx * p->dilation_w * tap, tap);
                }
            }
        }
    }
}

/* acc + the nine taps of one channel of a 3x3 depthwise window: rows r0, r1, r2, taps at 0,
 * t1, t2 bytes; weights w[0..8]; each pointer then moves to the next channel (inputs +1,
 * weights +9). Straight-line Thumb-2 where available: GCC -Os kept spilling the row pointers
 * of the C (about 100 instructions an output instead of 70). */
static LEVIN_ALWAYS_INLINE int32_t depthwise_3x3_taps(const int8_t **r0, const int8_t **r1, const int8_t **r2,
                                                      const int8_t **w, int32_t t1, int32_t t2, int32_t off,
                                                      int32_t acc) {
#ifdef LEVIN_THUMB2_ASM
    const int8_t *a = *r0, *b = *r1, *c = *r2, *k = *w;
    int32_t x, v;
    __asm__ volatile("ldrsb %[x], [%[a], %[t1]]\n\t"
            "ldrsb %[v], [%[k], #1]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[a], %[t2]]\n\t"
            "ldrsb %[v], [%[k], #2]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[b], %[t1]]\n\t"
            "ldrsb %[v], [%[k], #4]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[b], %[t2]]\n\t"
            "ldrsb %[v], [%[k], #5]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[c], %[t1]]\n\t"
            "ldrsb %[v], [%[k], #7]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[c], %[t2]]\n\t"
            "ldrsb %[v], [%[k], #8]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[b]], #1\n\t"
            "ldrsb %[v], [%[k], #3]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[c]], #1\n\t"
            "ldrsb %[v], [%[k], #6]\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]\n\t"
            "ldrsb %[x], [%[a]], #1\n\t"
            "ldrsb %[v], [%[k]], #9\n\t"
            "add   %[x], %[x], %[off]\n\t"
            "mla   %[acc], %[x], %[v], %[acc]"
            : [acc] "+r"(acc), [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [k] "+r"(k), [x] "=&r"(x), [v] "=&r"(v)
            : [t1] "r"(t1), [t2] "r"(t2), [off] "r"(off));
    *r0 = a;
    *r1 = b;
    *r2 = c;
    *w = k;
    return acc;
#else
    const int8_t *a = *r0, *b = *r1, *c = *r2, *k = *w;
    acc += (a[0] + off) * k[0] + (a[t1] + off) * k[1] + (a[t2] + off) * k[2];
    acc += (b[0] + off) * k[3] + (b[t1] + off) * k[4] + (b[t2] + off) * k[5];
    acc += (c[0] + off) * k[6] + (c[t1] + off) * k[7] + (c[t2] + off) * k[8];
    *r0 = a + 1;
    *r1 = b + 1;
    *r2 = c + 1;
    *w = k + 9;
    return acc;
#endif
}

#ifdef LEVIN_DOT_ASM
/* acc[0..3] + the nine taps of four channels of a 3x3 depthwise window (rows r0, r1, r2, taps
 * at 0, t1, 2 * t1 bytes; weights w, nine a channel): one word load serves the four channels of
 * a tap, SXTAB16 widens it with the offset added (channels 0 and 2, then 1 and 3) and
 * SMLABB / SMLATB multiply each halfword by its channel's weight, 11 instructions per 4 MACs
 * where one channel at a time takes 16. Each pointer then moves four channels on. */
static LEVIN_ALWAYS_INLINE void depthwise_3x3_taps4(const int8_t **r0, const int8_t **r1, const int8_t **r2,
                                                    const int8_t **w, int32_t t1, uint32_t o2, int32_t *acc) {
    const int8_t *a = *r0, *b = *r1, *c = *r2, *k = *w;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t e, f, v;
    __asm__ volatile(
            "ldr     %[e], [%[a], %[t1]]\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #1]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #10]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #19]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #28]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[a], %[t1], lsl #1]\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #2]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #11]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #20]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #29]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[a]], #4\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #0]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #9]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #18]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #27]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[b], %[t1]]\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #4]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #13]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #22]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #31]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[b], %[t1], lsl #1]\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #5]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #14]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #23]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #32]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[b]], #4\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #3]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #12]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #21]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #30]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[c], %[t1]]\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #7]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #16]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #25]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #34]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[c], %[t1], lsl #1]\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #8]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #17]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #26]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #35]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "ldr     %[e], [%[c]], #4\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldrsb   %[v], [%[k], #6]\n\t"
            "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
            "ldrsb   %[v], [%[k], #15]\n\t"
            "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
            "ldrsb   %[v], [%[k], #24]\n\t"
            "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
            "ldrsb   %[v], [%[k], #33]\n\t"
            "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
            "add     %[k], %[k], #36"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a] "+r"(a), [b] "+r"(b), [c] "+r"(c),
              [k] "+r"(k), [e] "=&r"(e), [f] "=&r"(f), [v] "=&r"(v)
            : [t1] "r"(t1), [o2] "r"(o2));
    *r0 = a;
    *r1 = b;
    *r2 = c;
    *w = k;
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

#ifdef LEVIN_DOT_ASM
/* A 3x3 depthwise pixel whose window the input clips to rows x cols taps, cols 2 or 3 (x: its
 * first tap, channel 0; taps x_tap bytes apart, rows x_row; w: channel 0's weight of that
 * tap), four channels at a time as depthwise_3x3_taps4, a window row per assembly block: the
 * border pixels run in place, where a gathered window cost about as much again as its MACs
 * (KWS's 25x5 maps: 56 of 125 pixels). */
static LEVIN_NOINLINE void depthwise_3x3_clipped(const conv_job *j, const int8_t *x, const int8_t *w,
                                             int32_t rows, int32_t cols, int32_t x_tap, int32_t x_row,
                                             int8_t *y) {
    const levin_conv_params *p = j->p;
    const uint32_t o2 = levin_offset2(-p->in_zp);
    const levin_out4 q = levin_out4_make(p->out_zp, p->act_min, p->act_max);
    int32_t ch;
    for (ch = 0; ch + 4 <= p->in_c; ch += 4) {
        const int8_t *xr = x + ch, *wr = w + ch * 9;
        int32_t acc[4];
        int32_t a0 = j->bias ? j->bias[ch] : 0, a1 = j->bias ? j->bias[ch + 1] : 0;
        int32_t a2 = j->bias ? j->bias[ch + 2] : 0, a3 = j->bias ? j->bias[ch + 3] : 0;
        if (rows > 0) { /* a window row a turn, to w_end */
            const int8_t *const w_end = wr + 3 * rows;
            uint32_t e, f, v;
            __asm__ volatile(
                "1:\n\t"
                "ldr     %[e], [%[x]]\n\t"
                "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
                "sxtab16 %[e], %[o2], %[e]\n\t"
                "ldrsb   %[v], [%[w], #0]\n\t"
                "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
                "ldrsb   %[v], [%[w], #9]\n\t"
                "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
                "ldrsb   %[v], [%[w], #18]\n\t"
                "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
                "ldrsb   %[v], [%[w], #27]\n\t"
                "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
                "ldr     %[e], [%[x], %[t]]\n\t"
                "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
                "sxtab16 %[e], %[o2], %[e]\n\t"
                "ldrsb   %[v], [%[w], #1]\n\t"
                "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
                "ldrsb   %[v], [%[w], #10]\n\t"
                "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
                "ldrsb   %[v], [%[w], #19]\n\t"
                "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
                "ldrsb   %[v], [%[w], #28]\n\t"
                "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
                "cmp     %[cols], #3\n\t"
                "bne     2f\n\t"
                "ldr     %[e], [%[x], %[t], lsl #1]\n\t"
                "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
                "sxtab16 %[e], %[o2], %[e]\n\t"
                "ldrsb   %[v], [%[w], #2]\n\t"
                "smlabb  %[a0], %[e], %[v], %[a0]\n\t"
                "ldrsb   %[v], [%[w], #11]\n\t"
                "smlabb  %[a1], %[f], %[v], %[a1]\n\t"
                "ldrsb   %[v], [%[w], #20]\n\t"
                "smlatb  %[a2], %[e], %[v], %[a2]\n\t"
                "ldrsb   %[v], [%[w], #29]\n\t"
                "smlatb  %[a3], %[f], %[v], %[a3]\n\t"
                "2:\n\t"
                "ldr     %[v], %[x_row]\n\t"
                "add     %[x], %[x], %[v]\n\t"
                "add     %[w], %[w], #3\n\t"
                "ldr     %[v], %[w_end]\n\t"
                "cmp     %[w], %[v]\n\t"
                "bne     1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(xr), [w] "+r"(wr),
                  [e] "=&r"(e), [f] "=&r"(f), [v] "=&r"(v)
                : [t] "r"(x_tap), [cols] "r"(cols), [o2] "r"(o2), [x_row] "m"(x_row), [w_end] "m"(w_end)
                : "cc");
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        output_codes4(acc, j->multiplier + ch, j->shift + ch, y + ch, &q);
    }
    if (ch < p->in_c) { /* the last in_c % 4 channels */
        depthwise_pixel(j, x, w, rows, cols, x_tap, x_row, ch, y);
    }
}
#endif

/* A 3x3 depthwise pixel whose window lies inside the input (taps t1 bytes apart, rows x_row),
 * the common case: the nine taps unrolled, three row pointers stepping one channel at a time
 * (no loop per row or tap). */
static LEVIN_NOINLINE void depthwise_3x3_pixel(const conv_job *j, const int8_t *x, int32_t t1, int32_t x_row,
                                                int8_t *y) {
    const levin_conv_params *p = j->p;
    const int32_t *const bias = j->bias, *const mult = j->multiplier, *const shift = j->shift;
    const int32_t zp = p->out_zp, lo = p->act_min, hi = p->act_max, c = p->in_c;
    const int32_t off = -p->in_zp;
    const int8_t *r0 = x, *r1 = x + x_row, *r2 = r1 + x_row, *w = j->weights;
    int32_t ch = 0;
#ifdef LEVIN_DOT_ASM
    const uint32_t o2 = levin_offset2(off);
    const levin_out4 q = levin_out4_make(zp, lo, hi);
    for (; ch + 4 <= c; ch += 4) {
        int32_t acc[4]; /* constant indices only: kept in registers */
        acc[0] = bias ? bias[ch] : 0;
        acc[1] = bias ? bias[ch + 1] : 0;
        acc[2] = bias ? bias[ch + 2] : 0;
        acc[3] = bias ? bias[ch + 3] : 0;
        depthwise_3x3_taps4(&r0, &r1, &r2, &w, t1, o2, acc);
        output_codes4(acc, mult + ch, shift + ch, y + ch, &q);
    }
    if (ch < c) { /* the last c % 4 channels: rare, out of line */
        depthwise_pixel(j, x, j->weights, 3, 3, t1, x_row, ch, y);
    }
#else
    const int32_t t2 = 2 * t1;
    for (; ch < c; ++ch) {
        const int32_t acc = depthwise_3x3_taps(&r0, &r1, &r2, &w, t1, t2, off, bias ? bias[ch] : 0);
        y[ch] = output_code(acc, mult[ch], shift[ch], zp, lo, hi);
    }
#endif
}

/* Depthwise, one output channel per input channel, pixel after pixel. A 3x3 window at the
 * border runs clipped, four channels at a time (DSP assembly), or is gathered with zero-point
 * padding into the planned scratch (when the plan had room) and then runs as an interior one:
 * on a 25x5 map (KWS) most pixels touch the border. */
static LEVIN_NOINLINE void conv_depthwise(const conv_job *j, const int8_t *in, int8_t *out, uint8_t *scratch) {
    const levin_conv_params *p = j->p;
    const int is_3x3 = p->kernel_h == 3 && p->kernel_w == 3;
    const int32_t c = p->in_c;
    int32_t oy, ox;
    (void)scratch; /* the DSP assembly runs border windows in place */
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const window v = window_at(p, oy, ox);
            const int8_t *x = in + ((v.iy0 + v.ky0 * p->dilation_h) * p->in_w + v.ix0 + v.kx0 * p->dilation_w) * c;
            int8_t *y = out + (oy * p->out_w + ox) * c;
            if (is_3x3 && v.ky1 - v.ky0 == 3 && v.kx1 - v.kx0 == 3) {
                depthwise_3x3_pixel(j, x, p->dilation_w * c, p->dilation_h * p->in_w * c, y);
#ifdef LEVIN_DOT_ASM
            } else if (is_3x3 && v.kx1 - v.kx0 >= 2) {
                depthwise_3x3_clipped(j, x, j->weights + v.ky0 * 3 + v.kx0, v.ky1 - v.ky0, v.kx1 - v.kx0,
                                      p->dilation_w * c, p->dilation_h * p->in_w * c, y);
#else
            } else if (is_3x3 && p->scratch_use == LEVIN_SCRATCH_GATHER && scratch) {
                gather_window(p, in, oy, ox, (int8_t *)scratch);
                LEVIN_STORES_DONE();
                depthwise_3x3_pixel(j, (const int8_t *)scratch, c, 3 * c, y);
#endif
            } else {
                depthwise_pixel(j, x, j->weights + v.ky0 * p->kernel_w + v.kx0, v.ky1 - v.ky0, v.kx1 - v.kx0,
                                p->dilation_w * c, p->dilation_h * p->in_w * c, 0, y);
            }
        }
    }
}

/* Any other conv read in place: pixel after pixel, one inner product per tap. */
static LEVIN_NOINLINE void conv_taps(const conv_job *j, const int8_t *in, int8_t *out) {
    const levin_conv_params *p = j->p;
    const int32_t cg = p->in_c / p->groups, per_group = p->out_c / p->groups;
    int32_t o, oy, ox;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const window v = window_at(p, oy, ox);
            int8_t *y = out + (oy * p->out_w + ox) * p->out_c;
            for (o = 0; o < p->out_c; ++o) {
                const int32_t acc = window_dot(p, in, j->weights + o * j->per, &v, (o / per_group) * cg, cg,
                                               j->bias ? j->bias[o] : 0);
                y[o] = job_code(j, o, acc);
            }
        }
    }
}

/* Groups 1 with short window rows (first layers): each pixel's window gathered into the
 * planned scratch (two pixels when pairs are allowed: the next in output order, across rows
 * too), then one inner product per channel pair over a single run instead of a loop over short
 * rows. */
static LEVIN_NOINLINE void conv_im2col(const conv_job *j, const int8_t *in, int8_t *out, uint8_t *scratch) {
    const levin_conv_params *p = j->p;
    int8_t *run0 = (int8_t *)scratch, *run1 = run0 + j->per;
    levin_dot_window g;
    int32_t k, oy = 0, ox = 0;
    g.rows = 1;
    g.len = j->per;
    g.x_step = g.w_step = 0;
    g.off = -p->in_zp;
    for (k = p->out_h * p->out_w; k > 0; out += p->out_c) { /* k pixels to go */
        gather_window(p, in, oy, ox, run0);
        ox = ox + 1 < p->out_w ? ox + 1 : 0;
        oy += ox == 0;
        if (p->pairs && k > 1) {
            gather_window(p, in, oy, ox, run1);
            rows_two_pixels(j, &g, run0, run1, j->weights, out, out + p->out_c);
            ox = ox + 1 < p->out_w ? ox + 1 : 0;
            oy += ox == 0;
            out += p->out_c;
            k -= 2;
        } else {
            rows_one_pixel(j, &g, run0, j->weights, out);
            k -= 1;
        }
    }
}

/* A 1x1 conv, groups 1: each input pixel widened to int16 once (padding needs none), then four
 * output channels per pass over it, so that one widened input word serves four weight words. */
static LEVIN_NOINLINE void conv_widened(const conv_job *j, const int8_t *in, int8_t *out, uint8_t *scratch) {
    const levin_conv_params *p = j->p;
    const int32_t *const bias = j->bias, *const mult = j->multiplier, *const shift = j->shift;
    const int32_t out_c = p->out_c, n = p->in_c, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int32_t off = -p->in_zp;
    const levin_out4 q = levin_out4_make(zp, lo, hi);
    int16_t *xw = (int16_t *)(void *)scratch;
    int32_t oy, ox, o;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const int8_t *x = in + ((oy * p->stride_h - p->pad_top) * p->in_w + ox * p->stride_w - p->pad_left) * n;
            int8_t *y = out + (oy * p->out_w + ox) * out_c;
            const int8_t *w = j->weights;
            levin_widen(x, n, off, xw);
            LEVIN_STORES_DONE();
            for (o = 0; o + 4 <= out_c; o += 4, w += 4 * n) {
                int32_t acc[4]; /* constant indices only: it stays in registers */
                acc[0] = bias ? bias[o] : 0;
                acc[1] = bias ? bias[o + 1] : 0;
                acc[2] = bias ? bias[o + 2] : 0;
                acc[3] = bias ? bias[o + 3] : 0;
                levin_row_widened_1x4(xw, w, w + n, w + 2 * n, w + 3 * n, n, acc);
                output_codes4(acc, mult + o, shift + o, y + o, &q);
            }
            for (; o < out_c; ++o, w += n) { /* the last out_c % 4, from the bytes */
                y[o] = output_code(levin_dot_1x1(x, w, n, off, bias ? bias[o] : 0), mult[o], shift[o], zp, lo, hi);
            }
        }
    }
}

#ifdef LEVIN_DOT_DSP
/* acc + x . w for pixel px (0 or 1) of the two levin_widen2 laid out at xw (taps 0, 2, 1, 3 of
 * each four). */
static int32_t widened_dot(const int16_t *xw, const int8_t *w, int32_t n, int32_t px, int32_t acc) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += xw[(i >> 2) * 8 + px * 4 + ((i & 1) << 1) + ((i >> 1) & 1)] * w[i];
    }
    return acc;
}

/* A 1x1 conv, groups 1, in_c a multiple of 4, with 4 * in_c bytes of scratch: two output pixels
 * at a time (the last alone computed twice), both input pixels widened to int16 once, then two
 * output channels per pass over them, so that each weight word serves both pixels and each
 * widened input word both channels. Both inputs are read before either output is written:
 * streamed over its input as one pixel at a time is (no lead). */
static LEVIN_NOINLINE void conv_widened_pairs(const conv_job *j, const int8_t *in, int8_t *out,
                                              uint8_t *scratch) {
    const levin_conv_params *p = j->p;
    const int32_t *const bias = j->bias;
    const int32_t n = p->in_c, last = p->out_h * p->out_w - 1;
    const levin_out4 q = levin_out4_make(p->out_zp, p->act_min, p->act_max);
    int16_t *xw = (int16_t *)(void *)scratch;
    const int8_t *x = in; /* pixel k's input, ox its column */
    int32_t k, ox = 0, o;
    for (k = 0; k <= last; k += 2) {
        const int8_t *x1 = x, *w = j->weights;
        int8_t *const y0 = out + k * p->out_c, *const y1 = k < last ? y0 + p->out_c : y0;
        int32_t step;
        for (step = 0; step < 2; ++step) { /* pixel k widened with x1 = k + 1, then x = k + 2 */
            if (k + step < last) {
                ox = ox + 1 == p->out_w ? 0 : ox + 1;
                x += ox ? p->stride_w * n : (p->stride_h * p->in_w - (p->out_w - 1) * p->stride_w) * n;
            }
            if (step == 0) {
                levin_widen2(x1, x, n, -p->in_zp, xw);
            }
        }
        LEVIN_STORES_DONE();
        for (o = 0; o + 4 <= p->out_c; o += 4, w += 4 * n) {
            int32_t acc[8], h; /* pixel 0's four channels, then pixel 1's */
            acc[0] = acc[4] = bias ? bias[o] : 0;
            acc[1] = acc[5] = bias ? bias[o + 1] : 0;
            acc[2] = acc[6] = bias ? bias[o + 2] : 0;
            acc[3] = acc[7] = bias ? bias[o + 3] : 0;
            for (h = 0; h < 4; h += 2) { /* one copy of the loop: flash */
                levin_row_widened_2x2(xw, w + h * n, w + (h + 1) * n, n, acc + h, acc + 4 + h);
            }
            output_codes4(acc, j->multiplier + o, j->shift + o, y0 + o, &q);
            output_codes4(acc + 4, j->multiplier + o, j->shift + o, y1 + o, &q);
        }
        for (; o < p->out_c; ++o, w += n) { /* the last out_c % 4 (y1 may overwrite the raw input) */
            int32_t px;
            for (px = 0; px < 2; ++px) { /* one output stage in the code: flash */
                (px ? y1 : y0)[o] = job_code(j, o, widened_dot(xw, w, n, px, bias ? bias[o] : 0));
            }
        }
    }
}

#endif

#ifdef LEVIN_DOT_DSP
/* Output channels o.. of a 1x1 conv (no padding), pixel after pixel: the last out_c % 4 of the
 * widened-rows path. */
static LEVIN_NOINLINE void conv1x1_rest(const conv_job *j, const int8_t *in, int8_t *out, int32_t o) {
    const levin_conv_params *p = j->p;
    const int32_t n = p->in_c;
    int32_t oy, ox;
    for (; o < p->out_c; ++o) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                const int8_t *x = in + (oy * p->stride_h * p->in_w + ox * p->stride_w) * n;
                const int32_t acc = levin_dot_1x1(x, j->weights + o * n, n, -p->in_zp, j->bias ? j->bias[o] : 0);
                out[(oy * p->out_w + ox) * p->out_c + o] = job_code(j, o, acc);
            }
        }
    }
}

/* A 1x1 conv (groups 1, no padding, in_c a multiple of 4) whose output does not stream over its
 * input: four output channels at a time, their weights widened to int16 into wide
 * (levin_conv1x1_wide4), then the last out_c % 4. Out of line, as the other kernels: inlined,
 * its call's stack arguments would add to levin_conv2d_s8's frame under every kernel. */
static LEVIN_NOINLINE void conv_wide_rows(const conv_job *j, const int8_t *in, int8_t *out, int16_t *wide) {
    int32_t o;
    for (o = 0; o + 4 <= j->p->out_c; o += 4) {
        levin_conv1x1_wide4(j, in, out, wide, o);
    }
    if (o < j->p->out_c) {
        conv1x1_rest(j, in, out, o);
    }
}
#endif

static levin_status conv_in_flash(const conv_job *j, const int8_t *in, int8_t *out, uint8_t *scratch) {
    const levin_conv_params *p = j->p;
    const int one_by_one = p->groups == 1 && p->kernel_h == 1 && p->kernel_w == 1 && p->pad_top == 0 &&
                           p->pad_left == 0 && scratch;
#ifdef LEVIN_DOT_DSP
    if (LEVIN_WIDE_WEIGHTS && one_by_one && p->scratch_use == LEVIN_SCRATCH_WIDE_WEIGHTS && (p->in_c & 3) == 0 &&
        ((uintptr_t)scratch & 7u) == 0u) {
        LEVIN_PATH_TAKEN(WIDE_WEIGHTS);
        conv_wide_rows(j, in, out, (int16_t *)(void *)scratch);
        return LEVIN_OK;
    }
#endif
    if (LEVIN_IM2COL && p->groups == 1 && p->scratch_use == LEVIN_SCRATCH_GATHER && scratch) {
        LEVIN_PATH_TAKEN(IM2COL);
        conv_im2col(j, in, out, scratch);
    } else if (LEVIN_WIDENED_PAIRS && one_by_one && p->scratch_use == LEVIN_SCRATCH_WIDEN_PAIRS &&
               (p->in_c & 3) == 0) {
        LEVIN_PATH_TAKEN(WIDENED_PAIRS);
#ifdef LEVIN_DOT_DSP
        conv_widened_pairs(j, in, out, scratch);
#else /* the portable loops gain nothing from pairs: one pixel at a time, in half the scratch */
        conv_widened(j, in, out, scratch);
#endif
    } else if (LEVIN_WIDENED && one_by_one &&
               (p->scratch_use == LEVIN_SCRATCH_WIDEN || p->scratch_use == LEVIN_SCRATCH_WIDE_WEIGHTS)) {
        LEVIN_PATH_TAKEN(WIDENED);
        conv_widened(j, in, out, scratch);
    } else if (p->groups == 1 && p->dilation_w == 1) {
        conv_rows(j, in, out);
    } else if (LEVIN_DEPTHWISE && p->groups == p->in_c && p->out_c == p->in_c) {
        LEVIN_PATH_TAKEN(DEPTHWISE);
        conv_depthwise(j, in, out, scratch);
    } else if (LEVIN_TAPS) {
        LEVIN_PATH_TAKEN(TAPS);
        conv_taps(j, in, out);
    } else {
        return LEVIN_ERR_UNSUPPORTED;
    }
    return LEVIN_OK;
}

#ifndef LEVIN_WEIGHTS_RAW_ONLY
/* Coded weights: the reader (about 190 bytes) lives on the stack only on this path. */
static LEVIN_NOINLINE levin_status conv_coded(const levin_conv_params *p, const int8_t *in, const levin_weights *w,
                                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                              int8_t *out, uint8_t *scratch) {
    levin_weights_reader r;
    const levin_status status = levin_weights_begin(&r, w);
    return status != LEVIN_OK ? status : levin_conv2d_coded(p, in, &r, bias, multiplier, shift, out, scratch);
}
#endif

levin_status levin_conv2d_s8(const levin_conv_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch) {
    const uint32_t per = levin_per_channel(w);
    const levin_status status = levin_weights_check(w);
    conv_job job;
    LEVIN_STORES_DONE(); /* the input, and weights conv_whole decoded, are written */
    if (status != LEVIN_OK) {
        return status;
    }
    if ((int32_t)w->channels != p->out_c || (int32_t)per != p->kernel_h * p->kernel_w * (p->in_c / p->groups)) {
        return LEVIN_ERR_ARG;
    }
    if (!levin_weights_in_flash(w)) {
#ifdef LEVIN_WEIGHTS_RAW_ONLY
        return LEVIN_ERR_UNSUPPORTED;
#else
        LEVIN_PATH_TAKEN(CODED_CONV);
        return LEVIN_CODED_CONV ? conv_coded(p, in, w, bias, multiplier, shift, out, scratch) : LEVIN_ERR_UNSUPPORTED;
#endif
    }
    job.p = p;
    job.weights = (const int8_t *)w->data;
    job.bias = bias;
    job.multiplier = multiplier;
    job.shift = shift;
    job.per = (int32_t)per;
    return conv_in_flash(&job, in, out, scratch);
}
