/* levin_weights.c -- see levin_weights.h. Every stream is read front to back, one channel at a time. */
#include "levin_weights.h"

static uint32_t per_channel(const levin_weights *w) {
    return w->size / w->channels;
}

/* Symbol i of a bit-packed stream: the `bits`-bit field at stream bits [i*bits, (i+1)*bits). */
static uint32_t packed_field(const uint8_t *data, uint32_t i, uint32_t bits) {
    const uint32_t at = i * bits;
    const uint32_t sh = at & 7u;
    uint32_t v = (uint32_t)data[at >> 3] >> sh;
    if (sh + bits > 8u) {
        v |= (uint32_t)data[(at >> 3) + 1u] << (8u - sh);
    }
    return v & ((1u << bits) - 1u);
}

int levin_weights_in_flash(const levin_weights *w) {
    return w->pos_method == LEVIN_POS_DENSE && w->coder == LEVIN_CODER_RAW && w->codebook == 0;
}

uint32_t levin_weights_dense_scratch(const levin_weights *w) {
    return (w->coder == LEVIN_CODER_RAW && w->codebook == 0) ? 0u : per_channel(w);
}

levin_status levin_weights_begin(levin_weights_reader *r, const levin_weights *w) {
    uint32_t count;
    if (r == 0 || w == 0 || w->channels == 0u || w->size % w->channels != 0u) {
        return LEVIN_ERR_ARG;
    }
    r->w = w;
    r->channel = 0u;
    r->values = 0u;
    r->pending = w->size;
    count = w->pos_method == LEVIN_POS_DENSE ? w->size : w->nnz;
    if (w->coder == LEVIN_CODER_RANS &&
        levin_rans_decoder_init(&r->val, w->data, w->len, count, w->states) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    if (w->coder != LEVIN_CODER_RANS && w->coder != LEVIN_CODER_PACK && w->coder != LEVIN_CODER_RAW) {
        return LEVIN_ERR_UNSUPPORTED;
    }
    if (w->pos_method == LEVIN_POS_GAPS || w->pos_method == LEVIN_POS_BITMASK) {
        if (levin_rans_decoder_init(&r->pos, w->pos_data, w->pos_len, w->pos_symbols, w->pos_states) !=
            LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
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
    if (w->coder == LEVIN_CODER_RANS) {
        if (levin_rans_decode_u8(&r->val, &w->model, (uint8_t *)out, k) != LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        for (i = 0u; i < k; ++i) {
            const int32_t v = w->offset + (int32_t)((uint8_t *)out)[i];
            out[i] = w->codebook ? w->codebook[v] : (int8_t)v;
        }
    } else {
        for (i = 0u; i < k; ++i) {
            const int32_t v = w->offset + (int32_t)packed_field(w->data, r->values + i, w->bits);
            out[i] = w->codebook ? w->codebook[v] : (int8_t)v;
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
    if (w->pos_method != LEVIN_POS_DENSE || r->channel >= w->channels) {
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

/* The nonzero after position `pos` from the gap symbols, or size when they end. */
static levin_status next_gap(levin_weights_reader *r, uint32_t pos, uint32_t *next) {
    const levin_weights *w = r->w;
    const uint32_t esc = (1u << w->gap_bits) - 1u;
    uint8_t s;
    while (r->pos.done < r->pos.count) {
        if (levin_rans_decode_u8(&r->pos, &w->pos_model, &s, 1u) != LEVIN_RANS_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        if (s != esc) {
            *next = pos + s + 1u;
            return LEVIN_OK;
        }
        pos += esc;
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
    if (w->pos_method == LEVIN_POS_DENSE || r->channel >= w->channels) {
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
        if (r->channel == 0u && next_gap(r, (uint32_t)-1, &r->pending) != LEVIN_OK) {
            return LEVIN_ERR_CORRUPT;
        }
        while (r->pending < hi) {
            if (r->pending < lo) {
                return LEVIN_ERR_CORRUPT;
            }
            idx[k++] = (uint16_t)(r->pending - lo);
            if (next_gap(r, r->pending, &r->pending) != LEVIN_OK) {
                return LEVIN_ERR_CORRUPT;
            }
        }
    } else {
        return LEVIN_ERR_UNSUPPORTED;
    }
    if (r->values + k > w->nnz) {
        return LEVIN_ERR_CORRUPT;
    }
    r->channel++;
    *count = k;
    return take_values(r, val, k);
}

levin_status levin_weights_end(const levin_weights_reader *r) {
    const levin_weights *w = r->w;
    const uint32_t count = w->pos_method == LEVIN_POS_DENSE ? w->size : w->nnz;
    if (r->channel != w->channels || r->values != count) {
        return LEVIN_ERR_CORRUPT;
    }
    if (w->coder == LEVIN_CODER_RANS && levin_rans_decoder_finish(&r->val) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    if ((w->pos_method == LEVIN_POS_GAPS || w->pos_method == LEVIN_POS_BITMASK) &&
        levin_rans_decoder_finish(&r->pos) != LEVIN_RANS_OK) {
        return LEVIN_ERR_CORRUPT;
    }
    return LEVIN_OK;
}
