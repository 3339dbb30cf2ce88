/* levin_softmax.c -- TFLite Micro's int8 Softmax (reference_ops::Softmax on gemmlowp fixed point),
 * step for step as src/levin/quant/softmax.py: exp in Q5.26 -> Q0.31, sum in Q12.19, reciprocal by
 * Newton-Raphson, output scale 1/256 with zero point -128.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_kernels.h"

#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUMULATION_INTEGER_BITS 12

/* exp(a) for Q0.31 a in [-1/4, 0): gemmlowp's Taylor expansion around -1/8. */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = levin_add_wrap(a, 1 << 28);
    const int32_t x2 = levin_srdhm(x, x);
    const int32_t x3 = levin_srdhm(x2, x);
    const int32_t x4 = levin_srdhm(x2, x2);
    const int32_t x4_over_4 = levin_rdbp(x4, 2);
    const int32_t poly =
        levin_rdbp(levin_add_wrap(levin_srdhm(levin_add_wrap(x4_over_4, x3), one_third), x2), 1);
    return levin_add_wrap(constant_term, levin_srdhm(constant_term, levin_add_wrap(x, poly)));
}

/* gemmlowp exp_on_negative_values for Q5.26 input, Q0.31 result. */
static int32_t exp_on_negative_values(int32_t a) {
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                      39332535, 720401, 242}; /* exp(-2^k), k = -2..4 */
    const int32_t frac_bits = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t quarter = 1 << (frac_bits - 2);
    const int32_t a_mod_minus_quarter = levin_add_wrap(a & (quarter - 1), -quarter);
    const int32_t remainder = levin_add_wrap(a_mod_minus_quarter, (int32_t)(0u - (uint32_t)a));
    int32_t result = exp_quarter(levin_srmbpot(a_mod_minus_quarter, SCALED_DIFF_INTEGER_BITS));
    int32_t k;
    for (k = 0; k < 7; ++k) {
        if ((uint32_t)remainder & (1u << (frac_bits - 2 + k))) {
            result = levin_srdhm(result, barrel[k]);
        }
    }
    return a == 0 ? LEVIN_INT32_MAX : result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out. */
static int32_t one_over_one_plus_x(int32_t a) {
    int64_t s = (int64_t)a + LEVIN_INT32_MAX;
    int32_t half_denominator, x, k;
    s += s >= 0 ? 1 : -1;
    half_denominator = (int32_t)(s / 2);
    x = levin_add_wrap(1515870810, levin_srdhm(half_denominator, -1010580540)); /* 48/17 - 32/17 d */
    for (k = 0; k < 3; ++k) {
        const int32_t one_minus = levin_add_wrap(1 << 29, -levin_srdhm(half_denominator, x));
        x = levin_add_wrap(x, levin_srmbpot(levin_srdhm(x, one_minus), 2));
    }
    return levin_srmbpot(x, 1);
}

static int32_t leading_zeros(uint32_t x) {
    int32_t n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

void levin_softmax_s8(const levin_softmax_params *p, const int8_t *in, int8_t *out, uint32_t outer,
                      uint32_t n, uint32_t inner) {
    uint32_t o, q, i;
    for (o = 0u; o < outer; ++o) {
        for (q = 0u; q < inner; ++q) {
            const int8_t *x = in + o * n * inner + q;
            int8_t *y = out + o * n * inner + q;
            int32_t max = -128, sum = 0, headroom, shifted, scale, exponent;
            for (i = 0u; i < n; ++i) {
                max = x[i * inner] > max ? x[i * inner] : max;
            }
            for (i = 0u; i < n; ++i) {
                const int32_t diff = x[i * inner] - max;
                if (diff >= p->diff_min) {
                    const int32_t scaled = levin_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                                       p->input_multiplier);
                    sum += levin_rdbp(exp_on_negative_values(scaled), ACCUMULATION_INTEGER_BITS);
                }
            }
            /* TFLite GetReciprocal: sum = 2^(12 - headroom) (1 + f), f in [0, 1) */
            headroom = leading_zeros((uint32_t)sum);
            shifted = (int32_t)(((uint32_t)sum << headroom) - 0x80000000u);
            scale = one_over_one_plus_x(shifted);
            exponent = ACCUMULATION_INTEGER_BITS - headroom + 31 - 8;
            for (i = 0u; i < n; ++i) {
                const int32_t diff = x[i * inner] - max;
                int32_t v = -128;
                if (diff >= p->diff_min) {
                    const int32_t scaled = levin_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                                       p->input_multiplier);
                    const int32_t e = exp_on_negative_values(scaled);
                    v = levin_clamp(levin_rdbp(levin_srdhm(scale, e), exponent) - 128, -128, 127);
                }
                y[i * inner] = (int8_t)v;
            }
        }
    }
}
