/* fuzz_weights.c -- fuzz harness for the C weight readers (levin_weights.c, levin_rans.c).
 *
 * The input is a weight descriptor and its arrays (layout below); the harness copies each array
 * into a buffer of exactly its declared size, so that a read past a length the descriptor gives
 * is a sanitizer report, then runs levin_weights_check, levin_weights_verify and the reader over
 * every channel, and aborts when a reader says OK but breaks its promises (sparse positions not
 * strictly ascending or past the channel, more nonzeros than nnz, end OK with symbols left); a
 * sparse tensor is read a second time through levin_weights_next_sparse_dot, which must end with
 * the same status.
 *
 * libFuzzer (clang):
 *   clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -DLEVIN_LIBFUZZER -I src/levin/runtime/c tests/c/fuzz_weights.c \
 *         src/levin/runtime/c/levin_weights.c src/levin/runtime/c/levin_rans.c \
 *         src/levin/runtime/c/levin_status.c -o fuzz_weights
 *   mkdir -p corpus && .venv/bin/python -c \
 *     "from tests.runtime.test_c_weights_hostile import write_seeds; write_seeds('corpus')"
 *   ./fuzz_weights -max_total_time=60 -max_len=65536 corpus
 *
 * Without libFuzzer (gcc; what the test suite runs, tests/runtime/test_c_weights_hostile.py):
 *   gcc -std=c99 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -I src/levin/runtime/c tests/c/fuzz_weights.c src/levin/runtime/c/levin_{weights,rans,status}.c
 *   ./a.out FILE...                          run each input once, print "<read> <verify> <file>"
 *                                            (statuses: ok, arg, corrupt, unsupported)
 *   ./a.out -fuzz SECONDS RUNS SEED FILE...  mutate the seed files (bit flips, bytes, interesting
 *                                            u32s, chunk delete/copy/truncate) for at most SECONDS
 *                                            or RUNS inputs; print the counts. A sanitizer report
 *                                            or an abort writes the input to fuzz-crash.bin, an
 *                                            input that takes over a second to fuzz-slow.bin.
 *
 * Input layout (little-endian):
 *   0  u32 size         4  u32 channels      8  u8 pos_method   9  u8 pos_states
 *   10 u8 gap_bits      11 u8 coder          12 u8 bits         13 u8 states
 *   14 u8 flags: bit 0 codebook, 1 pos_model.cum, 2 model.cum, 3 pos_data, 4 data (the pointer
 *      is set, else NULL), bit 5 run levin_weights_verify
 *   15 u8 pos precision 16 u32 nnz          20 u32 pos_symbols  24 i32 offset
 *   28 u8 val precision 29 u8 unused        30 u16 pos alphabet 32 u16 val alphabet
 *   34 u16 codebook_size 36 u32 pos_len     40 u32 len          44 u32 crc_fields
 *   48 u32 crc_data
 *   52 then, each clamped to the bytes left (and the descriptor's length with it): pos cum
 *      (2 (K+1) bytes), val cum (2 (K+1)), codebook (codebook_size), pos_data (pos_len), data (len).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "levin_weights.h"

#define HEAD 52u
#define MAX_ELEMENTS (1u << 20) /* read no tensor larger than this (begin and check still run) */

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Up to `want` bytes of data[*at..size) into a fresh buffer of exactly that many bytes. */
static void *take(const uint8_t *data, size_t size, size_t *at, size_t want, size_t *got) {
    uint8_t *p;
    *got = want < size - *at ? want : size - *at;
    p = (uint8_t *)malloc(*got ? *got : 1u);
    if (p == 0) {
        abort();
    }
    memcpy(p, data + *at, *got);
    *at += *got;
    return p;
}

/* K + 1 cumulative counts (none when absent), fewer when the input ends first. */
static uint16_t *take_cum(const uint8_t *data, size_t size, size_t *at, int present, uint32_t k,
                          uint32_t *alphabet) {
    size_t got, i;
    const uint8_t *bytes = data + *at;
    uint16_t *cum;
    size_t n = !present ? 0u : size - *at < 2u * ((size_t)k + 1u) ? (size - *at) / 2u : (size_t)k + 1u;
    cum = (uint16_t *)malloc((n ? n : 1u) * sizeof(uint16_t));
    if (cum == 0) {
        abort();
    }
    for (i = 0u; i < n; ++i) {
        cum[i] = get16(bytes + 2u * i);
    }
    got = 2u * n;
    *at += got;
    *alphabet = n ? (uint32_t)n - 1u : 0u; /* cum holds alphabet + 1 entries */
    return cum;
}

