/* levin_linear.c -- fully connected. Output rows go in fours (in place from flash, with the DSP
 * extension) or pairs, so each input load serves four or two products (levin_dot.h); coded
 * dense rows are decoded four at a time into scratch (two without the DSP extension), except,
 * with it, packed 8-bit symbols, read in place: without a codebook as unsigned bytes with the
 * offset folded out (linear_packed8), through an 8-bit codebook a table load per weight straight
 * into SMLAD (linear_book8). Sparse rows: the reader's inner product
 * over each row's nonzeros (levin_weights_next_sparse_dot: in one pass from flash for a packed
 * bitmask and raw values).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_conv_window.h"

uint32_t levin_linear_s8_scratch_size(const levin_weights *w) {
    return levin_is_sparse(w) ? 3u * levin_per_channel(w) : 4u * levin_weights_dense_scratch(w);
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
    const int32_t n = p->in_features, off = -p->in_zp;
    const levin_out4 q = levin_out4_make(p->out_zp, p->act_min, p->act_max);
    int32_t o;
    for (o = 0; o + 4 <= p->out_features; o += 4, rows += 4 * n) {
        int32_t acc[4]; /* constant indices only: kept in registers */
        acc[0] = bias ? bias[o] : 0;
        acc[1] = bias ? bias[o + 1] : 0;
        acc[2] = bias ? bias[o + 2] : 0;
        acc[3] = bias ? bias[o + 3] : 0;
        levin_row_1x4(in, rows, n, off, acc);
        output_codes4(acc, multiplier + o, shift + o, out + o, &q);
    }
    return o;
}
#endif

#if !defined(LEVIN_WEIGHTS_RAW_ONLY) && defined(LEVIN_DOT_DSP)
/* Packed 8-bit symbols without a codebook (value = offset + symbol), read in place from flash:
 * the rows' inner products over the unsigned symbols (levin_row_1x4_u8, as fast as int8's), plus
 * offset * sum(x + off) once per row, in wrapping arithmetic (the parts need not fit int32; their
 * sum, the true accumulator, does). No decoding: where a symbol could leave int8 (offset + 255 >
 * 127) one pass over the bytes first checks that none does (LEVIN_ERR_CORRUPT, as the reader),
 * unless the code generator read every symbol and found none that does (LEVIN_NO_PACKED8_CHECK:
 * a flipped bit in flash is then levin_weights_verify's to find, at boot). */
static LEVIN_NOINLINE levin_status linear_packed8(const levin_linear_params *p, const int8_t *in,
                                                  const levin_weights *w, const int32_t *bias,
                                                  const int32_t *multiplier, const int32_t *shift, int8_t *out) {
    const int32_t n = p->in_features, off = -p->in_zp, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const uint8_t *rows = w->data;
    uint32_t sum = 0u;
    const levin_out4 q = levin_out4_make(zp, lo, hi);
    int32_t o, i;
    if (LEVIN_PACKED8_CHECK && w->offset > -128) { /* symbols above 127 - offset are corrupt */
        const uint32_t limit4 = 0x01010101u * (uint32_t)(127 - w->offset);
        const uint8_t *b = rows;
        uint32_t bad = 0u;
#ifdef LEVIN_DOT_ASM
        const uint8_t *const end = rows + (w->size & ~31u);
        if (((uintptr_t)b & 3u) == 0u && b != end) { /* LDM: 32 bytes a load, 19 instructions */
            __asm__ volatile(
                "1:\n\t"
                "ldmia   %[b]!, {r4, r5, r6, r8, r10, r11, r12, lr}\n\t"
                "uqsub8  r4, r4, %[l]\n\t"
                "orr     %[bad], %[bad], r4\n\t"
                "uqsub8  r5, r5, %[l]\n\t"
                "orr     %[bad], %[bad], r5\n\t"
                "uqsub8  r6, r6, %[l]\n\t"
                "orr     %[bad], %[bad], r6\n\t"
                "uqsub8  r8, r8, %[l]\n\t"
                "orr     %[bad], %[bad], r8\n\t"
                "uqsub8  r10, r10, %[l]\n\t"
                "orr     %[bad], %[bad], r10\n\t"
                "uqsub8  r11, r11, %[l]\n\t"
                "orr     %[bad], %[bad], r11\n\t"
                "uqsub8  r12, r12, %[l]\n\t"
                "orr     %[bad], %[bad], r12\n\t"
                "uqsub8  lr, lr, %[l]\n\t"
                "orr     %[bad], %[bad], lr\n\t"
                "cmp     %[b], %[end]\n\t"
                "bne     1b"
                : [b] "+r"(b), [bad] "+r"(bad)
                : [l] "r"(limit4), [end] "r"(end)
                : "r4", "r5", "r6", "r8", "r10", "r11", "r12", "lr", "cc", "memory");
        }
#endif
        for (; (uint32_t)(rows + w->size - b) >= 4u; b += 4) {
            uint32_t u;
            __builtin_memcpy(&u, b, 4u);
            bad |= __uqsub8(u, limit4);
        }
        for (; b != rows + w->size; ++b) {
            bad |= *b > (uint32_t)(127 - w->offset);
        }
        if (bad) {
            LEVIN_PATH_TAKEN(PACKED8_CHECK);
            return LEVIN_ERR_CORRUPT;
        }
    }
    for (i = 0; i < n; ++i) {
        sum += (uint32_t)((int32_t)in[i] + off);
    }
    sum *= (uint32_t)w->offset; /* offset * sum(x + off), wrapping */
    for (o = 0; o + 4 <= p->out_features && (n & 3) == 0; o += 4, rows += 4 * n) {
        int32_t acc[4]; /* constant indices only: kept in registers */
        acc[0] = (int32_t)((bias ? (uint32_t)bias[o] : 0u) + sum);
        acc[1] = (int32_t)((bias ? (uint32_t)bias[o + 1] : 0u) + sum);
        acc[2] = (int32_t)((bias ? (uint32_t)bias[o + 2] : 0u) + sum);
        acc[3] = (int32_t)((bias ? (uint32_t)bias[o + 3] : 0u) + sum);
        levin_row_1x4_u8(in, rows, n, off, acc);
        output_codes4(acc, multiplier + o, shift + o, out + o, &q);
    }
    for (; o < p->out_features; ++o, rows += n) { /* the last rows (or rows whose length is not a multiple of 4) */
        uint32_t acc = (bias ? (uint32_t)bias[o] : 0u) + sum;
        for (i = 0; i < n; ++i) {
            acc += (uint32_t)(((int32_t)in[i] + off) * (int32_t)rows[i]);
        }
        out[o] = output_code((int32_t)acc, multiplier[o], shift[o], zp, lo, hi);
    }
    return LEVIN_OK;
}
#endif

