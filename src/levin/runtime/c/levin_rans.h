/* levin_rans.h -- byte-oriented rANS decoder (and host-side encoder) for levin weight streams.
 *
 * Freestanding C99: no malloc, no libc beyond <stdint.h>/<stddef.h>, caller-owned buffers.
 * The byte format is specified in docs/format.md and src/levin/coding/rans.py:
 *
 *   4n bytes  initial states x_0 .. x_{n-1}, uint32 little-endian, each in [2^23, 2^31)
 *   rest      renormalization bytes, read front to back
 *
 * Symbol i uses state i mod n (n interleaved states, 1..16). After the last symbol every
 * state equals 2^23 and every byte has been read; levin_rans_decoder_finish checks both.
 *
 * The model is a static frequency table: freq[s] (0..2^15) and cum[s] = freq[0]+..+freq[s-1],
 * cum[K] = 2^precision_bits, precision 8..15. Symbol lookup uses `slots` (2^precision entries,
 * slots[c] = the symbol whose range holds c) when it is not NULL, else a binary search over
 * `cum` (2(K+1) bytes of table, log2 K comparisons per symbol).
 *
 * Decoding is incremental: call levin_rans_decode any number of times with the counts you need
 * (for example one output channel at a time); the decoder struct carries the states over.
 *
 * Hostile payloads: every byte read is bounded by `len` and every table read by the model's
 * alphabet_size (cum[0..K], slots[0..2^precision)); a slot entry >= K is an error. A cum table
 * that does not increase decodes garbage (which levin_rans_decoder_finish nearly always rejects)
 * but reads nothing outside it. All state arithmetic is unsigned, so wraps are defined.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_RANS_H
#define LEVIN_RANS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEVIN_RANS_L (1u << 23)
#define LEVIN_RANS_MAX_STATES 16

typedef enum {
    LEVIN_RANS_OK = 0,
    LEVIN_RANS_ERR_ARG = 1,       /* bad argument: precision, state count, NULL pointer */
    LEVIN_RANS_ERR_TRUNCATED = 2, /* the payload ended before the symbols did */
    LEVIN_RANS_ERR_STATE = 3,     /* an initial state outside [2^23, 2^31): corrupt payload */
    LEVIN_RANS_ERR_FINAL = 4,     /* final states not 2^23, or bytes left over: corrupt payload */
    LEVIN_RANS_ERR_SYMBOL = 5,    /* a symbol outside the alphabet or of frequency 0 (encoder), or a
                                     slot table entry >= alphabet_size (decoder) */
    LEVIN_RANS_ERR_SPACE = 6,     /* encoder: the output buffer is too small */
    LEVIN_RANS_ERR_COUNT = 7      /* more symbols requested than the stream has left */
} levin_rans_status;

/* Printable name of a status (never NULL). */
const char *levin_rans_status_str(levin_rans_status status);

/* A static model. K = alphabet_size (1..65536); cum[K+1]; slots[2^precision] or NULL; freq[K]
 * for the encoder only (the decoder takes cum[s + 1] - cum[s], so a model in flash needs no freq). */
typedef struct {
    const uint16_t *freq;
    const uint16_t *cum;   /* cum[K] = 2^precision_bits <= 32768 fits uint16 */
    const uint16_t *slots; /* optional lookup table; NULL selects binary search */
    uint32_t alphabet_size;
    uint32_t precision_bits;
} levin_rans_model;

/* Decoder state: 8 + 4 * 16 + 16 bytes; the payload itself stays where it is (flash). */
typedef struct {
    const uint8_t *data;
    uint32_t pos;      /* next byte to read */
    uint32_t end;      /* payload length */
    uint32_t count;    /* symbols in the stream */
    uint32_t done;     /* symbols decoded so far */
    uint32_t n_states; /* min(requested states, count) */
    uint32_t state[LEVIN_RANS_MAX_STATES];
} levin_rans_decoder;

/* Start decoding a payload of `len` bytes that holds `count` symbols coded with `n_states`
 * interleaved states. Reads and checks the initial states. */
levin_rans_status levin_rans_decoder_init(levin_rans_decoder *dec, const uint8_t *data,
                                          uint32_t len, uint32_t count, uint32_t n_states);

/* Decode the next `count` symbols into out[0..count). On error, dec->done tells how many
 * symbols of the stream were decoded before it. */
levin_rans_status levin_rans_decode_u16(levin_rans_decoder *dec, const levin_rans_model *model,
                                        uint16_t *out, uint32_t count);

/* Same, for alphabets of at most 256 symbols (the int8 weight case): out is uint8_t. */
levin_rans_status levin_rans_decode_u8(levin_rans_decoder *dec, const levin_rans_model *model,
                                       uint8_t *out, uint32_t count);

/* The weight readers' fast path (levin_weights.c): the next `count` symbols of a stream with ONE
 * state and an alphabet of at most 256, the search for a slot's symbol started at
 * bucket[slot >> (precision - bucket_bits)] (the symbol whose range holds the bucket's first
 * slot) and walked up the cumulative counts. The caller guarantees what levin_weights_check
 * does: cum[0] = 0, cum[K] = 2^precision, every bucket entry < K, bucket_bits <= precision, and
 * at least `count` symbols left; so the walk stops at K - 1 at the latest, whatever cum holds.
 * Bytes are read without a bound check while at least two per symbol are left (a symbol reads
 * at most two), with one otherwise. LEVIN_RANS_ERR_TRUNCATED when the payload ends first (dec
 * then holds nothing useful). The same symbols and states as levin_rans_decode_u8. */
levin_rans_status levin_rans_decode_u8_bucketed(levin_rans_decoder *dec, const levin_rans_model *model,
                                                const uint8_t *bucket, uint32_t bucket_bits, uint8_t *out,
                                                uint32_t count);

/* After all symbols: check that the states are back at 2^23 and no byte is left over. */
levin_rans_status levin_rans_decoder_finish(const levin_rans_decoder *dec);

/* Host-side encoder. Writes the payload of symbols[0..count) to the END of out[0..capacity)
 * (rANS encodes back to front) and sets *start so that the payload is out[*start..capacity).
 * capacity = 2 * count + 4 * n_states always suffices. */
levin_rans_status levin_rans_encode_u16(const uint16_t *symbols, uint32_t count,
                                        const levin_rans_model *model, uint32_t n_states,
                                        uint8_t *out, uint32_t capacity, uint32_t *start);

#ifdef __cplusplus
}
#endif

#endif /* LEVIN_RANS_H */
