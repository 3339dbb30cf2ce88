/* levin_conv.c -- conv2d (incl. depthwise and grouped) and fully connected, dense and sparse.
 *
 * Weights read in place from flash (raw int8), the deployed case: loop over output pixels
 * outermost, writing the output in order, so the planner may stream it over its own input
 * (analyze/memory.py, stream_shift): pixel p never writes past input a later pixel reads.
 *   - groups 1, no horizontal dilation: a window row is kernel_w * in_c contiguous bytes of both
 *     input and weights, one inner product (levin_dot.h); interior pixels go in pairs and output
 *     channels in pairs, so each load serves two products;
 *   - depthwise (one output channel per input channel): channels in pairs over the window;
 *   - anything else (grouped, dilated along x): one inner product per tap.
 * Every window is clipped to the input once per pixel, so padding costs nothing inside the
 * loops (a padded tap would add (zp - zp) * w = 0).
 * Coded weights: loop over output channels outermost; each channel's weights are decoded once
 * into scratch and then used for every output pixel, so RAM holds one channel. The sparse
 * variants iterate over the nonzero weights only.
 */
#include "levin_dot.h"
#include "levin_kernels.h"

static uint32_t per_channel(const levin_weights *w) {
    return w->channels != 0u ? w->size / w->channels : 0u; /* 0: refused by levin_weights_check */
}

static int is_sparse(const levin_weights *w) {
    return w->pos_method != LEVIN_POS_DENSE;
}

/* levin_mbqm (TFLite's MultiplyByQuantizedMultiplier, double rounding) in fewer instructions,
 * equal for every multiplier in 0..INT32_MAX (what quantize_multiplier gives; the header's
 * contract): gemmlowp's one saturating case needs INT32_MIN * INT32_MIN, and the product then
 * stays above INT32_MIN, so the rounding divide by 2^e (e >= 1), half away from zero, is
 * floor((y + 2^(e-1)) / 2^e) with y = x - (x < 0): (y >> e) plus bit e-1 of y, no overflow. */
