/* levin_weights.c -- see levin_weights.h. Every stream is read front to back, one channel at a time.
 *
 * Read me first: levin_weights_check does every test that needs no decoding, once per begin, so
 * that the per-weight loops stay as they were. Two tests remain per symbol, and only where the
 * descriptor cannot rule them out: a packed or rANS symbol above the last codebook entry (a
 * 17-entry codebook in 5-bit fields) or above int8 after the offset; and a gap position past the
 * tensor (checked per gap symbol, not per weight).
 *
 * Speed: the kernels decode every coded channel on every inference, so the readers are on the hot
 * path. rANS symbols are decoded here (rans_symbol: the step of levin_rans.c's decoder, same
 * format, same states) with the symbol search started from a bucket table built once per begin,
 * instead of a call and a binary search per symbol; packed positions are read 32 bits at a time
 * and their set bits found with RBIT/CLZ; packed values are read a byte (8 bits) or two fields
 * (4 bits) at a time, other widths through a bit buffer; a packed bitmask with raw values is
 * consumed in place by levin_weights_next_sparse_dot, no positions written.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "levin_config.h"
#include "levin_weights.h"

#define MAX_SPARSE_PER 65536u /* positions within a sparse channel are uint16 */
#define MAX_ALPHABET 256u     /* the weight streams decode to uint8 symbols */
#if defined(LEVIN_WEIGHTS_RAW_ONLY) && !defined(LEVIN_WEIGHTS_NO_GENERATED)
#define LEVIN_WEIGHTS_NO_GENERATED 1 /* a raw-only build reads no generated weights either */
#endif

#ifndef LEVIN_WEIGHTS_NO_GENERATED /* the generator (levin_config.h) */
#define GEN_MAX_BITS 24u
#define GEN_MAX_BLOCK (1u << 20)
#define GEN_GOLDEN 0x9E3779B9u

/* round(4096 * Phi^-1((u + 0.5) / 256)): the standard normal's 256 quantiles (levin.coding.generated). */
static const int16_t normal_q12[256] = {
    -11820, -10324, -9565, -9038, -8628, -8290, -8001, -7746, -7519, -7312, -7123, -6948, -6784, -6631, -6486, -6350,
    -6219, -6095, -5977, -5863, -5753, -5647, -5545, -5447, -5351, -5258, -5168, -5080, -4995, -4912, -4830, -4751,
    -4673, -4597, -4523, -4450, -4378, -4307, -4238, -4170, -4104, -4038, -3973, -3910, -3847, -3785, -3724, -3664,
    -3604, -3545, -3487, -3430, -3374, -3318, -3262, -3207, -3153, -3100, -3046, -2994, -2942, -2890, -2839, -2788,
    -2738, -2688, -2638, -2589, -2540, -2492, -2444, -2396, -2348, -2301, -2255, -2208, -2162, -2116, -2070, -2025,
    -1979, -1935, -1890, -1845, -1801, -1757, -1713, -1669, -1626, -1583, -1539, -1497, -1454, -1411, -1369, -1326,
    -1284, -1242, -1200, -1158, -1117, -1075, -1034, -992, -951, -910, -869, -828, -787, -746, -705, -665,
    -624, -584, -543, -503, -462, -422, -382, -341, -301, -261, -221, -181, -140, -100, -60, -20,
    20, 60, 100, 140, 181, 221, 261, 301, 341, 382, 422, 462, 503, 543, 584, 624,
    665, 705, 746, 787, 828, 869, 910, 951, 992, 1034, 1075, 1117, 1158, 1200, 1242, 1284,
    1326, 1369, 1411, 1454, 1497, 1539, 1583, 1626, 1669, 1713, 1757, 1801, 1845, 1890, 1935, 1979,
    2025, 2070, 2116, 2162, 2208, 2255, 2301, 2348, 2396, 2444, 2492, 2540, 2589, 2638, 2688, 2738,
    2788, 2839, 2890, 2942, 2994, 3046, 3100, 3153, 3207, 3262, 3318, 3374, 3430, 3487, 3545, 3604,
    3664, 3724, 3785, 3847, 3910, 3973, 4038, 4104, 4170, 4238, 4307, 4378, 4450, 4523, 4597, 4673,
    4751, 4830, 4912, 4995, 5080, 5168, 5258, 5351, 5447, 5545, 5647, 5753, 5863, 5977, 6095, 6219,
    6350, 6486, 6631, 6784, 6948, 7123, 7312, 7519, 7746, 8001, 8290, 8628, 9038, 9565, 10324, 11820,
};

/* lowbias32 (levin.coding.generated.mix). */
static LEVIN_ALWAYS_INLINE uint32_t gen_mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    return x ^ (x >> 16);
}

/* Parameter k of a generated tensor's header: data[0..15] holds GEN_SEED, GEN_BLOCK, GEN_SIGMA,
 * GEN_ZERO as little-endian u32 (levin_weights_check: len >= GEN_HEADER). */
enum { GEN_SEED, GEN_BLOCK, GEN_SIGMA, GEN_ZERO, GEN_HEADER = 16 };

static uint32_t gen_param(const levin_weights *w, uint32_t k) {
    const uint8_t *p = w->data + 4u * k;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}


