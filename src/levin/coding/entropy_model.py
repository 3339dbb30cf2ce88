"""Static entropy models: a symbol frequency table quantized to a power-of-two total.

Read me first. A model is what rANS (`rans.py`) needs and nothing else: for an alphabet 0..K-1,
integer frequencies f[s] >= 0 that sum to M = 2^precision_bits. Symbol s codes in
precision_bits - log2(f[s]) bits. The model is kept apart from the coder (as constriction and
ryg_rans do), so one table can serve many chunks, and the same table can be costed without coding.

Quantization (`quantize_frequencies`) minimizes the coded size of the counted data, not the
distance to proportional rounding: every symbol that occurs gets f >= 1, and the remaining M units
go to the symbols whose next unit saves the most bits, c[s] * log2((f+1)/f). The objective is a
separable concave function of f, so taking the best units first is exactly optimal. It is done by
bisection on the threshold saving, then a heap for the last few units.

Default precision: 12 bits. The C decoder's slot -> symbol table then takes 4 KiB (uint8 symbols),
frequencies and cumulative values fit uint16, and on int8 weight streams (Laplacian-like) the loss
against the order-0 entropy is 0.2-0.5% (tests/coding/bench_coding.py); 15 bits would cut that to
~0.02% but make the table 32 KiB. A stream where one symbol has ~90% of the mass (pruned weights
coded densely) loses ~3% at 12 bits: code its zeros as positions (`sparse.py`), or let
`choose_precision` trade table bytes against payload and decode with the binary search, whose RAM
does not grow with precision. Precision is limited to 8..15 so that f <= 2^15 fits uint16 and the
rANS bound x_max = 2^(31 - precision) * f fits 32 bits.

Serialized table (`FrequencyModel.to_bytes`); bit streams and Exp-Golomb codes as in
`bitstream.py` (LSB-first bytes, codes MSB-first), varints as in `varint.py`:

    u8      low nibble: precision_bits - 8 (0..7); high nibble: Exp-Golomb order g (0..15)
    varint  K, the alphabet size (1..65536)
    bits    tokens until K frequencies are defined, in symbol order:
              EG_g(f), f >= 1                  one symbol with frequency f (f <= 2^precision_bits)
              EG_g(0), then EG_0(r)            r + 1 consecutive symbols of frequency 0
            then zero bits up to a byte boundary

The writer picks the order g that makes the table shortest (small g for many small frequencies,
large g for a few big ones). The frequencies must sum to exactly 2^precision_bits, a check that
catches most corruption. The format is versioned by the container that holds it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from levin.coding.bitstream import BitReader, BitWriter
from levin.coding.varint import encode_varint, read_varint
from levin.coding.limits import LIMITS
from levin.errors import LevinError, LevinFormatError

MIN_PRECISION = 8
MAX_PRECISION = 15
MAX_ALPHABET = LIMITS.alphabet_symbols  # 65536: 16-bit symbols


@dataclass(frozen=True)
class EntropyModelConfig:
    """How to build a static model. precision_bits: log2 of the frequency total (8..15)."""

    precision_bits: int = 12

    def __post_init__(self) -> None:
        if not MIN_PRECISION <= self.precision_bits <= MAX_PRECISION:
            raise ValueError(
                f"precision_bits must be in {MIN_PRECISION}..{MAX_PRECISION}, got {self.precision_bits}"
            )


def count_symbols(symbols: np.ndarray, alphabet_size: int) -> np.ndarray:
    """Return the count of each symbol 0..alphabet_size-1 in `symbols` (int64 array)."""
    symbols = np.asarray(symbols).reshape(-1)
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet_size):
        raise ValueError(f"symbols must lie in 0..{alphabet_size - 1}, got {symbols.min()}..{symbols.max()}")
    return np.bincount(symbols.astype(np.int64), minlength=alphabet_size).astype(np.int64)


def empirical_entropy_bits(counts: np.ndarray) -> float:
    """Return the order-0 empirical entropy bound: sum of c * log2(n / c) over the counts, in bits."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    n = c.sum()
    return float((c * np.log2(n / c)).sum()) if n else 0.0


