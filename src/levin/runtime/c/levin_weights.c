/* levin_weights.c -- see levin_weights.h. Every stream is read front to back, one channel at a time.
 *
 * Read me first: levin_weights_check does every test that needs no decoding, once per begin, so
 * that the per-weight loops stay as they were. Two tests remain per symbol, and only where the
 * descriptor cannot rule them out: a packed or rANS symbol above the last codebook entry (a
 * 17-entry codebook in 5-bit fields) or above int8 after the offset; and a gap position past the
 * tensor (checked per gap symbol, not per weight).
 */
#include "levin_weights.h"

#define MAX_SPARSE_PER 65536u /* positions within a sparse channel are uint16 */
#define MAX_ALPHABET 256u     /* the weight streams decode to uint8 symbols */

static uint32_t per_channel(const levin_weights *w) {
    return w->channels ? w->size / w->channels : 0u;
}

static int is_dense(const levin_weights *w) {
    return w->pos_method == LEVIN_POS_DENSE;
}

static int has_pos_decoder(const levin_weights *w) {
    return w->pos_method == LEVIN_POS_GAPS || w->pos_method == LEVIN_POS_BITMASK;
}

/* Symbols of the value stream. */
static uint32_t value_count(const levin_weights *w) {
    return is_dense(w) ? w->size : w->nnz;
}

/* Symbol i of a bit-packed stream: the `bits`-bit field at stream bits [i*bits, (i+1)*bits). */
static LEVIN_ALWAYS_INLINE uint32_t packed_field(const uint8_t *data, uint32_t i, uint32_t bits) {
    const uint32_t at = i * bits;
    const uint32_t sh = at & 7u;
    uint32_t v = (uint32_t)data[at >> 3] >> sh;
    if (sh + bits > 8u) {
        v |= (uint32_t)data[(at >> 3) + 1u] << (8u - sh);
    }
    return v & ((1u << bits) - 1u);
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

static int model_ok(const levin_rans_model *m) {
    return m->cum != 0 && m->alphabet_size >= 1u && m->alphabet_size <= MAX_ALPHABET &&
           m->precision_bits >= 8u && m->precision_bits <= 15u && m->cum[0] == 0u &&
           m->cum[m->alphabet_size] == (1u << m->precision_bits);
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
    if (w->coder != LEVIN_CODER_RAW) {
        const uint32_t top = w->coder == LEVIN_CODER_PACK ? (1u << w->bits) - 1u : w->model.alphabet_size - 1u;
        (void)symbol_limit(w, &r->limit); /* OK: levin_weights_check passed */
        r->check = top > r->limit;
    }
    if (w->coder == LEVIN_CODER_RANS &&
        levin_rans_decoder_init(&r->val, w->data, w->len, value_count(w), w->states) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    if (has_pos_decoder(w) && levin_rans_decoder_init(&r->pos, w->pos_data, w->pos_len, w->pos_symbols,
                                                      w->pos_states) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    return LEVIN_OK;
}

/* Codebook entry or int8 value of symbol u <= limit. */
static int8_t value_of(const levin_weights *w, uint32_t u) {
    const int32_t v = w->offset + (int32_t)u;
    return w->codebook ? w->codebook[v] : (int8_t)v;
}

/* The next k values (or codebook entries) of the value stream into out[0..k). */
static levin_status take_values(levin_weights_reader *r, int8_t *out, uint32_t k) {
    const levin_weights *w = r->w;
    const uint32_t limit = r->limit;
    uint32_t i;
    if (w->coder == LEVIN_CODER_RAW) {
        const int8_t *src = (const int8_t *)w->data + r->values;
        for (i = 0u; i < k; ++i) {
            out[i] = src[i];
        }
    } else if (w->coder == LEVIN_CODER_RANS) {
        uint8_t *u = (uint8_t *)out;
        if (levin_rans_decode_u8(&r->val, &w->model, u, k) != LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        for (i = 0u; r->check && i < k; ++i) {
            if (u[i] > limit) {
                return LEVIN_ERR_CORRUPT;
            }
        }
        for (i = 0u; i < k; ++i) {
            out[i] = value_of(w, u[i]);
        }
    } else {
        /* Locals, not w->...: `out` is a char type, so the compiler must assume every store to
         * it may change *w and would reload each field per weight. */
        const uint8_t *data = w->data;
        const int8_t *book = w->codebook;
        const int32_t offset = w->offset;
        const uint32_t bits = w->bits, first = r->values;
        uint32_t bad = 0u;
        if (book == 0) { /* a value outside int8 is flagged after the loop: no memory at stake */
            for (i = 0u; i < k; ++i) {
                const int32_t v = offset + (int32_t)packed_field(data, first + i, bits);
                bad |= (uint32_t)(v + 128) >> 8;
                out[i] = (int8_t)v;
            }
        } else if (r->check) { /* fields can pass the codebook: never read there */
            for (i = 0u; i < k; ++i) {
                uint32_t u = packed_field(data, first + i, bits);
                if (u > limit) {
                    bad = 1u;
                    u = 0u;
                }
                out[i] = book[offset + (int32_t)u];
            }
        } else { /* the codebook covers every field (levin pads it so) */
            for (i = 0u; i < k; ++i) {
                out[i] = book[offset + (int32_t)packed_field(data, first + i, bits)];
            }
        }
        if (bad != 0u) {
            return LEVIN_ERR_CORRUPT;
        }
    }
    r->values += k;
    return LEVIN_OK;
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

/* The first nonzero at or after position `from` (<= size) from the gap symbols, or size when
 * they end. A position at or past size is corrupt; testing it per symbol also keeps the sum
 * from wrapping, so positions are strictly ascending. */
static levin_status next_gap(levin_weights_reader *r, uint32_t from, uint32_t *next) {
    const levin_weights *w = r->w;
    const uint32_t esc = (1u << w->gap_bits) - 1u;
    uint8_t s;
    while (r->pos.done < r->pos.count) {
        if (levin_rans_decode_u8(&r->pos, &w->pos_model, &s, 1u) != LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        if (s != esc) {
            if (s >= w->size - from) {
                return LEVIN_ERR_CORRUPT;
            }
            *next = from + s;
            return LEVIN_OK;
        }
        if (esc >= w->size - from) {
            return LEVIN_ERR_CORRUPT;
        }
        from += esc;
    }
    *next = w->size;
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
        for (i = lo; i < hi; ++i) {
            if ((w->pos_data[i >> 3] >> (i & 7u)) & 1u) {
                idx[k++] = (uint16_t)(i - lo);
            }
        }
    } else if (w->pos_method == LEVIN_POS_BITMASK) {
        uint8_t *mask = (uint8_t *)val; /* the values come after the mask is consumed */
        if (levin_rans_decode_u8(&r->pos, &w->pos_model, mask, per) != LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        for (i = 0u; i < per; ++i) {
            if (mask[i]) {
                idx[k++] = (uint16_t)i;
            }
        }
    } else if (w->pos_method == LEVIN_POS_GAPS) {
        if (r->channel == 0u && next_gap(r, 0u, &r->pending) != LEVIN_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        while (r->pending < hi) { /* pending >= lo: positions ascend */
            idx[k++] = (uint16_t)(r->pending - lo);
            if (next_gap(r, r->pending + 1u, &r->pending) != LEVIN_OK) {
                return LEVIN_ERR_CORRUPT;
            }
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
