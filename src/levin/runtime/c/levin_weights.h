/* levin_weights.h -- weight tensors as the kernels read them: raw, bit-packed, codebook, rANS, sparse,
 * generated.
 *
 * A weight tensor is stored in flash as the body of its .lvn tensor section (docs/format.md, 4),
 * cut into the parts a microcontroller needs: the payload bytes of the value stream and of the
 * nonzero positions (the same bytes as in the .lvn file), the codebook, and the rANS frequency
 * tables (decoded ahead of time into cumulative-count arrays). The elements are in C order,
 * output channel after output channel ([O, KH, KW, I/groups] or [out, in]), so a reader yields
 * one output channel at a time and keeps constant state (docs/format.md, 6):
 *
 *   levin_weights_reader r;
 *   levin_weights_begin(&r, w);
 *   for each channel:  dense:  p = levin_weights_next_dense(&r, scratch, &status)
 *                      sparse: levin_weights_next_sparse(&r, idx, val, &count)
 *   levin_weights_end(&r);     (checks that every coded stream ended exactly)
 *
 * Hostile payloads: the descriptor is trusted for the lengths of the arrays it points to (len,
 * pos_len, codebook_size, alphabet_size + 1 cumulative counts), nothing else. levin_weights_begin
 * checks that its fields agree with each other (levin_weights_check) and the payloads' lengths
 * and padding, and the readers check every symbol that could index past the codebook or leave
 * int8, and every position; a payload that breaks any rule gives LEVIN_ERR_CORRUPT, never a read
 * outside the arrays. Flipped bits that still decode (a packed weight's value, say) are caught
 * only by the checksums, which levin_weights_verify recomputes (at boot, not per inference).
 *
 * Generated weights (coder LEVIN_CODER_GEN, docs/format.md 4.7): data holds a 16-byte header
 * (seed, block, sigma16, zero: little-endian u32) and then one index of `bits` bits per block of
 * `block` elements; the reader regenerates each element from (seed, its block, the block's
 * index) with a 32-bit hash and a 256-entry prior table that levin_weights_begin builds from
 * sigma16 and zero (into the reader: no flash, and no descriptor field for other formats). Exact
 * integer arithmetic: the same codes as levin.coding.generated. Dense only, like rANS values:
 * one channel at a time into scratch, no other state.
 *
 * Scratch per channel: dense, levin_weights_dense_scratch (0 for raw int8 without a codebook,
 * which is read in place from flash); sparse, 3 bytes per element of a channel (uint16 position
 * + int8 value; none for levin_weights_next_sparse_dot over a packed bitmask and raw values).
 * The kernels decode more at a time (levin_kernels.h scratch sizes). The reader struct itself
 * (two rANS decoders and their bucket tables, about 460 bytes) lives on the stack.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_WEIGHTS_H
#define LEVIN_WEIGHTS_H

#include <stdint.h>

#include "levin_rans.h"
#include "levin_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Value stream coders and positions methods: the ids of docs/format.md 4.3 and 4.1. */
#define LEVIN_CODER_RAW 0
#define LEVIN_CODER_PACK 1
#define LEVIN_CODER_RANS 4
#define LEVIN_CODER_GEN 16 /* generated (not a .lvn stream coder id: chain flag 4) */
#define LEVIN_POS_GAPS 0
#define LEVIN_POS_BITMASK 1
#define LEVIN_POS_PACKED 2
#define LEVIN_POS_DENSE 255 /* no positions: every element is stored */

typedef struct {
    uint32_t size;     /* elements of the tensor */
    uint32_t channels; /* output channels (the first dimension); size / channels per channel */
    /* nonzero positions (pos_method != LEVIN_POS_DENSE) */
    uint8_t pos_method;
    uint8_t pos_states;   /* rANS states of gaps / bitmask */
    uint8_t gap_bits;     /* gaps: escape symbol 2^gap_bits - 1 */
    uint32_t nnz;         /* nonzero elements = symbols of the value stream */
    uint32_t pos_symbols; /* gaps: gap symbols; bitmask: size */
    const uint8_t *pos_data;
    uint32_t pos_len;
    levin_rans_model pos_model;
    /* codebook (NULL: the stream holds values) */
    const int8_t *codebook;
    uint32_t codebook_size;
    /* value stream */
    uint8_t coder;     /* LEVIN_CODER_RAW, _PACK, _RANS */
    uint8_t bits;      /* pack: bits per symbol (1..8) */
    uint8_t states;    /* rans: interleaved states (1..16) */
    int32_t offset;    /* value (or codebook index) = offset + symbol */
    const uint8_t *data;
    uint32_t len;
    levin_rans_model model;
    /* CRC32 (zlib's) of the numeric fields above, each as a little-endian u32 in declaration order
     * (offset as two's complement), pointers excluded, then a word whose bits 0..4 say which of
     * pos_data, pos_model.cum, codebook, model.cum, data are not NULL. */
    uint32_t crc_fields;
    /* CRC32 of the arrays, in the order pos_data[pos_len], pos_model.cum[K+1] (u16 LE),
     * codebook[codebook_size], model.cum[K+1] (u16 LE), data[len]; absent arrays are skipped. */
    uint32_t crc_data;
} levin_weights;

