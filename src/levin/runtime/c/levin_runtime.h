/* levin_runtime.h -- status codes and TFLite's int8 fixed-point arithmetic for the levin runtime.
 *
 * Freestanding C99: <stdint.h> only, no malloc, no float. The arithmetic mirrors
 * src/levin/quant/intmath.py (TFLite / gemmlowp), with classic double rounding (TFLite Micro's and
 * CMSIS-NN's default), which is also the default of the numpy oracle (runtime/reference.py).
 * Like TFLite Micro and CMSIS-NN, it assumes two's-complement int32 with arithmetic right shifts
 * of negative values (every compiler levin targets); where TFLite's C++ wraps, this code wraps
 * explicitly through uint32_t.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_RUNTIME_H
#define LEVIN_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LEVIN_OK = 0,
    LEVIN_ERR_ARG = 1,         /* NULL pointer or parameters a kernel cannot take */
    LEVIN_ERR_CORRUPT = 2,     /* a coded weight stream does not decode (flash corrupted?) */
    LEVIN_ERR_UNSUPPORTED = 3, /* a weight format this build does not read */
    LEVIN_ERR_ARENA = 4        /* the arena is smaller than the model needs, or misaligned */
} levin_status;

/* Printable name of a status (never NULL). */
const char *levin_status_str(levin_status status);

/* A small function a kernel's inner loop calls: inlined even at -Os, where a compiler would
 * otherwise keep one out-of-line copy (a call per element costs more than the body). */
#if defined(__GNUC__)
#define LEVIN_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define LEVIN_ALWAYS_INLINE inline
#endif

/* A loop nest kept out of its caller: inlined into a kernel with many live values, GCC -Os
 * spills the inner loop's accumulators and pointers to the stack on every iteration. */
#if defined(__GNUC__)
#define LEVIN_NOINLINE __attribute__((noinline))
#else
#define LEVIN_NOINLINE
#endif

#define LEVIN_INT32_MIN (-2147483647 - 1)
#define LEVIN_INT32_MAX 2147483647

static inline int32_t levin_add_wrap(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t levin_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties up. gemmlowp adds a
 * nudge of 2^30 (or 1 - 2^30 below zero) and truncates towards zero; that equals
 * floor((a * b + 2^30) / 2^31) for every product, one shift instead of a 64-bit division. */
static LEVIN_ALWAYS_INLINE int32_t levin_srdhm(int32_t a, int32_t b) {
    if (a == b && a == LEVIN_INT32_MIN) {
        return LEVIN_INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded half away from zero, e in 0..31. */
static LEVIN_ALWAYS_INLINE int32_t levin_rdbp(int32_t x, int32_t e) {
    const int32_t mask = (int32_t)((1u << e) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT, exponent in -31..31. */
static inline int32_t levin_srmbpot(int32_t x, int32_t e) {
    int32_t threshold;
    if (e <= 0) {
        return levin_rdbp(x, -e);
    }
    threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) {
        return LEVIN_INT32_MAX;
    }
    if (x < -threshold) {
        return LEVIN_INT32_MIN;
    }
    return x * (int32_t)((int64_t)1 << e);
}

/* TFLite MultiplyByQuantizedMultiplier (classic double rounding): x * m * 2^(shift - 31).
 * shift in -31..30; the left shift wraps in int32 as TFLite's does. */
static LEVIN_ALWAYS_INLINE int32_t levin_mbqm(int32_t x, int32_t m, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return levin_rdbp(levin_srdhm((int32_t)((uint32_t)x << left), m), right);
}

/* levin_mbqm in fewer instructions, equal for every multiplier in 0..INT32_MAX (what TFLite's
 * QuantizeMultiplier and levin's quantize_multiplier give: the kernels' contract). gemmlowp's
 * one saturating case needs INT32_MIN * INT32_MIN, and the product then stays above INT32_MIN,
 * so the rounding divide by 2^e (e >= 1), half away from zero, is floor((y + 2^(e-1)) / 2^e)
 * with y = x - (x < 0): (y >> e) plus bit e-1 of y, no overflow. */
static LEVIN_ALWAYS_INLINE int32_t levin_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)(((int64_t)(int32_t)((uint32_t)acc << left) * multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t y = x - (x < 0 ? 1 : 0);
    return right == 0 ? x : (y >> right) + ((y >> (right - 1)) & 1);
}

#ifdef __cplusplus
}
#endif

#endif /* LEVIN_RUNTIME_H */
