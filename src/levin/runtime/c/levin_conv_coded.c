/* levin_conv_coded.c -- conv2d over weights that are not read in place (coded dense: packed,
 * codebook, rANS; or sparse), output channel after output channel: each channel is decoded once
 * into scratch and serves every output pixel. Such convs never stream their output over their
 * input (weight_fields.streamed), so the loops may visit pixels in any order.
 *
 * Read me first.
 * Dense, at most LEVIN_WEIGHTS_WHOLE_MAX weights (scratch: the tensor): decoded whole, then the
 * in-flash kernel over the decoded bytes (conv_whole).
 * Dense 1x1 with p->scratch_use LEVIN_SCRATCH_WIDE_WEIGHTS, on cores with the DSP extension
 * (scratch 8 * per): four channels decoded and widened to int16 once, then every pixel against
 * them (dense_wide4: the weights come ready for SMLAD, so this beats the in-flash 1x1 kernel's
 * inner loop; one-state rANS without a codebook skips the reader's symbol-to-value pass). The
 * same loop serves raw 1x1 weights whose output the planner kept apart from the input
 * (levin_conv1x1_wide4, called by levin_conv.c).
 * Dense, larger (scratch 2 * per, per = weights of one channel): two channels decoded at a time,
 * so each input load serves two products, as in the in-flash kernel (levin_dot.h):
 *   - groups 1, no horizontal dilation: one inner product per window row, pixels in pairs
 *     where both windows lie inside the input along x;
 *   - depthwise: one channel at a time over every pixel, a 3x3 window inside the input with
 *     its weights in locals and the zero point folded out;
 *   - anything else (grouped, dilated along x): window_dot per pixel.
 * Sparse (scratch 5 * per): the channel's nonzeros, their positions turned once per channel into
 * offsets from the window's first input byte, (ky * dh * in_w + kx * dw) * in_c + ci. A window
 * wholly inside the input then reads x[off[j]] for each nonzero with no test, two pixels per
 * pass, the input zero point folded out (sum (x - zp) w = sum x w - zp sum w, exact in int32). A
 * window clipped by the border takes, for each kernel row it keeps, the nonzeros of its taps
 * kx0..kx1-1: contiguous, since nonzeros come in (ky, kx, ci) order; seg[t] is the end of tap t's.
 * A window spanning more than 64 KiB of input (offsets past uint16) falls back to tap-major loops
 * over the channel index alone.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_conv_window.h"

/* What every channel's loops share. */
typedef struct {
    const levin_conv_params *p;
    const int8_t *in;
    int8_t *out;
    const int32_t *bias, *multiplier, *shift;
} conv_out;

static LEVIN_ALWAYS_INLINE void put(const conv_out *c, int32_t pixel, int32_t o, int32_t acc) {
    const levin_conv_params *p = c->p;
    c->out[pixel * p->out_c + o] = output_code(acc, c->multiplier[o], c->shift[o], p->out_zp, p->act_min, p->act_max);
}

/* acc + b with two's complement wrap: the sum of the parts fits int32 whenever the true
 * accumulator does, the parts alone (a folded zero point, a large bias) need not. */
static LEVIN_ALWAYS_INLINE int32_t wrap_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* ---- dense ------------------------------------------------------------------------------------ */

/* Groups 1, dilation_w 1: channels o and o1 (weights w0, w1: [KH, KW, in_c]) at every pixel,
 * one call per window (levin_dot_rows_*: out of line, so the decoded rows in scratch are written
 * before any inner product reads them). */
