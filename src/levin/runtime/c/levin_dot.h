/* levin_dot.h -- the inner products of the conv and fully connected kernels.
 *
 * Each computes acc += sum_i (x[i] + off) * w[i] over n int8 pairs (off = -input zero point, so
 * x + off fits 9 bits), for one or two rows of inputs against one, two or four rows of weights,
 * the register blocking that lets one load serve several products. Two implementations, equal
 * to the last bit since both sum exact int32 products:
 * - with the DSP extension (Cortex-M4/M7/M33, __ARM_FEATURE_DSP): four bytes per 32-bit load,
 *   SXTB16 / SXTAB16 widen them to two halfword pairs (SXTAB16 adds the offset for free) and
 *   SMLAD multiplies and accumulates a pair per instruction;
 * - portable C99 for every other core and the host.
 * Rows may start at any address (Cortex-M3 and up load words unaligned; the portable path reads
 * bytes).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_DOT_H
#define LEVIN_DOT_H

#include <stdint.h>

#include "levin_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The row loops themselves, inlined by kernels whose per-output overhead matters.
 *
 * With the DSP extension and an optimizing GCC-compatible compiler the loop that carries most
 * MACs (one input row against two weight rows) is written in assembly: GCC 12 -Os spilled the
 * offset or the end pointer of the C version (20 instead of 15 instructions per 8 MACs). The
 * C below it computes the same sums; define LEVIN_DOT_NO_ASM to use it (any compiler, flags).
 * The assembly declares no "memory" clobber (with it GCC kept the accumulators in memory
 * around it), so nothing tells the compiler that it reads the rows: C stores to them could move
 * past it. Where a kernel reads with it bytes that C code just wrote (a gathered window, a
 * widened pixel, decoded weights, a previous kernel's output once link-time optimization
 * inlines across calls), LEVIN_STORES_DONE() comes between: a volatile asm with a "memory"
 * clobber, which the volatile assembly after it cannot pass. It emits no instruction. */
#if defined(__GNUC__) && defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 2 && \
    defined(__OPTIMIZE__) && !defined(LEVIN_DOT_NO_ASM)
#define LEVIN_THUMB2_ASM 1 /* Cortex-M3 and up; at -O0 the frame pointer leaves too few registers */
#define LEVIN_STORES_DONE() __asm__ volatile("" ::: "memory")
#else
#define LEVIN_STORES_DONE() ((void)0)
#endif

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#include <arm_acle.h>
#define LEVIN_DOT_DSP 1
#ifdef LEVIN_THUMB2_ASM
#define LEVIN_DOT_ASM 1
#endif

static LEVIN_ALWAYS_INLINE uint32_t levin_load4(const int8_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4u); /* one LDR: unaligned word loads are fine on ARMv7E-M/ARMv8-M */
    return v;
}

/* Bytes 0 and 2 of v sign-extended to halfwords, plus the offset a (SXTAB16); then bytes 1
 * and 3 (the rotate is built into the instruction, which GCC 12 does not form from C). */
static LEVIN_ALWAYS_INLINE uint32_t levin_even_plus(uint32_t a, uint32_t v) {
    return (uint32_t)__sxtab16((int32_t)a, (int32_t)v);
}

static LEVIN_ALWAYS_INLINE uint32_t levin_odd_plus(uint32_t a, uint32_t v) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

static LEVIN_ALWAYS_INLINE uint32_t levin_even(uint32_t v) {
    return (uint32_t)__sxtb16((int32_t)v);
}

static LEVIN_ALWAYS_INLINE uint32_t levin_odd(uint32_t v) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static LEVIN_ALWAYS_INLINE int32_t levin_mac2(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int32_t)a, (int32_t)b, acc);
}

/* The offset in both halfwords, for SXTAB16. */
static LEVIN_ALWAYS_INLINE uint32_t levin_offset2(int32_t off) {
    return ((uint32_t)off & 0xffffu) | ((uint32_t)off << 16);
}
#endif

static LEVIN_ALWAYS_INLINE void levin_row_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                                        int32_t off, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1];
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = levin_offset2(off);
    const int8_t *const end = x + (n & ~3);
    n &= 3;
