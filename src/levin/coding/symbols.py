"""One value stream of a tensor section: integers (or raw dtype bytes) coded by one coder.

Read me first. The values of a tensor (all of them, its nonzeros, or its codebook indices) form
one stream. Except for "raw", a stream codes unsigned symbols u = value - offset, so signed and
unsigned values, and indices, all take the same path. Stream format (count n and dtype come from
the container; the stream runs to the end of its tensor section):

    u8       low nibble: coder (0 raw, 1 pack, 2 varint, 3 huffman, 4 rans, 5 golomb, 6 adaptive)
             high nibble: pack: bits - 1 (1..8 bits); rans: states - 1 (1..16);
             golomb: bit 0 mode (0 Exp-Golomb, 1 Rice), bit 1 scaled; adaptive: tree depth
             d (0..15); else 0
    svarint  offset (not for raw): value = offset + u; for golomb the center c of the residuals
    raw:     n values of the tensor's dtype, little-endian
    pack:    ceil(n * bits / 8) bytes of unsigned bits-wide symbols (`bitpack.py`)
    varint:  n LEB128 symbols (`varint.py`)
    huffman: code-length table over K = max(u) + 1 symbols, then the payload (`huffman.py`)
    rans:    frequency table (`entropy_model.py`), then the rANS payload (`rans.py`)
    golomb:  u8 order k, if scaled u8 shift s, then the codes of zigzag((value >> s) - c)
             (`golomb.py`; format 3.0 on): no table, for wide near-symmetric streams such as
             int32 biases
    adaptive: the binary rANS payload of each u's d bits under an adaptive binary-tree model
             (`adaptive_values.py`; format 3.0 on): no table, for short streams of small
             alphabets such as a pruned layer's codebook indices

`stream_sizes` gives the exact byte size of every applicable coder without building all of them
(closed forms for raw, pack, varint and Huffman; rANS and adaptive are encoded, as their sizes
have no closed form), and `encode_stream` builds the chosen one; tests check that the two agree byte for byte.
"""

from __future__ import annotations

import heapq

import numpy as np

from levin.coding import adaptive_values, bitpack, golomb, huffman, rans
from levin.coding.entropy_model import (MAX_PRECISION, MIN_PRECISION, EntropyModelConfig, FrequencyModel,
                                        build_model, choose_precision, empirical_entropy_bits)
from levin.coding.fields import ByteReader, ByteWriter, zigzag
from levin.coding.varint import encode_varint, encode_varints
from levin.coding.limits import LIMITS
from levin.config.code import WeightCodecConfig
from levin.errors import LevinFormatError

CODER_IDS = {"raw": 0, "pack": 1, "varint": 2, "huffman": 3, "rans": 4, "golomb": 5, "adaptive": 6}
CODER_NAMES = {v: k for k, v in CODER_IDS.items()}
GOLOMB_SCALED = 2                # golomb parameter bit: a shift byte follows the order
MAX_ALPHABET = LIMITS.alphabet_symbols
ADAPTIVE_MAX_SYMBOLS = 1 << 14   # the writer's limit: the Python coder runs 1-2 us a bit, and the
                                 # table it saves is a few bytes, nothing on a longer stream


def varint_sizes(u: np.ndarray) -> int:
    """Total LEB128 bytes of the unsigned values `u` (vectorized)."""
    u = np.asarray(u, dtype=np.int64)
    return int(u.size + sum(int((u >= 1 << (7 * k)).sum()) for k in range(1, 5)))


def _svarint_size(v: int) -> int:
    return len(encode_varint(zigzag(v)))