#if !defined(LEVIN_WEIGHTS_RAW_ONLY) && defined(LEVIN_DOT_DSP)
/* Packed 8-bit codebook indices (value = codebook[offset + symbol]), read in place from flash:
 * the input widened once into scratch (levin_widen: taps 0, 2 then 1, 3 of each four, as int16),
 * then per row four weights a word: four table loads, packed into the same halfword pairs
 * (PKHBT), two SMLADs. A table load per weight is the floor of a codebook; this saves decoding
 * into scratch and reading the bytes back. Symbols past the codebook are corrupt (checked per
 * word where the codebook has fewer than 256 entries). */
static LEVIN_NOINLINE levin_status linear_book8(const levin_linear_params *p, const int8_t *in,
                                                const levin_weights *w, const int32_t *bias,
                                                const int32_t *multiplier, const int32_t *shift, int8_t *out,
                                                uint8_t *scratch) {
    const int32_t n = p->in_features, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int8_t *const book = w->codebook + w->offset; /* offset < codebook_size (checked) */
    const uint32_t last = w->codebook_size - 1u - (uint32_t)w->offset; /* the largest valid symbol */
    const uint32_t limit4 = last >= 255u ? 0xFFFFFFFFu : 0x01010101u * last;
    const uint8_t *row = w->data;
    int16_t *xw = (int16_t *)(void *)scratch;
    uint32_t bad = 0u;
    int32_t o;
    levin_widen(in, n, -p->in_zp, xw);
    LEVIN_STORES_DONE();
    for (o = 0; o < p->out_features; ++o) {
        const int16_t *x = xw;
        const uint8_t *const end = row + (n & ~3);
        int32_t acc = bias ? bias[o] : 0, i;
#ifdef LEVIN_DOT_ASM
        if (row != end) { /* 19 instructions per four weights, where GCC's C spilled to 31 */
            uint32_t u, xe, xf, t, v;
            __asm__ volatile(
                "1:\n\t"
                "ldr     %[u], [%[row]], #4\n\t"
                "ldrd    %[xe], %[xf], [%[x]], #8\n\t"
                "uqsub8  %[t], %[u], %[l]\n\t"
                "orr     %[bad], %[bad], %[t]\n\t"
                "uxtb    %[t], %[u]\n\t"
                "ldrsb   %[v], [%[book], %[t]]\n\t"
                "ubfx    %[t], %[u], #16, #8\n\t"
                "ldrsb   %[t], [%[book], %[t]]\n\t"
                "pkhbt   %[v], %[v], %[t], lsl #16\n\t"
                "smlad   %[acc], %[xe], %[v], %[acc]\n\t"
                "ubfx    %[t], %[u], #8, #8\n\t"
                "ldrsb   %[v], [%[book], %[t]]\n\t"
                "lsrs    %[t], %[u], #24\n\t"
                "ldrsb   %[t], [%[book], %[t]]\n\t"
                "pkhbt   %[v], %[v], %[t], lsl #16\n\t"
                "smlad   %[acc], %[xf], %[v], %[acc]\n\t"
                "cmp     %[row], %[end]\n\t"
                "bne     1b"
                : [row] "+r"(row), [x] "+r"(x), [acc] "+r"(acc), [bad] "+r"(bad), [u] "=&r"(u), [xe] "=&r"(xe),
                  [xf] "=&r"(xf), [t] "=&r"(t), [v] "=&r"(v)
                : [book] "r"(book), [l] "r"(limit4), [end] "r"(end)
                : "cc");
        }
#endif
        for (; row != end; row += 4, x += 4) {
            uint32_t u, xe, xf;
            __builtin_memcpy(&u, row, 4u);
            __builtin_memcpy(&xe, x, 4u);
            __builtin_memcpy(&xf, x + 2, 4u);
            bad |= __uqsub8(u, limit4);
            acc = __smlad((int32_t)xe, (int32_t)((uint16_t)book[u & 255u] | (uint32_t)book[(u >> 16) & 255u] << 16), acc);
            acc = __smlad((int32_t)xf, (int32_t)((uint16_t)book[(u >> 8) & 255u] | (uint32_t)book[u >> 24] << 16), acc);
        }
        for (i = 0; i < (n & 3); ++i, ++row) { /* the last n % 4 weights, one int16 input each */
            bad |= (uint32_t)(*row > last);
            acc += (int32_t)x[i] * (int32_t)book[*row <= last ? *row : 0u];
        }
        out[o] = output_code(acc, multiplier[o], shift[o], zp, lo, hi);
    }
    return bad ? LEVIN_ERR_CORRUPT : LEVIN_OK;
}
#endif

