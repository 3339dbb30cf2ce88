"""Positions of the nonzero weights of a flattened tensor, coded the cheaper of several ways.

Read me first. A pruned tensor is stored as two streams: the nonzero values in flat order
(`split_nonzero`; the caller codes them with `entropy_model` + `rans`) and their positions, coded
here. `encode_positions` builds every candidate below, entropy-coded for real, and keeps the
smallest, reporting the sizes of all of them:

- "gaps<b>": relative gaps with a b-bit escape (Deep Compression's index coding). The gap before a
  nonzero is the count of zeros since the previous one (or since the start). A gap d is written
  as floor(d / E) escape symbols E = 2^b - 1, each meaning "skip E zeros, no weight here", then
  the symbol d mod E (0..E-1). This is Deep Compression's "filler zero", with the filler's value
  left out of the value stream. The symbols are rANS-coded with their own table.
- "bitmask": one symbol per position, 1 = nonzero, rANS-coded with a two-symbol table.
- "packed": the bitmask packed 8 positions per byte (`bitpack.py`, 1 bit); no table, no decoding.
- "context<g>" (opt-in: `SparseConfig(context=True)` and the tensor's shape): one bit per position
  under an adaptive context model (the row's density so far, the use so far of input channel
  c mod g), binary rANS (`context_positions.py`); no table. Format 3.0 on. The .lvn writer
  tries it (`container.encode`); the C runtime does not read it, so `read_head` refuses it
  unless asked (`context=True`): the C export (codegen/weight_fields.py) then codes such a
  tensor again in a form the C reads, as it does Huffman or varint values.

Blob format (the container supplies the blob's length and the tensor length n):

    u8      low nibble: method (0 = gaps, 1 = bitmask, 2 = packed, 3 = context);
            high nibble: rANS states - 1 (0 for context)
    method 0:  u8 b (1..8); varint nnz; varint m (gap symbols, escapes included);
               frequency table over 2^b symbols (entropy_model.py); rANS payload of m symbols
    method 1:  frequency table over 2 symbols; rANS payload of n symbols
    method 2:  ceil(n / 8) bytes, position i in bit (i mod 8) of byte (i div 8)
    method 3:  varint rows (the tensor's first dimension); u8 g (1..64, divides n / rows);
               u8 p0 (1..255); rANS payload of the n bits (context_positions.py)

Decoding gaps: pos = -1; for each symbol s: if s == E: pos += E; else: pos += s + 1, and pos is
the next nonzero. The last symbol is never an escape; trailing zeros need no symbols.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from levin.coding import bitpack, context_positions, rans
from levin.coding.entropy_model import EntropyModelConfig, FrequencyModel, fit_model
from levin.coding.varint import encode_varint, read_varint
from levin.errors import LevinFormatError


GAPS, BITMASK, PACKED, CONTEXT = 0, 1, 2, 3         # the method ids of the blob's first byte
METHOD_NAMES = {GAPS: "gaps", BITMASK: "bitmask", PACKED: "packed", CONTEXT: "context"}
CONTEXT_MAX_ELEMENTS = 1 << 19   # larger masks: no context candidate, and a reader refuses them
                                 # (the Python coder: 2-3 us per position, context_positions.py)


@dataclass(frozen=True)
class PositionsHead:
    """A positions blob's header, read once by every decoder (the Python ones and the C export)."""

    method: int                      # GAPS, BITMASK, PACKED or CONTEXT
    states: int                      # rANS states (1..16; CONTEXT: 1)
    gap_bits: int = 0                # GAPS: escape width b; CONTEXT: the group period g
    nnz: int | None = None           # GAPS: the nonzero count it stores (others: count the payload)
    symbols: int = 0                 # rANS symbols: GAPS m, BITMASK the tensor length
    model: FrequencyModel | None = None
    payload: int = 1                 # offset of the payload in the blob (CONTEXT: of p0)
    rows: int = 1                    # CONTEXT: rows of the mask

    @property
    def name(self) -> str:
        """"gaps<b>", "bitmask", "packed" or "context<g>"."""
        return METHOD_NAMES[self.method] + (str(self.gap_bits) if self.method in (GAPS, CONTEXT) else "")