static void dense_rows(const conv_out *c, const int8_t *w0, const int8_t *w1, int32_t o, int32_t o1) {
    /* Locals, not c->... or p->...: the output stores may alias anything. */
    const levin_conv_params *p = c->p;
    const int8_t *const in = c->in;
    int8_t *const out = c->out;
    const int32_t in_c = p->in_c, out_c = p->out_c, out_w = p->out_w, in_w = p->in_w, kw = p->kernel_w;
    const int32_t sw = p->stride_w, pad_left = p->pad_left, pair_step = sw * in_c;
    const int32_t m0 = c->multiplier[o], m1 = c->multiplier[o1], s0 = c->shift[o], s1 = c->shift[o1];
    const int32_t zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int32_t b0 = c->bias ? c->bias[o] : 0, b1 = c->bias ? c->bias[o1] : 0;
    levin_dot_window g;
    int32_t oy, ox, ky0, ky1, kx0, kx1;
    g.x_step = p->dilation_h * in_w * in_c;
    g.w_step = kw * in_c;
    g.off = -p->in_zp;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int8_t *x_row;
        taps_inside(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky0, &ky1);
        g.rows = ky1 - ky0;
        x_row = in + (iy0 + ky0 * p->dilation_h) * in_w * in_c;
        for (ox = 0; ox < out_w;) {
            const int32_t ix0 = ox * sw - pad_left;
            /* A pair when both windows lie inside the input along x (then neither is clipped). */
            const int pair = ox + 1 < out_w && ix0 >= 0 && ix0 + sw + kw <= in_w;
            int8_t *y = out + (oy * out_w + ox) * out_c;
            const int8_t *x;
            int32_t wt, acc[4];
            taps_inside(ix0, in_w, kw, 1, &kx0, &kx1);
            x = x_row + (ix0 + kx0) * in_c;
            wt = (ky0 * kw + kx0) * in_c;
            g.len = (kx1 - kx0) * in_c;
            acc[0] = acc[2] = b0;
            acc[1] = acc[3] = b1;
            if (pair) {
                levin_dot_rows_2x2(&g, x, x + pair_step, w0 + wt, w1 + wt, acc);
                y[out_c + o] = output_code(acc[2], m0, s0, zp, lo, hi);
                y[out_c + o1] = output_code(acc[3], m1, s1, zp, lo, hi);
            } else {
                levin_dot_rows_1x2(&g, x, w0 + wt, w1 + wt, acc);
            }
            y[o] = output_code(acc[0], m0, s0, zp, lo, hi);
            y[o1] = output_code(acc[1], m1, s1, zp, lo, hi);
            ox += pair ? 2 : 1;
        }
    }
}

/* A depthwise pixel's clipped window: rows x cols taps from x (taps x_tap apart, rows x_row),
 * weights w (rows kernel_w apart); a row of three taps is unrolled. */
static int32_t depthwise_clipped(const levin_conv_params *p, const int8_t *x, const int8_t *w, int32_t rows,
                                 int32_t cols, int32_t acc) {
    const int32_t off = -p->in_zp, x_tap = p->dilation_w * p->in_c, x_tap2 = 2 * x_tap;
    const int32_t x_row = p->dilation_h * p->in_w * p->in_c, skip = p->kernel_w - cols;
    int32_t r;
    for (r = 0; r < rows; ++r, x += x_row, w += skip) {
        const int8_t *xt = x, *const end = x + cols * x_tap;
        if (cols == 3) {
            acc += ((int32_t)xt[0] + off) * (int32_t)w[0] + ((int32_t)xt[x_tap] + off) * (int32_t)w[1] +
                   ((int32_t)xt[x_tap2] + off) * (int32_t)w[2];
            w += 3;
            continue;
        }
        for (; xt != end; xt += x_tap) {
            acc += ((int32_t)*xt + off) * (int32_t)*w++;
        }
    }
    return acc;
}

/* Depthwise: channel ch (weights w: [KH, KW]) at every pixel. A 3x3 window inside the input,
 * the common case, has its nine weights in locals (loaded once per channel), the zero point
 * folded out (bias - zp * sum w) and no loop per tap; other windows take depthwise_clipped. */
static LEVIN_NOINLINE void dense_depthwise(const conv_out *c, const int8_t *w, int32_t ch) {
    const levin_conv_params *p = c->p;
    const int8_t *const in = c->in;
    int8_t *y = c->out + ch;
    const int32_t in_w = p->in_w, in_c = p->in_c, out_w = p->out_w, kh = p->kernel_h, kw = p->kernel_w;
    const int32_t t1 = p->dilation_w * in_c, t2 = 2 * t1, r1 = p->dilation_h * in_w * in_c, r2 = 2 * r1;
    const int32_t span = (kw - 1) * p->dilation_w + 1, out_c = p->out_c;
    const int32_t m = c->multiplier[ch], sh = c->shift[ch], zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int32_t b = c->bias ? c->bias[ch] : 0, is_3x3 = kh == 3 && kw == 3;
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = is_3x3 ? w[3] : 0, w4 = is_3x3 ? w[4] : 0;
    const int32_t w5 = is_3x3 ? w[5] : 0, w6 = is_3x3 ? w[6] : 0, w7 = is_3x3 ? w[7] : 0, w8 = is_3x3 ? w[8] : 0;
    const int32_t folded = b - p->in_zp * (w0 + w1 + w2 + w3 + w4 + w5 + w6 + w7 + w8);
    int32_t oy, ox, ky0, ky1, kx0, kx1;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ix0 = -p->pad_left;
        taps_inside(iy0, p->in_h, kh, p->dilation_h, &ky0, &ky1);
        for (ox = 0; ox < out_w; ++ox, ix0 += p->stride_w, y += out_c) {
            int32_t acc;
            if (is_3x3 && ky1 - ky0 == 3 && ix0 >= 0 && ix0 + span <= in_w) {
                const int8_t *x0 = in + (iy0 * in_w + ix0) * in_c + ch, *xa = x0 + r1, *xb = x0 + r2;
                acc = folded + x0[0] * w0 + x0[t1] * w1 + x0[t2] * w2 + xa[0] * w3 + xa[t1] * w4 + xa[t2] * w5 +
                      xb[0] * w6 + xb[t1] * w7 + xb[t2] * w8;
            } else {
                taps_inside(ix0, in_w, kw, p->dilation_w, &kx0, &kx1);
                acc = depthwise_clipped(p, in + ((iy0 + ky0 * p->dilation_h) * in_w + ix0 + kx0 * p->dilation_w) * in_c + ch,
                                        w + ky0 * kw + kx0, ky1 - ky0, kx1 - kx0, b);
            }
            *y = output_code(acc, m, sh, zp, lo, hi);
        }
    }
}

