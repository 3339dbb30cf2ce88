"""The codec chain of one constant tensor: zeros -> positions, values -> codebook -> stream -> coder.

Read me first. A tensor is flattened in C order (for OHWI conv and [out, in] linear weights that
is output channel by output channel) and coded as the body of its tensor section:

    u8       chain flags: bit 0 sparse, bit 1 codebook, bit 2 generated; other bits 0
    generated (bit 2 alone, int8 tensors): the inputs of a program that regenerates the codes
              block by block from a seeded hash and a prior table (`generated.py`), to the end
              of the body; the other parts below are absent
    sparse:   varint L, then L bytes of positions of the nonzeros (`sparse.py` blob)
    codebook: varint K (1..65536), svarint c_0, then K-1 varints c_i - c_{i-1} - 1 (sorted, distinct)
    the value stream (`symbols.py`), running to the end of the body

The stream holds all values (dense), or the nonzeros in flat order (sparse); with a codebook it
holds indices into it, and a value is c[index]. "Zero" means all bits zero, so -0.0 and NaN
floats are kept as values. Everything decodes front to back, so a runtime can decode one output
channel at a time (see docs/format.md).

Generated bodies are lossy (the encoder picks a program whose codes approximate a posterior,
`levin.mdl.generated`), so `encode_tensor` never makes one: the container takes them ready-made
(`container.encode(..., bodies=...)`) and checks that they regenerate the tensor's codes.

`encode_tensor` tries every combination the config allows (dense/sparse x codebook or not x each
coder), takes the exact byte size of each, and keeps the smallest; ties keep the simpler chain
(dense before sparse, no codebook before codebook, coders in the config's order).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from levin.coding import generated, sparse
from levin.coding.fields import ByteReader, ByteWriter
from levin.coding.limits import LIMITS, exceeds
from levin.coding.symbols import Stream, decode_stream, symbol_entropy_bits
from levin.coding.varint import encode_varint, encode_varints
from levin.config.code import WeightCodecConfig
from levin.errors import LevinFormatError

SPARSE, CODEBOOK, GENERATED = 1, 2, generated.CHAIN_FLAG   # chain flags


@dataclass(frozen=True)
class EncodedTensor:
    """The body of a tensor section, its chain (e.g. "sparse:gaps4+codebook16+pack4"), and the exact
    size of every candidate measured (Huffman candidates provably larger than the best are skipped)."""

    body: bytes
    chain: str
    candidates: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamStats:
    """One part of a decoded tensor: role ("positions", "codebook", "values", "indices"), its coder,
    symbol count, bytes, and the order-0 entropy of its symbols in bits (0 for a codebook)."""

    role: str
    coder: str
    count: int
    nbytes: int
    entropy_bits: float


@dataclass
class DecodedTensor:
    data: np.ndarray
    chain: str
    streams: list[StreamStats]


def chain_label(method: str | None, k: int | None, coder: str, pack_bits: int | None = None) -> str:
    parts = [f"sparse:{method}"] if method else []
    parts += [f"codebook{k}"] if k else []
    return "+".join(parts + [f"pack{pack_bits}" if coder == "pack" else coder])


def _bit_view(flat: np.ndarray) -> np.ndarray:
    return flat.view(f"u{flat.dtype.itemsize}") if flat.dtype.kind == "f" else flat


def codebook_bytes(book: np.ndarray) -> bytes:
    """Serialized sorted distinct codebook (format in the module docstring)."""
    w = ByteWriter()
    w.varint(book.size)
    w.svarint(int(book[0]))
    w.raw(encode_varints((np.diff(book) - 1).tolist()))
    return bytes(w.out)


def read_codebook(r: ByteReader, dtype: np.dtype) -> np.ndarray:
    """Parse a codebook (format in the module docstring); return its entries as int64.

    Raises:
        LevinFormatError: a float dtype, truncated entries, a size of 0, entries outside the dtype.
    """
    if dtype.kind == "f":
        raise r.fail(f"a codebook cannot hold {dtype} values")
    k = r.count("codebook size", 1, limit="codebook_entries")
    if k < 1:
        raise r.fail("codebook size 0")
    first = r.svarint("codebook entry 0")
    deltas = [r.varint(f"codebook entry {i}") + 1 for i in range(1, k)]
    book = first + np.concatenate([[0], np.cumsum(deltas, dtype=np.int64)]).astype(np.int64)
    info = np.iinfo(dtype)
    if book[0] < info.min or book[-1] > info.max:
        raise r.fail(f"codebook values {book[0]}..{book[-1]} outside {dtype}")
    return book


def encode_tensor(data: np.ndarray, config: WeightCodecConfig | None = None, name: str = "tensor",
                  context: bool = False) -> EncodedTensor:
    """Return the smallest coding of `data` that `config` allows (format in the module docstring).

    `context`: also try the context-modelled positions (`sparse.CONTEXT`, format 3.0): the .lvn
    writer does; the C runtime does not read them, so callers that code for C leave it off.
    """
    config = config or WeightCodecConfig()
    flat = np.ascontiguousarray(data).reshape(-1)
    is_int = flat.dtype.kind in "iu"
    mask = _bit_view(flat) != 0
    sparse_opts = {"never": [False], "always": [True], "auto": [False, True]}[config.sparse]
    if mask.all():
        sparse_opts = [False]
    best: tuple | None = None  # (size, rank, label, prefix, stream, coder); ties keep the lower rank
    candidates: dict[str, int] = {}
    seq = 0
    for is_sparse in sparse_opts:
        head = bytes([SPARSE * is_sparse])
        method = None
        if is_sparse:
            scfg = sparse.SparseConfig(config.gap_bits, config.precision_bits or 12, config.n_states,
                                       context and config.context_positions)
            pos = sparse.encode_positions(mask, scfg, np.shape(data))
            head = bytes([SPARSE]) + encode_varint(len(pos.blob)) + pos.blob
            method = pos.method
        values = flat[mask] if is_sparse else flat
        values = values.astype(np.int64) if is_int else values
        books: list[np.ndarray | None] = [None]
        plain = Stream(values, flat.dtype, config)
        if is_int and config.codebook != "never" and values.size and plain.counts is not None:
            used = np.flatnonzero(plain.counts)
            holes = used.size < plain.span
            if used.size <= config.max_codebook and (holes or config.codebook == "always"):
                books = [used] if config.codebook == "always" else [None, used]
        if books[0] is not None and not Stream(values[:0], flat.dtype, config, indices=True).applicable():
            books = [None]  # a forced codebook, but no listed coder can code indices (raw only)
        for book in books:
            if book is None:
                stream, prefix, k = plain, head, None
            else:
                lut = np.zeros(plain.span, dtype=np.int64)
                lut[book] = np.arange(book.size)
                stream = Stream(lut[plain.u], flat.dtype, config, indices=True)
                book = book + plain.offset
                prefix, k = bytes([head[0] | CODEBOOK]) + head[1:] + codebook_bytes(book), book.size
            order = stream.applicable()
            for coder in sorted(order, key=lambda c: c == "huffman"):  # Huffman last: it can be pruned
                label = chain_label(method, k, coder, stream.pack_bits() if coder == "pack" else None)
                bound = None if best is None else best[0] - len(prefix)
                size = stream.size(coder, bound)
                if size is None:  # provably larger than the best so far
                    continue
                size += len(prefix)
                candidates[label] = size
                key = (size, seq + order.index(coder))  # rank: the canonical order, simplest first
                if best is None or key < best[:2]:
                    best = (size, key[1], label, prefix, stream, coder)
            seq += len(order)
    size, _, label, prefix, stream, coder = best
    if coder == "raw" and is_int and "raw" not in config.coders:
        warnings.warn(f"tensor {name!r}: none of the coders {', '.join(config.coders)} can code its "
                      f"values (range {int(flat.min())}..{int(flat.max())}); stored raw", stacklevel=2)
    body = prefix + stream.encode(coder)
    assert len(body) == size, (label, len(body), size)  # the sizes above are exact, by construction
    if len(body) > 2 + flat.nbytes:  # raw costs a chain byte and a coder byte on top of the values
        warnings.warn(f"tensor {name!r}: coded in {len(body)} bytes ({label}), larger than its "
                      f"{flat.nbytes} raw bytes; add 'raw' to its coders", stacklevel=2)
    return EncodedTensor(body, label, candidates)


def _positions_stats(blob: bytes, mask: np.ndarray) -> StreamStats:
    head = sparse.read_head(blob, mask.size, context=True)
    method = head.name
    symbols = sparse.gap_symbols(mask, head.gap_bits) if head.method == sparse.GAPS else mask.astype(np.int64)
    # context positions: the order-0 entropy of the bits, the bound the context model beats
    n = len(blob) + len(encode_varint(len(blob)))
    return StreamStats("positions", method, symbols.size, n, symbol_entropy_bits(symbols))


def decode_tensor(r: ByteReader, shape: tuple[int, ...], dtype: np.dtype, stats: bool = False) -> DecodedTensor:
    """Decode a tensor body from `r` (to `r.end`); with `stats`, measure each stream's entropy.

    Raises:
        LevinFormatError: unknown chain flags, truncated or corrupt parts, values that do not fit.
    """
    n = math.prod(int(d) for d in shape)   # exact: np.prod would wrap around for a hostile shape
    if n > LIMITS.tensor_elements:         # the graph section checks this; a direct caller may not have
        raise r.fail(f"shape {tuple(shape)}: {exceeds('tensor_elements', n, 'elements')}")
    flags = r.u8("chain flags")
    if flags & ~(SPARSE | CODEBOOK | GENERATED):
        raise r.fail(f"unknown chain flags {flags:#04x} (known: 1 sparse, 2 codebook, 4 generated)")
    if flags & GENERATED:
        return _decode_generated(r, flags, n, shape, dtype, stats)
    streams: list[StreamStats] = []
    method = k = None
    count, mask = n, None
    if flags & SPARSE:
        blob = r.blob("sparse positions")
        try:
            head = sparse.read_head(blob, n, context=True)
            if head.method == sparse.CONTEXT and shape and head.rows != int(shape[0]):
                raise LevinFormatError(f"sparse context: {head.rows} rows, the tensor has "
                                       f"{int(shape[0])} output channels")
            mask = sparse.decode_positions(blob, n)
        except LevinFormatError as e:
            raise r.fail(str(e)) from None
        count = int(mask.sum())
        method = head.name
        if stats:
            streams.append(_positions_stats(blob, mask))
    if flags & CODEBOOK:
        start = r.pos
        book = read_codebook(r, dtype)
        k = book.size
        if stats:
            streams.append(StreamStats("codebook", "varint", k, r.pos - start, 0.0))
        start = r.pos
        idx, coder = decode_stream(r, count, dtype, indices=True)
        if idx.size and (idx.min() < 0 or idx.max() >= k):
            raise r.fail(f"codebook index {int(idx.max())} outside 0..{k - 1}")
        values = book[idx]
        if stats:
            streams.append(StreamStats("indices", coder, count, r.pos - start, symbol_entropy_bits(idx)))
    else:
        start = r.pos
        values, coder = decode_stream(r, count, dtype)
        if stats:
            streams.append(StreamStats("values", coder, count, r.pos - start, symbol_entropy_bits(values)))
    pack_bits = (r.buf[start] >> 4) + 1 if coder == "pack" else None
    if mask is None:
        out = values.astype(dtype)
    else:
        out = np.zeros(n, dtype=dtype)
        if dtype.kind == "f":
            _bit_view(out)[mask] = _bit_view(values.astype(dtype))
        else:
            out[mask] = values
    return DecodedTensor(out.reshape(shape), chain_label(method, k, coder, pack_bits), streams)


def _decode_generated(r: ByteReader, flags: int, n: int, shape: tuple[int, ...], dtype: np.dtype,
                      stats: bool) -> DecodedTensor:
    if flags != GENERATED:
        raise r.fail(f"chain flags {flags:#04x}: a generated tensor takes no other flag")
    if np.dtype(dtype) != np.int8:
        raise r.fail(f"a generated tensor holds int8 codes, not {dtype}")
    start = r.pos
    code = generated.read_body(r, n)
    out = code.codes().reshape(shape)
    streams = [StreamStats("indices", code.chain, code.blocks, r.pos - start, float(code.blocks * code.bits))] \
        if stats else []
    return DecodedTensor(out, code.chain, streams)
