/* levin_conv_window.h -- what the conv and fully connected kernels share (internal, not API):
 * requantization of an accumulator to an output code, and a pixel's window clipped to the input.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_CONV_WINDOW_H
#define LEVIN_CONV_WINDOW_H

#include "levin_config.h"
#include "levin_dot.h"
#include "levin_kernels.h"

/* LEVIN_PATH_TAKEN(PATH): a hook where each path starts, for the tests that check the code
 * generator's account of the paths a model runs; nothing by default. */
#ifndef LEVIN_PATH_TAKEN
#define LEVIN_PATH_TAKEN(path) ((void)0)
#endif

/* The kernel paths a build keeps (levin_config.h LEVIN_NO_<PATH>), as constants the dispatch
 * tests first: a path switched off is dead code, and its functions are left out of the image. */
#ifdef LEVIN_NO_DEPTHWISE
#define LEVIN_DEPTHWISE 0
#else
#define LEVIN_DEPTHWISE 1
#endif
#ifdef LEVIN_NO_TAPS
#define LEVIN_TAPS 0
#else
#define LEVIN_TAPS 1
#endif
#ifdef LEVIN_NO_IM2COL
#define LEVIN_IM2COL 0
#else
#define LEVIN_IM2COL 1
#endif
#ifdef LEVIN_NO_WIDENED
#define LEVIN_WIDENED 0
#else
#define LEVIN_WIDENED 1
#endif
#ifdef LEVIN_NO_WIDENED_PAIRS
#define LEVIN_WIDENED_PAIRS 0
#else
#define LEVIN_WIDENED_PAIRS 1
#endif
#ifdef LEVIN_NO_WIDE_WEIGHTS
#define LEVIN_WIDE_WEIGHTS 0
#else
#define LEVIN_WIDE_WEIGHTS 1
#endif
#ifdef LEVIN_NO_LINEAR_PACKED8
#define LEVIN_LINEAR_PACKED8 0
#else
#define LEVIN_LINEAR_PACKED8 1
#endif
#ifdef LEVIN_NO_LINEAR_BOOK8
#define LEVIN_LINEAR_BOOK8 0
#else
#define LEVIN_LINEAR_BOOK8 1
#endif
#ifdef LEVIN_NO_SPARSE
#define LEVIN_SPARSE 0
#else
#define LEVIN_SPARSE 1
#endif
#ifdef LEVIN_NO_CODED_CONV
#define LEVIN_CODED_CONV 0
#else
#define LEVIN_CODED_CONV 1
#endif
/* LEVIN_NO_PACKED8_CHECK: the code generator found every symbol of every packed 8-bit fully
 * connected tensor (no codebook) within int8 (offset + symbol <= 127): linear_packed8 leaves out
 * its pass over the bytes that checks it (levin_linear.c). */
#ifdef LEVIN_NO_PACKED8_CHECK
#define LEVIN_PACKED8_CHECK 0
#else
#define LEVIN_PACKED8_CHECK 1
#endif
/* LEVIN_NO_REQUANT_WIDE: the code generator found every accumulator of every conv and fully
 * connected layer, times 2^shift where shift > 0, below 2^30 in magnitude (|bias| + 255 * sum
 * |w| per output channel): the output stage then doubles it and takes the rounded high word
 * with SMMULR, (2 acc m + 2^31) >> 32 = (acc m + 2^30) >> 31, 2 instructions where the 64-bit
 * sum takes 5 (DSP cores; the others keep the 64-bit sum). */
#ifdef LEVIN_NO_REQUANT_WIDE
#define LEVIN_REQUANT_WIDE 0
#else
#define LEVIN_REQUANT_WIDE 1
#endif
/* LEVIN_NO_LEFT_SHIFT: every conv and fully connected requantization shift is -1 or lower (a
 * right shift of at least one bit; the generator gives a zero multiplier's channel shift -1,
 * which changes none of its codes): the output stage then has no conditional left shift, and
 * the last bit of the rounding right shift goes into the final shift with the zero point,
 * ((y >> (right - 1)) + 2 zp + 1) >> 1 = (y >> right) + bit right-1 of y + zp: 7 instructions
 * to a saturated code where the general stage takes 12 (Thumb-2 cores; the portable C is the
 * same either way). Only correct within that bound. */
#ifdef LEVIN_NO_LEFT_SHIFT
#define LEVIN_LEFT_SHIFT 0
#else
#define LEVIN_LEFT_SHIFT 1
#endif
/* Without the DSP extension the 8-bit packed fully connected formats run on the general coded
 * kernel: it stays while they do. */
