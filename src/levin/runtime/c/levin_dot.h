/* levin_dot.h -- the inner products of the conv and fully connected kernels.
 *
 * Each computes acc += sum_i (x[i] + off) * w[i] over n int8 pairs (off = -input zero point, so
 * x + off fits 9 bits), for one or two rows of inputs against one or two rows of weights, the
 * register blocking that lets one load serve two products. Two implementations, equal to the
 * last bit since both sum exact int32 products:
 * - with the DSP extension (Cortex-M4/M7/M33, __ARM_FEATURE_DSP): four bytes per 32-bit load,
 *   SXTB16 / SXTAB16 widen them to two halfword pairs (SXTAB16 adds the offset for free) and
 *   SMLAD multiplies and accumulates a pair per instruction;
 * - portable C99 for every other core and the host.
 * Rows may start at any address (Cortex-M3 and up load words unaligned; the portable path reads
 * bytes).
 */
#ifndef LEVIN_DOT_H
#define LEVIN_DOT_H

#include <stdint.h>

#include "levin_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* acc[0] += x . w0, acc[1] += x . w1 (one input row, two weight rows). */
void levin_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t off,
                   int32_t *acc);

/* acc[0] += x0 . w0, acc[1] += x0 . w1, acc[2] += x1 . w0, acc[3] += x1 . w1. */
void levin_dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                   int32_t off, int32_t *acc);

/* acc + x . w (one row against one row: an odd last channel, a decoded weight channel). */
int32_t levin_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t off, int32_t acc);

#ifdef __cplusplus
}
#endif

#endif /* LEVIN_DOT_H */