/* Reads every channel; aborts when the reader breaks a promise. Returns the first error. */
static levin_status read_all(const levin_weights *w) {
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    const uint32_t per = status == LEVIN_OK ? w->size / w->channels : 0u;
    uint32_t c, j, count, total = 0u;
    int8_t *scratch;
    uint16_t *idx;
    if (status != LEVIN_OK || w->size > MAX_ELEMENTS) {
        return status;
    }
    scratch = (int8_t *)malloc(per + 1u);
    idx = (uint16_t *)malloc(2u * per + 2u);
    if (scratch == 0 || idx == 0) {
        abort();
    }
    for (c = 0u; c < w->channels && status == LEVIN_OK; ++c) {
        if (w->pos_method == LEVIN_POS_DENSE) {
            const int8_t *p = levin_weights_next_dense(&r, scratch, &status);
            if ((status == LEVIN_OK) != (p != 0)) {
                abort();
            }
            for (j = 0u; p != 0 && j < per; ++j) {
                total += (uint32_t)(p[j] != 0); /* every weight is read, as a kernel would */
            }
        } else {
            status = levin_weights_next_sparse(&r, idx, scratch, &count);
            if (status == LEVIN_OK) {
                if (count > per) {
                    abort();
                }
                for (j = 0u; j < count; ++j) {
                    if (idx[j] >= per || (j > 0u && idx[j] <= idx[j - 1u])) {
                        abort();
                    }
                }
                total += count;
                if (total > w->nnz) {
                    abort();
                }
            }
        }
    }
    if (status == LEVIN_OK) {
        status = levin_weights_end(&r);
        if (status == LEVIN_OK && w->pos_method != LEVIN_POS_DENSE && total != w->nnz) {
            abort();
        }
    }
    free(scratch);
    free(idx);
    return status;
}

/* Sparse: every channel again through levin_weights_next_sparse_dot (the fully connected
 * kernel's reader, which reads a packed bitmask and raw values in place), against inputs in a
 * buffer of exactly one channel; it must end with the status read_all ended with. */
static levin_status dot_all(const levin_weights *w) {
    levin_weights_reader r;
    levin_status status = levin_weights_begin(&r, w);
    const uint32_t per = status == LEVIN_OK ? w->size / w->channels : 0u;
    uint32_t c;
    int8_t *x;
    uint8_t *scratch;
    int32_t acc = 0;
    if (status != LEVIN_OK || w->size > MAX_ELEMENTS || w->pos_method == LEVIN_POS_DENSE) {
        return status;
    }
    x = (int8_t *)malloc(per);
    scratch = (uint8_t *)malloc(3u * per);
    if (x == 0 || scratch == 0) {
        abort();
    }
    for (c = 0u; c < per; ++c) {
        x[c] = (int8_t)(c * 7u);
    }
    for (c = 0u; c < w->channels && status == LEVIN_OK; ++c) {
        status = levin_weights_next_sparse_dot(&r, x, 3, scratch, &acc);
    }
    if (status == LEVIN_OK) {
        status = levin_weights_end(&r);
    }
    free(x);
    free(scratch);
    return status;
}

/* Runs one input; returns the reader's status (check's when it fails) and, in *verified,
 * levin_weights_verify's (LEVIN_OK when flag bit 5 does not ask for it). */