#if defined(LEVIN_NO_CODED_LINEAR) && \
    (defined(LEVIN_DOT_DSP) || (defined(LEVIN_NO_LINEAR_PACKED8) && defined(LEVIN_NO_LINEAR_BOOK8)))
#define LEVIN_CODED_LINEAR 0
#else
#define LEVIN_CODED_LINEAR 1
#endif

/* A conv's weights (read in place), requantization and output, as one argument. */
typedef struct {
    const levin_conv_params *p;
    const int8_t *weights; /* [O, KH, KW, I / groups] */
    const int32_t *bias, *multiplier, *shift;
    int32_t per;           /* weights per output channel */
} conv_job;

#ifdef LEVIN_DOT_DSP
/* Output channels o..o+3 of a 1x1 conv over weights read in place (groups 1, no padding, in_c a
 * multiple of 4) whose output does not stream over its input (p->scratch_use
 * LEVIN_SCRATCH_WIDE_WEIGHTS, the planner's choice): their rows widened to int16 into wide
 * (8 * in_c bytes, 8-aligned), then every pixel against them (levin_conv_coded.c). */
void levin_conv1x1_wide4(const conv_job *j, const int8_t *in, int8_t *out, int16_t *wide, int32_t o);
#endif

static inline uint32_t levin_per_channel(const levin_weights *w) {
    return w->channels != 0u ? w->size / w->channels : 0u; /* 0: refused by levin_weights_check */
}

static inline int levin_is_sparse(const levin_weights *w) {
    return w->pos_method != LEVIN_POS_DENSE;
}

/* LEVIN_PATH_TAKEN(REQUANT_WIDE) where |acc| * 2^max(shift, 0) reaches 2^30 (for the tests of
 * the generator's bound; with the default hook, no code). */
static LEVIN_ALWAYS_INLINE void requant_range(int32_t acc, int32_t shift) {
    const int32_t lim = shift >= 30 ? 1 : (int32_t)1 << (30 - (shift > 0 ? shift : 0));
    if (acc >= lim || acc <= -lim) {
        LEVIN_PATH_TAKEN(REQUANT_WIDE);
    }
    if (shift >= 0) {
        LEVIN_PATH_TAKEN(LEFT_SHIFT);
    }
}

/* The end of the output stages without left shifts (LEVIN_NO_LEFT_SHIFT), from
 * x = (a * m + 2^30) >> 31 in %[a] and k = right - 1 >= 0: y = x - (x < 0), then
 * (y >> k) + 2 zp + 1 in %[a], whose arithmetic shift right by one is the rounded code plus the
 * zero point (%[zp2] = 2 zp + 1). */
#define LEVIN_REQUANT_RIGHT \
    "add     %[a], %[a], %[a], asr #31\n\t" \
    "asrs    %[a], %[a], %[k]\n\t" \
    "adds    %[a], %[a], %[zp2]\n\t"

/* %[a] clamped to [%[min], %[max]]. */
#define LEVIN_CLAMP_ASM \
    "cmp     %[a], %[min]\n\t" \
    "it      lt\n\t" \
    "movlt   %[a], %[min]\n\t" \
    "cmp     %[a], %[max]\n\t" \
    "it      gt\n\t" \
    "movgt   %[a], %[max]"

/* output_code's end without left shifts: LEVIN_REQUANT_RIGHT, the shift by one, the clamp. */
#define LEVIN_REQUANT_RIGHT_CODE \
    LEVIN_REQUANT_RIGHT \
    "asrs    %[a], %[a], #1\n\t" \
    LEVIN_CLAMP_ASM

/* The end of both output stages below, from x = (a * m + 2^30) >> 31 in %[a] (flags N from
 * "mvns k, shift": N clear when the right shift >= 1): rounding right shift, zero point, clamp. */
#define LEVIN_REQUANT_TAIL \
    "itttt   pl\n\t"                        /* right >= 1: */ \
    "addpl   %[a], %[a], %[a], asr #31\n\t" /* y = x - (x < 0) */ \
    "asrpl   %[a], %[a], %[k]\n\t" \
    "andpl   %[lo], %[a], #1\n\t" \
    "addpl   %[a], %[lo], %[a], asr #1\n\t" /* (y >> right) + bit right-1 of y */ \
    "add     %[a], %[a], %[zp]\n\t" \
    LEVIN_CLAMP_ASM

