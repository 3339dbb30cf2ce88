/* levin_binary.c -- int8 binary ops with broadcasting (ADD, SUB, MUL, MAXIMUM, MINIMUM), TFLite
 * Micro's arithmetic: see levin_kernels.h and src/levin/ops/binary.py.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_kernels.h"

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_MAX, BIN_MIN } binary_op;

/* `run` is inlined into each public kernel (LEVIN_ALWAYS_INLINE) so that `op` is a constant there
 * and the switch in `one` disappears from the inner loop. The kernels copy their parameters
 * into a local first: every int8_t store may alias any memory, so parameters read through the
 * caller's pointer were reloaded for every element. Multipliers come from QuantizeMultiplier
 * (never negative): levin_requantize. */

static LEVIN_ALWAYS_INLINE int8_t add_one(const levin_add_params *p, int32_t a, int32_t b, int negate) {
    const int32_t v1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t v2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t r1 = levin_requantize(v1, p->input1_multiplier, p->input1_shift);
    const int32_t r2 = levin_requantize(v2, p->input2_multiplier, p->input2_shift);
    const int32_t o = levin_requantize(negate ? r1 - r2 : r1 + r2, p->output_multiplier, p->output_shift) +
                      p->output_offset;
    return (int8_t)levin_clamp(o, p->act_min, p->act_max);
}

static LEVIN_ALWAYS_INLINE int8_t mul_one(const levin_mul_params *p, int32_t a, int32_t b) {
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t o = levin_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)levin_clamp(o, p->act_min, p->act_max);
}

static LEVIN_ALWAYS_INLINE int8_t one(binary_op op, const void *p, int8_t a, int8_t b) {
    switch (op) {
    case BIN_ADD: return add_one((const levin_add_params *)p, a, b, 0);
    case BIN_SUB: return add_one((const levin_add_params *)p, a, b, 1);
    case BIN_MUL: return mul_one((const levin_mul_params *)p, a, b);
    case BIN_MAX: return a > b ? a : b;
    default: return a < b ? a : b;
    }
}

/* The output in order, dims[3] a contiguous row; each input read at its own strides. */
static LEVIN_ALWAYS_INLINE void run(binary_op op, const void *p, const levin_broadcast *b,
                                  const int8_t *in1, const int8_t *in2, int8_t *out) {
    int32_t i0, i1, i2, i3;
    if (b->dims[0] == 1 && b->dims[1] == 1 && b->dims[2] == 1 && b->stride1[3] == 1 && b->stride2[3] == 1) {
        const int8_t *const end = out + b->dims[3]; /* equal shapes: one row, the common case */
        while (out != end) {
            *out++ = one(op, p, *in1++, *in2++);
        }
        return;
    }
    for (i0 = 0; i0 < b->dims[0]; ++i0) {
        for (i1 = 0; i1 < b->dims[1]; ++i1) {
            for (i2 = 0; i2 < b->dims[2]; ++i2) {
                const int8_t *a = in1 + i0 * b->stride1[0] + i1 * b->stride1[1] + i2 * b->stride1[2];
                const int8_t *c = in2 + i0 * b->stride2[0] + i1 * b->stride2[1] + i2 * b->stride2[2];
                const int32_t s1 = b->stride1[3], s2 = b->stride2[3];
                for (i3 = 0; i3 < b->dims[3]; ++i3) {
                    *out++ = one(op, p, a[i3 * s1], c[i3 * s2]);
                }
            }
        }
    }
}

void levin_binary_add_s8(const levin_add_params *p, const levin_broadcast *b, const int8_t *in1,
                         const int8_t *in2, int8_t *out) {
    const levin_add_params q = *p;
    run(BIN_ADD, &q, b, in1, in2, out);
}

void levin_binary_sub_s8(const levin_add_params *p, const levin_broadcast *b, const int8_t *in1,
                         const int8_t *in2, int8_t *out) {
    const levin_add_params q = *p;
    run(BIN_SUB, &q, b, in1, in2, out);
}

void levin_binary_mul_s8(const levin_mul_params *p, const levin_broadcast *b, const int8_t *in1,
                         const int8_t *in2, int8_t *out) {
    const levin_mul_params q = *p;
    run(BIN_MUL, &q, b, in1, in2, out);
}

void levin_binary_max_s8(const levin_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
    run(BIN_MAX, (const void *)0, b, in1, in2, out);
}

void levin_binary_min_s8(const levin_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
    run(BIN_MIN, (const void *)0, b, in1, in2, out);
}
