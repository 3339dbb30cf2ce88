"""Generated weights: a tensor's body holds a program's inputs, not its weights (MIRACLE-style).

Read me first. The int8 codes of a tensor (flat, C order) are cut into blocks of B codes; the
file holds a seed, a prior (a 256-entry table of codes, built from two numbers) and, per block,
one index k of C bits. The decoder regenerates block b from (seed, b, k) with a counter-based hash
and the table; the encoder chose k among the 2^C candidates by the importance weights of a
variational posterior over the prior (Havasi et al., "Minimal Random Code Learning", ICLR 2019),
so a block costs C bits whatever its size. The decoding is exact integer arithmetic, the same in
numpy and in C (levin_weights.c), and random-access: any element can be regenerated alone.

    mix(x)     = x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16
                 (mod 2^32: Chris Wellons' "lowbias32" finalizer)
    key(b, k)  = mix(mix(seed + mix(b)) ^ k)
    word(b, k, m) = mix(key(b, k) + m * 0x9E3779B9)
    byte j of block b = bits 8 (j mod 4) .. 8 (j mod 4) + 7 of word(b, k_b, j div 4)
    code j of block b = table[byte]

    table[u] = 0 for 128 - zero <= u < 128 + zero (a dead zone of 2 * zero entries), else
               sign(p) * ((|p| + 2^15) >> 16) clamped to -127..127, p = sigma16 * NORMAL_Q12[u]
    NORMAL_Q12[u] = round(4096 * Phi^-1((u + 0.5) / 256)), the standard normal's 256 quantiles

so the table approximates N(0, sigma) in code units, sigma = sigma16 / 16, discretized to 8 bits
of randomness per code. Body (after the chain byte GENERATED, docs/format.md 4.7):

    u8 generator (1: the hash and table above), varint seed (< 2^32), varint B (1..2^20),
    u8 C (1..24), varint sigma16 (1..65535), u8 zero (0..128),
    the block indices: ceil(blocks * C / 8) bytes, index b in stream bits [b C, (b + 1) C),
    least significant bit first (bitpack.py's order), padding bits zero; blocks = ceil(n / B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from levin.coding.fields import ByteReader, ByteWriter
from levin.errors import LevinFormatError

CHAIN_FLAG = 4          # the tensor body's chain flag (weights.GENERATED)
GENERATOR = 1
GOLDEN = 0x9E3779B9
MAX_BLOCK = 1 << 20
MAX_BITS = 24
NORMAL_Q12 = np.array([round(4096 * NormalDist().inv_cdf((u + 0.5) / 256)) for u in range(256)], np.int64)

_U32 = np.uint32


def mix(x: np.ndarray) -> np.ndarray:
    """lowbias32 of every element (uint32 arrays, wrapping arithmetic)."""
    x = np.asarray(x, dtype=_U32)
    x = x ^ (x >> _U32(16))
    x = x * _U32(0x7FEB352D)
    x = x ^ (x >> _U32(15))
    x = x * _U32(0x846CA68B)
    return x ^ (x >> _U32(16))


def block_base(seed: int, blocks: np.ndarray) -> np.ndarray:
    """mix(seed + mix(b)) for each block b: the part of the key that does not depend on k."""
    return mix(_U32(seed) + mix(np.asarray(blocks, dtype=_U32)))


def prior_table(sigma16: int, zero: int = 0) -> np.ndarray:
    """The 256 codes that a random byte maps to (module docstring), int8."""
    p = int(sigma16) * NORMAL_Q12
    code = np.sign(p) * ((np.abs(p) + (1 << 15)) >> 16)
    code = np.clip(code, -127, 127)
    u = np.arange(256)
    code[(u >= 128 - zero) & (u < 128 + zero)] = 0
    return code.astype(np.int8)


def draws(keys: np.ndarray, n: int) -> np.ndarray:
    """The first n random bytes of each key: uint8 [len(keys), n]."""
    keys = np.asarray(keys, dtype=_U32).reshape(-1, 1)
    words = mix(keys + np.arange((n + 3) // 4, dtype=_U32) * _U32(GOLDEN))
    return words.astype("<u4").view(np.uint8).reshape(len(keys), -1)[:, :n]


def pack_indices(indices: np.ndarray, bits: int) -> bytes:
    """Indices of `bits` bits, least significant bit first (module docstring)."""
    idx = np.asarray(indices, dtype=np.int64)
    bitmat = (idx[:, None] >> np.arange(bits)) & 1
    return np.packbits(bitmat.reshape(-1).astype(np.uint8), bitorder="little").tobytes()


def unpack_indices(data: bytes, count: int, bits: int) -> np.ndarray:
    flat = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: count * bits]
    return (flat.reshape(count, bits).astype(np.int64) << np.arange(bits)).sum(1)


@dataclass(frozen=True)
class GeneratedCode:
    """The program's inputs of one tensor: n codes in blocks of `block`, `bits` per block index."""

    n: int
    seed: int
    block: int
    bits: int
    sigma16: int
    zero: int
    indices: np.ndarray

    @property
    def blocks(self) -> int:
        return -(-self.n // self.block)

    @property
    def chain(self) -> str:
        return f"generated:B{self.block}xC{self.bits}"

    def table(self) -> np.ndarray:
        return prior_table(self.sigma16, self.zero)

    def body(self) -> bytes:
        """The tensor section body, chain byte included (weights.GENERATED)."""
        w = ByteWriter()
        w.u8(CHAIN_FLAG)
        w.u8(GENERATOR)
        w.varint(self.seed)
        w.varint(self.block)
        w.u8(self.bits)
        w.varint(self.sigma16)
        w.u8(self.zero)
        w.raw(pack_indices(self.indices, self.bits))
        return bytes(w.out)

    def codes(self) -> np.ndarray:
        """The n int8 codes the program generates."""
        return generate(self.seed, self.block, self.table(), self.indices, self.n)


def block_codes(seed: int, block: int, table: np.ndarray, b: int, k: int, n: int) -> np.ndarray:
    key = mix(block_base(seed, np.array([b])) ^ _U32(k))
    return table[draws(key, n)[0]]


def generate(seed: int, block: int, table: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """All n codes: block b from index indices[b]."""
    nb = -(-n // block)
    keys = mix(block_base(seed, np.arange(nb)) ^ np.asarray(indices, dtype=np.int64).astype(_U32))
    return table[draws(keys, block).reshape(-1)[:n]].astype(np.int8)


def read_body(r: ByteReader, n: int) -> GeneratedCode:
    """Parse a generated body after its chain byte, to `r.end` (format in the module docstring).

    Raises:
        LevinFormatError: an unknown generator, a parameter out of range, indices of the wrong
            length or with padding bits set.
    """
    gen = r.u8("generator")
    if gen != GENERATOR:
        raise r.fail(f"unknown weight generator {gen} (known: {GENERATOR})")
    seed = r.varint("generator seed")
    if seed >= 1 << 32:
        raise r.fail(f"generator seed {seed} does not fit 32 bits")
    block = r.varint("block size")
    if not 1 <= block <= MAX_BLOCK:
        raise r.fail(f"block size {block} outside 1..{MAX_BLOCK}")
    bits = r.u8("index bits")
    if not 1 <= bits <= MAX_BITS:
        raise r.fail(f"index bits {bits} outside 1..{MAX_BITS}")
    sigma16 = r.varint("prior sigma")
    if not 1 <= sigma16 <= 0xFFFF:
        raise r.fail(f"prior sigma {sigma16} outside 1..65535")
    zero = r.u8("prior dead zone")
    if zero > 128:
        raise r.fail(f"prior dead zone {zero} outside 0..128")
    blocks = -(-n // block)
    need = (blocks * bits + 7) // 8
    if r.left != need:
        raise r.fail(f"{blocks} block indices of {bits} bits take {need} bytes, the body has {r.left}")
    data = r.take(need, "block indices")
    used = blocks * bits % 8
    if used and data[-1] >> used:
        raise r.fail("padding bits of the block indices are not zero")
    return GeneratedCode(n, seed, block, bits, sigma16, zero, unpack_indices(data, blocks, bits))


def decode_body(body: bytes, n: int) -> GeneratedCode:
    """A whole generated body, chain byte included."""
    r = ByteReader(body, 1, len(body), "generated tensor")
    return read_body(r, n)


# ---- the encoder: choose each block's index -------------------------------------------------

def candidate_codes(seed: int, block: int, table: np.ndarray, b: int, bits: int, n: int,
                    chunk: int = 8192) -> np.ndarray:
    """int8 [2^bits, n]: the codes of block b under every index."""
    base = block_base(seed, np.array([b]))
    out = np.empty((1 << bits, n), dtype=np.int8)
    for lo in range(0, 1 << bits, chunk):
        ks = np.arange(lo, min(lo + chunk, 1 << bits), dtype=_U32)
        out[lo:lo + len(ks)] = table[draws(mix(base ^ ks), n)]
    return out


def choose_index(cands: np.ndarray, mu: np.ndarray, sigma: np.ndarray, sigma_p: float,
                 rng: np.random.Generator | None = None) -> int:
    """MIRACLE's choice among the candidates of one block (codes [K, n]) for a Gaussian posterior
    N(mu, sigma^2) per code (code units) and the prior N(0, sigma_p^2): the log importance weight
    log q(c) - log p(c) of a candidate is sum_j a_j c_j^2 + b_j c_j + const, a_j = 1/(2 sigma_p^2)
    - 1/(2 sigma_j^2), b_j = mu_j / sigma_j^2. With `rng`, k is drawn with probability
    proportional to the importance weights (the paper's rule); without, the largest is taken."""
    s2 = np.maximum(np.asarray(sigma, np.float64), 1e-3) ** 2
    a = (0.5 / sigma_p ** 2 - 0.5 / s2).astype(np.float32)
    bcoef = (np.asarray(mu, np.float64) / s2).astype(np.float32)
    c = cands.astype(np.float32)
    score = (c * c) @ a + c @ bcoef
    if rng is None:
        return int(np.argmax(score))
    g = rng.gumbel(size=score.shape)
    return int(np.argmax(score.astype(np.float64) + g))


def encode_blocks(code: GeneratedCode, blocks: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                  sigma_p: float, rng: np.random.Generator | None = None) -> GeneratedCode:
    """`code` with the indices of `blocks` chosen for the posterior (mu, sigma) of all n codes
    (code units, flat order); returns the new code (indices copied)."""
    idx = code.indices.copy()
    table = code.table()
    for b in blocks:
        lo, hi = b * code.block, min((b + 1) * code.block, code.n)
        cands = candidate_codes(code.seed, code.block, table, int(b), code.bits, hi - lo)
        idx[b] = choose_index(cands, mu[lo:hi], sigma[lo:hi], sigma_p, rng)
    return GeneratedCode(code.n, code.seed, code.block, code.bits, code.sigma16, code.zero, idx)


def empty_code(n: int, block: int, bits: int, sigma16: int, seed: int = 1, zero: int = 0) -> GeneratedCode:
    """A program with every index 0 (to be chosen by `encode_blocks`)."""
    if not (1 <= block <= MAX_BLOCK and 1 <= bits <= MAX_BITS and 1 <= sigma16 <= 0xFFFF and 0 <= zero <= 128):
        raise ValueError("block, bits, sigma16 or zero out of range (module docstring)")
    return GeneratedCode(n, seed, block, bits, sigma16, zero, np.zeros(-(-n // block), np.int64))


def body_bytes(n: int, block: int, bits: int, seed: int = 1, sigma16: int = 384) -> int:
    """Exact size of a generated body (chain byte included)."""
    def vlen(v: int) -> int:
        return max(1, math.ceil(v.bit_length() / 7))
    blocks = -(-n // block)
    return 1 + 1 + vlen(seed) + vlen(block) + 1 + vlen(sigma16) + 1 + (blocks * bits + 7) // 8


def check_codes(code: GeneratedCode, want: np.ndarray) -> None:
    """Raise LevinFormatError unless the program regenerates `want` (flat)."""
    got = code.codes()
    if not np.array_equal(got, np.asarray(want).reshape(-1)):
        bad = np.flatnonzero(got != np.asarray(want).reshape(-1))
        raise LevinFormatError(f"generated codes differ from the tensor at {bad.size} elements, "
                               f"first {bad[:5].tolist()}")
