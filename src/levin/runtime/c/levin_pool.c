/* levin_pool.c -- TFLite reference int8 MaxPool and AveragePool (NHWC, N = 1). 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_kernels.h"

void levin_max_pool_s8(const levin_pool_params *p, const int8_t *in, int8_t *out) {
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            for (c = 0; c < p->channels; ++c) {
                int32_t best = -128; /* padding is the int8 minimum: it never wins */
                for (ky = 0; ky < p->kernel_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    for (kx = 0; kx < p->kernel_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                            const int32_t v = in[(iy * p->in_w + ix) * p->channels + c];
                            best = v > best ? v : best;
                        }
                    }
                }
                out[(oy * p->out_w + ox) * p->channels + c] = (int8_t)best;
            }
        }
    }
}

/* taps [*lo, *hi) of 0..k-1 whose index i0 + tap lies in 0..size-1 */
static void clip_taps(int32_t i0, int32_t size, int32_t k, int32_t *lo, int32_t *hi) {
    *lo = i0 < 0 ? (-i0 < k ? -i0 : k) : 0;
    *hi = size - i0 < k ? size - i0 : k;
    *hi = *hi > *lo ? *hi : *lo;
}

/* x[0] + x[step] + ... (n >= 1 terms): out of line, so that its loop keeps every value in a
 * register; two terms a turn, in a do-while, the loop GCC -Os writes without a jump back to
 * its test. */
static LEVIN_NOINLINE int32_t strided_sum(const int8_t *x, int32_t n, int32_t step) {
    int32_t total = 0;
    if (n & 1) {
        total = *x;
        x += step;
    }
    if ((n >>= 1) > 0) {
        do {
            total += x[0] + x[step];
            x += 2 * step;
        } while (--n > 0);
    }
    return total;
}

/* Each window clipped to the input once per pixel (padded positions add pad_value each when
 * they count), then each channel summed along the window's rows with a pointer step: a global
 * average pool over a whole map is one strided run per channel. */
void levin_avg_pool_s8(const levin_pool_params *p, const int8_t *in, int8_t *out) {
    const int32_t channels = p->channels, row = p->in_w * channels;
    int32_t oy, ox, c, ky0, ky1, kx0, kx1;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        clip_taps(iy0, p->in_h, p->kernel_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t inside, count, padded, rows, cols;
            int8_t *y = out + (oy * p->out_w + ox) * channels;
            clip_taps(ix0, p->in_w, p->kernel_w, &kx0, &kx1);
            rows = ky1 - ky0;
            cols = kx1 - kx0;
            inside = rows * cols;
            count = p->count_include_pad ? p->kernel_h * p->kernel_w : inside;
            padded = (count - inside) * p->pad_value;
            if (cols * channels == row) { /* whole rows: one run */
                cols = inside;
                rows = 1;
            }
            for (c = 0; c < channels; ++c) {
                int32_t total = padded, num, r;
                if (inside) {
                    const int8_t *x = in + ((iy0 + ky0) * p->in_w + ix0 + kx0) * channels + c;
                    for (r = 0; r < rows; ++r, x += row) {
                        total += strided_sum(x, cols, channels);
                    }
                }
                /* rounded half away from zero, with C's truncating division, as TFLite */
                num = total > 0 ? total + count / 2 : total - count / 2;
                y[c] = (int8_t)levin_clamp(num / count, -128, 127);
            }
        }
    }
}
