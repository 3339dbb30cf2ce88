/* levin_dot.c -- the inner products of levin_dot.h.
 *
 * Out of line on purpose: each loop gets the register file to itself (inlined into a kernel
 * with its own live values, GCC -Os spilled accumulators to the stack on every iteration).
 */
#include "levin_dot.h"

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#include <arm_acle.h>

static LEVIN_ALWAYS_INLINE uint32_t load4(const int8_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4u); /* one LDR: unaligned word loads are fine on ARMv7E-M/ARMv8-M */
    return v;
}

/* Bytes 0 and 2 of v sign-extended to halfwords, plus the offset a (SXTAB16); then bytes 1
 * and 3 (the rotate is built into the instruction, which GCC 12 does not form from C). */
static LEVIN_ALWAYS_INLINE uint32_t even_plus(uint32_t a, uint32_t v) {
    return (uint32_t)__sxtab16((int32_t)a, (int32_t)v);
}

static LEVIN_ALWAYS_INLINE uint32_t odd_plus(uint32_t a, uint32_t v) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

static LEVIN_ALWAYS_INLINE uint32_t even(uint32_t v) {
    return (uint32_t)__sxtb16((int32_t)v);
}

static LEVIN_ALWAYS_INLINE uint32_t odd(uint32_t v) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static LEVIN_ALWAYS_INLINE int32_t mac2(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int32_t)a, (int32_t)b, acc);
}

/* The offset in both halfwords, for SXTAB16. */
static LEVIN_ALWAYS_INLINE uint32_t offset2(int32_t off) {
    return ((uint32_t)off & 0xffffu) | ((uint32_t)off << 16);
}
#define LEVIN_DOT_DSP 1
#endif

void levin_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t off,
                   int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1];
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = offset2(off);
    const int8_t *const end = x + (n & ~3);
    n &= 3;
    while (x != end) {
        const uint32_t u = load4(x), p = load4(w0), q = load4(w1);
        uint32_t e = even_plus(o2, u);
        x += 4;
        w0 += 4;
        w1 += 4;
        a0 = mac2(e, even(p), a0);
        a1 = mac2(e, even(q), a1);
        e = odd_plus(o2, u);
        a0 = mac2(e, odd(p), a0);
        a1 = mac2(e, odd(q), a1);
    }
#endif
    for (; n > 0; --n) {
        const int32_t xi = (int32_t)*x++ + off;
        a0 += xi * (int32_t)*w0++;
        a1 += xi * (int32_t)*w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
}

void levin_dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                   int32_t off, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = offset2(off);
    const int8_t *const end = x0 + (n & ~3);
    n &= 3;
    while (x0 != end) {
        /* Even bytes of both weight rows against both inputs, then odd bytes: at most two
         * widened weights and one widened input live at a time. */
        const uint32_t p = load4(w0), q = load4(w1);
        const uint32_t u = load4(x0), v = load4(x1);
        uint32_t pw = even(p), qw = even(q), e = even_plus(o2, u);
        w0 += 4;
        w1 += 4;
        x0 += 4;
        x1 += 4;
        a0 = mac2(e, pw, a0);
        a1 = mac2(e, qw, a1);
        e = even_plus(o2, v);
        a2 = mac2(e, pw, a2);
        a3 = mac2(e, qw, a3);
        pw = odd(p);
        qw = odd(q);
        e = odd_plus(o2, u);
        a0 = mac2(e, pw, a0);
        a1 = mac2(e, qw, a1);
        e = odd_plus(o2, v);
        a2 = mac2(e, pw, a2);
        a3 = mac2(e, qw, a3);
    }
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

int32_t levin_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t off, int32_t acc) {
#ifdef LEVIN_DOT_DSP
    const uint32_t o2 = offset2(off);
    const int8_t *const end = x + (n & ~3);
    n &= 3;
    while (x != end) {
        const uint32_t u = load4(x), p = load4(w);
        x += 4;
        w += 4;
        acc = mac2(even_plus(o2, u), even(p), acc);
        acc = mac2(odd_plus(o2, u), odd(p), acc);
    }
#endif
    for (; n > 0; --n) {
        acc += ((int32_t)*x++ + off) * (int32_t)*w++;
    }
    return acc;
}