static levin_status run_one(const uint8_t *data, size_t size, levin_status *verified) {
    levin_weights w;
    size_t at = HEAD, got;
    uint8_t flags;
    uint32_t k_pos, k_val;
    void *bufs[5];
    levin_status status;
    int i;
    *verified = LEVIN_OK;
    if (size < HEAD) {
        return LEVIN_ERR_ARG;
    }
    memset(&w, 0, sizeof w);
    w.size = get32(data);
    w.channels = get32(data + 4);
    w.pos_method = data[8];
    w.pos_states = data[9];
    w.gap_bits = data[10];
    w.coder = data[11];
    w.bits = data[12];
    w.states = data[13];
    flags = data[14];
    w.pos_model.precision_bits = data[15];
    w.nnz = get32(data + 16);
    w.pos_symbols = get32(data + 20);
    w.offset = (int32_t)get32(data + 24);
    w.model.precision_bits = data[28];
    k_pos = get16(data + 30);
    k_val = get16(data + 32);
    w.codebook_size = get16(data + 34);
    w.pos_len = get32(data + 36);
    w.len = get32(data + 40);
    w.crc_fields = get32(data + 44);
    w.crc_data = get32(data + 48);

    bufs[0] = take_cum(data, size, &at, flags & 2u, k_pos, &w.pos_model.alphabet_size);
    bufs[1] = take_cum(data, size, &at, flags & 4u, k_val, &w.model.alphabet_size);
    bufs[2] = take(data, size, &at, (flags & 1u) ? w.codebook_size : 0u, &got);
    w.codebook_size = (flags & 1u) ? (uint32_t)got : w.codebook_size; /* no pointer: keep the field */
    bufs[3] = take(data, size, &at, (flags & 8u) ? w.pos_len : 0u, &got);
    w.pos_len = (flags & 8u) ? (uint32_t)got : w.pos_len;
    bufs[4] = take(data, size, &at, (flags & 16u) ? w.len : 0u, &got);
    w.len = (flags & 16u) ? (uint32_t)got : w.len;
    if (flags & 2u) {
        w.pos_model.cum = (const uint16_t *)bufs[0];
    } else {
        w.pos_model.alphabet_size = k_pos; /* no table: the field alone */
    }
    if (flags & 4u) {
        w.model.cum = (const uint16_t *)bufs[1];
    } else {
        w.model.alphabet_size = k_val;
    }
    w.codebook = (flags & 1u) ? (const int8_t *)bufs[2] : 0;
    w.pos_data = (flags & 8u) ? (const uint8_t *)bufs[3] : 0;
    w.data = (flags & 16u) ? (const uint8_t *)bufs[4] : 0;

    status = levin_weights_check(&w);
    if (flags & 32u) {
        *verified = levin_weights_verify(&w);
    }
    if (status == LEVIN_OK) {
        status = read_all(&w);
        if (w.pos_method != LEVIN_POS_DENSE && w.size <= MAX_ELEMENTS && dot_all(&w) != status) {
            abort(); /* the in-place inner product must reject what the reader rejects */
        }
    } else if (read_all(&w) != status) { /* begin must refuse what check refuses */
        abort();
    }
    for (i = 0; i < 5; ++i) {
        free(bufs[i]);
    }
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    levin_status verified;
    (void)run_one(data, size, &verified);
    return 0;
}

#ifndef LEVIN_LIBFUZZER

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define HAVE_DEATH_CALLBACK 1
#endif

#define MAX_INPUT 65536u
#define SLOW_SECONDS 1.0 /* one input that takes longer is a finding (fuzz-slow.bin) */
#define MAX_SEEDS 256

static uint8_t *current;
static size_t current_size;

static void save_as(const char *path) {
    FILE *f = fopen(path, "wb");
    if (f != 0) {
        fwrite(current, 1u, current_size, f);
        fclose(f);
        fprintf(stderr, "fuzz_weights: input written to %s (%lu bytes)\n", path, (unsigned long)current_size);
    }
}

static void save_current(void) {
    save_as("fuzz-crash.bin");
}

