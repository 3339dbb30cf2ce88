"""Decode a tensor section one output channel at a time, as the C runtime will (docs/format.md, 6).

Read me first. This is the executable form of the claim that the version 1.0 layout lets a
microcontroller decode weights per output channel with constant state: every stream is consumed
front to back, a channel at a time, and nothing is decoded ahead except one pending nonzero
position. It is slower than `weights.decode_tensor` (Python loops per symbol for gaps and
Huffman) and exists to test the layout and to serve as a model for the C code, not for speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from levin.coding import adaptive_values, golomb, rans, sparse
from levin.coding.bitstream import BitReader
from levin.coding.entropy_model import FrequencyModel
from levin.coding.fields import ByteReader
from levin.coding.huffman import HuffmanCode
from levin.coding.limits import check
from levin.coding.symbols import GOLOMB_SCALED, read_stream_head
from levin.coding.varint import read_varint
from levin.coding.weights import CODEBOOK, SPARSE, read_codebook


def _bits(data: bytes, start: int, width: int, count: int) -> np.ndarray:
    """`count` unsigned `width`-bit fields from stream bit `start` on (random access, as pack allows)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = start // 8, (start + width * count + 7) // 8
    bits = np.unpackbits(np.frombuffer(data[lo:hi], dtype=np.uint8), bitorder="little")
    bits = bits[start - 8 * lo : start - 8 * lo + width * count].reshape(count, width).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(width, dtype=np.int64))


class _Huffman:
    """Canonical Huffman decoding one bit at a time (deflate's puff.c method): counts + sorted symbols."""

    def __init__(self, code: HuffmanCode, data: bytes, pos: int):
        lengths = code.lengths
        self.count = [int((lengths == n).sum()) for n in range(16)]
        self.symbols = sorted(np.flatnonzero(lengths).tolist(), key=lambda s: (int(lengths[s]), s))
        self.bits = BitReader(data, pos, len(data), "Huffman payload")

    def take(self, k: int) -> np.ndarray:
        out = []
        for _ in range(k):
            code = first = index = 0
            for n in range(1, 16):
                code |= self.bits.read_bit()
                if code - first < self.count[n]:
                    out.append(self.symbols[index + code - first])
                    break
                index += self.count[n]
                first = (first + self.count[n]) << 1
                code <<= 1
        return np.asarray(out, dtype=np.int64)


class _Values:
    """The value stream, consumed front to back: take(k) returns the next k values (or indices)."""

    def __init__(self, r: ByteReader, dtype: np.dtype, total: int, indices: bool):
        self.coder, param, self.offset = read_stream_head(r, dtype, indices)
        self.data, self.pos, self.dtype, self.done = r.buf[r.pos : r.end], 0, dtype, 0
        if self.coder == "pack":
            self.width = param + 1
        elif self.coder == "huffman":
            code, pos = HuffmanCode.from_bytes(self.data, 0)
            self.huffman = _Huffman(code, self.data, pos)
        elif self.coder == "golomb":    # u8 order k, [u8 shift], then one code per value (golomb.py)
            scaled = bool(param & GOLOMB_SCALED)
            self.mode, self.k = param & ~GOLOMB_SCALED, self.data[0] if self.data else 0
            self.shift = self.data[1] if scaled and len(self.data) > 1 else 0
            self.bits = BitReader(self.data, 1 + scaled, len(self.data), "golomb payload")
        elif self.coder == "rans":
            model, pos = FrequencyModel.from_bytes(self.data, 0)
            self.rans = rans.RansDecoder(self.data, model, total, rans.RansConfig(param + 1), pos=pos)
        elif self.coder == "adaptive":   # decoded whole (the C runtime does not read coder 6)
            self.symbols = adaptive_values.decode(self.data, total, param)

    def take(self, k: int) -> np.ndarray:
        if self.coder == "raw":
            size = self.dtype.itemsize
            out = np.frombuffer(self.data[size * self.done : size * (self.done + k)], self.dtype.newbyteorder("<"))
            self.done += k
            return out.astype(np.int64) if self.dtype.kind in "iu" else out.astype(self.dtype)
        if self.coder == "pack":
            u = _bits(self.data, self.width * self.done, self.width, k)
        elif self.coder == "varint":
            u = []
            for _ in range(k):
                v, self.pos = read_varint(self.data, self.pos, "varint value")
                u.append(v)
            u = np.asarray(u, dtype=np.int64)
        elif self.coder == "huffman":
            u = self.huffman.take(k)
        elif self.coder == "golomb":
            u = np.asarray([self._golomb() for _ in range(k)], dtype=np.int64)
        elif self.coder == "adaptive":
            u = self.symbols[self.done : self.done + k]
        else:
            u = self.rans.take(k)
        self.done += k
        return (u + self.offset) << (self.shift if self.coder == "golomb" else 0)


    def _golomb(self) -> int:
        """One residual: zeros up to a one, then (Exp-Golomb) zeros + k or (Rice) k more bits."""
        zeros = 0
        while not self.bits.read_bit():
            zeros += 1
        if self.mode == golomb.EXP_GOLOMB:
            u = ((1 << (zeros + self.k)) | self.bits.read_code(zeros + self.k)) - (1 << self.k)
        else:
            u = (zeros << self.k) | self.bits.read_code(self.k)
        return u >> 1 if not u & 1 else -((u + 1) >> 1)