def read_head(blob: bytes, length: int, context: bool = False) -> PositionsHead:
    """The header of a positions blob for a tensor of `length` elements, checked.

    `context`: accept method 3 (context), which the Python decoders read and the C runtime does
    not (the module docstring); the default is what a C-side caller may take.

    Raises:
        LevinFormatError: empty blob, unknown method, bad gap width, impossible counts, a table
            of the wrong alphabet; method 3 without `context`.
    """
    if not blob:
        raise LevinFormatError("sparse positions: empty blob")
    method, states = blob[0] & 0x0F, (blob[0] >> 4) + 1
    if method == PACKED:
        return PositionsHead(method, states)
    if method == CONTEXT and not context:
        raise LevinFormatError("sparse positions: method 3 (context) has no C reader; "
                               "decode it in Python or code the tensor again")
    if method == CONTEXT:
        if length > CONTEXT_MAX_ELEMENTS:       # no writer makes one; decoding would be slow
            raise LevinFormatError(f"sparse context: {length} positions, more than the "
                                   f"{CONTEXT_MAX_ELEMENTS} a context blob may hold")
        if states != 1:
            raise LevinFormatError(f"sparse context: {states} rANS states (it codes with one)")
        rows, pos = read_varint(blob, 1, "sparse context rows")
        if pos + 2 > len(blob):
            raise LevinFormatError("sparse context: missing group period or initial probability")
        if rows < 1 or length % rows:
            raise LevinFormatError(f"sparse context: {rows} rows do not divide tensor length {length}")
        context_positions.check_head(length, rows, blob[pos], blob[pos + 1])
        return PositionsHead(method, 1, blob[pos], None, length, None, pos + 1, rows)
    if method == BITMASK:
        model, pos = FrequencyModel.from_bytes(blob, 1)
        if model.alphabet_size != 2:
            raise LevinFormatError(f"sparse bitmask: table has {model.alphabet_size} symbols, expected 2")
        return PositionsHead(method, states, symbols=length, model=model, payload=pos)
    if method != GAPS:
        raise LevinFormatError(f"sparse positions: unknown method {method} (expected 0, 1, 2 or 3)")
    if len(blob) < 2 or not 1 <= blob[1] <= 8:
        raise LevinFormatError("sparse gaps: missing or bad gap width (expected 1..8)")
    bits = blob[1]
    nnz, pos = read_varint(blob, 2, "sparse gaps nonzero count")
    m, pos = read_varint(blob, pos, "sparse gaps symbol count")
    if nnz > length or m > nnz + length:  # every escape skips at least one position
        raise LevinFormatError(f"sparse gaps: {nnz} nonzeros / {m} symbols impossible for length {length}")
    model, pos = FrequencyModel.from_bytes(blob, pos)
    if model.alphabet_size != 1 << bits:
        raise LevinFormatError(f"sparse gaps: table has {model.alphabet_size} symbols, expected {1 << bits}")
    return PositionsHead(method, states, bits, nnz, m, model, pos)


@dataclass(frozen=True)
class SparseConfig:
    """gap_bits: escape widths to try for "gaps"; the coder settings shared by every candidate."""

    gap_bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
    precision_bits: int = 12
    n_states: int = 1
    context: bool = False   # try "context<g>" too (needs the shape; the C export's cost model
                            # does not know method 3 yet, so it is opt-in)

    def __post_init__(self) -> None:
        if not self.gap_bits or any(not 1 <= b <= 8 for b in self.gap_bits):
            raise ValueError(f"gap_bits must be widths in 1..8, got {self.gap_bits}")
        EntropyModelConfig(self.precision_bits)
        rans.RansConfig(self.n_states)


@dataclass(frozen=True)
class SparseResult:
    """The chosen coding: method ("gaps<b>", "bitmask" or "packed"), its blob, every candidate's size."""

    method: str
    blob: bytes
    nnz: int
    sizes: dict[str, int] = field(default_factory=dict)


