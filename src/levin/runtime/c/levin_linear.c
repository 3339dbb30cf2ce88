/* levin_linear.c -- fully connected. Output rows go in fours (in place from flash, with the DSP
 * extension) or pairs, so each input load serves four or two products (levin_dot.h); coded
 * dense rows are decoded two at a time into scratch. Sparse rows: the reader's inner product
 * over each row's nonzeros (levin_weights_next_sparse_dot: in one pass from flash for a packed
 * bitmask and raw values).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_conv_window.h"

uint32_t levin_linear_s8_scratch_size(const levin_weights *w) {
    return levin_is_sparse(w) ? 3u * levin_per_channel(w) : 2u * levin_weights_dense_scratch(w);
}

static LEVIN_ALWAYS_INLINE int8_t code(const levin_linear_params *p, const int32_t *multiplier,
                                       const int32_t *shift, int32_t o, int32_t acc) {
    return output_code(acc, multiplier[o], shift[o], p->out_zp, p->act_min, p->act_max);
}

#if !defined(LEVIN_WEIGHTS_RAW_ONLY) || !defined(LEVIN_DOT_DSP)
/* Two rows at a time, decoded (or in place on a core without the DSP extension); w1 == w0 for
 * an odd last row. */
static void rows_pair(const levin_linear_params *p, const int8_t *in, const int8_t *w0, const int8_t *w1,
                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int32_t o,
                      int32_t o1, int8_t *out) {
    int32_t acc[2];
    acc[0] = bias ? bias[o] : 0;
    acc[1] = bias ? bias[o1] : 0;
    levin_dot_1x2(in, w0, w1, p->in_features, -p->in_zp, acc);
    out[o] = code(p, multiplier, shift, o, acc[0]);
    out[o1] = code(p, multiplier, shift, o1, acc[1]);
}
#endif

#ifdef LEVIN_DOT_DSP
/* Rows in place, four at a time (levin_row_1x4), while four remain; returns the rows done. */
static LEVIN_NOINLINE int32_t linear_rows4(const levin_linear_params *p, const int8_t *in, const int8_t *rows,
                                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                           int8_t *out) {
    const int32_t n = p->in_features, off = -p->in_zp, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
#ifdef LEVIN_DOT_ASM
    const levin_out4 q = levin_out4_make(zp, lo, hi);
#endif
    int32_t o;
    for (o = 0; o + 4 <= p->out_features; o += 4, rows += 4 * n) {
        int32_t acc[4]; /* constant indices only: kept in registers */
        acc[0] = bias ? bias[o] : 0;
        acc[1] = bias ? bias[o + 1] : 0;
        acc[2] = bias ? bias[o + 2] : 0;
        acc[3] = bias ? bias[o + 3] : 0;
        levin_row_1x4(in, rows, n, off, acc);
#ifdef LEVIN_DOT_ASM
        output_codes4(acc, multiplier + o, shift + o, out + o, &q);
#else
        out[o] = output_code(acc[0], multiplier[o], shift[o], zp, lo, hi);
        out[o + 1] = output_code(acc[1], multiplier[o + 1], shift[o + 1], zp, lo, hi);
        out[o + 2] = output_code(acc[2], multiplier[o + 2], shift[o + 2], zp, lo, hi);
        out[o + 3] = output_code(acc[3], multiplier[o + 3], shift[o + 3], zp, lo, hi);
#endif
    }
    return o;
}
#endif

#ifndef LEVIN_WEIGHTS_RAW_ONLY
/* Coded weights (the reader lives on the stack only on this path): sparse rows through the
 * reader's inner product, dense rows decoded two at a time into scratch (levin_dot_1x2 is out
 * of line, so they are written before it reads them). */
static LEVIN_NOINLINE levin_status linear_coded(const levin_linear_params *p, const int8_t *in,
                                                const levin_weights *w, const int32_t *bias,
                                                const int32_t *multiplier, const int32_t *shift, int8_t *out,
                                                uint8_t *scratch) {
    const uint32_t per = levin_per_channel(w);
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    int32_t o;
    if (status != LEVIN_OK) {
        return status;
    }
    if (levin_is_sparse(w)) {
        for (o = 0; o < p->out_features; ++o) {
            int32_t acc = bias ? bias[o] : 0;
            if ((status = levin_weights_next_sparse_dot(&r, in, -p->in_zp, scratch, &acc)) != LEVIN_OK) {
                return status;
            }
            out[o] = code(p, multiplier, shift, o, acc);
        }
        return levin_weights_end(&r);
    }
    for (o = 0; o < p->out_features; o += 2) {
        const int32_t o1 = o + 1 < p->out_features ? o + 1 : o; /* an odd last row: computed twice */
        const int8_t *w0 = levin_weights_next_dense(&r, (int8_t *)scratch, &status), *w1 = w0;
        if (w0 != 0 && o1 != o) {
            w1 = levin_weights_next_dense(&r, (int8_t *)scratch + per, &status);
        }
        if (status != LEVIN_OK) {
            return status;
        }
        rows_pair(p, in, w0, w1, bias, multiplier, shift, o, o1, out);
    }
    return levin_weights_end(&r);
}
#endif

levin_status levin_linear_s8(const levin_linear_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch) {
    const int32_t n = p->in_features;
    const levin_status status = levin_weights_check(w);
    const int8_t *rows;
    int32_t o;
    if (status != LEVIN_OK) {
        return status;
    }
    if ((int32_t)w->channels != p->out_features || (int32_t)levin_per_channel(w) != n) {
        return LEVIN_ERR_ARG;
    }
    if (!levin_weights_in_flash(w)) {
#ifdef LEVIN_WEIGHTS_RAW_ONLY
        (void)scratch;
        return LEVIN_ERR_UNSUPPORTED;
#else
        return linear_coded(p, in, w, bias, multiplier, shift, out, scratch);
#endif
    }
    rows = (const int8_t *)w->data; /* in place: rows in fours, then pairs: each input load serves
                                        four or two products */
#ifdef LEVIN_DOT_DSP
    for (o = linear_rows4(p, in, rows, bias, multiplier, shift, out); o < p->out_features; ++o) {
        /* the last out_features % 4 rows, one at a time */
        const int32_t acc = levin_dot_1x1(in, rows + o * n, n, -p->in_zp, bias ? bias[o] : 0);
        out[o] = code(p, multiplier, shift, o, acc);
    }
#else /* without SIMD four rows' accumulators and pointers do not fit the registers: pairs */
    for (o = 0; o < p->out_features; o += 2) {
        const int32_t o1 = o + 1 < p->out_features ? o + 1 : o;
        rows_pair(p, in, rows + o * n, rows + o1 * n, bias, multiplier, shift, o, o1, out);
    }
#endif
    return LEVIN_OK;
}