/* Index of block b: stream bits [b bits, (b + 1) bits) after the header, at most 4 bytes, all
 * inside data (levin_weights_check: exact length). */
static uint32_t gen_index(const levin_weights *w, uint32_t b) {
    const uint8_t *indices = w->data + GEN_HEADER;
    const uint32_t at = b * w->bits, first = at >> 3;
    uint32_t q = (at + w->bits - 1u) >> 3, v = 0u;
    for (;; --q) {
        v = (v << 8) | indices[q];
        if (q == first) {
            break;
        }
    }
    return (v >> (at & 7u)) & ((1u << w->bits) - 1u);
}

/* The prior table: entry u is round(sigma * normal_q12[u] / 2^16), half away from zero,
 * clamped to -127..127, or 0 inside the dead zone. |p| < 65536 * 11820 < 2^31. */
static void gen_table(const levin_weights *w, int8_t *table) {
    const int32_t sigma = (int32_t)gen_param(w, GEN_SIGMA);
    const uint32_t zero = gen_param(w, GEN_ZERO);
    uint32_t u;
    for (u = 0u; u < 256u; ++u) {
        const int32_t p = sigma * (int32_t)normal_q12[u];
        const uint32_t a = (uint32_t)(p < 0 ? -p : p);
        uint32_t c = (a + 32768u) >> 16;
        c = c > 127u ? 127u : c;
        if (u + zero >= 128u && u < 128u + zero) {
            c = 0u;
        }
        table[u] = (int8_t)(p < 0 ? -(int32_t)c : (int32_t)c);
    }
}

/* Elements r->values .. + k of a generated tensor into out: per block, its key from the seed,
 * the block and its index, then a hash word per four elements, a table entry per byte. */
static LEVIN_NOINLINE void gen_take(levin_weights_reader *r, int8_t *out, uint32_t k) {
    const levin_weights *w = r->w;
    const int8_t *table = r->u.table;
    const uint32_t block = gen_param(w, GEN_BLOCK), seed = gen_param(w, GEN_SEED);
    uint32_t i = r->values, b = i / block, j = i - b * block, left = k;
    while (left > 0u) {
        const uint32_t key = gen_mix(gen_mix(seed + gen_mix(b)) ^ gen_index(w, b));
        uint32_t n = block - j, word = 0u;
        n = n < left ? n : left;
        left -= n;
        if ((j & 3u) != 0u) {
            word = gen_mix(key + (j >> 2) * GEN_GOLDEN) >> (8u * (j & 3u));
        }
        for (; n > 0u; --n, ++j) {
            if ((j & 3u) == 0u) {
                word = gen_mix(key + (j >> 2) * GEN_GOLDEN);
            }
            *out++ = table[word & 255u];
            word >>= 8;
        }
        ++b;
        j = 0u;
    }
    r->values += k;
}
#endif /* LEVIN_WEIGHTS_NO_GENERATED */

static uint32_t per_channel(const levin_weights *w) {
    return w->channels ? w->size / w->channels : 0u;
}

static int is_dense(const levin_weights *w) {
    return w->pos_method == LEVIN_POS_DENSE;
}

static int has_pos_decoder(const levin_weights *w) {
    return w->pos_method == LEVIN_POS_GAPS || w->pos_method == LEVIN_POS_BITMASK;
}

/* Bytes p[0..3] as a little-endian word: one unaligned LDR on a little-endian GCC target. */
static LEVIN_ALWAYS_INLINE uint32_t load_le32(const uint8_t *p) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    __builtin_memcpy(&v, p, 4u);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

/* v into bytes p[0..3], little-endian: one unaligned STR on a little-endian GCC target. */
static LEVIN_ALWAYS_INLINE void store_le32(uint8_t *p, uint32_t v) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    __builtin_memcpy(p, &v, 4u);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

/* Symbols of the value stream. */
static uint32_t value_count(const levin_weights *w) {
    return is_dense(w) ? w->size : w->nnz;
}

/* A bit stream of n fields of `bits` bits (n * bits < 2^32) fills exactly len bytes and its
 * padding bits are zero. */
static int packed_exact(const uint8_t *data, uint32_t len, uint32_t n, uint32_t bits) {
    const uint32_t used = (n % 8u) * bits % 8u; /* bits of the last byte in use; 0: all */
    if (len != n / 8u * bits + ((n % 8u) * bits + 7u) / 8u) { /* ceil(n * bits / 8), no overflow */
        return 0;
    }
    return used == 0u || (data[len - 1u] >> used) == 0u;
}

#ifndef LEVIN_WEIGHTS_NO_GENERATED
/* Blocks of a generated tensor (size >= 1, 1 <= block: levin_weights_check). */
static uint32_t gen_blocks(const levin_weights *w) {
    const uint32_t block = gen_param(w, GEN_BLOCK);
    return w->size / block + (w->size % block != 0u);
}