/* Any other conv: channel o (weights w: [KH, KW, cg]) at every pixel, one tap at a time. */
static void dense_taps(const conv_out *c, const int8_t *w, int32_t o) {
    const levin_conv_params *p = c->p;
    const int32_t cg = p->in_c / p->groups, cin0 = (o / (p->out_c / p->groups)) * cg;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const window v = window_at(p, oy, ox);
            put(c, oy * p->out_w + ox, o, window_dot(p, c->in, w, &v, cin0, cg, c->bias ? c->bias[o] : 0));
        }
    }
}

/* A tensor of at most LEVIN_WEIGHTS_WHOLE_MAX weights decoded whole into scratch, then the
 * in-flash kernel (levin_conv.c) over it, as over raw int8 weights: the same speed for the
 * layers channel-major loops serve worst (depthwise, one input channel), for at most that many
 * bytes of RAM. The in-flash kernel reads the decoded weights only after this call wrote them. */
static levin_status conv_whole(const conv_out *c, levin_weights_reader *r, uint8_t *scratch, uint32_t per) {
    const levin_weights *w = r->w;
    levin_weights raw = {0};
    levin_status status = LEVIN_OK;
    uint32_t o;
    for (o = 0u; o < w->channels; ++o) {
        if (levin_weights_next_dense(r, (int8_t *)scratch + o * per, &status) == 0) {
            return status;
        }
    }
    if ((status = levin_weights_end(r)) != LEVIN_OK) {
        return status;
    }
    raw.size = w->size;
    raw.channels = w->channels;
    raw.pos_method = LEVIN_POS_DENSE;
    raw.nnz = w->size;
    raw.coder = LEVIN_CODER_RAW;
    raw.data = scratch;
    raw.len = w->size;
    /* The in-flash kernel's own buffer (p->scratch_use, ops/conv2d.py) follows the decoded
     * tensor, 16-aligned. */
    return levin_conv2d_s8(c->p, c->in, &raw, c->bias, c->multiplier, c->shift, c->out,
                           c->p->scratch_use ? scratch + ((w->size + 15u) & ~15u) : 0);
}

#ifdef LEVIN_DOT_DSP
/* w[0..n) (n a multiple of 4) widened to int16 at row as levin_widen lays them out (taps 0, 2
 * then 1, 3 of each four), in place when w is the upper half of row's 2n bytes (each word is read
 * before the two it becomes are written, and no write passes a byte still to be read); returns
 * the sum of the weights. */
static LEVIN_ALWAYS_INLINE int32_t widen_sum(const int8_t *w, int32_t n, int16_t *row) {
    const int8_t *const end = w + n;
    int32_t sum = 0;
#ifdef LEVIN_DOT_ASM
    if (w != end) {
        uint32_t u, e, f;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[u], [%[w]], #4\n\t"
            "sxtb16  %[f], %[u], ror #8\n\t"
            "sxtb16  %[e], %[u]\n\t"
            "strd    %[e], %[f], [%[row]], #8\n\t"
            "smlad   %[s], %[e], %[one], %[s]\n\t"
            "smlad   %[s], %[f], %[one], %[s]\n\t"
            "cmp     %[w], %[end]\n\t"
            "bne     1b"
            : [w] "+r"(w), [row] "+r"(row), [s] "+r"(sum), [u] "=&r"(u), [e] "=&r"(e), [f] "=&r"(f)
            : [end] "r"(end), [one] "r"(0x00010001u)
            : "cc", "memory");
    }