#ifdef LEVIN_DOT_ASM
    if (x != end) {
        uint32_t u, p, q, e, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[u], [%[x]], #4\n\t"
            "ldr     %[p], [%[w0]], #4\n\t"
            "ldr     %[q], [%[w1]], #4\n\t"
            "sxtab16 %[e], %[o2], %[u]\n\t"
            "sxtab16 %[u], %[o2], %[u], ror #8\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a0], %[e], %[t], %[a0]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a0], %[u], %[p], %[a0]\n\t"
            "sxtb16  %[t], %[q]\n\t"
            "smlad   %[a1], %[e], %[t], %[a1]\n\t"
            "sxtb16  %[q], %[q], ror #8\n\t"
            "smlad   %[a1], %[u], %[q], %[a1]\n\t"
            "cmp     %[x], %[end]\n\t"
            "bne     1b"
            : [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [a0] "+r"(a0), [a1] "+r"(a1), [u] "=&r"(u),
              [p] "=&r"(p), [q] "=&r"(q), [e] "=&r"(e), [t] "=&r"(t)
            : [o2] "r"(o2), [end] "r"(end)
            : "cc");
    }
#else
    while (x != end) {
        const uint32_t u = levin_load4(x), p = levin_load4(w0), q = levin_load4(w1);
        uint32_t e = levin_even_plus(o2, u);
        x += 4;
        w0 += 4;
        w1 += 4;
        a0 = levin_mac2(e, levin_even(p), a0);
        a1 = levin_mac2(e, levin_even(q), a1);
        e = levin_odd_plus(o2, u);
        a0 = levin_mac2(e, levin_odd(p), a0);
        a1 = levin_mac2(e, levin_odd(q), a1);
    }
#endif
#endif
    for (; n > 0; --n) {
        const int32_t xi = (int32_t)*x++ + off;
        a0 += xi * (int32_t)*w0++;
        a1 += xi * (int32_t)*w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
}

static LEVIN_ALWAYS_INLINE void levin_row_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0,
                                        const int8_t *w1, int32_t n, int32_t off, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = levin_offset2(off);
    const int8_t *const end = x0 + (n & ~3);
    n &= 3;
#ifdef LEVIN_DOT_ASM
    /* 12 registers: the weights are loaded twice (even, then odd bytes) and the end pointer
     * read from memory, so that the four accumulators stay in registers: 27 instructions per
     * 16 MACs, where GCC's C spilled to 33. */
    if (x0 != end) {
        uint32_t p, q, e;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[p], [%[w0]]\n\t"
            "ldr     %[q], [%[w1]]\n\t"
            "sxtb16  %[p], %[p]\n\t"
            "sxtb16  %[q], %[q]\n\t"
            "ldr     %[e], [%[x0]]\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "smlad   %[a0], %[e], %[p], %[a0]\n\t"
            "smlad   %[a1], %[e], %[q], %[a1]\n\t"
            "ldr     %[e], [%[x1]]\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "smlad   %[a2], %[e], %[p], %[a2]\n\t"
            "smlad   %[a3], %[e], %[q], %[a3]\n\t"
            "ldr     %[p], [%[w0]], #4\n\t"
            "ldr     %[q], [%[w1]], #4\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "sxtb16  %[q], %[q], ror #8\n\t"
            "ldr     %[e], [%[x0]], #4\n\t"
            "sxtab16 %[e], %[o2], %[e], ror #8\n\t"
            "smlad   %[a0], %[e], %[p], %[a0]\n\t"
            "smlad   %[a1], %[e], %[q], %[a1]\n\t"
            "ldr     %[e], [%[x1]], #4\n\t"
            "sxtab16 %[e], %[o2], %[e], ror #8\n\t"
            "smlad   %[a2], %[e], %[p], %[a2]\n\t"
            "smlad   %[a3], %[e], %[q], %[a3]\n\t"
            "ldr     %[e], %[end]\n\t"
            "cmp     %[x0], %[e]\n\t"
            "bne     1b"
            : [x0] "+r"(x0), [x1] "+r"(x1), [w0] "+r"(w0), [w1] "+r"(w1), [a0] "+r"(a0), [a1] "+r"(a1),
              [a2] "+r"(a2), [a3] "+r"(a3), [p] "=&r"(p), [q] "=&r"(q), [e] "=&r"(e)
            : [o2] "r"(o2), [end] "m"(end)
            : "cc");
    }
