"""rANS: round trips, frozen bytes, closeness to the entropy bound, chunks, hostile payloads."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import rans
from levin.coding.entropy_model import (
    EntropyModelConfig,
    build_model,
    choose_precision,
    count_symbols,
    empirical_entropy_bits,
    fit_model,
)
from levin.coding.rans import RansConfig
from levin.errors import LevinFormatError
from tests.coding.streams import laplace_int8, skewed_symbols, symbol_streams

GOLDEN_SYMBOLS = [0, 3, 5, 5, 1, 0, 5, 3, 5, 5, 0, 0, 3, 5, 5, 1]  # counts 4, 2, 0, 3, 0, 7
GOLDEN_MODEL = build_model(count_symbols(GOLDEN_SYMBOLS, 6), EntropyModelConfig(8))


def reference_decode(data: bytes, freqs: list[int], precision: int, count: int, n_states: int) -> list[int]:
    """The decoder exactly as the rans.py docstring states it, integer-only, as C would run it."""
    cum = [sum(freqs[:s]) for s in range(len(freqs) + 1)]
    n = min(n_states, count)
    x = [int.from_bytes(data[4 * j : 4 * j + 4], "little") for j in range(n)]
    p, out = 4 * n, []
    for i in range(count):
        j = i % n
        slot = x[j] & ((1 << precision) - 1)
        s = max(t for t in range(len(freqs)) if cum[t] <= slot and freqs[t])
        x[j] = freqs[s] * (x[j] >> precision) + slot - cum[s]
        while x[j] < 1 << 23:
            x[j] = (x[j] << 8) | data[p]
            p += 1
        out.append(s)
    assert p == len(data) and all(v == 1 << 23 for v in x)
    return out


@settings(derandomize=True, max_examples=80, deadline=None)
@given(
    symbol_streams(max_alphabet=256), st.integers(8, 15), st.integers(1, 5),
    st.sampled_from(["table", "search"]),
)
def test_round_trip(stream, precision, n_states, lookup):
    symbols, k = stream
    model = fit_model(symbols, k, EntropyModelConfig(precision))
    config = RansConfig(n_states)
    data = rans.encode(symbols, model, config)
    np.testing.assert_array_equal(rans.decode(data, model, symbols.size, config, lookup=lookup), symbols)
    # Payload = ideal cost + at most 4 bytes per state + a few bits of renormalization slack.
    assert 8 * len(data) <= model.cost_bits(symbols) + 32 * min(n_states, symbols.size) + 16


@settings(derandomize=True, max_examples=20, deadline=None)
@given(symbol_streams(max_alphabet=16, max_length=300), st.integers(1, 4))
def test_matches_the_documented_decoder(stream, n_states):
    symbols, k = stream
    model = fit_model(symbols, k)
    data = rans.encode(symbols, model, RansConfig(n_states))
    assert reference_decode(data, model.freqs.tolist(), 12, symbols.size, n_states) == symbols.tolist()


def test_golden_bytes():
    assert GOLDEN_MODEL.freqs.tolist() == [64, 32, 0, 48, 0, 112]
    assert rans.encode(GOLDEN_SYMBOLS, GOLDEN_MODEL).hex() == "09fe2418edc880"
    assert rans.encode(GOLDEN_SYMBOLS, GOLDEN_MODEL, RansConfig(2)).hex() == "31d664246725eb54c0b0"
    chunks = rans.encode_chunks([GOLDEN_SYMBOLS[:5], [], GOLDEN_SYMBOLS[5:]], GOLDEN_MODEL)
    assert chunks.payload.hex() == "38d2bd01802d9fee06c880"
    assert chunks.offsets == (0, 5, 5, 11) and chunks.offset_table().hex() == "050006"
    golden = bytes.fromhex("09fe2418edc880")
    assert reference_decode(golden, [64, 32, 0, 48, 0, 112], 8, 16, 1) == GOLDEN_SYMBOLS


@pytest.mark.parametrize("n_states", [1, 2, 4])
def test_within_one_percent_of_entropy_on_100k_skewed_symbols(n_states):
    symbols = laplace_int8(3, 100_000, 3.0)  # ~4 bits/symbol, 69 of 256 symbols used
    counts = count_symbols(symbols, 256)
    model = build_model(counts)
    data = rans.encode(symbols, model, RansConfig(n_states))
    bound = empirical_entropy_bits(counts)
    assert 8 * len(data) <= 1.01 * bound + 32 * n_states
    assert len(model.to_bytes()) < 80  # the table, counted on top of the payload


def test_very_peaked_stream_with_chosen_precision():
    symbols = skewed_symbols(4, 256, 100_000, 4.0)  # one symbol takes ~92%
    counts = count_symbols(symbols, 256)
    model = build_model(counts, EntropyModelConfig(choose_precision(counts)))
    data = rans.encode(symbols, model)
    assert 8 * len(data) <= 1.01 * empirical_entropy_bits(counts) + 32
    np.testing.assert_array_equal(rans.decode(data, model, symbols.size), symbols)


def test_single_symbol_stream_codes_in_four_bytes():
    model = fit_model(np.full(1000, 2), 3)
    data = rans.encode(np.full(1000, 2), model, RansConfig(4))
    assert data == (1 << 23).to_bytes(4, "little") * 4
    np.testing.assert_array_equal(rans.decode(data, model, 1000, RansConfig(4)), np.full(1000, 2))
    with pytest.raises(LevinFormatError, match="left over"):
        rans.decode(data + b"\x00", model, 1000, RansConfig(4))


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=12), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_chunks_decode_in_order_and_at_random(sizes, n_states, seed):
    rng = np.random.default_rng(seed)
    chunks = [skewed_symbols(int(rng.integers(1 << 30)), 7, n, 1.5) for n in sizes]
    model = fit_model(np.concatenate([np.zeros(1, np.int64), *chunks]), 7)
    config = RansConfig(n_states)
    result = rans.encode_chunks(chunks, model, config)
    offsets, end = rans.read_offset_table(result.offset_table(), 0, len(chunks), len(result.payload))
    assert offsets == result.offsets and end == len(result.offset_table())
    assert result.total_bytes() == len(result.payload) + len(result.offset_table())
    for got, want in zip(rans.decode_chunks(result.payload, model, sizes, config), chunks):
        np.testing.assert_array_equal(got, want)
    for k in rng.permutation(len(chunks)):
        got = rans.decode_chunk(result.payload, offsets, int(k), model, sizes[k], config)
        np.testing.assert_array_equal(got, chunks[k])


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 60), max_size=10), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_one_stream_decodes_a_channel_at_a_time(sizes, n_states, seed):
    symbols = skewed_symbols(seed, 9, sum(sizes), 1.0)
    model = fit_model(symbols, 9)
    config = RansConfig(n_states)
    data = rans.encode(symbols, model, config)
    decoder = rans.RansDecoder(data, model, symbols.size, config)
    parts = [decoder.take(k) for k in sizes]
    assert decoder.finish() == len(data)
    np.testing.assert_array_equal(np.concatenate([np.zeros(0, np.int64), *parts]), symbols)
    if sizes and sizes[-1]:
        with pytest.raises(ValueError, match="not taken"):
            rans.RansDecoder(data, model, symbols.size, config).finish()


def test_every_truncation_is_caught():
    symbols = laplace_int8(5, 400, 5.0)
    model = fit_model(symbols, 256)
    for n_states in (1, 3):
        data = rans.encode(symbols, model, RansConfig(n_states))
        for n in range(len(data)):
            with pytest.raises(LevinFormatError, match="truncated|corrupt|left over|cannot fit"):
                rans.decode(data[:n], model, symbols.size, RansConfig(n_states))


def test_corrupt_bytes_are_caught_or_decode_without_crashing():
    symbols = laplace_int8(6, 300, 5.0)
    model = fit_model(symbols, 256)
    data = rans.encode(symbols, model, RansConfig(2))
    caught = 0
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0xA5
        try:
            rans.decode(bytes(bad), model, symbols.size, RansConfig(2))
        except LevinFormatError:
            caught += 1
    assert caught >= len(data) - 1  # the final-state check catches (nearly) every flipped byte


@pytest.mark.parametrize("seed", range(20))
def test_garbage_payloads_never_hang_or_crash(seed):
    rng = np.random.default_rng(seed)
    model = fit_model(skewed_symbols(seed, 20, 500, 1.0), 20)
    garbage = rng.integers(0, 256, int(rng.integers(0, 64))).astype(np.uint8).tobytes()
    start = time.perf_counter()
    for count in (1, 50, 10**6, rans.MAX_COUNT + 1):
        with pytest.raises(LevinFormatError):
            rans.decode(garbage, model, count, RansConfig(int(rng.integers(1, 5))))
    assert time.perf_counter() - start < 2.0


def test_huge_counts_fail_fast():
    model = fit_model(laplace_int8(7, 1000, 5.0), 256)
    data = rans.encode(laplace_int8(7, 1000, 5.0), model)
    with pytest.raises(LevinFormatError, match="cannot fit"):
        rans.decode(data, model, 10**7)


def test_bad_states_and_offsets_are_named():
    model = fit_model(np.arange(4), 4)
    with pytest.raises(LevinFormatError, match="initial state 0"):
        rans.decode(b"\x00\x00\x00\x00", model, 1)
    with pytest.raises(LevinFormatError, match="fewer than the 2 initial"):
        rans.decode(b"\x00" * 7, model, 5, RansConfig(2))
    with pytest.raises(LevinFormatError, match="add up to 3"):
        rans.read_offset_table(b"\x01\x02", 0, 2, 4)
    with pytest.raises(LevinFormatError, match="outside the 4-byte payload"):
        rans.decode_chunk(b"\x00" * 4, (0, 9), 0, model, 1)
    with pytest.raises(LevinFormatError, match="chunk 1"):
        rans.decode_chunks(rans.encode([1, 2], model) + b"\x00\x00", model, [2, 1])


def test_encoder_rejects_symbols_the_model_cannot_code():
    model = fit_model(np.array([0, 2]), 3)
    with pytest.raises(ValueError, match="frequency 0"):
        rans.encode([1], model)
    with pytest.raises(ValueError):
        rans.encode([3], model)
    with pytest.raises(ValueError):
        RansConfig(0)
