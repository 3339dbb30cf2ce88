/* levin_rans.c -- see levin_rans.h. Integer-only C99; every loop is bounded by a count. 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_rans.h"

static const char *const status_names[] = {
    [LEVIN_RANS_OK] = "ok",
    [LEVIN_RANS_ERR_ARG] = "bad argument",
    [LEVIN_RANS_ERR_TRUNCATED] = "payload truncated",
    [LEVIN_RANS_ERR_STATE] = "initial state out of range",
    [LEVIN_RANS_ERR_FINAL] = "final states or payload end wrong",
    [LEVIN_RANS_ERR_SYMBOL] = "symbol outside the model",
    [LEVIN_RANS_ERR_SPACE] = "output buffer too small",
    [LEVIN_RANS_ERR_COUNT] = "more symbols requested than left",
};

const char *levin_rans_status_str(levin_rans_status status)
{
    if ((unsigned)status >= sizeof status_names / sizeof status_names[0]) {
        return "unknown status";
    }
    return status_names[status];
}

static int model_ok(const levin_rans_model *m)
{
    return m != NULL && m->cum != NULL && m->alphabet_size >= 1u &&
           m->alphabet_size <= 65536u && m->precision_bits >= 8u && m->precision_bits <= 15u;
}

levin_rans_status levin_rans_decoder_init(levin_rans_decoder *dec, const uint8_t *data,
                                          uint32_t len, uint32_t count, uint32_t n_states)
{
    uint32_t j;
    if (dec == NULL || (data == NULL && len != 0u) || n_states < 1u ||
        n_states > LEVIN_RANS_MAX_STATES) {
        return LEVIN_RANS_ERR_ARG;
    }
    dec->data = data;
    dec->end = len;
    dec->count = count;
    dec->done = 0u;
    dec->n_states = count < n_states ? count : n_states;
    if (len / 4u < dec->n_states) {
        dec->pos = 0u;
        return LEVIN_RANS_ERR_TRUNCATED;
    }
    for (j = 0u; j < dec->n_states; ++j) {
        const uint8_t *p = data + 4u * j;
        uint32_t x = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24);
        if (x < LEVIN_RANS_L || x >= (LEVIN_RANS_L << 8)) {
            dec->pos = 4u * j;
            return LEVIN_RANS_ERR_STATE;
        }
        dec->state[j] = x;
    }
    dec->pos = 4u * dec->n_states;
    return LEVIN_RANS_OK;
}

/* The symbol s with cum[s] <= slot < cum[s + 1] (symbols of frequency 0 are skipped). */
static uint32_t search(const uint16_t *cum, uint32_t k, uint32_t slot)
{
    uint32_t lo = 0u, hi = k; /* invariant: cum[lo] <= slot < cum[hi] */
    while (hi - lo > 1u) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (cum[mid] <= slot) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Checks shared by the two decode entry points. */
static levin_rans_status decode_check(const levin_rans_decoder *dec, const levin_rans_model *model,
                                      const void *out, uint32_t count)
{
    if (dec == NULL || !model_ok(model) || (out == NULL && count != 0u)) {
        return LEVIN_RANS_ERR_ARG;
    }
    return count > dec->count - dec->done ? LEVIN_RANS_ERR_COUNT : LEVIN_RANS_OK;
}

/* Decode symbol number dec->done + i (state j) into *sym; reads at most two bytes. */
static levin_rans_status decode_one(levin_rans_decoder *dec, const levin_rans_model *model,
                                    uint32_t j, uint32_t *sym)
{
    uint32_t prec = model->precision_bits;
    uint32_t x = dec->state[j];
    uint32_t slot = x & ((1u << prec) - 1u);
    uint32_t s, lo;
    if (model->slots != NULL) {
        s = model->slots[slot];
        if (s >= model->alphabet_size) { /* a slot table is not checked ahead: cum[s + 1] must exist */
            return LEVIN_RANS_ERR_SYMBOL;
        }
    } else {
        s = search(model->cum, model->alphabet_size, slot); /* always < K, whatever cum holds */
    }
    lo = model->cum[s];
    x = (model->cum[s + 1u] - lo) * (x >> prec) + slot - lo; /* freq[s] = cum[s + 1] - cum[s] */
    while (x < LEVIN_RANS_L) {
        if (dec->pos >= dec->end) {
            return LEVIN_RANS_ERR_TRUNCATED;
        }
        x = (x << 8) | dec->data[dec->pos++];
    }
    dec->state[j] = x;
    *sym = s;
    return LEVIN_RANS_OK;
}

/* u16 and u8 share decode_one; the loops stay separate so the weight path (u8) has no width
 * branch per symbol. */
levin_rans_status levin_rans_decode_u16(levin_rans_decoder *dec, const levin_rans_model *model,
                                        uint16_t *out, uint32_t count)
{
    uint32_t i, j, s;
    levin_rans_status status = decode_check(dec, model, out, count);
    if (status != LEVIN_RANS_OK || count == 0u) {
        return status;
    }
    j = dec->done % dec->n_states;
    for (i = 0u; i < count; ++i) {
        status = decode_one(dec, model, j, &s);
        if (status != LEVIN_RANS_OK) {
            dec->done += i;
            return status;
        }
        out[i] = (uint16_t)s;
        j = j + 1u == dec->n_states ? 0u : j + 1u;
    }
    dec->done += count;
    return LEVIN_RANS_OK;
}

levin_rans_status levin_rans_decode_u8(levin_rans_decoder *dec, const levin_rans_model *model,
                                       uint8_t *out, uint32_t count)
{
    uint32_t i, j, s;
    levin_rans_status status = decode_check(dec, model, out, count);
    if (status != LEVIN_RANS_OK || count == 0u) {
        return status;
    }
    if (model->alphabet_size > 256u) {
        return LEVIN_RANS_ERR_ARG;
    }
    j = dec->done % dec->n_states;
    for (i = 0u; i < count; ++i) {
        status = decode_one(dec, model, j, &s);
        if (status != LEVIN_RANS_OK) {
            dec->done += i;
            return status;
        }
        out[i] = (uint8_t)s;
        j = j + 1u == dec->n_states ? 0u : j + 1u;
    }
    dec->done += count;
    return LEVIN_RANS_OK;
}

/* One symbol with the byte reads checked: the end of a stream. */
static int bucketed_checked(uint32_t *x, const uint8_t **p, const uint8_t *end, const uint16_t *cum,
                            const uint8_t *bucket, uint32_t prec, uint32_t bsh, uint8_t *out) {
    const uint32_t slot = *x & ((1u << prec) - 1u);
    uint32_t s = bucket[slot >> bsh], v;
    while (cum[s + 1u] <= slot) {
        ++s;
    }
    v = (uint32_t)(cum[s + 1u] - cum[s]) * (*x >> prec) + slot - cum[s];
    while (v < LEVIN_RANS_L) {
        if (*p == end) {
            return 0;
        }
        v = (v << 8) | *(*p)++;
    }
    *x = v;
    *out = (uint8_t)s;
    return 1;
}

#if defined(__GNUC__) && defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 2 && defined(__OPTIMIZE__) && \
    !defined(LEVIN_DOT_NO_ASM)
#define RANS_THUMB2_ASM 1 /* Cortex-M3 and up (GCC -Os spilled the loop's 13 live values) */
#endif

/* out[0..k) with no bound check on the bytes (k <= bytes left / 2); returns the new state. */
static uint32_t bucketed_run(uint32_t x, const uint8_t **pp, const uint16_t *cum, const uint8_t *bucket,
                             uint32_t prec, uint32_t bsh, uint8_t *out, uint32_t k) {
    const uint8_t *p = *pp;
    uint8_t *const stop = out + k;
    const uint32_t mask = (1u << prec) - 1u;
#ifdef RANS_THUMB2_ASM
    /* 17 instructions a symbol found at its bucket's start, 4 more per step of the walk, 4 per
     * byte read (13 registers: the end pointer is read from memory). */
    const uint16_t *const cum1 = cum + 1;
    uint32_t slot, s, c0, c1;
    __asm__ volatile(
        "1:\n\t"
        "and     %[slot], %[x], %[mask]\n\t"
        "lsr     %[s], %[slot], %[bsh]\n\t"
        "ldrb    %[s], [%[bucket], %[s]]\n\t"
        "b       3f\n"
        "2:\n\t"
        "adds    %[s], %[s], #1\n"
        "3:\n\t"
        "ldrh    %[c1], [%[cum1], %[s], lsl #1]\n\t"
        "cmp     %[slot], %[c1]\n\t"
        "bcs     2b\n\t"
        "ldrh    %[c0], [%[cum], %[s], lsl #1]\n\t"
        "subs    %[c1], %[c1], %[c0]\n\t"
        "subs    %[slot], %[slot], %[c0]\n\t"
        "lsrs    %[x], %[x], %[prec]\n\t"
        "mla     %[x], %[x], %[c1], %[slot]\n\t"
        "cmp     %[x], #0x800000\n\t"
        "bcs     4f\n\t"
        "ldrb    %[c0], [%[p]], #1\n\t"
        "orr     %[x], %[c0], %[x], lsl #8\n\t"
        "cmp     %[x], #0x800000\n\t"
        "bcs     4f\n\t"
        "ldrb    %[c0], [%[p]], #1\n\t"
        "orr     %[x], %[c0], %[x], lsl #8\n"
        "4:\n\t"
        "strb    %[s], [%[out]], #1\n\t"
        "ldr     %[c0], %[stop]\n\t"
        "cmp     %[out], %[c0]\n\t"
        "bne     1b"
        : [x] "+r"(x), [p] "+r"(p), [out] "+r"(out), [slot] "=&r"(slot), [s] "=&r"(s), [c0] "=&r"(c0),
          [c1] "=&r"(c1)
        : [mask] "r"(mask), [bsh] "r"(bsh), [bucket] "r"(bucket), [cum1] "r"(cum1), [cum] "r"(cum),
          [prec] "r"(prec), [stop] "m"(stop)
        : "cc", "memory");
#else
    do {
        const uint32_t slot = x & mask;
        uint32_t s = bucket[slot >> bsh], c0, c1;
        while ((c1 = cum[s + 1u]) <= slot) {
            ++s;
        }
        c0 = cum[s];
        x = (c1 - c0) * (x >> prec) + slot - c0;
        if (x < LEVIN_RANS_L) { /* at most two bytes (levin_rans.h) */
            x = (x << 8) | *p++;
            if (x < LEVIN_RANS_L) {
                x = (x << 8) | *p++;
            }
        }
        *out++ = (uint8_t)s;
    } while (out != stop);
#endif
    *pp = p;
    return x;
}

levin_rans_status levin_rans_decode_u8_bucketed(levin_rans_decoder *dec, const levin_rans_model *model,
                                                const uint8_t *bucket, uint32_t bucket_bits, uint8_t *out,
                                                uint32_t count) {
    const uint16_t *const cum = model->cum;
    const uint32_t prec = model->precision_bits, bsh = prec - bucket_bits;
    const uint8_t *p = dec->data + dec->pos, *const end = dec->data + dec->end;
    uint32_t x = dec->state[0], left = count;
    while (left > 0u) {
        uint32_t k = (uint32_t)(end - p) / 2u; /* symbols that cannot run out of bytes */
        if (k == 0u) {
            if (!bucketed_checked(&x, &p, end, cum, bucket, prec, bsh, out)) {
                dec->pos = (uint32_t)(p - dec->data);
                return LEVIN_RANS_ERR_TRUNCATED;
            }
            ++out;
            --left;
            continue;
        }
        k = k < left ? k : left;
        x = bucketed_run(x, &p, cum, bucket, prec, bsh, out, k);
        out += k;
        left -= k;
    }
    dec->state[0] = x;
    dec->pos = (uint32_t)(p - dec->data);
    dec->done += count;
    return LEVIN_RANS_OK;
}

levin_rans_status levin_rans_decoder_finish(const levin_rans_decoder *dec)
{
    uint32_t j;
    if (dec == NULL || dec->done != dec->count) {
        return LEVIN_RANS_ERR_COUNT;
    }
    for (j = 0u; j < dec->n_states; ++j) {
        if (dec->state[j] != LEVIN_RANS_L) {
            return LEVIN_RANS_ERR_FINAL;
        }
    }
    return dec->pos == dec->end ? LEVIN_RANS_OK : LEVIN_RANS_ERR_FINAL;
}

levin_rans_status levin_rans_encode_u16(const uint16_t *symbols, uint32_t count,
                                        const levin_rans_model *model, uint32_t n_states,
                                        uint8_t *out, uint32_t capacity, uint32_t *start)
{
    uint32_t state[LEVIN_RANS_MAX_STATES];
    uint32_t n, i, j, p, prec;
    if (!model_ok(model) || start == NULL || n_states < 1u || n_states > LEVIN_RANS_MAX_STATES ||
        (symbols == NULL && count != 0u) || (out == NULL && capacity != 0u)) {
        return LEVIN_RANS_ERR_ARG;
    }
    *start = capacity;
    if (count == 0u) {
        return LEVIN_RANS_OK;
    }
    prec = model->precision_bits;
    n = count < n_states ? count : n_states;
    for (j = 0u; j < n; ++j) {
        state[j] = LEVIN_RANS_L;
    }
    p = capacity;
    j = (count - 1u) % n;
    for (i = count; i-- > 0u;) {
        uint32_t s = symbols[i];
        uint32_t f, x, x_max;
        if (model->freq == NULL || s >= model->alphabet_size || model->freq[s] == 0u) {
            return LEVIN_RANS_ERR_SYMBOL;
        }
        f = model->freq[s];
        x = state[j];
        x_max = ((LEVIN_RANS_L >> prec) << 8) * f;
        while (x >= x_max) {
            if (p == 0u) {
                return LEVIN_RANS_ERR_SPACE;
            }
            out[--p] = (uint8_t)(x & 0xffu);
            x >>= 8;
        }
        state[j] = ((x / f) << prec) + (x % f) + model->cum[s];
        j = j == 0u ? n - 1u : j - 1u;
    }
    for (j = n; j-- > 0u;) { /* x_0 ends up first, each state little-endian */
        if (p < 4u) {
            return LEVIN_RANS_ERR_SPACE;
        }
        out[--p] = (uint8_t)(state[j] >> 24);
        out[--p] = (uint8_t)(state[j] >> 16);
        out[--p] = (uint8_t)(state[j] >> 8);
        out[--p] = (uint8_t)state[j];
    }
    *start = p;
    return LEVIN_RANS_OK;
}