static levin_status check_generated(const levin_weights *w) {
    uint32_t blocks, block, sigma;
    if (!is_dense(w) || w->codebook != 0 || w->codebook_size != 0u || w->offset != 0 || w->bits < 1u ||
        w->bits > GEN_MAX_BITS || w->data == 0 || w->len < GEN_HEADER) {
        return LEVIN_ERR_CORRUPT;
    }
    block = gen_param(w, GEN_BLOCK);
    sigma = gen_param(w, GEN_SIGMA);
    if (block < 1u || block > GEN_MAX_BLOCK || sigma < 1u || sigma > 0xFFFFu || gen_param(w, GEN_ZERO) > 128u) {
        return LEVIN_ERR_CORRUPT;
    }
    blocks = gen_blocks(w);
    return blocks <= 0xFFFFFFFFu / w->bits &&
                   packed_exact(w->data + GEN_HEADER, w->len - GEN_HEADER, blocks, w->bits)
               ? LEVIN_OK
               : LEVIN_ERR_CORRUPT;
}
#endif

static int model_ok(const levin_rans_model *m) {
    return m->cum != 0 && m->alphabet_size >= 1u && m->alphabet_size <= MAX_ALPHABET &&
           m->precision_bits >= 8u && m->precision_bits <= 15u && m->cum[0] == 0u &&
           m->cum[m->alphabet_size] == (1u << m->precision_bits);
}

/* bucket[b] = the symbol whose range holds slot b << (precision - 7); b = 0..127. A cum table
 * that does not increase (hostile) still gives symbols < K. */
static void bucket_build(const levin_rans_model *m, uint8_t *bucket) {
    const uint32_t sh = m->precision_bits - 7u, last = m->alphabet_size - 1u;
    uint32_t b, s = 0u;
    for (b = 0u; b < LEVIN_WEIGHTS_BUCKETS; ++b) {
        while (s < last && m->cum[s + 1u] <= (b << sh)) {
            ++s;
        }
        bucket[b] = (uint8_t)s;
    }
}

/* A stream as the symbol loop reads it, in locals (stores of symbols through uint8_t * would
 * otherwise force a reload of every field per symbol); `pos` is written back by the caller. */
typedef struct {
    const uint16_t *cum;
    const uint8_t *bucket, *data;
    uint32_t prec, pos, end;
} rans_stream;

static LEVIN_ALWAYS_INLINE rans_stream stream_of(const levin_rans_decoder *d, const levin_rans_model *m,
                                                 const uint8_t *bucket) {
    rans_stream t;
    t.cum = m->cum;
    t.bucket = bucket;
    t.data = d->data;
    t.prec = m->precision_bits;
    t.pos = d->pos;
    t.end = d->end;
    return t;
}

/* One symbol from state *x (levin_rans.h: slot = x mod 2^prec, the symbol s with cum[s] <= slot <
 * cum[s + 1], x = freq[s] * (x >> prec) + slot - cum[s], then bytes in while x < 2^23), the search
 * started at the slot's bucket: for increasing cum the same symbol as levin_rans.c's binary
 * search. It needs no bound: bucket entries are < K and cum[K] = 2^prec > slot
 * (levin_weights_check), so it stops at K - 1 at the latest, whatever cum holds. Returns 0 when
 * the payload ends first. */
static LEVIN_ALWAYS_INLINE int rans_symbol(rans_stream *t, uint32_t *x, uint32_t *sym) {
    const uint32_t slot = *x & ((1u << t->prec) - 1u);
    uint32_t s = t->bucket[slot >> (t->prec - 7u)], v;
    while (t->cum[s + 1u] <= slot) {
        ++s;
    }
    v = (uint32_t)(t->cum[s + 1u] - t->cum[s]) * (*x >> t->prec) + slot - t->cum[s];
    while (v < LEVIN_RANS_L) {
        if (t->pos >= t->end) {
            return 0;
        }
        v = (v << 8) | t->data[t->pos++];
    }
    *x = v;
    *sym = s;
    return 1;
}

/* The next `count` symbols of a u8 stream (alphabet <= 256, checked by levin_weights_check). */
static levin_status rans_take(levin_rans_decoder *d, const levin_rans_model *m, const uint8_t *bucket,
                              uint8_t *out, uint32_t count) {
    rans_stream t;
    uint32_t i, s, j;
    int ok = 1;
    if (count > d->count - d->done) {
        return LEVIN_ERR_CORRUPT;
    }
    if (count == 0u) {
        return LEVIN_OK;
    }
    if (d->n_states == 1u) { /* the common case: levin_rans.c's loop (the same steps, in registers),
                                before this frame's stream state exists (stack) */
        return levin_rans_decode_u8_bucketed(d, m, bucket, 7u, out, count) == LEVIN_RANS_OK ? LEVIN_OK
                                                                                          : LEVIN_ERR_CORRUPT;
    }
    t = stream_of(d, m, bucket);
    j = d->done % d->n_states;
    for (i = 0u; i < count && (ok = rans_symbol(&t, &d->state[j], &s)) != 0; ++i) {
        out[i] = (uint8_t)s;
        j = j + 1u == d->n_states ? 0u : j + 1u;
    }
    d->pos = t.pos;
    if (!ok) {
        return LEVIN_ERR_CORRUPT;
    }
    d->done += count;
    return LEVIN_OK;
}

