"""The size of an integer tensor's codebook + rANS chains from entropies, without running the coder.

Read me first. `weights.encode_tensor` builds every chain and measures it; this module predicts
the same chains from the symbols' order-0 entropies, so a training method can state the size
it expects and check it against the file. Per chain (format in `weights.py`, `sparse.py`):

    1                  chain flags byte
    codebook           exact bytes (`codebook_bytes` of the distinct values)
    index stream       entropy of the indices (under their own empirical distribution)
                       + exact table bytes + 2 (coder byte, offset) + 4 (the rANS final state)
    sparse positions   dense: none. "gaps<b>": entropy of the gap symbols + table + 4 + head
                       (method, b, varints nnz and symbol count, blob length); "packed": exact.

The entropy is the bound rANS approaches (within ~0.1% at 12-bit precision for these streams);
everything else is counted exactly. Only codebook + rANS chains are modelled (and packed
positions): a tensor the coder stores another way (pack, varint, Huffman, raw) is estimated as
the cheapest chain modelled here, which is at least as large.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from levin.coding.entropy_model import build_model, choose_precision, empirical_entropy_bits, EntropyModelConfig
from levin.coding.sparse import gap_symbols
from levin.coding.varint import encode_varint
from levin.coding.weights import codebook_bytes

RANS_STATE = 4
DEFAULT_GAP_BITS = (2, 3, 4, 5, 6, 8)


@dataclass(frozen=True)
class ChainEstimate:
    chain: str            # e.g. "sparse:gaps8+codebook5+rans"
    nbytes: float         # predicted bytes of the tensor body
    entropy_bits: float   # the part of it that is entropy (index and gap symbols)


def _rans_stream_bytes(counts: np.ndarray, precision: int | None = None) -> tuple[float, float]:
    """(bytes, entropy bits) of a rANS stream with these symbol counts: entropy + table + state."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() == 0:
        return 0.0, 0.0
    p = precision if precision is not None else choose_precision(counts)
    table = build_model(counts, EntropyModelConfig(p)).table_size()
    h = empirical_entropy_bits(counts)
    return h / 8 + table + RANS_STATE, h


def estimate_tensor(data: np.ndarray, gap_bits: tuple[int, ...] = DEFAULT_GAP_BITS,
                    sparse_precision: int = 12) -> ChainEstimate:
    """The cheapest codebook + rANS chain of an integer tensor, predicted (module docstring)."""
    flat = np.asarray(data).reshape(-1).astype(np.int64)
    if flat.size == 0:
        raise ValueError("cannot estimate an empty tensor")
    mask = flat != 0
    out = []
    for is_sparse in ((False, True) if (~mask).any() and mask.any() else (False,)):
        values = flat[mask] if is_sparse else flat
        book, idx = np.unique(values, return_inverse=True)
        cb = len(codebook_bytes(book))
        vbytes, vbits = _rans_stream_bytes(np.bincount(idx, minlength=book.size))
        base = 1 + cb + 2 + vbytes
        label = f"codebook{book.size}+rans"
        if not is_sparse:
            out.append(ChainEstimate(label, base, vbits))
            continue
        packed = 1 + (flat.size + 7) // 8
        out.append(ChainEstimate(f"sparse:packed+{label}", base + packed + len(encode_varint(packed)), vbits))
        nnz = int(mask.sum())
        for b in gap_bits:
            sym = gap_symbols(mask, b)
            pbytes, pbits = _rans_stream_bytes(np.bincount(sym, minlength=1 << b), sparse_precision)
            blob = 2 + len(encode_varint(nnz)) + len(encode_varint(sym.size)) + pbytes
            out.append(ChainEstimate(f"sparse:gaps{b}+{label}", base + blob + len(encode_varint(int(blob))),
                                     vbits + pbits))
    return min(out, key=lambda e: e.nbytes)
