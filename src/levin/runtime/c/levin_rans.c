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