static levin_status check_positions(const levin_weights *w) {
    const uint8_t m = w->pos_method;
    if (w->nnz > w->size || per_channel(w) > MAX_SPARSE_PER) {
        return LEVIN_ERR_CORRUPT;
    }
    if (m == LEVIN_POS_PACKED) {
        return (w->pos_data != 0 || w->size == 0u) && packed_exact(w->pos_data, w->pos_len, w->size, 1u)
                   ? LEVIN_OK
                   : LEVIN_ERR_CORRUPT;
    }
    if (w->pos_states < 1u || w->pos_states > LEVIN_RANS_MAX_STATES || !model_ok(&w->pos_model)) {
        return LEVIN_ERR_CORRUPT;
    }
    if (m == LEVIN_POS_GAPS) {
        return w->gap_bits >= 1u && w->gap_bits <= 8u ? LEVIN_OK : LEVIN_ERR_CORRUPT;
    }
    return w->pos_symbols == w->size ? LEVIN_OK : LEVIN_ERR_CORRUPT; /* bitmask: one per element */
}

/* The offset must map symbol 0 to a codebook entry (or an int8); *limit is the largest symbol
 * that still does. */
static levin_status symbol_limit(const levin_weights *w, uint32_t *limit) {
    if (w->codebook != 0) {
        if (w->codebook_size == 0u || w->offset < 0 || (uint32_t)w->offset >= w->codebook_size) {
            return LEVIN_ERR_CORRUPT;
        }
        *limit = w->codebook_size - 1u - (uint32_t)w->offset;
    } else {
        if (w->codebook_size != 0u || w->offset < -128 || w->offset > 127) {
            return LEVIN_ERR_CORRUPT;
        }
        *limit = (uint32_t)(127 - w->offset);
    }
    return LEVIN_OK;
}

levin_status levin_weights_check(const levin_weights *w) {
    uint32_t count, limit;
    levin_status status;
    if (w == 0) {
        return LEVIN_ERR_ARG;
    }
#ifndef LEVIN_WEIGHTS_NO_GENERATED /* else a generated descriptor is LEVIN_ERR_UNSUPPORTED below */
    if (w->coder == LEVIN_CODER_GEN) {
        return w->size == 0u || w->channels == 0u || w->size % w->channels != 0u ? LEVIN_ERR_CORRUPT
                                                                                  : check_generated(w);
    }
#endif
    if ((w->coder != LEVIN_CODER_RAW && w->coder != LEVIN_CODER_PACK && w->coder != LEVIN_CODER_RANS) ||
        (!is_dense(w) && !has_pos_decoder(w) && w->pos_method != LEVIN_POS_PACKED)) {
        return LEVIN_ERR_UNSUPPORTED;
    }
    if (w->size == 0u || w->channels == 0u || w->size % w->channels != 0u || (w->data == 0 && w->len != 0u) ||
        (w->pos_data == 0 && w->pos_len != 0u)) {
        return LEVIN_ERR_CORRUPT;
    }
    if (!is_dense(w) && (status = check_positions(w)) != LEVIN_OK) {
        return status;
    }
    count = value_count(w);
    if (w->coder == LEVIN_CODER_RAW) { /* raw holds values, never codebook indices */
        return w->codebook == 0 && w->codebook_size == 0u && w->len == count ? LEVIN_OK : LEVIN_ERR_CORRUPT;
    }
    if (w->coder == LEVIN_CODER_PACK) {
        if (w->bits < 1u || w->bits > 8u || count > 0xFFFFFFFFu / w->bits ||
            (w->data == 0 && count != 0u) || !packed_exact(w->data, w->len, count, w->bits)) {
            return LEVIN_ERR_CORRUPT;
        }
    } else if (w->states < 1u || w->states > LEVIN_RANS_MAX_STATES || !model_ok(&w->model)) {
        return LEVIN_ERR_CORRUPT; /* the payload's length is the rANS decoder's to check */
    }
    return symbol_limit(w, &limit);
}

int levin_weights_in_flash(const levin_weights *w) {
    return is_dense(w) && w->coder == LEVIN_CODER_RAW && w->codebook == 0;
}

uint32_t levin_weights_dense_scratch(const levin_weights *w) {
    return (w->coder == LEVIN_CODER_RAW && w->codebook == 0) ? 0u : per_channel(w);
}