/* levin_requantize(acc, multiplier, shift) + out_zp, clamped to [act_min, act_max]. On Thumb-2
 * (Cortex-M3 and up) in 20 instructions without a branch: the left shift (shift > 0) and the
 * rounding right shift (shift < 0) are conditional on the sign of shift, so the register
 * allocator sees one straight block, where GCC's C took two paths and spilled around them in the
 * kernels' per-output code. The same arithmetic as levin_requantize, step for step. */
static LEVIN_ALWAYS_INLINE int8_t output_code(int32_t acc, int32_t multiplier, int32_t shift,
                                              int32_t out_zp, int32_t act_min, int32_t act_max) {
    requant_range(acc, shift);
#ifdef LEVIN_THUMB2_ASM
    int32_t k, lo, hi;
#if !LEVIN_LEFT_SHIFT
    const int32_t zp2 = 2 * out_zp + 1;
#if !LEVIN_REQUANT_WIDE && defined(LEVIN_DOT_DSP)
    __asm__("mvns    %[k], %[s]\n\t"
            "lsls    %[a], %[a], #1\n\t"
            "smmulr  %[a], %[a], %[m]\n\t"
            LEVIN_REQUANT_RIGHT_CODE
            : [a] "+&r"(acc), [k] "=&r"(k)
            : [m] "r"(multiplier), [s] "r"(shift), [zp2] "r"(zp2), [min] "r"(act_min), [max] "r"(act_max)
            : "cc");
    (void)lo;
    (void)hi;
    return (int8_t)acc;
#endif
    __asm__("mvns    %[k], %[s]\n\t"
            "mov     %[lo], #0x40000000\n\t"
            "movs    %[hi], #0\n\t"
            "smlal   %[lo], %[hi], %[a], %[m]\n\t"
            "lsls    %[hi], %[hi], #1\n\t"
            "orr     %[a], %[hi], %[lo], lsr #31\n\t"
            LEVIN_REQUANT_RIGHT_CODE
            : [a] "+&r"(acc), [k] "=&r"(k), [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [m] "r"(multiplier), [s] "r"(shift), [zp2] "r"(zp2), [min] "r"(act_min), [max] "r"(act_max)
            : "cc");
    return (int8_t)acc;
#endif
#if !LEVIN_REQUANT_WIDE && defined(LEVIN_DOT_DSP) /* SMMULR: ARMv7E-M */
    __asm__("mvns    %[k], %[s]\n\t"
            "it      mi\n\t"
            "lslmi   %[a], %[a], %[s]\n\t"
            "lsl     %[a], %[a], #1\n\t"
            "smmulr  %[a], %[a], %[m]\n\t"              /* (acc * m + 2^30) >> 31 */
            LEVIN_REQUANT_TAIL
            : [a] "+&r"(acc), [k] "=&r"(k), [lo] "=&r"(lo)
            : [m] "r"(multiplier), [s] "r"(shift), [zp] "r"(out_zp), [min] "r"(act_min), [max] "r"(act_max)
            : "cc");
    (void)hi;
    return (int8_t)acc;
#endif
    __asm__("mvns    %[k], %[s]\n\t"                  /* k = -shift - 1: right - 1; N: shift >= 0 */
            "it      mi\n\t"
            "lslmi   %[a], %[a], %[s]\n\t"            /* the left shift, wrapping */
            "mov     %[lo], #0x40000000\n\t"
            "mov     %[hi], #0\n\t"
            "smlal   %[lo], %[hi], %[a], %[m]\n\t"    /* a * m + 2^30 */
            "lsl     %[hi], %[hi], #1\n\t"
            "orr     %[a], %[hi], %[lo], lsr #31\n\t" /* x = (a * m + 2^30) >> 31 */
            LEVIN_REQUANT_TAIL
            : [a] "+&r"(acc), [k] "=&r"(k), [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [m] "r"(multiplier), [s] "r"(shift), [zp] "r"(out_zp), [min] "r"(act_min), [max] "r"(act_max)
            : "cc");
    return (int8_t)acc;
#else
    return (int8_t)levin_clamp(levin_requantize(acc, multiplier, shift) + out_zp, act_min, act_max);
#endif
}

#ifdef LEVIN_DOT_ASM
/* Four consecutive output codes at once (DSP extension): each accumulator requantized, plus the
 * zero point, saturated to int8 (SSAT), the four packed in a word and clamped to
 * [act_min, act_max] with SSUB8 / SEL byte by byte, then one word store: 17 instructions an
 * output where output_code and a byte store take 21. The same codes as output_code (act_min and
 * act_max lie in -128..127, so saturating first changes nothing). */
static LEVIN_ALWAYS_INLINE int32_t requantize_sat8(int32_t acc, int32_t multiplier, int32_t shift,
                                                   int32_t out_zp) {
    int32_t k, lo, hi;
    requant_range(acc, shift);
#if !LEVIN_LEFT_SHIFT /* out_zp is levin_out4's 2 zp + 1 */
#if !LEVIN_REQUANT_WIDE
    __asm__("mvns    %[k], %[s]\n\t"
            "lsls    %[a], %[a], #1\n\t"
            "smmulr  %[a], %[a], %[m]\n\t"
            LEVIN_REQUANT_RIGHT
            "ssat    %[a], #8, %[a], asr #1"
            : [a] "+&r"(acc), [k] "=&r"(k)
            : [m] "r"(multiplier), [s] "r"(shift), [zp2] "r"(out_zp)
            : "cc");
    (void)lo;
    (void)hi;
    return acc;
#endif
    __asm__("mvns    %[k], %[s]\n\t"
            "mov     %[lo], #0x40000000\n\t"
            "movs    %[hi], #0\n\t"
            "smlal   %[lo], %[hi], %[a], %[m]\n\t"
            "lsls    %[hi], %[hi], #1\n\t"
            "orr     %[a], %[hi], %[lo], lsr #31\n\t"
            LEVIN_REQUANT_RIGHT
            "ssat    %[a], #8, %[a], asr #1"
            : [a] "+&r"(acc), [k] "=&r"(k), [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [m] "r"(multiplier), [s] "r"(shift), [zp2] "r"(out_zp)
            : "cc");
    return acc;
#endif
#if !LEVIN_REQUANT_WIDE
    __asm__("mvns    %[k], %[s]\n\t"
            "it      mi\n\t"
            "lslmi   %[a], %[a], %[s]\n\t"
            "lsl     %[a], %[a], #1\n\t"
            "smmulr  %[a], %[a], %[m]\n\t"
            "itttt   pl\n\t"
            "addpl   %[a], %[a], %[a], asr #31\n\t"
            "asrpl   %[a], %[a], %[k]\n\t"
            "andpl   %[lo], %[a], #1\n\t"
            "addpl   %[a], %[lo], %[a], asr #1\n\t"
            "add     %[a], %[a], %[zp]\n\t"
            "ssat    %[a], #8, %[a]"
            : [a] "+&r"(acc), [k] "=&r"(k), [lo] "=&r"(lo)
            : [m] "r"(multiplier), [s] "r"(shift), [zp] "r"(out_zp)
            : "cc");
    (void)hi;
    return acc;
#endif
    __asm__("mvns    %[k], %[s]\n\t"
            "it      mi\n\t"
            "lslmi   %[a], %[a], %[s]\n\t"
            "mov     %[lo], #0x40000000\n\t"
            "mov     %[hi], #0\n\t"
            "smlal   %[lo], %[hi], %[a], %[m]\n\t"
            "lsl     %[hi], %[hi], #1\n\t"
            "orr     %[a], %[hi], %[lo], lsr #31\n\t"
            "itttt   pl\n\t"
            "addpl   %[a], %[a], %[a], asr #31\n\t"
            "asrpl   %[a], %[a], %[k]\n\t"
            "andpl   %[lo], %[a], #1\n\t"
            "addpl   %[a], %[lo], %[a], asr #1\n\t"
            "add     %[a], %[a], %[zp]\n\t"
            "ssat    %[a], #8, %[a]"
            : [a] "+&r"(acc), [k] "=&r"(k), [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [m] "r"(multiplier), [s] "r"(shift), [zp] "r"(out_zp)
            : "cc");
    return acc;
}

/* The zero point and the clamp of output_codes4, set once per kernel call. */
typedef struct {
    int32_t zp;        /* the output zero point; 2 zp + 1 without left shifts (requantize_sat8) */
    uint32_t lo4, hi4; /* act_min, act_max in every byte */
} levin_out4;

static LEVIN_ALWAYS_INLINE levin_out4 levin_out4_make(int32_t out_zp, int32_t act_min, int32_t act_max) {
    levin_out4 q;
    q.zp = LEVIN_LEFT_SHIFT ? out_zp : 2 * out_zp + 1;
    q.lo4 = 0x01010101u * (uint8_t)act_min;
    q.hi4 = 0x01010101u * (uint8_t)act_max;
    return q;
}

static LEVIN_ALWAYS_INLINE void output_codes4_inline(const int32_t *acc, const int32_t *multiplier,
                                                     const int32_t *shift, int8_t *y, const levin_out4 *q) {
    const int32_t out_zp = q->zp;
    const uint32_t lo4 = q->lo4, hi4 = q->hi4;
    uint32_t v = (uint32_t)requantize_sat8(acc[0], multiplier[0], shift[0], out_zp), t;
    const uint32_t v1 = (uint32_t)requantize_sat8(acc[1], multiplier[1], shift[1], out_zp);
    const uint32_t v2 = (uint32_t)requantize_sat8(acc[2], multiplier[2], shift[2], out_zp);
    const uint32_t v3 = (uint32_t)requantize_sat8(acc[3], multiplier[3], shift[3], out_zp);
    __asm__("bfi     %[v], %[v1], #8, #8\n\t"
            "bfi     %[v], %[v2], #16, #8\n\t"
            "bfi     %[v], %[v3], #24, #8\n\t"
            "ssub8   %[t], %[v], %[lo4]\n\t"
            "sel     %[v], %[v], %[lo4]\n\t"
            "ssub8   %[t], %[hi4], %[v]\n\t"
            "sel     %[v], %[v], %[hi4]"
            : [v] "+&r"(v), [t] "=&r"(t)
            : [v1] "r"(v1), [v2] "r"(v2), [v3] "r"(v3), [lo4] "r"(lo4), [hi4] "r"(hi4)
            : "cc");
    __builtin_memcpy(y, &v, 4u);
}

/* Inlined where speed is asked for; at -Os one shared copy (levin_dot.c), about 250 bytes less
 * per kernel that uses it, for a call per four outputs. */
void levin_output_codes4(const int32_t *acc, const int32_t *multiplier, const int32_t *shift, int8_t *y,
                         const levin_out4 *q);
#ifdef __OPTIMIZE_SIZE__
#define output_codes4 levin_output_codes4
#else
#define output_codes4 output_codes4_inline
#endif
#else
/* Without the assembly: the same four codes, one output_code each. */
typedef struct {
    int32_t zp, lo, hi;
} levin_out4;

static LEVIN_ALWAYS_INLINE levin_out4 levin_out4_make(int32_t out_zp, int32_t act_min, int32_t act_max) {
    levin_out4 q;
    q.zp = out_zp;
    q.lo = act_min;
    q.hi = act_max;
    return q;
}

static LEVIN_ALWAYS_INLINE void output_codes4(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                              int8_t *y, const levin_out4 *q) {
    y[0] = output_code(acc[0], multiplier[0], shift[0], q->zp, q->lo, q->hi);
    y[1] = output_code(acc[1], multiplier[1], shift[1], q->zp, q->lo, q->hi);
    y[2] = output_code(acc[2], multiplier[2], shift[2], q->zp, q->lo, q->hi);
    y[3] = output_code(acc[3], multiplier[3], shift[3], q->zp, q->lo, q->hi);
}
#endif

/* The taps [*lo, *hi) of 0..k-1 whose input index i0 + tap * dil falls in 0..size-1. */
static inline void taps_inside(int32_t i0, int32_t size, int32_t k, int32_t dil, int32_t *lo, int32_t *hi) {
    const int32_t first = i0 < 0 ? (dil - 1 - i0) / dil : 0;
    const int32_t end = size > i0 ? (size - i0 + dil - 1) / dil : 0;
    *lo = first < k ? first : k;
    *hi = end < k ? (end > *lo ? end : *lo) : k;
}

/* One output pixel's window: taps [ky0, ky1) x [kx0, kx1) inside the input. */
typedef struct {
    int32_t iy0, ix0, ky0, ky1, kx0, kx1;
} window;

static inline window window_at(const levin_conv_params *p, int32_t oy, int32_t ox) {
    window v;
    v.iy0 = oy * p->stride_h - p->pad_top;
    v.ix0 = ox * p->stride_w - p->pad_left;
    taps_inside(v.iy0, p->in_h, p->kernel_h, p->dilation_h, &v.ky0, &v.ky1);
    taps_inside(v.ix0, p->in_w, p->kernel_w, p->dilation_w, &v.kx0, &v.kx1);
    return v;
}

/* Sum over a pixel's window of (x - zp) * w for one output channel whose group starts at input
 * channel cin0 (weights wch: [KH, KW, cg]). */
static inline int32_t window_dot(const levin_conv_params *p, const int8_t *in, const int8_t *wch,
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

/* Conv2d over weights that are not read in place (decoded per channel, dense or sparse):
 * levin_conv_coded.c. The caller began the reader and checked its descriptor against p. */
levin_status levin_conv2d_coded(const levin_conv_params *p, const int8_t *in, levin_weights_reader *r,
                                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                int8_t *out, uint8_t *scratch);

#endif /* LEVIN_CONV_WINDOW_H */