#else
    for (; w != end; w += 4, row += 4) {
        const uint32_t u = levin_load4(w), e = levin_even(u), f = levin_odd(u);
        __builtin_memcpy(row, &e, 4u);
        __builtin_memcpy(row + 2, &f, 4u);
        sum = __smlad((int32_t)e, 0x00010001, __smlad((int32_t)f, 0x00010001, sum));
    }
#endif
    return sum;
}

/* widen_sum for rANS symbols s of a stream without a codebook, value = offset + s (every symbol
 * the stream can emit is an int8 value: no check): UXTAB16 adds the offset as it widens. */
static LEVIN_ALWAYS_INLINE int32_t widen_sum_symbols(const uint8_t *w, int32_t n, int16_t *row, int32_t offset) {
    const uint8_t *const end = w + n;
    const uint32_t o2 = levin_offset2(offset);
    int32_t sum = 0;
#ifdef LEVIN_DOT_ASM
    if (w != end) {
        uint32_t u, e, f;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[u], [%[w]], #4\n\t"
            "uxtab16 %[f], %[o2], %[u], ror #8\n\t"
            "uxtab16 %[e], %[o2], %[u]\n\t"
            "strd    %[e], %[f], [%[row]], #8\n\t"
            "smlad   %[s], %[e], %[one], %[s]\n\t"
            "smlad   %[s], %[f], %[one], %[s]\n\t"
            "cmp     %[w], %[end]\n\t"
            "bne     1b"
            : [w] "+r"(w), [row] "+r"(row), [s] "+r"(sum), [u] "=&r"(u), [e] "=&r"(e), [f] "=&r"(f)
            : [end] "r"(end), [one] "r"(0x00010001u), [o2] "r"(o2)
            : "cc", "memory");
    }
#else
    for (; w != end; w += 4, row += 4) {
        uint32_t u, e, f;
        __builtin_memcpy(&u, w, 4u);
        e = __uxtab16(o2, u);
        f = __uxtab16(o2, (u >> 8) | (u << 24));
        __builtin_memcpy(row, &e, 4u);
        __builtin_memcpy(row + 2, &f, 4u);
        sum = __smlad((int32_t)e, 0x00010001, __smlad((int32_t)f, 0x00010001, sum));
    }
#endif
    return sum;
}

#if LEVIN_WEIGHTS_BUCKETS != 128
#error "dense_wide_rows: the reader's rANS bucket tables are 2^7 entries"
#endif

/* The next channel of a one-state rANS stream without a codebook whose symbols are all int8
 * values (the reader's own check then tests nothing), widened into row: the symbols decoded
 * straight into the upper half of row (levin_rans_decode_u8_bucketed, the reader's loop) and
 * widened with the offset added, skipping the reader's symbol-to-value pass. The reader's counts
 * advance as levin_weights_next_dense's would; returns 0 on a corrupt stream. */
static int rans_wide_row(levin_weights_reader *r, int32_t n, int16_t *row, int32_t *sum) {
    const levin_weights *w = r->w;
    uint8_t *symbols = (uint8_t *)(void *)row + n;
    if (r->channel >= w->channels || (uint32_t)n > r->val.count - r->val.done ||
        levin_rans_decode_u8_bucketed(&r->val, &w->model, r->u.bucket.val, 7u, symbols, (uint32_t)n) != LEVIN_RANS_OK) {
        return 0;
    }
    r->values += (uint32_t)n;
    r->channel++;
    LEVIN_STORES_DONE(); /* the symbols are written before the assembly reads them */
    *sum = widen_sum_symbols(symbols, n, row, w->offset);
    return 1;
}

/* Output channels o..o+3 of a 1x1 conv (groups 1, no padding, in_c a multiple of 4) at every
 * pixel, in one pass over the input against four weight rows widened to int16 at wide
 * (levin_widen's layout) whose sums make folded (bias - in_zp * sum w, wrapping): four codes at
 * once. Each weight is widened once per inference, where the in-flash 1x1 kernel widens the
 * input at every pixel and then each weight word at every pixel. Inlined: a call would add its
 * frame to its callers'. */
static LEVIN_ALWAYS_INLINE void wide4_pixels(const levin_conv_params *p, const int8_t *in, int8_t *out,
                                             const int32_t *mult, const int32_t *shift, const int16_t *wide,
                                             const int32_t *folded) {
    const int32_t n = p->in_c, out_c = p->out_c, in_w = p->in_w, out_w = p->out_w, out_h = p->out_h;
    const int32_t x_step = p->stride_w * n, row_step = p->stride_h * in_w * n;
    const levin_out4 q = levin_out4_make(p->out_zp, p->act_min, p->act_max);
    int32_t oy, ox;
    for (oy = 0; oy < out_h; ++oy) {
        const int8_t *x = in + oy * row_step;
        int8_t *y = out + oy * out_w * out_c;
        for (ox = 0; ox < out_w; ++ox, x += x_step, y += out_c) {
            int32_t acc[4]; /* constant indices only: kept in registers */
            acc[0] = folded[0];
            acc[1] = folded[1];
            acc[2] = folded[2];
            acc[3] = folded[3];
            levin_row_1x4_wide(x, wide, wide + n, wide + 2 * n, wide + 3 * n, n, acc);
            output_codes4(acc, mult, shift, y, &q);
        }
    }
}