levin_status levin_weights_begin(levin_weights_reader *r, const levin_weights *w) {
    levin_status status;
    if (r == 0 || w == 0) {
        return LEVIN_ERR_ARG;
    }
    if ((status = levin_weights_check(w)) != LEVIN_OK) {
        return status;
    }
    r->w = w;
    r->channel = 0u;
    r->values = 0u;
    r->pending = w->size;
    r->limit = 255u;
    r->check = 0u;
#ifndef LEVIN_WEIGHTS_NO_GENERATED
    if (w->coder == LEVIN_CODER_GEN) {
        gen_table(w, r->u.table);
        return LEVIN_OK;
    }
#endif
    if (w->coder != LEVIN_CODER_RAW) {
        const uint32_t top = w->coder == LEVIN_CODER_PACK ? (1u << w->bits) - 1u : w->model.alphabet_size - 1u;
        (void)symbol_limit(w, &r->limit); /* OK: levin_weights_check passed */
        r->check = top > r->limit;
    }
    if (w->coder == LEVIN_CODER_RANS) {
        if (levin_rans_decoder_init(&r->val, w->data, w->len, value_count(w), w->states) != LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        bucket_build(&w->model, r->u.bucket.val);
    }
    if (has_pos_decoder(w)) {
        if (levin_rans_decoder_init(&r->pos, w->pos_data, w->pos_len, w->pos_symbols, w->pos_states) !=
            LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        bucket_build(&w->pos_model, r->u.bucket.pos);
    }
    return LEVIN_OK;
}

/* Symbols u[0..k) -> values: codebook[offset + u] or offset + u. With `check` (the coder can
 * emit symbols past the codebook or int8: levin_weights_begin) a symbol past the codebook
 * reads entry `offset` instead and is reported, and a value outside int8 is reported after the
 * loop (no memory at stake). u may alias out. */
static levin_status map_symbols(const levin_weights_reader *r, const uint8_t *u, int8_t *out, uint32_t k) {
    const levin_weights *w = r->w;
    const int8_t *book = w->codebook ? w->codebook + w->offset : 0; /* offset < codebook_size */
    const int32_t offset = w->offset;
    const uint32_t limit = r->limit;
    uint32_t i = 0u, bad = 0u;
    if (book == 0) {
        /* Four symbols a word (SWAR): with c = offset + 128 (0..255), u + c (byte-wise, no
         * carries between bytes) is the value's code + 128, and a carry out of a byte is a
         * value past 127: a symbol above the limit. */
        const uint32_t c = (uint32_t)(offset + 128) * 0x01010101u, high = 0x80808080u;
        for (; i + 4u <= k; i += 4u) {
            const uint32_t a = load_le32(u + i);
            uint32_t sum, carry;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
            /* UADD8 adds the bytes and sets a GE flag per carry, SEL turns the flags into bytes
             * (one asm statement: the flags must not be clobbered between the two). */
            __asm__("uadd8 %0, %2, %3\n\tsel %1, %4, %5" : "=&r"(sum), "=r"(carry) : "r"(a), "r"(c),
                    "r"(high), "r"(0u));
#else
            const uint32_t low = 0x7F7F7F7Fu;
            sum = ((a & low) + (c & low)) ^ ((a ^ c) & high);
            carry = (a & c) | ((a | c) & ~sum);
#endif
            bad |= carry & high;
            store_le32((uint8_t *)out + i, sum ^ high);
        }
        for (; i < k; ++i) {
            const int32_t v = offset + (int32_t)u[i];
            bad |= (uint32_t)(v + 128) >> 8;
            out[i] = (int8_t)v;
        }
    } else if (r->check) {
        for (i = 0u; i < k; ++i) {
            const uint32_t s = u[i], ok = s <= limit;
            bad |= !ok;
            out[i] = book[ok ? s : 0u];
        }
    } else {
        for (i = 0u; i < k; ++i) {
            out[i] = book[u[i]];
        }
    }
    return bad ? LEVIN_ERR_CORRUPT : LEVIN_OK;
}

enum { STREAM_SYMBOLS, STREAM_BOOK, STREAM_OFFSET };

/* k fields of `bits` bits from bit `sh` of src through a 32-bit buffer refilled a byte at a time
 * (never a byte past the last field), each stored as a uint8 symbol, book[field] or offset +
 * field (`mode`, a constant at every call: each call is its own loop, no test per field). */
static LEVIN_ALWAYS_INLINE void stream_fields(const uint8_t *src, uint32_t sh, uint32_t bits, uint32_t k, int mode,
                                              const int8_t *book, int32_t offset, int8_t *out) {
    const uint32_t mask = (1u << bits) - 1u;
    uint32_t i, buf, have;
    if (k == 0u) {
        return;
    }
    buf = (uint32_t)*src++ >> sh;
    have = 8u - sh;
    for (i = 0u; i < k; ++i) {
        uint32_t f;
        if (have < bits) {
            buf |= (uint32_t)*src++ << have;
            have += 8u;
        }
        f = buf & mask;
        buf >>= bits;
        have -= bits;
        if (mode == STREAM_SYMBOLS) {
            ((uint8_t *)out)[i] = (uint8_t)f;
        } else if (mode == STREAM_BOOK) {
            out[i] = book[f];
        } else {
            out[i] = (int8_t)(offset + (int32_t)f);
        }
    }
}

/* Packed fields: 4 bits from a byte boundary with every field a valid symbol (the common low-bit
 * case) in one loop, a load per two fields; 8 bits mapped in place; any other width streamed
 * (stream_fields). */
static levin_status unpack_fields(levin_weights_reader *r, int8_t *out, uint32_t k) {
    const levin_weights *w = r->w;
    const uint32_t bits = w->bits, at = r->values * bits;
    const uint8_t *src = w->data + (at >> 3);
    uint32_t i = 0u;
    r->values += k;
    if (bits == 8u) {
        return map_symbols(r, src, out, k);
    }
    if (bits == 4u && (at & 7u) == 0u && !r->check) {
        const int8_t *book = w->codebook ? w->codebook + w->offset : 0;
        const int32_t offset = w->offset;
        if (book != 0) {
            for (; i + 1u < k; i += 2u, ++src) {
                out[i] = book[*src & 15u];
                out[i + 1u] = book[*src >> 4];
            }
        } else {
            for (; i + 1u < k; i += 2u, ++src) {
                out[i] = (int8_t)(offset + (int32_t)(*src & 15u));
                out[i + 1u] = (int8_t)(offset + (int32_t)(*src >> 4));
            }
        }
        if (i < k) {
            out[i] = book ? book[*src & 15u] : (int8_t)(offset + (int32_t)(*src & 15u));
        }
        return LEVIN_OK;
    }
    if (r->check) { /* symbols first, then mapped with the tests */
        stream_fields(src, at & 7u, bits, k, STREAM_SYMBOLS, 0, 0, out);
        return map_symbols(r, (const uint8_t *)out, out, k);
    }
    if (w->codebook != 0) {
        stream_fields(src, at & 7u, bits, k, STREAM_BOOK, w->codebook + w->offset, 0, out);
    } else {
        stream_fields(src, at & 7u, bits, k, STREAM_OFFSET, 0, w->offset, out);
    }
    return LEVIN_OK;
}

/* The next k values (or codebook entries) of the value stream into out[0..k). */
static levin_status take_values(levin_weights_reader *r, int8_t *out, uint32_t k) {
    const levin_weights *w = r->w;
    uint32_t i;
    if (w->coder == LEVIN_CODER_RAW) {
        const int8_t *src = (const int8_t *)w->data + r->values;
        for (i = 0u; i < k; ++i) {
            out[i] = src[i];
        }
        r->values += k;
        return LEVIN_OK;
    }
    if (w->coder == LEVIN_CODER_PACK) {
        return unpack_fields(r, out, k);
    }
#ifndef LEVIN_WEIGHTS_NO_GENERATED
    if (w->coder == LEVIN_CODER_GEN) { /* its own frame: not on the rANS path's stack */
        gen_take(r, out, k);
        return LEVIN_OK;
    }
#endif
    if (r->val.n_states == 1u && k <= r->val.count - r->val.done) { /* rans_take's common case, a frame less */
        if (levin_rans_decode_u8_bucketed(&r->val, &w->model, r->u.bucket.val, 7u, (uint8_t *)out, k) !=
            LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
    } else if (rans_take(&r->val, &w->model, r->u.bucket.val, (uint8_t *)out, k) != LEVIN_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    r->values += k;
    return map_symbols(r, (const uint8_t *)out, out, k);
}

const int8_t *levin_weights_next_dense(levin_weights_reader *r, int8_t *scratch, levin_status *status) {
    const levin_weights *w = r->w;
    const uint32_t per = per_channel(w);
    const int8_t *out = scratch;
    *status = LEVIN_OK;
    if (!is_dense(w) || r->channel >= w->channels) {
        *status = LEVIN_ERR_ARG;
        return 0;
    }
    if (w->coder == LEVIN_CODER_RAW && w->codebook == 0) {
        out = (const int8_t *)w->data + r->values; /* in place, from flash */
        r->values += per;
    } else {
        *status = take_values(r, scratch, per);
    }
    r->channel++;
    return *status == LEVIN_OK ? out : 0;
}

/* Gaps: the channel's positions [lo, hi) into idx (from lo), *k of them. r->pending is the next
 * nonzero, decoded ahead (size when the symbols end; channel 0 decodes the first). A position at
 * or past size is corrupt; testing it per symbol also keeps the sum from wrapping, so positions
 * ascend strictly. The stream's fields stay in locals for the whole channel. */
static levin_status gap_positions(levin_weights_reader *r, uint32_t lo, uint32_t hi, uint16_t *idx, uint32_t *k) {
    const levin_weights *w = r->w;
    levin_rans_decoder *d = &r->pos;
    rans_stream t = stream_of(d, &w->pos_model, r->u.bucket.pos);
    const uint32_t esc = (1u << w->gap_bits) - 1u, size = w->size, n = d->n_states, count = d->count;
    uint32_t done = d->done, j = n ? done % n : 0u, pending = r->pending, from = 0u, s, found = 0u;
    int need = r->channel == 0u;
    levin_status status = LEVIN_OK;
    for (;;) {
        if (need) { /* the next nonzero at or after `from` (<= size) */
            pending = size;
            while (done < count) {
                if (!rans_symbol(&t, &d->state[j], &s)) {
                    status = LEVIN_ERR_CORRUPT;
                    break;
                }
                ++done;
                j = j + 1u == n ? 0u : j + 1u; /* symbol i uses state i mod n (levin_rans.h) */
                if (s != esc) {
                    if (s >= size - from) {
                        status = LEVIN_ERR_CORRUPT;
                    }
                    pending = from + s;
                    break;
                }
                if (esc >= size - from) {
                    status = LEVIN_ERR_CORRUPT;
                    break;
                }
                from += esc;
            }
            if (status != LEVIN_OK) {
                break;
            }
            need = 0;
        }
        if (pending >= hi) {
            break;
        }
        idx[found++] = (uint16_t)(pending - lo); /* pending >= lo: positions ascend */
        from = pending + 1u;
        need = 1;
    }
    d->pos = t.pos;
    d->done = done;
    r->pending = pending;
    *k = found;
    return status;
}

/* The index of the lowest set bit of b != 0: two instructions where the core counts leading
 * zeros (RBIT, CLZ on ARMv7-M), a short loop elsewhere (no libgcc call on ARMv6-M). */
static LEVIN_ALWAYS_INLINE uint32_t lowest_bit(uint32_t b) {
#if defined(__GNUC__) && (!defined(__arm__) || defined(__ARM_FEATURE_CLZ))
    return (uint32_t)__builtin_ctz(b);
#else
    uint32_t n = 0u;
    while (((b >> n) & 1u) == 0u) {
        ++n;
    }
    return n;
#endif
}

/* Packed positions (bit i: bit i % 8 of byte i / 8) are read in runs: the bits up to the first
 * byte boundary, then 32 at a time (a little-endian word holds bits 8a..8a+31 in order), then a
 * byte at a time to the channel's end, the last byte masked. A run's set bits are taken lowest
 * first (lowest_bit, then b &= b - 1). */


/* Bits from stream bit lo on: the next run of at most 32 (*width of them, the channel's first
 * `left` at most), advancing *p and *sh (bit within *p). */
static LEVIN_ALWAYS_INLINE uint32_t next_run(const uint8_t **p, uint32_t *sh, uint32_t left, uint32_t *width) {
    uint32_t b, n;
    if (*sh != 0u) { /* the rest of a byte */
        b = (uint32_t)**p >> *sh;
        n = 8u - *sh;
    } else if (left >= 32u) {
        b = load_le32(*p);
        n = 32u;
    } else {
        b = **p;
        n = 8u;
    }
    if (n > left) { /* the channel ends inside this run (left < 32 here) */
        b &= (1u << left) - 1u;
        *sh += left;
        n = left;
    } else {
        *p += (*sh + n) >> 3;
        *sh = 0u;
    }
    *width = n;
    return b;
}

/* The set bits lo..lo+per-1 (per >= 1), as positions from lo, into idx; returns their count. */
static uint32_t packed_positions(const uint8_t *bits, uint32_t lo, uint32_t per, uint16_t *idx) {
    const uint8_t *p = bits + (lo >> 3);
    uint32_t sh = lo & 7u, pos = 0u, k = 0u, width, b;
    while (pos < per) {
        for (b = next_run(&p, &sh, per - pos, &width); b != 0u; b &= b - 1u) {
            idx[k++] = (uint16_t)(pos + lowest_bit(b));
        }
        pos += width;
    }
    return k;
}

/* Packed positions, raw values: the channel's nonzeros straight from flash, acc + sum (x[i] +
 * off) * value, in one pass (no positions or values written anywhere); LEVIN_ERR_CORRUPT, and
 * nothing read past the values, when the bits hold more nonzeros than values are left. */
static LEVIN_NOINLINE levin_status packed_raw_dot(levin_weights_reader *r, uint32_t lo, uint32_t per,
                                                  const int8_t *x, int32_t off, int32_t *acc) {
    const levin_weights *w = r->w;
    const uint8_t *p = w->pos_data + (lo >> 3);
    const int8_t *v = (const int8_t *)w->data + r->values, *const end = (const int8_t *)w->data + w->nnz;
    uint32_t sh = lo & 7u, left = per, width, b;
    int32_t a = *acc;
    while (left > 0u) {
        b = next_run(&p, &sh, left, &width);
        if (end - v < 32) { /* fewer values left than a run has bits: count them */
            for (; b != 0u; b &= b - 1u) {
                if (v == end) {
                    return LEVIN_ERR_CORRUPT;
                }
                a += ((int32_t)x[lowest_bit(b)] + off) * (int32_t)*v++;
            }
        }
        for (; b != 0u; b &= b - 1u) {
            a += ((int32_t)x[lowest_bit(b)] + off) * (int32_t)*v++;
        }
        left -= width;
        x += width; /* the input of the next run's first bit (one past the row at the end) */
    }
    r->values = (uint32_t)(v - (const int8_t *)w->data);
    r->channel++;
    *acc = a;
    return LEVIN_OK;
}

levin_status levin_weights_next_sparse(levin_weights_reader *r, uint16_t *idx, int8_t *val,
                                       uint32_t *count) {
    const levin_weights *w = r->w;
    const uint32_t per = per_channel(w);
    const uint32_t lo = r->channel * per, hi = lo + per;
    uint32_t i, k = 0u;
    if (is_dense(w) || r->channel >= w->channels) {
        return LEVIN_ERR_ARG;
    }
    if (w->pos_method == LEVIN_POS_PACKED) {
        k = packed_positions(w->pos_data, lo, per, idx);
    } else if (w->pos_method == LEVIN_POS_BITMASK) {
        uint8_t *mask = (uint8_t *)val; /* the values come after the mask is consumed */
        if (rans_take(&r->pos, &w->pos_model, r->u.bucket.pos, mask, per) != LEVIN_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        for (i = 0u; i < per; ++i) {
            if (mask[i]) {
                idx[k++] = (uint16_t)i;
            }
        }
    } else if (w->pos_method == LEVIN_POS_GAPS) {
        if (gap_positions(r, lo, hi, idx, &k) != LEVIN_OK) {
            return LEVIN_ERR_CORRUPT;
        }
    } else {
        return LEVIN_ERR_UNSUPPORTED;
    }
    if (k > w->nnz - r->values) {
        return LEVIN_ERR_CORRUPT;
    }
    r->channel++;
    *count = k;
    return take_values(r, val, k);
}

levin_status levin_weights_next_sparse_dot(levin_weights_reader *r, const int8_t *x, int32_t off,
                                           uint8_t *scratch, int32_t *acc) {
    const levin_weights *w = r->w;
    const uint32_t per = per_channel(w);
    uint16_t *idx = (uint16_t *)(void *)scratch;
    int8_t *val = (int8_t *)(scratch + 2u * per);
    uint32_t j, count;
    int32_t a = 0;
    levin_status status;
    if (is_dense(w) || r->channel >= w->channels) {
        return LEVIN_ERR_ARG;
    }
    if (w->pos_method == LEVIN_POS_PACKED && w->coder == LEVIN_CODER_RAW) {
        return packed_raw_dot(r, r->channel * per, per, x, off, acc);
    }
    if ((status = levin_weights_next_sparse(r, idx, val, &count)) != LEVIN_OK) {
        return status;
    }
    for (j = 0u; j + 1u < count; j += 2u) { /* two a time: the loop's own cost halved */
        a += ((int32_t)x[idx[j]] + off) * (int32_t)val[j] + ((int32_t)x[idx[j + 1u]] + off) * (int32_t)val[j + 1u];
    }
    if (j < count) {
        a += ((int32_t)x[idx[j]] + off) * (int32_t)val[j];
    }
    *acc += a;
    return LEVIN_OK;
}

levin_status levin_weights_end(const levin_weights_reader *r) {
    const levin_weights *w = r->w;
    if (r->channel != w->channels || r->values != value_count(w)) {
        return LEVIN_ERR_CORRUPT;
    }
    if (w->coder == LEVIN_CODER_RANS && levin_rans_decoder_finish(&r->val) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    if (has_pos_decoder(w) && levin_rans_decoder_finish(&r->pos) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    return LEVIN_OK;
}

/* CRC32 (zlib's: reflected 0xEDB88320) four bits at a time: a 64-byte table instead of 1 KiB. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};

static uint32_t crc_byte(uint32_t crc, uint32_t b) {
    crc ^= b;
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    return (crc >> 4) ^ crc_nibble[crc & 15u];
}

static uint32_t crc_bytes(uint32_t crc, const uint8_t *p, uint32_t n) {
    uint32_t i;
    for (i = 0u; p != 0 && i < n; ++i) {
        crc = crc_byte(crc, p[i]);
    }
    return crc;
}

static uint32_t crc_u32(uint32_t crc, uint32_t v) {
    crc = crc_byte(crc, v & 0xffu);
    crc = crc_byte(crc, (v >> 8) & 0xffu);
    crc = crc_byte(crc, (v >> 16) & 0xffu);
    return crc_byte(crc, v >> 24);
}

static uint32_t crc_cum(uint32_t crc, const levin_rans_model *m) {
    uint32_t i;
    for (i = 0u; m->cum != 0 && i <= m->alphabet_size; ++i) {
        crc = crc_byte(crc, m->cum[i] & 0xffu);
        crc = crc_byte(crc, (uint32_t)m->cum[i] >> 8);
    }
    return crc;
}

levin_status levin_weights_verify(const levin_weights *w) {
    uint32_t crc = 0xFFFFFFFFu, k;
    levin_status status;
    if (w == 0) {
        return LEVIN_ERR_ARG;
    }
    {
        const uint32_t fields[19] = {
            w->size, w->channels, w->pos_method, w->pos_states, w->gap_bits, w->nnz, w->pos_symbols,
            w->pos_len, w->pos_model.alphabet_size, w->pos_model.precision_bits, w->codebook_size,
            w->coder, w->bits, w->states, (uint32_t)w->offset, w->len, w->model.alphabet_size,
            w->model.precision_bits,
            (uint32_t)(w->pos_data != 0) | (uint32_t)(w->pos_model.cum != 0) << 1 |
                (uint32_t)(w->codebook != 0) << 2 | (uint32_t)(w->model.cum != 0) << 3 |
                (uint32_t)(w->data != 0) << 4};
        for (k = 0u; k < 19u; ++k) {
            crc = crc_u32(crc, fields[k]);
        }
    }
    if (~crc != w->crc_fields) {
        return LEVIN_ERR_CORRUPT; /* before anything is read by the lengths */
    }
    if ((status = levin_weights_check(w)) != LEVIN_OK) {
        return status;
    }
    crc = crc_bytes(0xFFFFFFFFu, w->pos_data, w->pos_len);
    crc = crc_cum(crc, &w->pos_model);
    crc = crc_bytes(crc, (const uint8_t *)w->codebook, w->codebook_size);
    crc = crc_cum(crc, &w->model);
    crc = crc_bytes(crc, w->data, w->len);
    return ~crc == w->crc_data ? LEVIN_OK : LEVIN_ERR_CORRUPT;
}
