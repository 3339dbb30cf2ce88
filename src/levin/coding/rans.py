"""Byte-oriented rANS with N interleaved 32-bit states and a static model (`entropy_model.py`).

Read me first. This is the coder of ryg_rans `rans_byte.h` (state x in [L, 256 L), L = 2^23,
renormalized a byte at a time), written from its published description. The model is passed in;
M = 2^precision_bits (precision 8..15), f[s] and c[s] = cum[s] are the model's frequency and
cumulative frequency. Symbol i of a stream uses state i mod n, where n = min(n_states, count):
interleaved states let a CPU overlap the decode of neighbouring symbols.

Payload format (what a C decoder reads, front to back):

    4n bytes   initial states x_0 .. x_{n-1}, each uint32 little-endian, each in [2^23, 2^31)
    rest       renormalization bytes, consumed in order

    for i in 0 .. count-1:                      (j = i mod n)
        slot = x_j & (M - 1)
        s    = symbol with c[s] <= slot < c[s] + f[s]
        x_j  = f[s] * (x_j >> precision_bits) + slot - c[s]
        while x_j < 2^23: x_j = (x_j << 8) | next byte      (at most 2 bytes, see below)
        emit s

A stream of count = 0 is zero bytes. After the last symbol every state equals 2^23 (the encoder's
initial state) and every byte has been read: a decoder should check both, which catches truncated
and corrupt payloads. All arithmetic fits uint32: x < 2^31 and f <= 2^15. Since x >> precision
>= 2^8, a decoded x is >= 256, so each symbol reads at most two bytes.

Symbol lookup ("s = symbol with ..."), two choices for the C runtime:
  - slot table: `model.slot_table()`, 2^precision_bits entries (uint8 when K <= 256), i.e. 4 KiB
    at the default 12 bits, in flash if generated ahead of time, or RAM if built at start-up;
  - binary search over the K+1 cumulative values: 2(K+1) bytes as uint16, about log2(K)
    comparisons per symbol. `decode(..., lookup="search")` runs this path.

Decoding one output channel at a time, two ways:
  - one stream per tensor, decoded a channel at a time (`RansDecoder.take(k)`): the states carry
    over from channel to channel, so there is no per-channel cost, but channels come in order;
  - independent chunks (`encode_chunks`): each chunk (e.g. one channel's weights) is its own
    stream with the shared model, costing its own 4n state bytes, in exchange for random access
    or parallel decoding. Chunk payloads are concatenated. Decoding them in order needs no
    offsets (each stream ends exactly where it was written to end); random access needs the
    offset table (`ChunkedResult.offset_table`): one varint byte size per chunk, in chunk
    order. Its bytes are counted in `ChunkedResult.total_bytes`.

Speed: `encode` and `RansDecoder.take` run the C coder of the microcontroller runtime
(`levin/runtime/c/levin_rans.c`, via `native.py`) when it can be built, and the Python loops
below otherwise; both produce the same bytes and symbols (tests/coding/test_native.py).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from levin.coding import native
from levin.coding.entropy_model import FrequencyModel
from levin.coding.limits import LIMITS
from levin.coding.varint import encode_varints, read_varint
from levin.errors import LevinFormatError

RANS_L = 1 << 23
MAX_STATES = 16
MAX_COUNT = LIMITS.tensor_elements  # 16M symbols: a stream codes at most one tensor


@dataclass(frozen=True)
class RansConfig:
    """n_states: number of interleaved rANS states (1..16); 1 for the smallest chunks."""

    n_states: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.n_states <= MAX_STATES:
            raise ValueError(f"n_states must be in 1..{MAX_STATES}, got {self.n_states}")


def encode(symbols: np.ndarray, model: FrequencyModel, config: RansConfig | None = None) -> bytes:
    """Return the rANS payload of `symbols` (format in the module docstring).

    Raises:
        ValueError: a symbol is outside the alphabet or has frequency 0 in `model`.
    """
    config = config or RansConfig()
    sym = np.asarray(symbols).reshape(-1)
    if sym.size == 0:
        return b""
    if not np.issubdtype(sym.dtype, np.integer):
        raise ValueError(f"symbols must be integers, got {sym.dtype}")
    if sym.min() < 0 or sym.max() >= model.alphabet_size:
        raise ValueError(f"symbols must lie in 0..{model.alphabet_size - 1}")
    if (model.freqs[sym] == 0).any():
        bad = int(sym[np.flatnonzero(model.freqs[sym] == 0)[0]])
        raise ValueError(f"symbol {bad} has frequency 0 in the model and cannot be coded")
    if native.library() is not None:
        return native.encode(sym, model, min(config.n_states, sym.size))
    prec = model.precision_bits
    freq, cum, _ = model.lookup_lists()
    xmax = [((RANS_L >> prec) << 8) * f for f in freq]
    n = min(config.n_states, sym.size)
    states = [RANS_L] * n
    out = bytearray()  # written back to front, reversed at the end
    seq = sym.tolist()
    for i in range(len(seq) - 1, -1, -1):
        s = seq[i]
        j = i % n
        x = states[j]
        xm = xmax[s]
        while x >= xm:
            out.append(x & 0xFF)
            x >>= 8
        f = freq[s]
        states[j] = ((x // f) << prec) + (x % f) + cum[s]
    for x in reversed(states):
        out += x.to_bytes(4, "big")  # reversed below into little-endian, x_0 first
    out.reverse()
    return bytes(out)


class RansDecoder:
    """Decodes one stream of `count` symbols from buf[pos:end], a piece at a time.

    `take(k)` returns the next k symbols, so a runtime can decode one output channel, use it, and
    go on: the states carry over, no per-channel flush or offset is needed. `finish()` checks the
    stream's end. Every loop is bounded by the declared count, and the count is checked against
    what the payload can hold before any work.

    Raises (constructor, take, finish):
        LevinFormatError: truncated payload, initial or final states out of place, a count the
            payload cannot hold.
    """

    def __init__(self, buf: bytes, model: FrequencyModel, count: int, config: RansConfig | None = None,
                 lookup: str = "table", pos: int = 0, end: int | None = None):
        end = len(buf) if end is None else end
        n_states = (config or RansConfig()).n_states
        if not 0 <= count <= MAX_COUNT:
            raise LevinFormatError(f"rANS payload: symbol count {count} outside 0..{MAX_COUNT}")
        if lookup not in ("table", "search"):
            raise ValueError(f"lookup must be 'table' or 'search', got {lookup!r}")
        n = min(n_states, count)
        if end - pos < 4 * n:
            raise LevinFormatError(
                f"rANS payload: truncated, {end - pos} bytes hold fewer than the {n} initial 4-byte states"
            )
        self.states = [int.from_bytes(buf[pos + 4 * j : pos + 4 * j + 4], "little") for j in range(n)]
        for j, x in enumerate(self.states):
            if not RANS_L <= x < RANS_L << 8:
                raise LevinFormatError(
                    f"rANS payload: initial state {j} = {x:#x} outside [2^23, 2^31), corrupt"
                )
        self.buf, self.pos, self.end = buf, pos + 4 * n, end
        self.model, self.lookup = model, lookup
        self.count, self.done = count, 0
        self._native: native.NativeModel | None = None
        fmax = int(model.freqs.max())
        # Each decode shrinks log2(x) by >= d bits, each byte read grows it by < 8.006 bits, and a
        # state starts below 2^31 and ends at 2^23: so the payload bounds the count it can hold.
        d = math.log2(model.total / fmax) - math.log2(1 + 2.0 ** (model.precision_bits - 23))
        if d > 0 and count > n + (8 * n + 8.006 * (end - self.pos)) / d:
            raise LevinFormatError(f"rANS payload: {count} symbols cannot fit in {end - pos} bytes with this "
                                   "model (payload truncated or count wrong)")

    def take(self, count: int) -> np.ndarray:
        """Decode and return the next `count` symbols (int64)."""
        if not 0 <= count <= self.count - self.done:
            raise ValueError(f"cannot take {count} symbols, {self.count - self.done} are left")
        model = self.model
        if model.freqs.max() == model.total:  # one symbol takes all: 0 bits each, states never move
            self.done += count
            return np.full(count, int(model.freqs.argmax()), dtype=np.int64)
        if native.library() is not None:
            return self._take_native(count)
        prec, mask = model.precision_bits, model.total - 1
        freq, cum, slots = model.lookup_lists()
        if self.lookup == "table":
            find = slots.__getitem__
        else:
            def find(slot: int) -> int:
                return bisect_right(cum, slot) - 1
        buf, pos, end, states = self.buf, self.pos, self.end, self.states
        n, first = len(states), self.done
        out = []
        for i in range(first, first + count):
            j = i % n
            x = states[j]
            slot = x & mask
            s = find(slot)
            x = freq[s] * (x >> prec) + slot - cum[s]
            while x < RANS_L:
                if pos >= end:
                    raise LevinFormatError(f"rANS payload: truncated after {i + 1} of {self.count} symbols")
                x = (x << 8) | buf[pos]
                pos += 1
            states[j] = x
            out.append(s)
        self.pos, self.done = pos, first + count
        return np.asarray(out, dtype=np.int64)

    def _take_native(self, count: int) -> np.ndarray:
        if self._native is None:
            self._native = native.NativeModel(self.model, self.lookup)
            self._view = np.frombuffer(self.buf, dtype=np.uint8)
        n = len(self.states)
        dec = native.Decoder(self._view.ctypes.data, self.pos, self.end, self.count, self.done, n,
                             (native.ctypes.c_uint32 * native.MAX_STATES)(*self.states))
        out = np.empty(count, dtype=np.uint16)
        status = native.library().levin_rans_decode_u16(
            native.ctypes.byref(dec), native.ctypes.byref(self._native.struct), out.ctypes.data, count)
        if status == native.ERR_TRUNCATED:
            raise LevinFormatError(f"rANS payload: truncated after {dec.done + 1} of {self.count} symbols")
        if status != native.OK:
            raise ValueError(f"C rANS decoder: {native.STATUS.get(status, status)}")
        self.states[:] = list(dec.state)[:n]
        self.pos, self.done = dec.pos, self.done + count
        return out.astype(np.int64)

    def finish(self) -> int:
        """Check that all symbols were taken and the states are back at 2^23; return the end position."""
        if self.done != self.count:
            raise ValueError(f"{self.count - self.done} symbols not taken yet")
        if any(x != RANS_L for x in self.states):
            raise LevinFormatError(f"rANS payload: corrupt, final states {self.states} are not all 2^23")
        return self.pos


def _decode_exact(buf: bytes, pos: int, end: int, model, count, config, lookup, what: str) -> np.ndarray:
    dec = RansDecoder(buf, model, count, config, lookup, pos, end)
    out = dec.take(count)
    if dec.finish() != end:
        raise LevinFormatError(f"{what}: {end - dec.pos} bytes left over after {count} symbols, corrupt")
    return out


def decode(
    data: bytes, model: FrequencyModel, count: int, config: RansConfig | None = None, lookup: str = "table"
) -> np.ndarray:
    """Decode `count` symbols from a payload made by `encode` with the same model and config.

    Raises:
        LevinFormatError: the payload is truncated, has bytes left over, or is corrupt.
    """
    return _decode_exact(data, 0, len(data), model, count, config, lookup, "rANS payload")


@dataclass(frozen=True)
class ChunkedResult:
    """Independent rANS streams concatenated: offsets[k]..offsets[k+1] is chunk k's payload."""

    payload: bytes
    offsets: tuple[int, ...]

    def offset_table(self) -> bytes:
        """Return the serialized offset table: one varint byte size per chunk, in chunk order."""
        return encode_varints(b - a for a, b in zip(self.offsets[:-1], self.offsets[1:]))

    def total_bytes(self, with_offsets: bool = True) -> int:
        """Bytes of the payload, plus the offset table unless the runtime decodes chunks in order."""
        return len(self.payload) + (len(self.offset_table()) if with_offsets else 0)