def quantize_frequencies(counts: np.ndarray, total: int) -> np.ndarray:
    """Return integer frequencies summing to `total` that minimize the cost of coding `counts`.

    Every symbol with a nonzero count gets a frequency >= 1; symbols that never occur get 0. All
    counts zero (an empty stream) gives symbol 0 the whole total, so the model stays valid.

    Raises:
        LevinError: more distinct symbols occur than `total` has units.
    """
    c = np.asarray(counts, dtype=np.int64).reshape(-1)
    if c.size == 0 or (c < 0).any():
        raise ValueError("counts must be a nonempty array of nonnegative integers")
    present = c > 0
    m = int(present.sum())
    freqs = np.zeros(c.size, dtype=np.int64)
    if m == 0:
        freqs[0] = total
        return freqs
    if m > total:
        raise LevinError(
            f"{m} distinct symbols do not fit a frequency total of {total}; raise precision_bits"
        )
    cf = c[present].astype(np.float64)

    def allocation(lam: float) -> np.ndarray:
        # Largest f with c * log2(f / (f-1)) >= lam, i.e. f <= 1 / (1 - 2^(-lam/c)); at least 1.
        with np.errstate(divide="ignore", over="ignore"):
            bound = -1.0 / np.expm1(-lam * math.log(2.0) / cf)
        return np.maximum(1, np.floor(np.minimum(bound, total + 1.0))).astype(np.int64)

    lo, hi = 0.0, float(cf.max()) * 1.0001  # allocation(hi) is all ones, whose sum m <= total
    f = None
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        a = allocation(mid)
        used = int(a.sum())
        if used == total:  # every lower threshold up to `hi` keeps this same set of units: done
            f = a
            break
        if used > total:
            lo = mid
        else:
            hi = mid
    if f is None:
        f = allocation(hi)
    # The units left over all save less than `hi`: hand them out best first.
    heap = [(-ci * math.log2((fi + 1) / fi), i) for i, (ci, fi) in enumerate(zip(cf.tolist(), f.tolist()))]
    heapq.heapify(heap)
    for _ in range(total - int(f.sum())):
        _, i = heapq.heappop(heap)
        f[i] += 1
        heapq.heappush(heap, (-cf[i] * math.log2((f[i] + 1) / f[i]), i))
    freqs[present] = f
    return freqs