static LEVIN_ALWAYS_INLINE int32_t requantize(int32_t acc, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)(((int64_t)(int32_t)((uint32_t)acc << left) * multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t y = x - (x < 0 ? 1 : 0);
    return right == 0 ? x : (y >> right) + ((y >> (right - 1)) & 1);
}

static LEVIN_ALWAYS_INLINE int8_t output_code(int32_t acc, int32_t multiplier, int32_t shift,
                                              int32_t out_zp, int32_t act_min, int32_t act_max) {
    return (int8_t)levin_clamp(requantize(acc, multiplier, shift) + out_zp, act_min, act_max);
}

uint32_t levin_linear_s8_scratch_size(const levin_weights *w) {
    return is_sparse(w) ? 3u * per_channel(w) : levin_weights_dense_scratch(w);
}

uint32_t levin_conv2d_s8_scratch_size(const levin_weights *w) {
    return is_sparse(w) ? 5u * per_channel(w) : levin_weights_dense_scratch(w);
}

/* The taps [*lo, *hi) of 0..k-1 whose input index i0 + tap * dil falls in 0..size-1. */
static void taps_inside(int32_t i0, int32_t size, int32_t k, int32_t dil, int32_t *lo, int32_t *hi) {
    const int32_t first = i0 < 0 ? (dil - 1 - i0) / dil : 0;
    const int32_t end = size > i0 ? (size - i0 + dil - 1) / dil : 0;
    *lo = first < k ? first : k;
    *hi = end < k ? (end > *lo ? end : *lo) : k;
}

/* One output pixel's window: taps [ky0, ky1) x [kx0, kx1) inside the input. */
typedef struct {
    int32_t iy0, ix0, ky0, ky1, kx0, kx1;
} window;

static window window_at(const levin_conv_params *p, int32_t oy, int32_t ox) {
    window v;
    v.iy0 = oy * p->stride_h - p->pad_top;
    v.ix0 = ox * p->stride_w - p->pad_left;
    taps_inside(v.iy0, p->in_h, p->kernel_h, p->dilation_h, &v.ky0, &v.ky1);
    taps_inside(v.ix0, p->in_w, p->kernel_w, p->dilation_w, &v.kx0, &v.kx1);
    return v;
}

/* Sum over a pixel's window of (x - zp) * w for one output channel whose group starts at input
 * channel cin0 (weights wch: [KH, KW, cg]). */
static int32_t window_dot(const levin_conv_params *p, const int8_t *in, const int8_t *wch,
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

/* A conv's weights, requantization and output, as one argument. */
typedef struct {
    const levin_conv_params *p;
    const int8_t *weights; /* [O, KH, KW, I / groups], read in place */
    const int32_t *bias, *multiplier, *shift;
    int32_t per;           /* weights per output channel */
} conv_job;

static LEVIN_ALWAYS_INLINE int8_t job_code(const conv_job *j, int32_t o, int32_t acc) {
    return output_code(acc, j->multiplier[o], j->shift[o], j->p->out_zp, j->p->act_min, j->p->act_max);
}

/* Groups 1, dilation_w 1: every output channel of one pixel (y1 == 0) or of two pixels whose
 * windows clip alike (x1 = x0 + stride_w * in_c), two channels at a time. */
static LEVIN_NOINLINE void conv_rows_pixels(const conv_job *j, const int8_t *in, const window *v, int8_t *y0, int8_t *y1) {
    const levin_conv_params *p = j->p;
    const int32_t rows = v->ky1 - v->ky0, len = (v->kx1 - v->kx0) * p->in_c;
    const int32_t x_step = p->dilation_h * p->in_w * p->in_c, w_step = p->kernel_w * p->in_c;
    const int8_t *x0 = in + ((v->iy0 + v->ky0 * p->dilation_h) * p->in_w + v->ix0 + v->kx0) * p->in_c;
    const int8_t *x1 = x0 + p->stride_w * p->in_c;
    const int8_t *w = j->weights + v->ky0 * w_step + v->kx0 * p->in_c;
    const int32_t off = -p->in_zp;
    int32_t o, r;
    for (o = 0; o < p->out_c; o += 2) {
        const int32_t o1 = o + 1 < p->out_c ? o + 1 : o; /* an odd last channel: computed twice */
        const int8_t *w0 = w + o * j->per, *w1 = w + o1 * j->per;
        const int32_t b0 = j->bias ? j->bias[o] : 0, b1 = j->bias ? j->bias[o1] : 0;
        int32_t acc[4];
        acc[0] = b0;
        acc[1] = b1;
        acc[2] = b0;
        acc[3] = b1;
        for (r = 0; r < rows; ++r) {
            if (y1) {
                levin_dot_2x2(x0 + r * x_step, x1 + r * x_step, w0 + r * w_step, w1 + r * w_step, len, off, acc);
            } else {
                levin_dot_1x2(x0 + r * x_step, w0 + r * w_step, w1 + r * w_step, len, off, acc);
            }
        }
        y0[o] = job_code(j, o, acc[0]);
        y0[o1] = job_code(j, o1, acc[1]);
        if (y1) {
            y1[o] = job_code(j, o, acc[2]);
            y1[o1] = job_code(j, o1, acc[3]);
        }
    }
}

static void conv_rows(const conv_job *j, const int8_t *in, int8_t *out) {
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

/* One depthwise output pixel: each channel over its clipped window, rows x cols taps from x
 * (channel c at x + c), weights from w (channel c at w + c * per). One channel at a time keeps
 * the tap loop to a handful of live values, which -Os then keeps in registers. */
static LEVIN_NOINLINE void depthwise_pixel(const conv_job *j, const int8_t *x, const int8_t *w,
                                           int32_t rows, int32_t cols, int8_t *y) {
    const levin_conv_params *p = j->p;
    const int32_t off = -p->in_zp, x_tap = p->dilation_w * p->in_c, x_tap2 = 2 * x_tap;
    const int32_t x_row = p->dilation_h * p->in_w * p->in_c, w_skip = p->kernel_w - cols;
    int32_t ch, r;
    for (ch = 0; ch < p->in_c; ++ch) {
        const int8_t *xr = x + ch, *wt = w + ch * j->per;
        int32_t acc = j->bias ? j->bias[ch] : 0;
        for (r = 0; r < rows; ++r, xr += x_row, wt += w_skip) {
            const int8_t *xt = xr, *const end = xr + cols * x_tap;
            if (cols == 3) { /* a 3-wide row, the common case, unrolled: no loop per tap */
                acc += ((int32_t)xt[0] + off) * (int32_t)wt[0] + ((int32_t)xt[x_tap] + off) * (int32_t)wt[1] +
                       ((int32_t)xt[x_tap2] + off) * (int32_t)wt[2];
                wt += 3;
                continue;
            }
            for (; xt != end; xt += x_tap) {
                acc += ((int32_t)*xt + off) * (int32_t)*wt++;
            }
        }
        y[ch] = job_code(j, ch, acc);
    }
}

/* Depthwise, one output channel per input channel, pixel after pixel. */
static void conv_depthwise(const conv_job *j, const int8_t *in, int8_t *out) {
    const levin_conv_params *p = j->p;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const window v = window_at(p, oy, ox);
            const int8_t *x = in + ((v.iy0 + v.ky0 * p->dilation_h) * p->in_w + v.ix0 + v.kx0 * p->dilation_w) * p->in_c;
            depthwise_pixel(j, x, j->weights + v.ky0 * p->kernel_w + v.kx0, v.ky1 - v.ky0, v.kx1 - v.kx0,
                            out + (oy * p->out_w + ox) * p->in_c);
        }
    }
}

/* Any other conv read in place: pixel after pixel, one inner product per tap. */
static void conv_taps(const conv_job *j, const int8_t *in, int8_t *out) {
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

static void conv_in_flash(const conv_job *j, const int8_t *in, int8_t *out) {
    const levin_conv_params *p = j->p;
    if (p->groups == 1 && p->dilation_w == 1) {
        conv_rows(j, in, out);
    } else if (p->groups == p->in_c && p->out_c == p->in_c) {
        conv_depthwise(j, in, out);
    } else {
        conv_taps(j, in, out);
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
        conv_job job;
        job.p = p;
        job.weights = (const int8_t *)w->data;
        job.bias = bias;
        job.multiplier = multiplier;
        job.shift = shift;
        job.per = (int32_t)per;
        conv_in_flash(&job, in, out);
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
    return levin_weights_end(&r);
}

levin_status levin_linear_s8(const levin_linear_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch) {
    const uint32_t per = per_channel(w);
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
        if (is_sparse(w)) {
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
