"""Canonical Huffman: optimal limited lengths, round trips, frozen bytes, hostile payloads."""

import heapq
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import huffman
from levin.coding.entropy_model import count_symbols, empirical_entropy_bits
from levin.coding.huffman import HuffmanCode, HuffmanConfig, build_code, code_lengths
from levin.errors import LevinError, LevinFormatError
from tests.coding.streams import laplace_int8, skewed_symbols, symbol_streams

GOLDEN_SYMBOLS = [0, 3, 5, 5, 1, 0, 5, 3, 5, 5, 0, 0, 3, 5, 5, 1]  # counts 4, 2, 0, 3, 0, 7


def unlimited_huffman_cost(counts):
    """Total bits of a textbook (unlimited) Huffman code."""
    heap = [c for c in counts if c]
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        total += a + b
        heapq.heappush(heap, a + b)
    return total


def brute_force_limited_cost(counts, limit):
    used = [c for c in counts if c]
    best = None
    for lens in itertools.product(range(1, limit + 1), repeat=len(used)):
        if sum(2.0**-n for n in lens) <= 1:
            cost = sum(c * n for c, n in zip(used, lens))
            best = cost if best is None else min(best, cost)
    return best


def reference_decode(data: bytes, lengths: list[int], count: int) -> list[int]:
    """The bit-at-a-time canonical decoder of the huffman.py docstring (puff.c's method)."""
    order = sorted((n, s) for s, n in enumerate(lengths) if n)
    per_len = [sum(1 for n, _ in order if n == k) for k in range(16)]
    bits = [(data[p >> 3] >> (p & 7)) & 1 for p in range(8 * len(data))]
    p, out = 0, []
    for _ in range(count):
        code = first = index = 0
        for n in range(1, 16):
            code |= bits[p]
            p += 1
            if code - first < per_len[n]:
                out.append(order[index + code - first][1])
                break
            index += per_len[n]
            first = (first + per_len[n]) << 1
            code <<= 1
    return out


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=6), st.integers(1, 4))
def test_package_merge_is_optimal_under_the_limit(counts, limit):
    used = sum(1 for c in counts if c)
    if used > 1 << limit:
        with pytest.raises(LevinError):
            code_lengths(np.array(counts), limit)
        return
    lengths = code_lengths(np.array(counts), limit)
    assert lengths.max(initial=0) <= limit
    assert all((n > 0) == (c > 0) for n, c in zip(lengths, counts))
    if used >= 2:
        assert sum(c * n for c, n in zip(counts, lengths)) == brute_force_limited_cost(counts, limit)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(symbol_streams(max_alphabet=300))
def test_round_trip_and_unlimited_optimality(stream):
    symbols, k = stream
    counts = count_symbols(symbols, k)
    code = build_code(counts)
    data = huffman.encode(symbols, code)
    assert len(data) == (code.cost_bits(symbols) + 7) // 8
    np.testing.assert_array_equal(huffman.decode(data, code, symbols.size), symbols)
    if symbols.size and code.lengths.max() < 15:  # the limit did not bind: plain Huffman cost
        assert code.cost_bits(symbols) == unlimited_huffman_cost(counts.tolist())
    parsed, end = HuffmanCode.from_bytes(b"\x07" + code.to_bytes(), 1)
    assert np.array_equal(parsed.lengths, code.lengths) and end == 1 + len(code.to_bytes())


@settings(derandomize=True, max_examples=20, deadline=None)
@given(symbol_streams(max_alphabet=40, max_length=200), st.integers(4, 15))
def test_matches_the_documented_decoder(stream, limit):
    symbols, k = stream
    if np.count_nonzero(count_symbols(symbols, k)) > 1 << limit:
        return
    code = build_code(count_symbols(symbols, k), HuffmanConfig(limit))
    data = huffman.encode(symbols, code)
    assert reference_decode(data, code.lengths.tolist(), symbols.size) == symbols.tolist()


def test_golden_bytes():
    code = build_code(count_symbols(GOLDEN_SYMBOLS, 6))
    assert code.lengths.tolist() == [2, 3, 0, 3, 0, 1]
    assert code.codes.tolist() == [0b10, 0b110, 0, 0b111, 0, 0b0]
    assert code.to_bytes().hex() == "0632000310"
    assert huffman.encode(GOLDEN_SYMBOLS, code).hex() == "9de5d419"


def test_length_limit_binds_on_fibonacci_counts():
    counts = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181]
    unlimited = unlimited_huffman_cost(counts)  # its longest code has 18 bits
    for limit in (15, 7):
        lengths = code_lengths(np.array(counts), limit)
        assert lengths.max() == limit and sum(2.0**-n for n in lengths) == 1.0
        assert sum(c * n for c, n in zip(counts, lengths)) > unlimited


def test_near_entropy_on_skewed_data():
    symbols = laplace_int8(8, 100_000, 3.0)
    counts = count_symbols(symbols, 256)
    bits = build_code(counts).cost_bits(symbols)
    h = empirical_entropy_bits(counts)
    assert h <= bits <= h + symbols.size  # Huffman's redundancy is below 1 bit per symbol


def test_single_symbol_takes_one_bit_each():
    code = build_code([0, 9, 0])
    assert code.lengths.tolist() == [0, 1, 0]
    data = huffman.encode(np.ones(9, dtype=np.int64), code)
    assert data == b"\x00\x00"
    with pytest.raises(LevinFormatError, match="invalid code"):
        huffman.decode(b"\x01\x00", code, 9)


def test_every_truncation_and_extra_byte_is_caught():
    symbols = skewed_symbols(9, 30, 500, 1.0)
    code = build_code(count_symbols(symbols, 30))
    data = huffman.encode(symbols, code)
    for n in range(len(data)):
        with pytest.raises(LevinFormatError):
            huffman.decode(data[:n], code, symbols.size)
    with pytest.raises(LevinFormatError, match="left over"):
        huffman.decode(data + b"\x00", code, symbols.size)
    with pytest.raises(LevinFormatError, match="cannot fit"):
        huffman.decode(data, code, 10**9)


def test_table_rejects_corrupt_bytes():
    blob = build_code(count_symbols(laplace_int8(10, 3000, 4.0), 256)).to_bytes()
    for n in range(len(blob)):
        with pytest.raises(LevinFormatError):
            HuffmanCode.from_bytes(blob[:n])
    with pytest.raises(LevinFormatError, match="Kraft"):
        HuffmanCode.from_bytes(bytes([3, 0x11, 0x01]))  # lengths 1, 1, 1
    with pytest.raises(LevinFormatError, match="zero run"):
        HuffmanCode.from_bytes(bytes([2, 0x20]))  # run of 3 zeros in an alphabet of 2
    with pytest.raises(LevinFormatError, match="padding"):
        HuffmanCode.from_bytes(bytes([1, 0x11]))
