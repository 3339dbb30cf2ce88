"""Static frequency models: optimal quantization, costs, the serialized table."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding.bitstream import BitWriter
from levin.coding.entropy_model import (
    EntropyModelConfig,
    FrequencyModel,
    build_model,
    choose_precision,
    count_symbols,
    empirical_entropy_bits,
    fit_model,
    quantize_frequencies,
)
from levin.errors import LevinError, LevinFormatError
from tests.coding.streams import laplace_int8, symbol_streams

GOLDEN_COUNTS = [4, 2, 0, 3, 0, 7]


def cost(counts, freqs, total):
    return sum(c * math.log2(total / f) for c, f in zip(counts, freqs) if c)


def brute_force_best(counts, total):
    """The least cost over every allocation with f >= 1 where the count is nonzero."""
    used = [i for i, c in enumerate(counts) if c]
    best = math.inf
    for head in itertools.product(range(1, total + 1), repeat=len(used) - 1):
        if sum(head) < total:  # the last frequency takes what is left
            best = min(best, cost([counts[i] for i in used], (*head, total - sum(head)), total))
    return best


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=4), st.sampled_from([8, 16, 32]))
def test_quantization_is_optimal_against_brute_force(counts, total):
    if sum(1 for c in counts if c) > total:
        return
    f = quantize_frequencies(np.array(counts), total)
    assert f.sum() == total
    assert all((fi >= 1) == (c > 0) for fi, c in zip(f, counts)) or sum(counts) == 0
    if sum(counts):
        assert cost(counts, f, total) <= brute_force_best(counts, total) + 1e-9


@settings(derandomize=True, max_examples=60, deadline=None)
@given(symbol_streams(max_alphabet=256), st.integers(8, 15))
def test_model_keeps_every_symbol_and_round_trips(stream, precision):
    symbols, k = stream
    model = fit_model(symbols, k, EntropyModelConfig(precision))
    counts = count_symbols(symbols, k)
    assert model.freqs.sum() == 1 << precision
    if counts.sum():
        assert np.array_equal(model.freqs > 0, counts > 0)
    cum = model.cumulative()
    assert cum[0] == 0 and cum[-1] == model.total and np.array_equal(np.diff(cum), model.freqs)
    assert np.array_equal(np.repeat(np.arange(k), model.freqs), model.slot_table())
    blob = model.to_bytes()
    parsed, end = FrequencyModel.from_bytes(b"\xaa" + blob + b"\x55", 1)
    assert parsed == model and end == 1 + len(blob)
    # The ideal cost is never below the entropy bound.
    assert model.cost_bits(symbols) >= empirical_entropy_bits(counts) - 1e-6


def test_entropy_and_cost_on_a_known_distribution():
    counts = np.array([8, 4, 2, 2])  # probabilities 1/2, 1/4, 1/8, 1/8
    assert empirical_entropy_bits(counts) == pytest.approx(16 * 1.75)
    model = build_model(counts, EntropyModelConfig(8))
    assert model.freqs.tolist() == [128, 64, 32, 32]
    assert model.cost_bits(np.repeat(np.arange(4), counts)) == pytest.approx(16 * 1.75)
    assert empirical_entropy_bits([0, 0]) == 0.0


def test_golden_table_bytes():
    model = build_model(GOLDEN_COUNTS, EntropyModelConfig(8))
    assert model.freqs.tolist() == [64, 32, 0, 48, 0, 112]
    assert model.to_bytes().hex() == "200610419258122e"


def test_large_table_is_compact():
    """A dense int8 table (215 symbols used) takes well under one byte per symbol."""
    model = fit_model(laplace_int8(0, 100_000, 10.0), 256)
    assert len(model.to_bytes()) < 0.75 * np.count_nonzero(model.freqs)


def test_empty_stream_gives_a_valid_model():
    model = fit_model(np.zeros(0, dtype=np.int64), 5)
    assert model.freqs.tolist() == [4096, 0, 0, 0, 0]
    assert FrequencyModel.from_bytes(model.to_bytes())[0] == model


def test_too_many_symbols_for_the_precision():
    with pytest.raises(LevinError, match="raise precision_bits"):
        build_model(np.ones(300), EntropyModelConfig(8))


def test_cost_bits_rejects_uncodable_symbols():
    model = build_model([1, 0, 1])
    with pytest.raises(ValueError, match="frequency 0"):
        model.cost_bits([1])
    with pytest.raises(ValueError):
        model.cost_bits([3])


def test_choose_precision_trades_table_bytes_against_payload():
    peaked = np.where(np.random.default_rng(1).random(200_000) < 0.9, 128, laplace_int8(1, 200_000, 20.0))
    assert choose_precision(count_symbols(peaked, 256)) >= 14  # 12 bits would lose ~3% here
    assert choose_precision(count_symbols(peaked[:2000], 256)) < 14  # few symbols: the table dominates


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"", "missing"),
        (b"\x08\x02", "precision"),  # nibble 8 -> precision 16
        (b"\x00\x00", "alphabet size 0"),
        (b"\x00\x02", "truncated"),
        (bytes.fromhex("00020d"), "zero run of 3"),  # K=2, then EG0(0) marker, EG0(2): 3 zeros
    ],
)
def test_table_rejects_corrupt_bytes(blob, message):
    with pytest.raises(LevinFormatError, match=message):
        FrequencyModel.from_bytes(blob)


def test_table_rejects_frequencies_not_summing_to_the_total():
    w = BitWriter()
    w.write_exp_golomb(100, 0)
    w.write_exp_golomb(100, 0)
    with pytest.raises(LevinFormatError, match="sum to 200, not 2"):
        FrequencyModel.from_bytes(b"\x00\x02" + w.to_bytes())
    w.write_exp_golomb(300, 0)
    with pytest.raises(LevinFormatError, match="exceeds total"):
        FrequencyModel.from_bytes(b"\x00\x03" + w.to_bytes())


def test_every_truncation_and_most_corruptions_of_a_table_are_caught():
    blob = fit_model(laplace_int8(2, 5000, 4.0), 256).to_bytes()
    for n in range(len(blob)):
        with pytest.raises(LevinFormatError):
            FrequencyModel.from_bytes(blob[:n])
    caught = 0
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x5A
        try:
            FrequencyModel.from_bytes(bytes(bad))
        except LevinFormatError:
            caught += 1
    assert caught >= 0.9 * len(blob)
