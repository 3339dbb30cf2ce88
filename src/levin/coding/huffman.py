"""Length-limited canonical Huffman codes: the entropy coder of Deep Compression, for comparison.

Read me first. Code lengths come from package-merge (Larmore and Hirschberg), which gives the
optimal prefix code whose lengths are at most `max_length` (default 15, as deflate; 15 also lets a
length fit a nibble of the table below). Codes are canonical: symbols sorted by (length, symbol)
take consecutive codes, so the lengths alone define the code. A single used symbol gets length 1
(code 0). Huffman spends at least 1 bit per symbol, which is exactly where rANS beats it on
skewed weight streams.

Payload: the codes of the symbols in order, each most significant bit first, in levin's bit order
(`bitstream.py`: stream bit p is bit p mod 8 of byte p div 8), zero-padded to a byte boundary. A
C decoder needs no table beyond the lengths (deflate's puff.c method):

    code = first = index = 0
    for len in 1 .. max_length:
        code |= next_bit(); count = number of symbols of length len
        if code - first < count: return sorted_symbols[index + code - first]
        index += count; first = (first + count) << 1; code <<= 1
    error: invalid code

sorted_symbols lists the used symbols by (length, symbol); with count[1..15] it is all the RAM
the decoder needs (K + 16 entries), built once from the table below.

Table (`HuffmanCode.to_bytes`):

    varint  K, the alphabet size (1..65536)
    nibbles 4-bit values, low nibble of each byte first, until K lengths are defined:
              1..15        one symbol with that code length
              0, r         r + 1 consecutive symbols of length 0 (unused), r in 0..15
            then a zero nibble if needed to end the byte

The lengths must satisfy Kraft's inequality (sum of 2^-length <= 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from levin.coding.varint import encode_varint, read_varint
from levin.coding.limits import LIMITS
from levin.errors import LevinError, LevinFormatError

MAX_ALPHABET = LIMITS.alphabet_symbols  # 65536: 16-bit symbols


@dataclass(frozen=True)
class HuffmanConfig:
    """max_length: the longest code allowed, in bits (1..15)."""

    max_length: int = 15

    def __post_init__(self) -> None:
        if not 1 <= self.max_length <= 15:
            raise ValueError(f"max_length must be in 1..15, got {self.max_length}")


def code_lengths(counts: np.ndarray, max_length: int = 15) -> np.ndarray:
    """Return optimal code lengths (<= max_length) for the counts, by package-merge; 0 = unused."""
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    lengths = np.zeros(counts.size, dtype=np.int64)
    used = [int(i) for i in np.flatnonzero(counts > 0)]
    used.sort(key=lambda i: (int(counts[i]), i))
    if len(used) <= 1:
        lengths[used] = 1
        return lengths
    if len(used) > 1 << max_length:
        raise LevinError(f"{len(used)} symbols cannot have codes of at most {max_length} bits")
    # An item is (weight, node); node is a symbol (int) or a pair of items (a package).
    leaves = [(int(counts[i]), i) for i in used]
    items = list(leaves)
    for _ in range(max_length - 1):
        pairs = zip(items[0::2], items[1::2])  # an odd last item is left out
        packages = [(a[0] + b[0], (a, b)) for a, b in pairs]
        merged, a, b = [], 0, 0
        while a < len(leaves) or b < len(packages):  # merge by weight, leaves first on ties
            if b == len(packages) or (a < len(leaves) and leaves[a][0] <= packages[b][0]):
                merged.append(leaves[a])
                a += 1
            else:
                merged.append(packages[b])
                b += 1
        items = merged
    stack = [node for _, node in items[: 2 * len(used) - 2]]
    while stack:  # each time a symbol appears among the chosen items, its code gets a bit longer
        node = stack.pop()
        if isinstance(node, int):
            lengths[node] += 1
        else:
            stack.append(node[0][1])
            stack.append(node[1][1])
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Return the canonical code of each symbol (0 where its length is 0)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(lengths.size, dtype=np.int64)
    code, prev = 0, 0
    for s in sorted(np.flatnonzero(lengths).tolist(), key=lambda s: (int(lengths[s]), s)):
        code <<= int(lengths[s]) - prev
        prev = int(lengths[s])
        codes[s] = code
        code += 1
    return codes


class HuffmanCode:
    """A canonical prefix code over symbols 0..K-1, defined by its code lengths."""

    def __init__(self, lengths: np.ndarray):
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if not 1 <= lengths.size <= MAX_ALPHABET or lengths.min() < 0 or lengths.max() > 15:
            raise ValueError("need 1..65536 code lengths, each 0..15")
        if sum(2.0 ** -int(n) for n in lengths if n) > 1.0:
            raise ValueError("code lengths violate Kraft's inequality")
        self.lengths = lengths
        self.codes = canonical_codes(lengths)

    @property
    def alphabet_size(self) -> int:
        return int(self.lengths.size)

    def cost_bits(self, symbols: np.ndarray) -> int:
        """Return the exact payload size of `symbols` in bits (before byte padding)."""
        return int(self.lengths[np.asarray(symbols, dtype=np.int64)].sum())

    def to_bytes(self) -> bytes:
        """Return the serialized code-length table (format in the module docstring)."""
        nibbles, i, lens = [], 0, self.lengths.tolist()
        while i < len(lens):
            if lens[i]:
                nibbles.append(lens[i])
                i += 1
                continue
            j = i
            while j < len(lens) and lens[j] == 0 and j - i < 16:
                j += 1
            nibbles += [0, j - i - 1]
            i = j
        if len(nibbles) % 2:
            nibbles.append(0)
        packed = bytes(nibbles[k] | (nibbles[k + 1] << 4) for k in range(0, len(nibbles), 2))
        return encode_varint(self.alphabet_size) + packed

    @classmethod
    def from_bytes(cls, buf: bytes, pos: int = 0) -> tuple[HuffmanCode, int]:
        """Parse a code-length table at `buf[pos:]`; return (code, position after the table).

        Raises:
            LevinFormatError: truncated table, bad alphabet size, a zero run past the alphabet,
                nonzero padding, or lengths that violate Kraft's inequality.
        """
        what = "Huffman table"
        k, pos = read_varint(buf, pos, what + " alphabet size")
        if not 1 <= k <= MAX_ALPHABET:
            raise LevinFormatError(f"{what}: alphabet size {k} outside 1..{MAX_ALPHABET}")
        lengths = np.zeros(k, dtype=np.int64)
        nib = 0  # nibble index from pos

        def next_nibble() -> int:
            nonlocal nib
            at = pos + (nib >> 1)
            if at >= len(buf):
                raise LevinFormatError(f"{what}: truncated at byte {at}")
            v = (buf[at] >> (4 * (nib & 1))) & 0xF
            nib += 1
            return v

        i = 0
        while i < k:  # each token defines >= 1 symbol, so this loop is bounded by k
            v = next_nibble()
            if v:
                lengths[i] = v
                i += 1
                continue
            run = next_nibble() + 1
            if i + run > k:
                raise LevinFormatError(f"{what}: zero run of {run} at symbol {i} passes alphabet size {k}")
            i += run
        if nib & 1 and next_nibble():
            raise LevinFormatError(f"{what}: nonzero padding nibble")
        if sum(2.0 ** -int(n) for n in lengths if n) > 1.0:
            raise LevinFormatError(f"{what}: code lengths violate Kraft's inequality, corrupt table")
        return cls(lengths), pos + (nib >> 1)


def build_code(counts: np.ndarray, config: HuffmanConfig | None = None) -> HuffmanCode:
    """Return the optimal length-limited canonical code for these symbol counts."""
    config = config or HuffmanConfig()
    return HuffmanCode(code_lengths(counts, config.max_length))


def encode(symbols: np.ndarray, code: HuffmanCode) -> bytes:
    """Return the payload: each symbol's code, most significant bit first, in levin's bit order."""
    sym = np.asarray(symbols, dtype=np.int64).reshape(-1)
    if sym.size == 0:
        return b""
    if sym.min() < 0 or sym.max() >= code.alphabet_size or (code.lengths[sym] == 0).any():
        raise ValueError("a symbol is outside the alphabet or has no code")
    lens, codes = code.lengths[sym], code.codes[sym]
    starts = np.cumsum(lens) - lens
    bits = np.zeros(int(lens.sum()), dtype=np.uint8)
    for b in range(int(lens.max())):  # bit b of every code at once (vectorized over symbols)
        sel = lens > b
        bits[starts[sel] + b] = (codes[sel] >> (lens[sel] - 1 - b)) & 1
    return np.packbits(bits, bitorder="little").tobytes()


def decode(data: bytes, code: HuffmanCode, count: int) -> np.ndarray:
    """Decode `count` symbols with a lookup table indexed by the next max-length stream bits.

    Raises:
        LevinFormatError: the payload is truncated, holds an invalid code, or has bytes or
            nonzero padding bits left over.
    """
    what = "Huffman payload"
    if not 0 <= count <= 8 * len(data):  # every code takes at least one bit
        raise LevinFormatError(f"{what}: {count} symbols cannot fit in {len(data)} bytes")
    width = int(code.lengths.max())
    table_sym = np.zeros(1 << width, dtype=np.int64)
    table_len = np.zeros(1 << width, dtype=np.int64)  # 0 marks a bit pattern that starts no code
    for s in np.flatnonzero(code.lengths).tolist():
        n = int(code.lengths[s])
        rev = int(format(int(code.codes[s]), f"0{n}b")[::-1], 2)  # first stream bit = code's MSB
        table_sym[rev :: 1 << n] = s
        table_len[rev :: 1 << n] = n
    tsym, tlen = table_sym.tolist(), table_len.tolist()
    mask = (1 << width) - 1
    acc = nacc = pos = 0
    out = []
    for i in range(count):
        while nacc < width and pos < len(data):
            acc |= data[pos] << nacc
            nacc += 8
            pos += 1
        n = tlen[acc & mask]
        if n == 0 or n > nacc:
            problem = "invalid code" if n == 0 else "truncated"
            raise LevinFormatError(f"{what}: {problem} at symbol {i} of {count}")
        out.append(tsym[acc & mask])
        acc >>= n
        nacc -= n
    if nacc + 8 * (len(data) - pos) >= 8 or acc:
        raise LevinFormatError(f"{what}: bytes or nonzero padding bits left over after {count} symbols")
    return np.asarray(out, dtype=np.int64)
