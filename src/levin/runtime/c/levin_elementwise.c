/* levin_elementwise.c -- rescale (ReLU, ReLU6, requantize), lookup tables, Add, Concat, Pad, copy. 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_kernels.h"

static int8_t rescale_one(const levin_rescale_params *p, int32_t x) {
    int32_t diff = x - p->in_zp;
    if (p->rescale) {
        diff = levin_mbqm(diff, p->multiplier, p->shift);
    }
    return (int8_t)levin_clamp(diff + p->out_zp, p->act_min, p->act_max);
}

void levin_rescale_s8(const levin_rescale_params *p, const int8_t *in, int8_t *out, uint32_t n) {
    uint32_t i;
    for (i = 0u; i < n; ++i) {
        out[i] = rescale_one(p, in[i]);
    }
}

void levin_lut_s8(const int8_t *table, const int8_t *in, int8_t *out, uint32_t n) {
    uint32_t i;
    for (i = 0u; i < n; ++i) {
        out[i] = table[(int32_t)in[i] + 128];
    }
}

void levin_concat_s8(const int8_t *const *in, const int32_t *inner, const levin_rescale_params *rescale,
                     uint32_t count, uint32_t outer, int8_t *out) {
    uint32_t o, k;
    int32_t i;
    for (o = 0u; o < outer; ++o) {
        for (k = 0u; k < count; ++k) {
            const int8_t *src = in[k] + o * (uint32_t)inner[k];
            for (i = 0; i < inner[k]; ++i) {
                *out++ = rescale_one(&rescale[k], src[i]);
            }
        }
    }
}

void levin_pad_s8(const int8_t *in, int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom,
                  int32_t left, int32_t right, int8_t value, int8_t *out) {
    const int32_t ow = w + left + right, oh = h + top + bottom;
    int32_t y, x, k;
    for (y = 0; y < oh; ++y) {
        for (x = 0; x < ow; ++x) {
            const int32_t iy = y - top, ix = x - left;
            const int inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            for (k = 0; k < c; ++k) {
                *out++ = inside ? in[(iy * w + ix) * c + k] : value;
            }
        }
    }
}

/* The source index of padded position i - before (i in [-before, n + after)): mirrored at the
 * edges, the edge itself left out (reflect, symmetric 0) or repeated (symmetric 1). */
static int32_t mirrored(int32_t i, int32_t n, int32_t symmetric) {
    if (i < 0) {
        return -i - symmetric;
    }
    return i >= n ? 2 * n - 2 + symmetric - i : i;
}

void levin_mirror_pad_s8(const int8_t *in, int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom,
                         int32_t left, int32_t right, int32_t symmetric, int8_t *out) {
    const int32_t ow = w + left + right, oh = h + top + bottom;
    int32_t y, x, k;
    for (y = 0; y < oh; ++y) {
        const int8_t *row = in + mirrored(y - top, h, symmetric) * w * c;
        for (x = 0; x < ow; ++x) {
            const int8_t *px = row + mirrored(x - left, w, symmetric) * c;
            for (k = 0; k < c; ++k) {
                *out++ = px[k];
            }
        }
    }
}

void levin_copy_s8(const int8_t *in, int8_t *out, uint32_t n) {
    uint32_t i;
    if (in == out) {
        return;
    }
    for (i = 0u; i < n; ++i) {
        out[i] = in[i];
    }
}