class FrequencyModel:
    """A static frequency table over symbols 0..K-1 with frequencies summing to 2^precision_bits."""

    def __init__(self, freqs: np.ndarray, precision_bits: int):
        freqs = np.asarray(freqs, dtype=np.int64).reshape(-1)
        EntropyModelConfig(precision_bits)  # validates the range
        if not 1 <= freqs.size <= MAX_ALPHABET:
            raise ValueError(f"alphabet size must be in 1..{MAX_ALPHABET}, got {freqs.size}")
        if (freqs < 0).any() or int(freqs.sum()) != 1 << precision_bits:
            raise ValueError(f"frequencies must be >= 0 and sum to 2^{precision_bits}")
        self.freqs = freqs
        self.precision_bits = precision_bits
        self._slots: np.ndarray | None = None
        self._lists: tuple[list[int], list[int], list[int]] | None = None

    @property
    def alphabet_size(self) -> int:
        return int(self.freqs.size)

    @property
    def total(self) -> int:
        return 1 << self.precision_bits

    def cumulative(self) -> np.ndarray:
        """Return the K+1 cumulative frequencies: cum[s] = f[0] + ... + f[s-1], cum[K] = total."""
        return np.concatenate([[0], np.cumsum(self.freqs)]).astype(np.int64)

    def slot_table(self) -> np.ndarray:
        """Return the slot -> symbol table of size 2^precision_bits (uint8 when K <= 256)."""
        if self._slots is None:
            dtype = np.uint8 if self.alphabet_size <= 256 else np.uint16
            self._slots = np.repeat(np.arange(self.alphabet_size), self.freqs).astype(dtype)
        return self._slots

    def lookup_lists(self) -> tuple[list[int], list[int], list[int]]:
        """Return (frequencies, cumulative, slot table) as cached Python lists for coder inner loops."""
        if self._lists is None:
            self._lists = (self.freqs.tolist(), self.cumulative().tolist(), self.slot_table().tolist())
        return self._lists

    def cost_bits(self, symbols: np.ndarray) -> float:
        """Return the ideal coded size of `symbols` under this model, in bits (no coder overhead).

        Raises:
            ValueError: a symbol is outside the alphabet or has frequency 0.
        """
        counts = count_symbols(symbols, self.alphabet_size)
        used = counts > 0
        if (self.freqs[used] == 0).any():
            bad = int(np.flatnonzero(used & (self.freqs == 0))[0])
            raise ValueError(f"symbol {bad} has frequency 0 in this model and cannot be coded")
        return float((counts[used] * (self.precision_bits - np.log2(self.freqs[used]))).sum())

    def _tokens(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the table as tokens: (values, is_run). A token is a frequency f >= 1, or, where
        is_run, the length minus one of a maximal run of zero frequencies (vectorized)."""
        f = self.freqs
        zero = f == 0
        run_start = zero & np.concatenate([[True], ~zero[:-1]])
        keep = ~zero | run_start  # one token per nonzero frequency and per zero run
        starts = np.flatnonzero(keep)
        ends = np.append(starts[1:], f.size)  # a run's token covers up to the next token
        values = np.where(zero[starts], ends - starts - 1, f[starts])
        return values.astype(np.int64), zero[starts]

    def _layout(self) -> tuple[int, int]:
        """Return (best Exp-Golomb order, bytes of the bit stream) of the serialized table.

        The best order is the lowest one giving the fewest bytes. Sizes for all 16 orders are
        counted with numpy (EG_k(v) takes 2 * bit_length(v + 2^k) - 1 - k bits; frexp gives the
        bit length exactly); a zero run costs EG_order(0) + EG_0(run).
        """
        values, is_run = self._tokens()

        def eg_bits(v: np.ndarray, k: int) -> int:
            return int((2 * np.frexp((v + (1 << k)).astype(np.float64))[1] - 1 - k).sum()) if v.size else 0

        run_bits = eg_bits(values[is_run], 0)
        freqs, n_runs = values[~is_run], int(is_run.sum())
        nbytes = [(eg_bits(freqs, k) + (k + 1) * n_runs + run_bits + 7) // 8 for k in range(16)]
        order = nbytes.index(min(nbytes))
        return order, nbytes[order]

    def table_size(self) -> int:
        """Return len(self.to_bytes()) without writing the table."""
        return 1 + len(encode_varint(self.alphabet_size)) + self._layout()[1]

    def to_bytes(self) -> bytes:
        """Return the serialized table (format in the module docstring), with the best EG order."""
        order, _ = self._layout()
        values, is_run = self._tokens()
        w = BitWriter()
        for v, run in zip(values.tolist(), is_run.tolist()):
            if run:
                w.write_exp_golomb(0, order)
                w.write_exp_golomb(v, 0)
            else:
                w.write_exp_golomb(v, order)
        head = bytes([(order << 4) | (self.precision_bits - MIN_PRECISION)])
        return head + encode_varint(self.alphabet_size) + w.to_bytes()

    @classmethod
    def from_bytes(cls, buf: bytes, pos: int = 0) -> tuple[FrequencyModel, int]:
        """Parse a serialized table at `buf[pos:]`; return (model, position after the table).

        Raises:
            LevinFormatError: truncated bytes, bad alphabet size, a frequency above the total, a
                zero run past the alphabet, or frequencies that do not sum to 2^precision_bits.
        """
        what = "frequency table"
        if pos >= len(buf):
            raise LevinFormatError(f"{what}: missing (no bytes at offset {pos})")
        precision = (buf[pos] & 0x0F) + MIN_PRECISION
        order = buf[pos] >> 4
        if precision > MAX_PRECISION:
            raise LevinFormatError(f"{what}: precision {precision} outside {MIN_PRECISION}..{MAX_PRECISION}")
        k, pos = read_varint(buf, pos + 1, what + " alphabet size")
        if not 1 <= k <= MAX_ALPHABET:
            raise LevinFormatError(f"{what}: alphabet size {k} outside 1..{MAX_ALPHABET}")
        total = 1 << precision
        freqs = np.zeros(k, dtype=np.int64)
        r = BitReader(buf, pos, len(buf), what)
        i = 0
        while i < k:  # each token defines >= 1 symbol, so this loop is bounded by k
            f = r.read_exp_golomb(order)
            if f == 0:
                run = r.read_exp_golomb(0)
                if i + run + 1 > k:
                    raise LevinFormatError(
                        f"{what}: zero run of {run + 1} at symbol {i} passes alphabet size {k}"
                    )
                i += run + 1
                continue
            if f > total:
                raise LevinFormatError(f"{what}: frequency {f} of symbol {i} exceeds total {total}")
            freqs[i] = f
            i += 1
        pos = r.finish()
        if int(freqs.sum()) != total:
            raise LevinFormatError(f"{what}: frequencies sum to {int(freqs.sum())}, not 2^{precision}")
        return cls(freqs, precision), pos

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FrequencyModel)
            and self.precision_bits == other.precision_bits
            and np.array_equal(self.freqs, other.freqs)
        )

    def __repr__(self) -> str:
        return f"FrequencyModel(K={self.alphabet_size}, precision_bits={self.precision_bits})"


def build_model(counts: np.ndarray, config: EntropyModelConfig | None = None) -> FrequencyModel:
    """Return the model that codes data with these symbol counts in the fewest bits."""
    config = config or EntropyModelConfig()
    return FrequencyModel(quantize_frequencies(counts, 1 << config.precision_bits), config.precision_bits)


def fit_model(
    symbols: np.ndarray, alphabet_size: int, config: EntropyModelConfig | None = None
) -> FrequencyModel:
    """Return the best model for coding `symbols` (values in 0..alphabet_size-1)."""
    return build_model(count_symbols(symbols, alphabet_size), config)


def choose_precision(counts: np.ndarray, candidates: range = range(MIN_PRECISION, MAX_PRECISION + 1)) -> int:
    """Return the precision whose model makes payload + serialized table the fewest bits.

    Ties go to the lowest precision (the smallest decoder lookup table). This is an estimate
    from ideal code lengths; rANS adds only its final states on top.
    """
    def total_bits(p: int) -> float:
        m = build_model(counts, EntropyModelConfig(p))
        nz = np.asarray(counts) > 0
        return float((np.asarray(counts)[nz] * (p - np.log2(m.freqs[nz]))).sum()) + 8 * m.table_size()

    return min(candidates, key=lambda p: (total_bits(p), p))