def split_nonzero(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (mask of nonzeros, nonzero values in flat C order) of a tensor."""
    flat = np.asarray(tensor).reshape(-1)
    mask = flat != 0
    return mask, flat[mask]


def gap_symbols(mask: np.ndarray, bits: int) -> np.ndarray:
    """Return the gap symbols with b-bit escapes for the nonzeros of a flat mask (vectorized)."""
    esc = (1 << bits) - 1
    pos = np.flatnonzero(np.asarray(mask).reshape(-1))
    gaps = np.diff(pos, prepend=-1) - 1
    runs = gaps // esc + 1  # escapes plus the final symbol, per nonzero
    out = np.full(int(runs.sum()), esc, dtype=np.int64)
    out[np.cumsum(runs) - 1] = gaps % esc
    return out


def positions_from_gaps(symbols: np.ndarray, bits: int, length: int, nnz: int) -> np.ndarray:
    """Return the flat mask of `length` positions that gap `symbols` describe.

    Raises:
        LevinFormatError: the symbols hold a different number of nonzeros than `nnz`, end with an
            escape, or point past `length`.
    """
    esc = (1 << bits) - 1
    s = np.asarray(symbols, dtype=np.int64)
    is_gap = s != esc
    if int(is_gap.sum()) != nnz or (s.size and not is_gap[-1]):
        raise LevinFormatError(
            f"sparse gaps: symbols hold {int(is_gap.sum())} nonzeros, header says {nnz}, or end in an escape"
        )
    pos = np.cumsum(np.where(is_gap, s + 1, esc))[is_gap] - 1
    if pos.size and pos[-1] >= length:
        raise LevinFormatError(f"sparse gaps: nonzero at position {int(pos[-1])} past tensor length {length}")
    mask = np.zeros(length, dtype=bool)
    mask[pos] = True
    return mask


def _first_byte(method: int, config: SparseConfig) -> bytes:
    return bytes([method | (config.n_states - 1) << 4])


def _coded(symbols: np.ndarray, alphabet: int, config: SparseConfig) -> bytes:
    model = fit_model(symbols, alphabet, EntropyModelConfig(config.precision_bits))
    return model.to_bytes() + rans.encode(symbols, model, rans.RansConfig(config.n_states))


def encode_candidates(mask: np.ndarray, config: SparseConfig | None = None,
                      shape: tuple[int, ...] | None = None) -> dict[str, bytes]:
    """Return the blob of every candidate coding of a flat mask's True positions, by method name.

    `shape` (the tensor's, first dimension = rows) enables the context candidate where
    `config.context` asks for it, the mask has at most CONTEXT_MAX_ELEMENTS elements and at most
    half of them are nonzero (denser tensors stay dense), and whose rows or input channels differ
    in density (`context_positions.promising`); with group periods 1 and the likeliest other
    (`context_positions.likely_groups`).
    """
    config = config or SparseConfig()
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    nnz = int(mask.sum())
    blobs = {"packed": _first_byte(PACKED, config) + bitpack.pack_unsigned(mask, 1)}
    rows = int(shape[0]) if shape else 1
    if (config.context and shape and 0 < mask.size <= CONTEXT_MAX_ELEMENTS and 2 * nnz <= mask.size
            and context_positions.promising(mask, rows, int(shape[-1]))):
        for g in context_positions.likely_groups(mask, rows, int(shape[-1])):
            blobs[f"context{g}"] = bytes([CONTEXT]) + encode_varint(rows) + context_positions.encode(mask, rows, g)
    blobs["bitmask"] = _first_byte(BITMASK, config) + _coded(mask.astype(np.int64), 2, config)
    for b in sorted(set(config.gap_bits)):
        sym = gap_symbols(mask, b)
        head = _first_byte(GAPS, config) + bytes([b]) + encode_varint(nnz) + encode_varint(sym.size)
        blobs[f"gaps{b}"] = head + _coded(sym, 1 << b, config)
    return blobs


def encode_positions(mask: np.ndarray, config: SparseConfig | None = None,
                     shape: tuple[int, ...] | None = None) -> SparseResult:
    """Code the positions of the True entries of a flat mask every way; return the smallest.

    Ties keep the first candidate in the order packed, context (by period), bitmask, gaps (by
    width). `shape`: as for `encode_candidates`.
    """
    blobs = encode_candidates(mask, config, shape)
    best = min(blobs, key=lambda k: len(blobs[k]))
    nnz = int(np.count_nonzero(mask))
    return SparseResult(best, blobs[best], nnz, {k: len(v) for k, v in blobs.items()})


def decode_positions(blob: bytes, length: int) -> np.ndarray:
    """Return the flat boolean mask of `length` positions coded in `blob`.

    Raises:
        LevinFormatError: unknown method, truncated or corrupt blob.
    """
    head = read_head(blob, length, context=True)
    cfg = rans.RansConfig(head.states)
    payload = blob[head.payload:]
    if head.method == PACKED:
        return bitpack.unpack_unsigned(payload, 1, length).astype(bool)
    if head.method == BITMASK:
        return rans.decode(payload, head.model, length, cfg).astype(bool)
    if head.method == CONTEXT:
        return context_positions.decode(blob[head.payload - 1:], length, head.rows)
    return positions_from_gaps(rans.decode(payload, head.model, head.symbols, cfg), head.gap_bits,
                               length, head.nnz)