def encode_chunks(
    chunks: list[np.ndarray], model: FrequencyModel, config: RansConfig | None = None
) -> ChunkedResult:
    """Encode each chunk as an independent stream with the shared `model`."""
    parts = [encode(c, model, config) for c in chunks]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts], dtype=np.int64)]).tolist()
    return ChunkedResult(b"".join(parts), tuple(offsets))


def read_offset_table(buf: bytes, pos: int, n_chunks: int, payload_size: int) -> tuple[tuple[int, ...], int]:
    """Parse an offset table of `n_chunks` sizes at `buf[pos:]`; return (offsets, position after).

    Raises:
        LevinFormatError: truncated table, or sizes that do not add up to `payload_size`.
    """
    offsets = [0]
    for k in range(n_chunks):
        size, pos = read_varint(buf, pos, f"rANS offset table entry {k}")
        offsets.append(offsets[-1] + size)
    if offsets[-1] != payload_size:
        raise LevinFormatError(
            f"rANS offset table: chunk sizes add up to {offsets[-1]}, payload has {payload_size} bytes"
        )
    return tuple(offsets), pos


def decode_chunk(
    payload: bytes, offsets: tuple[int, ...], index: int, model: FrequencyModel, count: int,
    config: RansConfig | None = None, lookup: str = "table",
) -> np.ndarray:
    """Decode chunk `index` alone (random access through the offsets)."""
    if not 0 <= index < len(offsets) - 1:
        raise ValueError(f"chunk index {index} outside 0..{len(offsets) - 2}")
    start, end = offsets[index], offsets[index + 1]
    if not 0 <= start <= end <= len(payload):
        raise LevinFormatError(
            f"rANS chunk {index}: offsets {start}..{end} outside the {len(payload)}-byte payload"
        )
    return _decode_exact(payload, start, end, model, count, config, lookup, f"rANS chunk {index}")


def decode_chunks(
    payload: bytes, model: FrequencyModel, counts: list[int], config: RansConfig | None = None,
    lookup: str = "table",
) -> list[np.ndarray]:
    """Decode all chunks in order without an offset table; each starts where the last one ended."""
    pos, out = 0, []
    for k, count in enumerate(counts):
        try:
            dec = RansDecoder(payload, model, count, config, lookup, pos)
            out.append(dec.take(count))
            pos = dec.finish()
        except LevinFormatError as e:
            raise LevinFormatError(f"rANS chunk {k}: {e}") from None
    if pos != len(payload):
        raise LevinFormatError(
            f"rANS chunks: {len(payload) - pos} bytes left over after {len(counts)} chunks, corrupt"
        )
    return out