/* Coded: channels o..o+3 each decoded into the upper half of its 2 * in_c bytes of scratch and
 * widened to int16 there, in place (levin_widen reads a word before it writes two, and never
 * writes past the bytes it has still to read), then wide4_pixels. */
static LEVIN_NOINLINE levin_status dense_wide4(const conv_out *c, levin_weights_reader *r, int16_t *wide, int32_t o) {
    const int32_t n = c->p->in_c;
    int32_t folded[4], k;
    levin_status status = LEVIN_OK;
    const int fast_rans = r->w->coder == LEVIN_CODER_RANS && r->w->codebook == 0 && !r->check && r->val.n_states == 1u;
    for (k = 0; k < 4; ++k) {
        int16_t *row = wide + k * n;
        int32_t sum;
        if (fast_rans) {
            if (!rans_wide_row(r, n, row, &sum)) {
                return LEVIN_ERR_CORRUPT;
            }
        } else {
            const int8_t *w = levin_weights_next_dense(r, (int8_t *)(void *)row + n, &status);
            if (w == 0) {
                return status;
            }
            LEVIN_STORES_DONE(); /* the decoded bytes are written before the assembly reads them */
            sum = widen_sum(w, n, row);
        }
        folded[k] = wrap_add(c->bias ? c->bias[o + k] : 0, (int32_t)((uint32_t)-c->p->in_zp * (uint32_t)sum));
    }
    LEVIN_STORES_DONE(); /* the widened rows are written before the assembly reads them */
    wide4_pixels(c->p, c->in, c->out + o, c->multiplier + o, c->shift + o, wide, folded);
    return LEVIN_OK;
}

void levin_conv1x1_wide4(const conv_job *j, const int8_t *in, int8_t *out, int16_t *wide, int32_t o) {
    const levin_conv_params *p = j->p;
    const int8_t *w = j->weights;
    const int32_t *bias = j->bias, n = p->in_c;
    int32_t folded[4], k;
    for (k = 0; k < 4; ++k) {
        const int32_t sum = widen_sum(w + (o + k) * n, n, wide + k * n);
        folded[k] = wrap_add(bias ? bias[o + k] : 0, (int32_t)((uint32_t)-p->in_zp * (uint32_t)sum));
    }
    LEVIN_STORES_DONE(); /* the widened rows are written before the assembly reads them */
    wide4_pixels(p, in, out + o, j->multiplier + o, j->shift + o, wide, folded);
}

#endif

static levin_status conv_dense(const conv_out *c, levin_weights_reader *r, uint8_t *scratch, uint32_t per) {
    const levin_conv_params *p = c->p;
    const int rows = p->groups == 1 && p->dilation_w == 1;
    const int depthwise = LEVIN_DEPTHWISE && p->groups == p->in_c && p->out_c == p->in_c;
    int8_t *s0 = (int8_t *)scratch, *s1 = (int8_t *)scratch + per;
    levin_status status = LEVIN_OK;
    int32_t o = 0;
#ifdef LEVIN_DOT_DSP
    if (LEVIN_WIDE_WEIGHTS && p->scratch_use == LEVIN_SCRATCH_WIDE_WEIGHTS && p->kernel_h == 1 && p->kernel_w == 1 &&
        p->groups == 1 && (p->in_c & 3) == 0 && p->pad_top == 0 && p->pad_left == 0 &&
        ((uintptr_t)scratch & 7u) == 0u) {
        LEVIN_PATH_TAKEN(WIDE_WEIGHTS);
        for (; o + 4 <= p->out_c; o += 4) {
            if ((status = dense_wide4(c, r, (int16_t *)(void *)scratch, o)) != LEVIN_OK) {
                return status;
            }
        }
    }
#endif
    for (; o < p->out_c; o += rows ? 2 : 1) {
        const int32_t o1 = rows && o + 1 < p->out_c ? o + 1 : o; /* an odd last channel: computed twice */
        const int8_t *w0 = levin_weights_next_dense(r, s0, &status), *w1 = w0;
        if (w0 != 0 && o1 != o) {
            w1 = levin_weights_next_dense(r, s1, &status);
        }
        if (status != LEVIN_OK) {
            return status;
        }
        if (rows) {
            dense_rows(c, w0, w1, o, o1);
        } else if (depthwise) {
            LEVIN_PATH_TAKEN(DEPTHWISE);
            dense_depthwise(c, w0, o);
        } else if (LEVIN_TAPS) {
            LEVIN_PATH_TAKEN(TAPS);
            dense_taps(c, w0, o);
        } else {
            return LEVIN_ERR_UNSUPPORTED;
        }
    }
    return LEVIN_OK;
}

