"""Symbols under an adaptive binary-tree model, with no table (value coder 6, "adaptive").

Read me first. A pruned, MDL-trained layer keeps a few hundred to a few thousand values over a
codebook of 4-16 entries. A Huffman or rANS stream sends its frequency table (8-20 B) and a
Huffman code loses up to a bit per symbol to whole-bit lengths; this coder sends no table and
learns the frequencies as it codes, which on such streams costs less than either (LeNet-5's four
index streams: 3% less than the better of Huffman and rANS; docs/results.md, issue 22).

An unsigned symbol u in [0, 2^d) is coded as its d bits, most significant first (d, the tree
depth, 0..15, is the stream's coder parameter). The bit at each node of the binary tree (node 1
the root, the child after bit b of node j is 2j + b) has its own counter (`adaptive_bits`,
p = 32768 at first), so the model is order 0: it learns P(u) as the product of its d node
probabilities. The payload is the binary rANS payload of the n x d bits (`adaptive_bits`).

Speed: pure Python, about 1-2 us per bit each way. The writer tries it on streams of at most
MAX_BITS bits and a reader refuses longer ones (a hostile count could otherwise keep it busy);
the C runtime does not read it (`levin export` codes such a tensor again in a form it reads).
"""

from __future__ import annotations

import numpy as np

from levin.coding import adaptive_bits
from levin.coding.adaptive_bits import HALF, q_of, update
from levin.errors import LevinFormatError

MAX_DEPTH = 15
MAX_BITS = 1 << 20


def depth(span: int) -> int:
    """Tree depth for symbols 0..span - 1."""
    return max(span - 1, 0).bit_length()


def applicable(n: int, span: int) -> bool:
    """Whether n symbols of alphabet `span` may be coded (depth <= 15, n x depth <= MAX_BITS)."""
    d = depth(span)
    return d <= MAX_DEPTH and n * d <= MAX_BITS


def _walk(n: int, d: int, bit_of) -> None:
    """Run the model over n symbols of d bits; `bit_of(q, j, s)` returns symbol j's next bit."""
    p, m = [HALF] * (1 << d), [0] * (1 << d)
    for j in range(n):
        node = 1
        for _ in range(d):
            b = bit_of(q_of(p[node]), j, node)
            p[node], m[node] = update(p[node], m[node], b)
            node = 2 * node + b


def encode(u: np.ndarray, d: int) -> bytes:
    """The rANS payload of unsigned symbols `u` (each < 2^d) in a tree of depth d."""
    syms = np.asarray(u, dtype=np.int64).tolist()
    bits, qs = [], []
    shifts = list(range(d - 1, -1, -1))

    def bit_of(q, j, node):
        b = (syms[j] >> shifts[node.bit_length() - 1]) & 1
        bits.append(b)
        qs.append(q)
        return b

    _walk(len(syms), d, bit_of)
    return adaptive_bits.encode(bits, qs)


def decode(payload: bytes, n: int, d: int) -> np.ndarray:
    """n symbols of a tree of depth d from `payload`.

    Raises:
        LevinFormatError: more than MAX_BITS bits asked for, a truncated payload, a final state
            other than 2^23, or bytes left over.
    """
    if d > MAX_DEPTH or n * d > MAX_BITS:
        raise LevinFormatError(f"adaptive values: {n} symbols of {d} bits, more than the "
                               f"{MAX_BITS} bits a stream may hold")
    dec = adaptive_bits.Decoder(payload, "adaptive values", n * d)
    out = [0] * n

    def bit_of(q, j, node):
        b = dec.bit(q)
        out[j] = (out[j] << 1) | b
        return b

    _walk(n, d, bit_of)
    dec.finish()
    return np.asarray(out, dtype=np.int64)