static void on_abort(int sig) {
    (void)sig;
    save_current();
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = (uint8_t *)malloc(MAX_INPUT);
    if (f == 0 || buf == 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    *size = fread(buf, 1u, MAX_INPUT, f);
    fclose(f);
    return buf;
}

static uint32_t rng_state;

static uint32_t rnd(uint32_t n) { /* xorshift32, uniform enough for mutations */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return n ? rng_state % n : 0u;
}

static const uint32_t interesting[] = {0u, 1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 127u, 128u, 255u, 256u,
                                       257u, 0x7fffu, 0x8000u, 0xffffu, 0x10000u, 0x7fffffffu,
                                       0x80000000u, 0xfffffffeu, 0xffffffffu};

/* One random edit of buf[0..*size), in place (capacity MAX_INPUT). Header edits half the time. */
static void mutate(uint8_t *buf, size_t *size) {
    const size_t n = *size;
    const uint32_t where = rnd(2u) && n > HEAD ? HEAD + rnd((uint32_t)(n - HEAD))
                                               : rnd((uint32_t)(n < HEAD ? n : HEAD));
    uint32_t v, len, from;
    if (n == 0u) {
        return;
    }
    switch (rnd(8u)) {
    case 0: buf[where] ^= (uint8_t)(1u << rnd(8u)); break;
    case 1: buf[where] = (uint8_t)rnd(256u); break;
    case 2: buf[where] = (uint8_t)(buf[where] + rnd(9u) - 4u); break;
    case 3: /* an interesting u32 at a field boundary of the header, or anywhere */
        v = interesting[rnd(sizeof interesting / sizeof interesting[0])];
        from = where < HEAD ? where & ~3u : where;
        if (from + 4u <= n) {
            buf[from] = (uint8_t)v, buf[from + 1u] = (uint8_t)(v >> 8), buf[from + 2u] = (uint8_t)(v >> 16),
            buf[from + 3u] = (uint8_t)(v >> 24);
        }
        break;
    case 4: /* delete a chunk */
        len = 1u + rnd(16u);
        if (where + len <= n) {
            memmove(buf + where, buf + where + len, n - where - len);
            *size = n - len;
        }
        break;
    case 5: /* insert a copy of a chunk */
        len = 1u + rnd(16u);
        from = rnd((uint32_t)n);
        if (n + len <= MAX_INPUT && from + len <= n) {
            uint8_t chunk[16];
            memcpy(chunk, buf + from, len);
            memmove(buf + where + len, buf + where, n - where);
            memcpy(buf + where, chunk, len);
            *size = n + len;
        }
        break;
    case 6: *size = where + 1u; break; /* truncate */
    default: buf[where] = (uint8_t)interesting[rnd(13u)]; break;
    }
}

int main(int argc, char **argv) {
    static const char *names[] = {"ok", "arg", "corrupt", "unsupported"};
    unsigned long counts[4] = {0, 0, 0, 0}, execs = 0, crc_only = 0, slow = 0;
    clock_t t0;
    levin_status status, verified;
    int i;
#ifdef HAVE_DEATH_CALLBACK
    __sanitizer_set_death_callback(save_current);
#endif
    signal(SIGABRT, on_abort);
    if (argc >= 6 && strcmp(argv[1], "-fuzz") == 0) {
        const double seconds = atof(argv[2]);
        const unsigned long runs = strtoul(argv[3], 0, 10);
        const clock_t start = clock();
        uint8_t *seeds[MAX_SEEDS];
        size_t sizes[MAX_SEEDS];
        int n_seeds = 0;
        rng_state = (uint32_t)strtoul(argv[4], 0, 10) | 1u;
        for (i = 5; i < argc && n_seeds < MAX_SEEDS; ++i, ++n_seeds) {
            seeds[n_seeds] = read_file(argv[i], &sizes[n_seeds]);
        }
        current = (uint8_t *)malloc(MAX_INPUT);
        while (execs < runs) {
            const int s = (int)rnd((uint32_t)n_seeds);
            uint32_t m, n_mut = 1u + rnd(4u);
            memcpy(current, seeds[s], sizes[s]);
            current_size = sizes[s];
            for (m = 0u; m < n_mut; ++m) {
                mutate(current, &current_size);
            }
            t0 = clock();
            status = run_one(current, current_size, &verified);
            if ((double)(clock() - t0) / CLOCKS_PER_SEC > SLOW_SECONDS) { /* as libFuzzer's -timeout */
                save_as("fuzz-slow.bin");
                ++slow;
            }
            counts[status & 3u]++;
            crc_only += status == LEVIN_OK && verified != LEVIN_OK; /* only the checksum saw it */
            ++execs;
            if ((execs & 255u) == 0u && (double)(clock() - start) / CLOCKS_PER_SEC >= seconds) {
                break;
            }
        }
        printf("execs %lu seconds %.2f", execs, (double)(clock() - start) / CLOCKS_PER_SEC);
        for (i = 0; i < 4; ++i) {
            printf(" %s %lu", names[i], counts[i]);
        }
        printf(" crc_only %lu slow %lu\n", crc_only, slow);
        for (i = 0; i < n_seeds; ++i) {
            free(seeds[i]);
        }
        free(current);
        return 0;
    }
    for (i = 1; i < argc; ++i) {
        current = read_file(argv[i], &current_size);
        status = run_one(current, current_size, &verified);
        printf("%s %s %s\n", names[status & 3u], names[verified & 3u], argv[i]);
        free(current);
    }
    return 0;
}

#endif /* LEVIN_LIBFUZZER */