/* ---- sparse ----------------------------------------------------------------------------------- */

/* One channel's nonzeros and what its pixel loops read, set once per channel. */
typedef struct {
    const int8_t *in;
    const uint16_t *off; /* offset from the window's first input byte (by_tap: the channel index ci) */
    const uint16_t *seg; /* seg[t]: nonzeros of taps 0..t (t = ky * kernel_w + kx) */
    const int8_t *val;
    uint32_t count;
    int32_t by_tap;      /* 1: offsets too large for uint16, off holds ci */
    int32_t in_w, in_c, out_c, out_w, kw, stride, dil, pad_left, span, cin0, zoff;
    int32_t bias, folded; /* folded: bias - zp * sum of val, for windows inside the input */
    int32_t m, sh, zp, lo, hi;
} sparse_job;

/* Positions idx (in place in off) -> offsets and seg; returns the sum of the values. idx
 * ascends, so taps do. */
static int32_t sparse_prepare(const levin_conv_params *p, const sparse_job *s, uint16_t *off, uint16_t *seg) {
    const uint32_t cg = (uint32_t)(p->in_c / p->groups), kw = (uint32_t)p->kernel_w, n = s->count;
    const uint32_t taps = (uint32_t)(p->kernel_h * p->kernel_w);
    const int32_t y_step = p->dilation_h * p->in_w * p->in_c, x_step = p->dilation_w * p->in_c;
    const int8_t *val = s->val;
    uint32_t j, t = 0u;
    int32_t wsum = 0;
    for (j = 0u; j < n; ++j) {
        const uint32_t idx = off[j], tap = idx / cg, ci = idx - tap * cg, ky = tap / kw, kx = tap - ky * kw;
        while (t < tap) {
            seg[t++] = (uint16_t)j;
        }
        off[j] = (uint16_t)(s->by_tap ? (int32_t)ci : (int32_t)ky * y_step + (int32_t)kx * x_step + (int32_t)ci);
        wsum += val[j];
    }
    while (t < taps) {
        seg[t++] = (uint16_t)n;
    }
    return wsum;
}

/* sum x0[off[j]] * val[j] into acc[0] and the same at x1 into acc[1]: two windows wholly inside
 * the input, two nonzeros per iteration (the loop's own cost halved). */
static LEVIN_NOINLINE void sparse_dot2(const int8_t *x0, const int8_t *x1, const uint16_t *off, const int8_t *val,
                                       uint32_t n, int32_t *acc) {
    int32_t a0 = 0, a1 = 0;
    const uint16_t *const end = off + (n & ~1u);
    while (off != end) {
        const uint32_t i = off[0], k = off[1];
        const int32_t v = val[0], u = val[1];
        off += 2;
        val += 2;
        a0 += (int32_t)x0[i] * v; /* one multiply-accumulate each (a sum of products first */
        a1 += (int32_t)x1[i] * v; /* costs GCC a separate multiply and add) */
        a0 += (int32_t)x0[k] * u;
        a1 += (int32_t)x1[k] * u;
    }
    if (n & 1u) {
        a0 += (int32_t)x0[*off] * (int32_t)*val;
        a1 += (int32_t)x1[*off] * (int32_t)*val;
    }
    acc[0] = a0;
    acc[1] = a1;
}

static LEVIN_NOINLINE int32_t sparse_dot1(const int8_t *x, const uint16_t *off, const int8_t *val, uint32_t n) {
    int32_t a = 0;
    const uint16_t *const end = off + (n & ~1u);
    while (off != end) {
        a += (int32_t)x[off[0]] * (int32_t)val[0];
        a += (int32_t)x[off[1]] * (int32_t)val[1];
        off += 2;
        val += 2;
    }
    if (n & 1u) {
        a += (int32_t)x[*off] * (int32_t)*val;
    }
    return a;
}

/* A clipped window whose first tap is input index at (negative above or left of the input;
 * at + off[j] is inside for every kept tap): the nonzeros of taps kx0..kx1-1 of each kept row,
 * the zero point subtracted per tap (the kept taps' weight sum is not at hand). */