class Stream:
    """A value stream to be coded: integer `values` (int64) or, for floats, only raw bytes."""

    def __init__(self, values: np.ndarray, dtype: np.dtype, config: WeightCodecConfig, indices: bool = False):
        self.values, self.dtype, self.config, self.indices = values, np.dtype(dtype), config, indices
        self.is_int = indices or self.dtype.kind in "iu"
        self._coded: dict[str, bytes] = {}          # rANS and adaptive: sized by encoding
        self._golomb: golomb.GolombParams | None = None
        if self.is_int:
            self.offset = int(values.min()) if values.size else 0
            self.u = values.astype(np.int64) - self.offset
            self.span = int(self.u.max()) + 1 if values.size else 1  # alphabet size K = max(u) + 1
            # Counts only for alphabets a table can describe (an int32 range would not fit in RAM).
            self.counts = np.bincount(self.u, minlength=1) if self.span <= MAX_ALPHABET else None

    def applicable(self) -> list[str]:
        """Coders of the config that can code this stream, in its order; if none can, raw alone
        (never for codebook indices, which have no dtype). Floats are always raw."""
        if not self.is_int:
            return ["raw"]
        out = []
        for coder in self.config.coders:
            if coder == "raw":
                if not self.indices:
                    out.append(coder)
                continue
            if coder == "golomb" and self.indices:   # indices are small and one-sided: pack/rANS
                continue
            if coder == "pack" and self.pack_bits() is None:
                continue
            if coder in ("huffman", "rans") and self.counts is None:
                continue
            if coder == "rans" and self._min_precision() > (self.config.precision_bits or MAX_PRECISION):
                continue
            if coder == "adaptive" and not (self.values.size <= ADAPTIVE_MAX_SYMBOLS
                                            and adaptive_values.applicable(self.values.size, self.span)):
                continue
            out.append(coder)
        return out or ([] if self.indices else ["raw"])

    def pack_bits(self) -> int | None:
        need = max(1, (self.span - 1).bit_length())
        bits = self.config.bits or need
        return bits if need <= bits <= 8 else None

    def _huffman_code(self) -> huffman.HuffmanCode:
        return huffman.build_code(self.counts)

    def _min_precision(self) -> int:
        """The lowest precision whose total gives every distinct symbol a unit."""
        return max(MIN_PRECISION, (int(np.count_nonzero(self.counts)) - 1).bit_length())

    def _rans_model(self) -> FrequencyModel:
        p = self.config.precision_bits
        if p is None:
            p = choose_precision(self.counts, range(self._min_precision(), MAX_PRECISION + 1))
        return build_model(self.counts, EntropyModelConfig(p))

    def _golomb_params(self) -> golomb.GolombParams:
        if self._golomb is None:
            self._golomb = golomb.best(self.values)
        return self._golomb

    def size(self, coder: str, bound: int | None = None) -> int | None:
        """The exact byte size of this stream coded by `coder` (header included); None when a lower
        bound shows it exceeds `bound` (only Huffman computes such a bound, see `huffman_size`)."""
        n = self.values.size
        if coder == "raw":
            return 1 + n * self.dtype.itemsize
        head = 1 + _svarint_size(self.offset)
        if coder == "pack":
            return head + bitpack.packed_size(n, self.pack_bits())
        if coder == "varint":
            return head + varint_sizes(self.u)
        if coder == "golomb":
            p = self._golomb_params()
            return 2 + (p.shift > 0) + _svarint_size(p.center) + p.payload_bytes
        if coder == "huffman":
            size = huffman_size(self.counts, None if bound is None else bound - head)
            return None if size is None else head + size
        return len(self.encode(coder))

    def encode(self, coder: str) -> bytes:
        """The stream's bytes (format in the module docstring)."""
        cfg, w = self.config, ByteWriter()
        if coder == "raw":
            w.u8(CODER_IDS["raw"])
            w.raw(np.ascontiguousarray(self.values, dtype=self.dtype.newbyteorder("<")).tobytes())
            return bytes(w.out)
        depth = adaptive_values.depth(self.span)
        param = {"pack": (self.pack_bits() or 1) - 1, "rans": cfg.n_states - 1, "adaptive": depth}.get(coder, 0)
        if coder in self._coded:
            return self._coded[coder]
        if coder == "golomb":
            p = self._golomb_params()
            w.u8(CODER_IDS[coder] | (p.mode | (GOLOMB_SCALED if p.shift else 0)) << 4)
            w.svarint(p.center)
            w.u8(p.k)
            if p.shift:
                w.u8(p.shift)
            w.raw(golomb.encode(self.values, p))
            return bytes(w.out)
        w.u8(CODER_IDS[coder] | param << 4)
        w.svarint(self.offset)
        if coder == "pack":
            w.raw(bitpack.pack_unsigned(self.u, self.pack_bits()))
        elif coder == "varint":
            w.raw(encode_varints(self.u.tolist()))
        elif coder == "huffman":
            code = self._huffman_code()
            w.raw(code.to_bytes() + huffman.encode(self.u, code))
        elif coder == "adaptive":
            w.raw(adaptive_values.encode(self.u, depth))
            self._coded[coder] = bytes(w.out)
        else:
            model = self._rans_model()
            w.raw(model.to_bytes() + rans.encode(self.u, model, rans.RansConfig(cfg.n_states)))
            self._coded[coder] = bytes(w.out)
        return bytes(w.out)