/* Coded dense conv weights of at most this many elements are decoded whole into scratch (that
 * many bytes) and run through the in-flash kernel (levin_conv_coded.c); larger ones two output
 * channels at a time (2 * size / channels bytes). levin.codegen.weight_fields.WHOLE_MAX agrees. */
#define LEVIN_WEIGHTS_WHOLE_MAX 4096u

/* Entries of a reader's rANS bucket tables: bucket b holds the symbol of slot b << (precision - 7),
 * where the search for a slot's symbol starts (a step or two instead of a binary search). */
#define LEVIN_WEIGHTS_BUCKETS 128

typedef struct {
    const levin_weights *w;
    uint32_t channel;  /* next channel */
    uint32_t values;   /* value symbols consumed */
    uint32_t pending;  /* gaps: the next nonzero position (size when none is left) */
    uint32_t limit;    /* the largest symbol that maps to a valid value (codebook entry, int8) */
    uint32_t check;    /* nonzero when the coder can emit symbols above limit: test each one */
    levin_rans_decoder val;
    levin_rans_decoder pos;
    union {
        struct {
            uint8_t val[LEVIN_WEIGHTS_BUCKETS]; /* rANS values (built by levin_weights_begin) */
            uint8_t pos[LEVIN_WEIGHTS_BUCKETS]; /* rANS positions */
        } bucket;
        int8_t table[2 * LEVIN_WEIGHTS_BUCKETS]; /* generated: the prior table (256 codes) */
    } u;
} levin_weights_reader;

/* Nonzero when every weight is stored raw (dense int8, no codebook): element i is data[i], read
 * in place from flash in any order. */
int levin_weights_in_flash(const levin_weights *w);

/* Bytes of scratch one dense channel needs (0 when the channel is read in place from flash). */
uint32_t levin_weights_dense_scratch(const levin_weights *w);

/* Checks that a descriptor's fields agree with each other and with its payloads' lengths: size
 * >= 1 and a multiple of channels (so channels <= size), coder,
 * positions method and their parameters (bits 1..8, states 1..16, gap_bits 1..8), rANS models
 * (alphabet 1..256, precision 8..15, cum[0] = 0, cum[K] = 2^precision), nnz <= size, at most
 * 65536 elements per channel when sparse, raw and packed payloads of exactly the bytes their
 * symbols take (zero padding bits), packed positions of ceil(size / 8) bytes, and an offset that
 * maps symbol 0 to a codebook entry or an int8. Reads the struct, cum[0], cum[K] and the last
 * byte of each packed stream; O(1).
 * Returns LEVIN_OK; LEVIN_ERR_ARG (w NULL); LEVIN_ERR_UNSUPPORTED (unknown coder or positions
 * method); LEVIN_ERR_CORRUPT (anything else). */
levin_status levin_weights_check(const levin_weights *w);

/* Recomputes both checksums (crc_fields first, so that the lengths the second one reads by are
 * known good) and runs levin_weights_check. Reads every byte of the tensor's arrays once (a
 * nibble-table CRC: about 10 cycles per byte on a Cortex-M4), so call it at boot or after a
 * flash update, not per inference. Returns LEVIN_OK, LEVIN_ERR_ARG (w NULL), or LEVIN_ERR_CORRUPT
 * (a checksum differs) / the status of levin_weights_check. */
levin_status levin_weights_verify(const levin_weights *w);

/* Starts reading: levin_weights_check, then the rANS decoders' initial states. Returns LEVIN_OK,
 * LEVIN_ERR_ARG (r or w NULL), LEVIN_ERR_UNSUPPORTED, or LEVIN_ERR_CORRUPT. */
levin_status levin_weights_begin(levin_weights_reader *r, const levin_weights *w);

/* The next output channel, dense: a pointer to its size/channels int8 weights, either in flash
 * or decoded into scratch. NULL on error (*status says why: LEVIN_ERR_ARG for a sparse tensor or
 * past the last channel, LEVIN_ERR_CORRUPT for a symbol without a value or a rANS error). */
const int8_t *levin_weights_next_dense(levin_weights_reader *r, int8_t *scratch, levin_status *status);

/* The next output channel, sparse: its nonzeros as positions within the channel (strictly
 * ascending, each < size / channels) and values; *count of them. idx and val need room for a
 * whole channel. LEVIN_ERR_CORRUPT for positions past the tensor, more nonzeros than nnz, a symbol
 * without a value or a rANS error. */
levin_status levin_weights_next_sparse(levin_weights_reader *r, uint16_t *idx, int8_t *val,
                                       uint32_t *count);

/* The next output channel, sparse, as an inner product: *acc += sum over its nonzeros of
 * (x[position] + off) * value, x the channel's inputs (size / channels of them). A packed bitmask
 * with raw values is read in place in one pass; any other coding goes through
 * levin_weights_next_sparse into scratch (3 bytes per element of a channel). Errors as
 * levin_weights_next_sparse. */
levin_status levin_weights_next_sparse_dot(levin_weights_reader *r, const int8_t *x, int32_t off,
                                           uint8_t *scratch, int32_t *acc);

/* After the last channel: every coded stream must end exactly where it should
 * (LEVIN_ERR_CORRUPT otherwise). */
levin_status levin_weights_end(const levin_weights_reader *r);

#ifdef __cplusplus
}
#endif

#endif /* LEVIN_WEIGHTS_H */