static LEVIN_NOINLINE int32_t sparse_clipped(const sparse_job *s, int32_t at, const window *v) {
    const int8_t *const in = s->in;
    const uint16_t *const off = s->off, *const seg = s->seg;
    const int8_t *const val = s->val;
    const int32_t zoff = s->zoff, kw = s->kw, kx0 = v->kx0, kx1 = v->kx1, stop = v->ky1 * kw;
    int32_t t, acc = 0;
    if (kx1 <= kx0) {
        return 0;
    }
    for (t = v->ky0 * kw; t < stop; t += kw) {
        uint32_t j = t + kx0 > 0 ? seg[t + kx0 - 1] : 0u;
        const uint32_t end = seg[t + kx1 - 1];
        for (; j + 1u < end; j += 2u) { /* two a time: the loop's own cost halved */
            acc += ((int32_t)in[at + (int32_t)off[j]] + zoff) * (int32_t)val[j] +
                   ((int32_t)in[at + (int32_t)off[j + 1u]] + zoff) * (int32_t)val[j + 1u];
        }
        if (j < end) {
            acc += ((int32_t)in[at + (int32_t)off[j]] + zoff) * (int32_t)val[j];
        }
    }
    return acc;
}

/* Offsets too large for uint16: tap after tap of the window, off = ci. */
static int32_t sparse_by_tap(const levin_conv_params *p, const sparse_job *s, const window *v) {
    int32_t ky, kx, acc = 0;
    for (ky = v->ky0; ky < v->ky1; ++ky) {
        for (kx = v->kx0; kx < v->kx1; ++kx) {
            const int32_t t = ky * p->kernel_w + kx;
            const int8_t *x = s->in + ((v->iy0 + ky * p->dilation_h) * p->in_w + v->ix0 + kx * p->dilation_w) * p->in_c +
                              s->cin0;
            uint32_t j = t > 0 ? s->seg[t - 1] : 0u;
            for (; j < s->seg[t]; ++j) {
                acc += ((int32_t)x[s->off[j]] + s->zoff) * (int32_t)s->val[j];
            }
        }
    }
    return acc;
}

/* One output row of channel s: y its first output, at the input index of its first pixel's
 * first tap, v its rows (iy0, ky0, ky1). Windows inside the input go two at a time along x. */
static LEVIN_NOINLINE void sparse_row(const levin_conv_params *p, const sparse_job *s, int8_t *y, int32_t at,
                                      window *v, int inside_y) {
    /* Locals, not s->...: the output stores may alias anything. */
    const int8_t *const in = s->in, *const val = s->val;
    const uint16_t *const off = s->off;
    const uint32_t n = s->count;
    const int32_t out_w = s->out_w, out_c = s->out_c, in_w = s->in_w, stride = s->stride, span = s->span;
    const int32_t step = stride * s->in_c, folded = s->folded, kw = s->kw, dil = s->dil, bias = s->bias;
    const int32_t m = s->m, sh = s->sh, zp = s->zp, lo = s->lo, hi = s->hi;
    int32_t ox, ix0 = -s->pad_left, acc;
    for (ox = 0; ox < out_w; ++ox, ix0 += stride, at += step, y += out_c) {
        if (inside_y && ix0 >= 0 && ix0 + span <= in_w) {
            if (ox + 1 < out_w && ix0 + stride + span <= in_w) {
                int32_t a[2];
                sparse_dot2(in + at, in + at + step, off, val, n, a);
                y[out_c] = output_code(wrap_add(folded, a[1]), m, sh, zp, lo, hi);
                acc = wrap_add(folded, a[0]);
                ++ox; /* the loop's step moves past the pair's second pixel */
                ix0 += stride;
                at += step;
                y[0] = output_code(acc, m, sh, zp, lo, hi);
                y += out_c;
                continue;
            }
            acc = wrap_add(folded, sparse_dot1(in + at, off, val, n));
        } else {
            v->ix0 = ix0;
            if (dil == 1) { /* taps_inside without its divisions */
                const int32_t first = ix0 < 0 ? -ix0 : 0, end = in_w - ix0;
                v->kx0 = first < kw ? first : kw;
                v->kx1 = end < kw ? (end > v->kx0 ? end : v->kx0) : kw;
            } else {
                taps_inside(ix0, in_w, kw, dil, &v->kx0, &v->kx1);
            }
            acc = wrap_add(bias, s->by_tap ? sparse_by_tap(p, s, v) : sparse_clipped(s, at, v));
        }
        *y = output_code(acc, m, sh, zp, lo, hi);
    }
}