#else
    while (x0 != end) {
        /* Even bytes of both weight rows against both inputs, then odd bytes: at most two
         * widened weights and one widened input live at a time. */
        const uint32_t p = levin_load4(w0), q = levin_load4(w1);
        const uint32_t u = levin_load4(x0), v = levin_load4(x1);
        uint32_t pw = levin_even(p), qw = levin_even(q), e = levin_even_plus(o2, u);
        w0 += 4;
        w1 += 4;
        x0 += 4;
        x1 += 4;
        a0 = levin_mac2(e, pw, a0);
        a1 = levin_mac2(e, qw, a1);
        e = levin_even_plus(o2, v);
        a2 = levin_mac2(e, pw, a2);
        a3 = levin_mac2(e, qw, a3);
        pw = levin_odd(p);
        qw = levin_odd(q);
        e = levin_odd_plus(o2, u);
        a0 = levin_mac2(e, pw, a0);
        a1 = levin_mac2(e, qw, a1);
        e = levin_odd_plus(o2, v);
        a2 = levin_mac2(e, pw, a2);
        a3 = levin_mac2(e, qw, a3);
    }
#endif
#endif
    for (; n > 0; --n) {
        const int32_t u = (int32_t)*x0++ + off, v = (int32_t)*x1++ + off;
        const int32_t p = *w0++, q = *w1++;
        a0 += u * p;
        a1 += u * q;
        a2 += v * p;
        a3 += v * q;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}


/* acc[k] += x . w_k for four weight rows, w_k = w + k * n (fully connected rows read in place):
 * each input word, widened once, serves four rows. 26 instructions per 16 MACs in the assembly
 * (13 registers: rows 1 and 2 addressed from row 0 with n as a register offset, the end pointer
 * read from memory), against 30 for two calls of the one-row-against-two loop. */
static LEVIN_ALWAYS_INLINE void levin_row_1x4(const int8_t *x, const int8_t *w, int32_t n, int32_t off,
                                              int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *w3 = w + 3 * n;
    int32_t i, tail = n;
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = levin_offset2(off);
    const int8_t *const end = x + (n & ~3);
    tail = n & 3;
#ifdef LEVIN_DOT_ASM
    if (x != end) {
        uint32_t e, f, p, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[e], [%[x]], #4\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldr     %[p], [%[w], %[n]]\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a1], %[e], %[t], %[a1]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a1], %[f], %[p], %[a1]\n\t"
            "ldr     %[p], [%[w], %[n], lsl #1]\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a2], %[e], %[t], %[a2]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a2], %[f], %[p], %[a2]\n\t"
            "ldr     %[p], [%[w]], #4\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a0], %[e], %[t], %[a0]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a0], %[f], %[p], %[a0]\n\t"
            "ldr     %[p], [%[w3]], #4\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a3], %[e], %[t], %[a3]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a3], %[f], %[p], %[a3]\n\t"
            "ldr     %[t], %[end]\n\t"
            "cmp     %[x], %[t]\n\t"
            "bne     1b"
            : [x] "+r"(x), [w] "+r"(w), [w3] "+r"(w3), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),
              [a3] "+r"(a3), [e] "=&r"(e), [f] "=&r"(f), [p] "=&r"(p), [t] "=&r"(t)
            : [n] "r"(n), [o2] "r"(o2), [end] "m"(end)
            : "cc");
    }
#else
    while (x != end) {
        const uint32_t u = levin_load4(x), e = levin_even_plus(o2, u), f = levin_odd_plus(o2, u);
        uint32_t p = levin_load4(w);
        a0 = levin_mac2(f, levin_odd(p), levin_mac2(e, levin_even(p), a0));
        p = levin_load4(w + n);
        a1 = levin_mac2(f, levin_odd(p), levin_mac2(e, levin_even(p), a1));
        p = levin_load4(w + 2 * n);
        a2 = levin_mac2(f, levin_odd(p), levin_mac2(e, levin_even(p), a2));
        p = levin_load4(w3);
        a3 = levin_mac2(f, levin_odd(p), levin_mac2(e, levin_even(p), a3));
        x += 4;
        w += 4;
        w3 += 4;
    }