class _Positions:
    """Nonzero positions, consumed front to back: take(lo, hi) -> positions in [lo, hi)."""

    def __init__(self, blob: bytes, n: int):
        head = sparse.read_head(blob, n, context=True)
        self.method, self.blob, self.n = head.method, blob, n
        config = rans.RansConfig(head.states)
        if head.method == sparse.GAPS:
            self.esc = (1 << head.gap_bits) - 1
            self.nnz = head.nnz
            self.dec = rans.RansDecoder(blob, head.model, head.symbols, config, pos=head.payload)
            self.pending = self._next_gap(-1)
        elif head.method == sparse.BITMASK:
            self.dec = rans.RansDecoder(blob, head.model, n, config, pos=head.payload)
            # The value stream's count must be known before it starts (it sets the number of rANS
            # states in use). Gaps store it; packed bits are counted; a rANS bitmask would be
            # decoded twice, so the C code generator emits nnz as a constant instead.
            self.nnz = int(rans.RansDecoder(blob, head.model, n, config, pos=head.payload).take(n).sum())
        elif head.method == sparse.CONTEXT:
            # Decoded whole here (the model is sequential; the C runtime does not read method 3).
            self.mask = sparse.decode_positions(blob, n)
            self.nnz = int(self.mask.sum())
        else:
            self.nnz = int(_bits(blob[head.payload:], 0, 1, n).sum())

    def _next_gap(self, pos: int) -> int:
        """The next nonzero after `pos` (one gap symbol at a time), or n when the symbols end."""
        while self.dec.done < self.dec.count:
            s = int(self.dec.take(1)[0])
            if s != self.esc:
                return pos + s + 1
            pos += self.esc
        return self.n

    def take(self, lo: int, hi: int) -> np.ndarray:
        if self.method == sparse.PACKED:
            return lo + np.flatnonzero(_bits(self.blob[1:], lo, 1, hi - lo))
        if self.method == sparse.BITMASK:
            return lo + np.flatnonzero(self.dec.take(hi - lo))
        if self.method == sparse.CONTEXT:
            return lo + np.flatnonzero(self.mask[lo:hi])
        out = []
        while self.pending < hi:
            out.append(self.pending)
            self.pending = self._next_gap(self.pending)
        return np.asarray(out, dtype=np.int64)


def iter_channels(body: bytes, shape: tuple[int, ...], dtype: np.dtype) -> Iterator[np.ndarray]:
    """Yield each output channel (first dimension) of a tensor section body, decoded in order.

    `body` is the chain part of a tensor section (after the tensor index). The input is trusted
    (use `weights.decode_tensor` for untrusted bytes; this is a model of the runtime's loop).
    """
    dtype = np.dtype(dtype)
    n = math.prod(int(d) for d in shape)
    check("tensor_elements", n, f"tensor of shape {tuple(shape)}", "elements")  # before np.zeros(per)
    channels = shape[0] if shape else 1
    per = n // channels
    r = ByteReader(body, 0, len(body), "tensor")
    flags = r.u8("chain flags")
    positions = _Positions(r.blob("positions"), n) if flags & SPARSE else None
    book = read_codebook(r, dtype) if flags & CODEBOOK else None
    values = _Values(r, dtype, n if positions is None else positions.nnz, book is not None)
    for c in range(channels):
        lo, hi = c * per, (c + 1) * per
        out = np.zeros(per, dtype=dtype)
        where = np.arange(per) if positions is None else positions.take(lo, hi) - lo
        v = values.take(where.size)
        v = book[v] if book is not None else v
        if dtype.kind == "f":
            out.view(f"u{dtype.itemsize}")[where] = v.view(f"u{dtype.itemsize}")
        else:
            out[where] = v
        yield out.reshape(shape[1:])