def huffman_size(counts: np.ndarray, bound: int | None = None) -> int | None:
    """Exact bytes of the Huffman table plus payload for these counts, without building the code.

    The table costs one nibble per used symbol and two per run of up to 16 unused ones, whatever
    the lengths; the payload of any optimal code is the Huffman tree's cost (the sum of its merged
    weights). When the unrestricted tree is deeper than 15 levels, the length-limited code differs
    and is built for real (package-merge, slow in Python), unless the unrestricted cost, a lower
    bound, already exceeds `bound`: then None.
    """
    used = counts > 0
    starts = np.flatnonzero(~used & np.concatenate([[True], used[:-1]]))
    ends = np.flatnonzero(~used & np.concatenate([used[1:], [True]])) + 1
    nibbles = int(used.sum()) + 2 * int(((ends - starts + 15) // 16).sum())
    table = len(encode_varint(counts.size)) + (nibbles + 1) // 2
    heap = [(int(c), 0) for c in counts[used].tolist()]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        (a, da), (b, db) = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, (a + b, max(da, db) + 1))
    if len(heap) == 1 and len(counts[used]) == 1:
        cost = int(counts[used][0])  # one symbol: a 1-bit code
    if heap and heap[0][1] > 15:
        if bound is not None and table + (cost + 7) // 8 > bound:
            return None
        code = huffman.build_code(counts)
        cost = int((code.lengths * counts).sum())
    return table + (cost + 7) // 8


def read_stream_head(r: ByteReader, dtype: np.dtype, indices: bool = False) -> tuple[str, int, int]:
    """Read a value stream's coder byte and offset; return (coder, parameter, offset).

    Raises:
        LevinFormatError: unknown coder, bad parameter, a coder that does not fit the dtype.
    """
    head = r.u8("value stream coder")
    cid, param = head & 0x0F, head >> 4
    if cid not in CODER_NAMES:
        known = ", ".join(f"{v} {k}" for k, v in CODER_IDS.items())
        raise r.fail(f"value stream: unknown coder {cid} (known: {known})")
    coder = CODER_NAMES[cid]
    if coder == "raw":
        if indices:
            raise r.fail("value stream: raw coder cannot hold codebook indices")
        if param:
            raise r.fail(f"value stream: bad parameter {param} for coder raw")
        return coder, 0, 0
    if dtype.kind == "f" and not indices:
        raise r.fail(f"value stream: coder {coder} cannot hold {dtype} values (only raw can)")
    if coder == "golomb" and indices:
        raise r.fail("value stream: golomb coder cannot hold codebook indices")
    if (coder == "pack" and param > 7) or (coder == "golomb" and param > 3) or (
            coder not in ("rans", "pack", "golomb", "adaptive") and param):
        raise r.fail(f"value stream: bad parameter {param} for coder {coder}")
    return coder, param, r.svarint("value stream offset")


def decode_stream(r: ByteReader, count: int, dtype: np.dtype, indices: bool = False) -> tuple[np.ndarray, str]:
    """Decode a stream of `count` values running to `r.end`; return (values, coder name).

    Values come back as int64 for integer dtypes and indices, and as the raw dtype otherwise.

    Raises:
        LevinFormatError: unknown coder, a coder that does not fit the dtype, truncated or
            corrupt bytes, values outside the dtype's range.
    """
    coder, param, offset = read_stream_head(r, dtype, indices)
    if coder == "raw":
        data = r.take(count * dtype.itemsize, f"raw values ({count} x {dtype})")
        r.expect_end()
        values = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype)
        return (values.astype(np.int64) if dtype.kind in "iu" else values), coder
    k = r.u8("golomb order") if coder == "golomb" else 0
    shift = r.u8("golomb shift") if coder == "golomb" and param & GOLOMB_SCALED else 0
    if shift > golomb.MAX_SHIFT:
        raise r.fail(f"value stream: golomb shift {shift} > {golomb.MAX_SHIFT}")
    payload = r.take(r.left, f"{coder} payload")
    try:
        if coder == "golomb":
            u = golomb.decode(payload, count, param & ~GOLOMB_SCALED, k)
        elif coder == "pack":
            u = bitpack.unpack_unsigned(payload, param + 1, count)
        elif coder == "varint":
            u = _read_varints(ByteReader(payload, 0, len(payload), "varint values"), count)
        elif coder == "huffman":
            code, pos = huffman.HuffmanCode.from_bytes(payload, 0)
            u = huffman.decode(payload[pos:], code, count)
        elif coder == "adaptive":
            u = adaptive_values.decode(payload, count, param)
        else:
            model, pos = FrequencyModel.from_bytes(payload, 0)
            u = rans.decode(payload[pos:], model, count, rans.RansConfig(param + 1))
    except LevinFormatError as e:
        raise r.fail(f"value stream: {e}") from None
    values = u.astype(np.int64) + offset
    if values.size and not indices:
        info = np.iinfo(dtype)     # checked before the shift, which would overflow int64
        if values.min() < info.min >> shift or values.max() > info.max >> shift:
            times = f" x 2^{shift}" if shift else ""
            raise r.fail(f"value stream: values {values.min()}..{values.max()}{times} outside {dtype}")
    return values << shift, coder


def _read_varints(r: ByteReader, count: int) -> np.ndarray:
    if count > r.left:
        raise r.fail(f"{count} varints cannot fit in {r.left} bytes")
    out = [r.varint(f"varint {i}") for i in range(count)]
    r.expect_end()
    return np.asarray(out, dtype=np.int64)


def symbol_entropy_bits(values: np.ndarray) -> float:
    """Order-0 empirical entropy of a stream of values (any dtype), in bits."""
    if values.size == 0:
        return 0.0
    if values.dtype.kind == "f":
        values = values.view(f"u{values.dtype.itemsize}")
    _, counts = np.unique(values, return_counts=True)
    return empirical_entropy_bits(counts)