/* Channel o, every pixel. */
static void sparse_channel(const levin_conv_params *p, const sparse_job *s, int8_t *out) {
    int32_t oy;
    for (oy = 0; oy < p->out_h; ++oy) {
        window v;
        v.iy0 = oy * p->stride_h - p->pad_top;
        taps_inside(v.iy0, p->in_h, p->kernel_h, p->dilation_h, &v.ky0, &v.ky1);
        sparse_row(p, s, out + oy * p->out_w * p->out_c, (v.iy0 * p->in_w - p->pad_left) * p->in_c + s->cin0, &v,
                   !s->by_tap && v.ky0 == 0 && v.ky1 == p->kernel_h);
    }
}

/* A channel without nonzeros: its bias at every pixel. */
static void sparse_empty(const levin_conv_params *p, const sparse_job *s, int8_t *out) {
    const int32_t out_c = p->out_c, pixels = p->out_h * p->out_w;
    const int8_t code = output_code(s->bias, s->m, s->sh, s->zp, s->lo, s->hi);
    int32_t k;
    for (k = 0; k < pixels; ++k, out += out_c) {
        *out = code;
    }
}

static levin_status conv_sparse(const conv_out *c, levin_weights_reader *r, uint8_t *scratch, uint32_t per) {
    const levin_conv_params *p = c->p;
    const uint32_t taps = (uint32_t)(p->kernel_h * p->kernel_w);
    /* scratch: [off: 2 per][seg: 2 taps][val: per (the bitmask reader's mask first)] <= 5 per */
    uint16_t *off = (uint16_t *)(void *)scratch, *seg = off + per;
    int8_t *val = (int8_t *)(void *)(seg + taps);
    /* The largest offset, in 64 bits: the uint16 path must not wrap. */
    const int64_t last = ((int64_t)(p->kernel_h - 1) * p->dilation_h * p->in_w + (int64_t)(p->kernel_w - 1) * p->dilation_w) *
                             p->in_c + p->in_c / p->groups - 1;
    const int32_t cg = p->in_c / p->groups, per_group = p->out_c / p->groups;
    sparse_job s;
    int32_t o;
    if (per > 65535u) { /* seg counts nonzeros in uint16; levin's export refuses such tensors */
        return LEVIN_ERR_UNSUPPORTED;
    }
    s.in = c->in;
    s.off = off;
    s.seg = seg;
    s.val = val;
    s.by_tap = last > 65535;
    s.in_w = p->in_w;
    s.in_c = p->in_c;
    s.out_c = p->out_c;
    s.out_w = p->out_w;
    s.kw = p->kernel_w;
    s.stride = p->stride_w;
    s.dil = p->dilation_w;
    s.pad_left = p->pad_left;
    s.span = (p->kernel_w - 1) * p->dilation_w + 1;
    s.zoff = -p->in_zp;
    s.zp = p->out_zp;
    s.lo = p->act_min;
    s.hi = p->act_max;
    for (o = 0; o < p->out_c; ++o) {
        const levin_status status = levin_weights_next_sparse(r, off, val, &s.count);
        if (status != LEVIN_OK) {
            return status;
        }
        s.cin0 = (o / per_group) * cg;
        s.bias = c->bias ? c->bias[o] : 0;
        s.m = c->multiplier[o];
        s.sh = c->shift[o];
        if (s.count == 0u) {
            sparse_empty(p, &s, c->out + o);
            continue;
        }
        s.folded = wrap_add(s.bias, -p->in_zp * sparse_prepare(p, &s, off, seg));
        sparse_channel(p, &s, c->out + o);
    }
    return LEVIN_OK;
}

levin_status levin_conv2d_coded(const levin_conv_params *p, const int8_t *in, levin_weights_reader *r,
                                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                int8_t *out, uint8_t *scratch) {
    const uint32_t per = levin_per_channel(r->w);
    conv_out c;
    levin_status status;
    c.p = p;
    c.in = in;
    c.out = out;
    c.bias = bias;
    c.multiplier = multiplier;
    c.shift = shift;
    if (!levin_is_sparse(r->w) && r->w->size <= LEVIN_WEIGHTS_WHOLE_MAX) {
        return conv_whole(&c, r, scratch, per); /* ends the reader itself */
    }
    if (!levin_is_sparse(r->w)) {
        status = conv_dense(&c, r, scratch, per);
    } else {
        LEVIN_PATH_TAKEN(SPARSE);
        status = LEVIN_SPARSE ? conv_sparse(&c, r, scratch, per) : LEVIN_ERR_UNSUPPORTED;
    }
    return status != LEVIN_OK ? status : levin_weights_end(r);
}