#ifndef LEVIN_WEIGHTS_RAW_ONLY
/* Coded weights (the reader lives on the stack only on this path): sparse rows through the
 * reader's inner product; dense rows decoded into scratch, four at a time with the DSP extension
 * (then levin_row_1x4, the in-flash loop), else two (levin_dot_1x2: out of line, so they are
 * written before it reads them). */
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
        LEVIN_PATH_TAKEN(SPARSE);
        if (!LEVIN_SPARSE) {
            return LEVIN_ERR_UNSUPPORTED;
        }
        for (o = 0; o < p->out_features; ++o) {
            int32_t acc = bias ? bias[o] : 0;
            if ((status = levin_weights_next_sparse_dot(&r, in, -p->in_zp, scratch, &acc)) != LEVIN_OK) {
                return status;
            }
            out[o] = code(p, multiplier, shift, o, acc);
        }
        return levin_weights_end(&r);
    }
    o = 0;
#ifdef LEVIN_DOT_DSP
    for (; o + 4 <= p->out_features; o += 4) {
        int32_t acc[4], k; /* constant indices only: kept in registers */
        for (k = 0; k < 4; ++k) {
            if (levin_weights_next_dense(&r, (int8_t *)scratch + k * per, &status) == 0) {
                return status;
            }
        }
        LEVIN_STORES_DONE(); /* the decoded rows are written before the assembly reads them */
        acc[0] = bias ? bias[o] : 0;
        acc[1] = bias ? bias[o + 1] : 0;
        acc[2] = bias ? bias[o + 2] : 0;
        acc[3] = bias ? bias[o + 3] : 0;
        levin_row_1x4(in, (const int8_t *)scratch, (int32_t)per, -p->in_zp, acc);
        out[o] = code(p, multiplier, shift, o, acc[0]);
        out[o + 1] = code(p, multiplier, shift, o + 1, acc[1]);
        out[o + 2] = code(p, multiplier, shift, o + 2, acc[2]);
        out[o + 3] = code(p, multiplier, shift, o + 3, acc[3]);
    }
#endif
    for (; o < p->out_features; o += 2) {
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
#ifdef LEVIN_DOT_DSP
        if (LEVIN_LINEAR_PACKED8 && !levin_is_sparse(w) && w->coder == LEVIN_CODER_PACK && w->bits == 8u &&
            w->codebook == 0) {
            LEVIN_PATH_TAKEN(LINEAR_PACKED8);
            return linear_packed8(p, in, w, bias, multiplier, shift, out);
        }
        if (LEVIN_LINEAR_BOOK8 && !levin_is_sparse(w) && w->coder == LEVIN_CODER_PACK && w->bits == 8u &&
            w->codebook != 0) {
            LEVIN_PATH_TAKEN(LINEAR_BOOK8);
            return linear_book8(p, in, w, bias, multiplier, shift, out, scratch);
        }
#endif
        LEVIN_PATH_TAKEN(CODED_LINEAR);
        return LEVIN_CODED_LINEAR ? linear_coded(p, in, w, bias, multiplier, shift, out, scratch)
                                  : LEVIN_ERR_UNSUPPORTED;
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