#endif
#endif
    for (i = 0; i < tail; ++i) {
        const int32_t xi = (int32_t)x[i] + off;
        a0 += xi * (int32_t)w[i];
        a1 += xi * (int32_t)w[n + i];
        a2 += xi * (int32_t)w[2 * n + i];
        a3 += xi * (int32_t)w3[i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#ifdef LEVIN_DOT_DSP
/* levin_row_1x4 for weight rows of unsigned bytes (packed 8-bit symbols, value = offset + symbol:
 * the caller adds offset * sum(x + off) once per row), UXTB16 in place of SXTB16; n a multiple
 * of 4. */
static LEVIN_ALWAYS_INLINE void levin_row_1x4_u8(const int8_t *x, const uint8_t *w, int32_t n, int32_t off,
                                                 int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const uint8_t *w3 = w + 3 * n;
    const uint32_t o2 = levin_offset2(off);
    const int8_t *const end = x + n;
#ifdef LEVIN_DOT_ASM
    if (x != end) {
        uint32_t e, f, p, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[e], [%[x]], #4\n\t"
            "sxtab16 %[f], %[o2], %[e], ror #8\n\t"
            "sxtab16 %[e], %[o2], %[e]\n\t"
            "ldr     %[p], [%[w], %[n]]\n\t"
            "uxtb16  %[t], %[p]\n\t"
            "smlad   %[a1], %[e], %[t], %[a1]\n\t"
            "uxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a1], %[f], %[p], %[a1]\n\t"
            "ldr     %[p], [%[w], %[n], lsl #1]\n\t"
            "uxtb16  %[t], %[p]\n\t"
            "smlad   %[a2], %[e], %[t], %[a2]\n\t"
            "uxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a2], %[f], %[p], %[a2]\n\t"
            "ldr     %[p], [%[w]], #4\n\t"
            "uxtb16  %[t], %[p]\n\t"
            "smlad   %[a0], %[e], %[t], %[a0]\n\t"
            "uxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a0], %[f], %[p], %[a0]\n\t"
            "ldr     %[p], [%[w3]], #4\n\t"
            "uxtb16  %[t], %[p]\n\t"
            "smlad   %[a3], %[e], %[t], %[a3]\n\t"
            "uxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a3], %[f], %[p], %[a3]\n\t"
            "ldr     %[t], %[end]\n\t"
            "cmp     %[x], %[t]\n\t"
            "bne     1b"
            : [x] "+r"(x), [w] "+r"(w), [w3] "+r"(w3), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),
              [a3] "+r"(a3), [e] "=&r"(e), [f] "=&r"(f), [p] "=&r"(p), [t] "=&r"(t)
            : [n] "r"(n), [o2] "r"(o2), [end] "m"(end)
            : "cc");
    }
#else
    while (x != end) {
        const uint32_t u = levin_load4(x), e = levin_even_plus(o2, u), f = levin_odd_plus(o2, u);
        uint32_t p;
        __builtin_memcpy(&p, w, 4u);
        a0 = levin_mac2(f, __uxtb16(p >> 8), levin_mac2(e, __uxtb16(p), a0));
        __builtin_memcpy(&p, w + n, 4u);
        a1 = levin_mac2(f, __uxtb16(p >> 8), levin_mac2(e, __uxtb16(p), a1));
        __builtin_memcpy(&p, w + 2 * n, 4u);
        a2 = levin_mac2(f, __uxtb16(p >> 8), levin_mac2(e, __uxtb16(p), a2));
        __builtin_memcpy(&p, w3, 4u);
        a3 = levin_mac2(f, __uxtb16(p >> 8), levin_mac2(e, __uxtb16(p), a3));
        x += 4;
        w += 4;
        w3 += 4;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* A window widened once for all output channels: x + off as int16, four taps at a time as
 * two words, taps 0 and 2 then 1 and 3 (the halves SXTB16 and SXTB16 ROR 8 make of a weight
 * word); then the n % 4 last taps one int16 each. Padding taps widen to 0. */
static LEVIN_ALWAYS_INLINE void levin_widen(const int8_t *x, int32_t n, int32_t off, int16_t *xw) {
#ifdef LEVIN_DOT_DSP /* one word in, SXTAB16 twice: the halves are exactly that order */
    const uint32_t o2 = levin_offset2(off);
    for (; n >= 4; n -= 4, x += 4, xw += 4) {
        const uint32_t u = levin_load4(x), e = levin_even_plus(o2, u), f = levin_odd_plus(o2, u);
        __builtin_memcpy(xw, &e, 4u);
        __builtin_memcpy(xw + 2, &f, 4u);
    }
#endif
    for (; n >= 4; n -= 4, x += 4, xw += 4) {
        xw[0] = (int16_t)(x[0] + off);
        xw[1] = (int16_t)(x[2] + off);
        xw[2] = (int16_t)(x[1] + off);
        xw[3] = (int16_t)(x[3] + off);
    }
    for (; n > 0; --n) {
        *xw++ = (int16_t)(*x++ + off);
    }
}

/* acc[k] += xw . w_k for four weight rows w0..w3 of n int8 (xw from levin_widen): each widened
 * input word serves four channels. */
static LEVIN_ALWAYS_INLINE void levin_row_widened_1x4(const int16_t *xw, const int8_t *w0, const int8_t *w1,
                                                      const int8_t *w2, const int8_t *w3, int32_t n,
                                                      int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i;
    const int16_t *const end = xw + (n & ~3);
#ifdef LEVIN_DOT_ASM
    /* 13 registers, the end pointer read from memory: 24 instructions per 16 MACs. */
    if (xw != end) {
        uint32_t e, f, p, t;
        __asm__ volatile(
            "1:\n\t"
            "ldrd    %[e], %[f], [%[xw]], #8\n\t"
            "ldr     %[p], [%[w0]], #4\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a0], %[e], %[t], %[a0]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a0], %[f], %[p], %[a0]\n\t"
            "ldr     %[p], [%[w1]], #4\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a1], %[e], %[t], %[a1]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a1], %[f], %[p], %[a1]\n\t"
            "ldr     %[p], [%[w2]], #4\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a2], %[e], %[t], %[a2]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a2], %[f], %[p], %[a2]\n\t"
            "ldr     %[p], [%[w3]], #4\n\t"
            "sxtb16  %[t], %[p]\n\t"
            "smlad   %[a3], %[e], %[t], %[a3]\n\t"
            "sxtb16  %[p], %[p], ror #8\n\t"
            "smlad   %[a3], %[f], %[p], %[a3]\n\t"
            "ldr     %[t], %[end]\n\t"
            "cmp     %[xw], %[t]\n\t"
            "bne     1b"
            : [xw] "+r"(xw), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [a0] "+r"(a0),
              [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [e] "=&r"(e), [f] "=&r"(f), [p] "=&r"(p), [t] "=&r"(t)
            : [end] "m"(end)
            : "cc");
    }
#else
    for (; xw != end; xw += 4, w0 += 4, w1 += 4, w2 += 4, w3 += 4) {
        for (i = 0; i < 4; ++i) { /* xw holds taps 0, 2, 1, 3 */
            const int32_t t = (i & 1) * 2 + (i >> 1);
            a0 += xw[i] * w0[t];
            a1 += xw[i] * w1[t];
            a2 += xw[i] * w2[t];
            a3 += xw[i] * w3[t];
        }
    }
#endif
    for (i = 0; i < (n & 3); ++i) {
        a0 += xw[i] * w0[i];
        a1 += xw[i] * w1[i];
        a2 += xw[i] * w2[i];
        a3 += xw[i] * w3[i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Two pixels x0, x1 of n inputs (n a multiple of 4) widened as levin_widen does, interleaved
 * four taps at a time: the two words of x0, then the two of x1 (4 * n bytes at xw). */
static LEVIN_ALWAYS_INLINE void levin_widen2(const int8_t *x0, const int8_t *x1, int32_t n, int32_t off,
                                             int16_t *xw) {
    int32_t i;
    for (i = 0; i < n; i += 4, xw += 8) {
        levin_widen(x0 + i, 4, off, xw);
        levin_widen(x1 + i, 4, off, xw + 4);
    }
}

/* Four taps of levin_row_widened_2x2's loop: two widened words of each pixel against one weight
 * word of each row (the loop runs it twice a turn). */
#define LEVIN_ROW_2X2_FOUR_TAPS \
    "ldrd    %[e], %[f], [%[xw]], #16\n\t" \
    "ldrd    %[g], %[h], [%[xw], #-8]\n\t" \
    "ldr     %[p], [%[w0]], #4\n\t" \
    "sxtb16  %[t], %[p]\n\t" \
    "smlad   %[a0], %[e], %[t], %[a0]\n\t" \
    "smlad   %[a2], %[g], %[t], %[a2]\n\t" \
    "sxtb16  %[p], %[p], ror #8\n\t" \
    "smlad   %[a0], %[f], %[p], %[a0]\n\t" \
    "smlad   %[a2], %[h], %[p], %[a2]\n\t" \
    "ldr     %[p], [%[w1]], #4\n\t" \
    "sxtb16  %[t], %[p]\n\t" \
    "smlad   %[a1], %[e], %[t], %[a1]\n\t" \
    "smlad   %[a3], %[g], %[t], %[a3]\n\t" \
    "sxtb16  %[p], %[p], ror #8\n\t" \
    "smlad   %[a1], %[f], %[p], %[a1]\n\t" \
    "smlad   %[a3], %[h], %[p], %[a3]\n\t"

/* acc0[k] += x0 . w_k and acc1[k] += x1 . w_k for two pixels widened by levin_widen2 and two
 * weight rows w0, w1 of n int8 (n a multiple of 4): each weight word, widened once, serves both
 * pixels and each widened input word both rows. */
static LEVIN_ALWAYS_INLINE void levin_row_widened_2x2(const int16_t *xw, const int8_t *w0, const int8_t *w1,
                                                      int32_t n, int32_t *acc0, int32_t *acc1) {
    int32_t a0 = acc0[0], a1 = acc0[1], a2 = acc1[0], a3 = acc1[1];
    const int16_t *const end = xw + 2 * n;
#ifdef LEVIN_DOT_ASM
    /* 13 registers, the end pointer read from memory; eight taps a turn (an odd four first, by
     * entering at the second half): 35 instructions per 32 MACs. */
    if (xw != end) {
        const int32_t odd = n & 4;
        uint32_t e, f, g, h, p, t;
        __asm__ volatile(
            "ldr     %[t], %[odd]\n\t"
            "cmp     %[t], #0\n\t"
            "bne     2f\n\t"
            "1:\n\t" LEVIN_ROW_2X2_FOUR_TAPS
            "2:\n\t" LEVIN_ROW_2X2_FOUR_TAPS
            "ldr     %[t], %[end]\n\t"
            "cmp     %[xw], %[t]\n\t"
            "bne     1b"
            : [xw] "+r"(xw), [w0] "+r"(w0), [w1] "+r"(w1), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),
              [a3] "+r"(a3), [e] "=&r"(e), [f] "=&r"(f), [g] "=&r"(g), [h] "=&r"(h), [p] "=&r"(p), [t] "=&r"(t)
            : [end] "m"(end), [odd] "m"(odd)
            : "cc");
    }
#else
    int32_t i;
    for (; xw != end; xw += 8, w0 += 4, w1 += 4) {
        for (i = 0; i < 4; ++i) { /* each pixel's four hold taps 0, 2, 1, 3 */
            const int32_t t = (i & 1) * 2 + (i >> 1);
            a0 += xw[i] * w0[t];
            a1 += xw[i] * w1[t];
            a2 += xw[4 + i] * w0[t];
            a3 += xw[4 + i] * w1[t];
        }
    }
#endif
    acc0[0] = a0;
    acc0[1] = a1;
    acc1[0] = a2;
    acc1[1] = a3;
}

#ifdef LEVIN_DOT_DSP
/* acc[k] += x . w_k for four rows of n int8 inputs x (n a multiple of 4, the zero point folded out
 * by the caller) against four weight rows already widened to int16 by levin_widen (off 0): the
 * coded kernels decode a few output channels once per inference and widen them, so that the
 * loop over pixels loads weights ready for SMLAD (LDRD: two pairs), 15 instructions per 16 MACs
 * plus the loop's three, where weights read from flash need their own SXTB16s. */
static LEVIN_ALWAYS_INLINE void levin_row_1x4_wide(const int8_t *x, const int16_t *w0, const int16_t *w1,
                                                   const int16_t *w2, const int16_t *w3, int32_t n,
                                                   int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *const end = x + n;
#ifdef LEVIN_DOT_ASM
    if (x != end) {
        uint32_t e, f, p, q;
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[e], [%[x]], #4\n\t"
            "sxtb16  %[f], %[e], ror #8\n\t"
            "sxtb16  %[e], %[e]\n\t"
            "ldrd    %[p], %[q], [%[w0]], #8\n\t"
            "smlad   %[a0], %[e], %[p], %[a0]\n\t"
            "smlad   %[a0], %[f], %[q], %[a0]\n\t"
            "ldrd    %[p], %[q], [%[w1]], #8\n\t"
            "smlad   %[a1], %[e], %[p], %[a1]\n\t"
            "smlad   %[a1], %[f], %[q], %[a1]\n\t"
            "ldrd    %[p], %[q], [%[w2]], #8\n\t"
            "smlad   %[a2], %[e], %[p], %[a2]\n\t"
            "smlad   %[a2], %[f], %[q], %[a2]\n\t"
            "ldrd    %[p], %[q], [%[w3]], #8\n\t"
            "smlad   %[a3], %[e], %[p], %[a3]\n\t"
            "smlad   %[a3], %[f], %[q], %[a3]\n\t"
            "ldr     %[p], %[end]\n\t"
            "cmp     %[x], %[p]\n\t"
            "bne     1b"
            : [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [a0] "+r"(a0),
              [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [e] "=&r"(e), [f] "=&r"(f), [p] "=&r"(p), [q] "=&r"(q)
            : [end] "m"(end)
            : "cc");
    }
#else
    for (; x != end; x += 4, w0 += 4, w1 += 4, w2 += 4, w3 += 4) {
        const uint32_t u = levin_load4(x), e = levin_even(u), f = levin_odd(u);
        uint32_t p, q;
        __builtin_memcpy(&p, w0, 4u);
        __builtin_memcpy(&q, w0 + 2, 4u);
        a0 = levin_mac2(f, q, levin_mac2(e, p, a0));
        __builtin_memcpy(&p, w1, 4u);
        __builtin_memcpy(&q, w1 + 2, 4u);
        a1 = levin_mac2(f, q, levin_mac2(e, p, a1));
        __builtin_memcpy(&p, w2, 4u);
        __builtin_memcpy(&q, w2 + 2, 4u);
        a2 = levin_mac2(f, q, levin_mac2(e, p, a2));
        __builtin_memcpy(&p, w3, 4u);
        __builtin_memcpy(&q, w3 + 2, 4u);
        a3 = levin_mac2(f, q, levin_mac2(e, p, a3));
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* acc[0] += x . w0, acc[1] += x . w1 (one input row, two weight rows). */
void levin_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t off,
                   int32_t *acc);

/* A window of `rows` rows of `len` bytes: input rows x_step bytes apart, weight rows w_step. */
typedef struct {
    int32_t rows, len, x_step, w_step, off;
} levin_dot_window;

/* levin_row_1x2 / levin_row_2x2 summed over the rows of a window. */
void levin_dot_rows_1x2(const levin_dot_window *g, const int8_t *x, const int8_t *w0, const int8_t *w1,
                        int32_t *acc);
void levin_dot_rows_2x2(const levin_dot_window *g, const int8_t *x0, const int8_t *x1, const int8_t *w0,
                        const int8_t *w1, int32_t *acc);

/* acc + x . w (one row against one row: an odd last channel, a decoded weight channel). */
int32_t levin_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t off, int32_t acc);

#ifdef __cplusplus
}
#endif

#endif /* LEVIN_DOT_H */
