"""Mutation fuzzing of the .lvn reader: whatever the bytes, only LevinFormatError comes out, fast.

Each case takes a valid file, mutates it (bit flips, random bytes, truncation, insertion,
deletion, duplicated ranges, varint-like 0xFF runs), and, half the time, recomputes every CRC32
the framing still lets it find, so that the mutation reaches the parsers behind the CRC checks.
Decoding must then succeed or raise LevinFormatError, within `case_seconds`; anything else is a
finding, reported with the seed and case number that reproduce it.

Long run (the suite runs a bounded one, tests/coding/test_container_fuzz.py):

    .venv/bin/python -m levin.coding.fuzz --seconds 600
    .venv/bin/python -m levin.coding.fuzz --seconds 60 --seed 7 tests/golden/*.lvn
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levin.coding import container
from levin.config.code import CodeConfig, WeightCodecConfig
from levin.errors import LevinFormatError
from levin.ir.graph import Graph, QuantParams


@dataclass
class FuzzStats:
    cases: int = 0
    decoded: int = 0                 # mutated files that still decoded (a harmless mutation)
    errors: dict[str, int] = field(default_factory=dict)  # first words of each error message

    def add_error(self, e: LevinFormatError) -> None:
        key = re.sub(r"0x[0-9a-f]+|\d+", "#", re.sub(r"'[^']*'", "'.'", str(e)))[:90]
        self.errors[key] = self.errors.get(key, 0) + 1


class FuzzFinding(AssertionError):
    """The reader raised something other than LevinFormatError, or took too long."""


def sample_graph(seed: int = 0) -> tuple[Graph, CodeConfig]:
    """A small int8 conv + linear graph and a config that exercises every codec in the chain."""
    rng = np.random.default_rng(seed)
    g = Graph(f"fuzz{seed}")
    q = QuantParams(np.float32(0.05), -3)
    x = g.add_input("x", (1, 6, 6, 2), np.int8, q)
    w = np.clip(np.round(rng.laplace(0, 4, (4, 3, 3, 2))), -127, 127).astype(np.int8)
    s = rng.uniform(0.01, 0.02, 4).astype(np.float32)
    wq = QuantParams(s, np.zeros(4, np.int32), 0)
    g.add_constant("conv.w", w, wq)
    g.add_constant("conv.b", rng.integers(-900, 900, 4).astype(np.int32), wq)
    y = g.add_node("Conv2d", [x, "conv.w", "conv.b"], "conv", dtype=np.int8, quant=q, padding=1)
    y = g.add_node("ReLU", [y], "relu")
    y = g.add_node("Reshape", [y], "flat", shape=(1, 144))
    fc = rng.choice([-90, -20, 0, 0, 0, 0, 0, 30, 70], size=(8, 144)).astype(np.int8)
    g.add_constant("fc.w", fc, QuantParams(np.full(8, 0.01, np.float32), np.zeros(8, np.int32), 0))
    small = rng.integers(-3, 4, (8, 8)).astype(np.int8)
    g.add_constant("fc2.w", small, QuantParams(np.float32(0.1), 0))
    y = g.add_node("Linear", [y, "fc.w"], "fc", dtype=np.int8, quant=q)
    y = g.add_node("Linear", [y, "fc2.w"], "fc2", dtype=np.int8, quant=q)
    g.mark_output(y)
    config = CodeConfig(tensors={
        "conv.w": WeightCodecConfig(coders=("huffman",), sparse="never"),
        "conv.b": WeightCodecConfig(coders=("varint",)),
        "fc.w": WeightCodecConfig(coders=("rans",), sparse="always", codebook="always", n_states=2),
        "fc2.w": WeightCodecConfig(coders=("pack",), codebook="never")})
    return g, config


def sample_files() -> list[bytes]:
    """Valid files to mutate: the sample graph coded two ways."""
    out = []
    for seed in (0, 1):
        g, config = sample_graph(seed)
        out.append(container.encode(g, config if seed == 0 else CodeConfig()))
    return out


def fix_crcs(data: bytes) -> bytes:
    """Recompute the header and section CRC32s wherever the framing can still be followed."""
    buf = bytearray(data)
    if len(buf) < 7 or buf[:4] != container.MAGIC:
        return bytes(buf)
    pos, n, shift = 6, 0, 0
    while pos < len(buf) and shift < 35:
        n |= (buf[pos] & 0x7F) << shift
        shift += 7
        pos += 1
        if not buf[pos - 1] & 0x80:
            break
    if pos + 4 <= len(buf):
        buf[pos : pos + 4] = zlib.crc32(bytes(buf[:pos])).to_bytes(4, "little")
    pos += 4
    for _ in range(min(n, 10_000)):
        start, length, shift = pos, 0, 0
        pos += 1
        while pos < len(buf) and shift < 35:
            length |= (buf[pos] & 0x7F) << shift
            shift += 7
            pos += 1
            if not buf[pos - 1] & 0x80:
                break
        pos += length
        if pos + 4 > len(buf):
            break
        buf[pos : pos + 4] = zlib.crc32(bytes(buf[start:pos])).to_bytes(4, "little")
        pos += 4
    return bytes(buf)


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to four random mutations of `data`."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        n = len(buf)
        kind = int(rng.integers(0, 7))
        at = int(rng.integers(0, max(n, 1)))
        if kind == 0 and n:
            buf[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1 and n:
            buf[at] = int(rng.integers(0, 256))
        elif kind == 2:
            del buf[at:]
        elif kind == 3:
            buf[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        elif kind == 4:
            del buf[at : at + int(rng.integers(1, 17))]
        elif kind == 5 and n:
            end = min(n, at + int(rng.integers(1, 65)))
            buf[at:at] = buf[at:end]
        elif kind == 6:
            buf[at : at + 5] = b"\xff\xff\xff\xff\x0f"[: int(rng.integers(1, 6))]
    return bytes(buf)


def check(data: bytes, case_seconds: float = 5.0) -> bool:
    """Decode `data`; True if it decoded, False on LevinFormatError; FuzzFinding otherwise."""
    def timeout(signum, frame):
        raise TimeoutError(f"decoding took longer than {case_seconds} s")

    old = signal.signal(signal.SIGALRM, timeout) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, case_seconds)
    try:
        container.decode(data)
        return True
    finally:
        if old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def run(seed: int = 0, seconds: float | None = None, cases: int | None = None,
        files: list[bytes] | None = None, case_seconds: float = 5.0) -> FuzzStats:
    """Fuzz until `seconds` pass or `cases` are done. Raises FuzzFinding on the first finding."""
    files = files or sample_files()
    rng = np.random.default_rng(seed)
    stats, start = FuzzStats(), time.perf_counter()
    while (cases is None or stats.cases < cases) and (seconds is None or time.perf_counter() - start < seconds):
        base = files[stats.cases % len(files)]
        data = mutate(base, rng)
        if rng.random() < 0.5:
            data = fix_crcs(data)
        try:
            stats.decoded += check(data, case_seconds)
        except LevinFormatError as e:
            stats.add_error(e)
        except Exception as e:  # the point of fuzzing: anything else is a bug
            raise FuzzFinding(f"case {stats.cases} (seed {seed}): {type(e).__name__}: {e}; "
                              f"input (hex) {data.hex()}") from e
        stats.cases += 1
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m levin.coding.fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help=".lvn files to mutate (default: built-in samples)")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    files = [Path(f).read_bytes() for f in args.files] or None
    try:
        stats = run(args.seed, args.seconds, files=files)
    except FuzzFinding as e:
        print(f"FINDING: {e}", file=sys.stderr)
        return 1
    print(f"{stats.cases} cases in {args.seconds:g} s: {stats.decoded} still decoded, "
          f"{stats.cases - stats.decoded} raised LevinFormatError, nothing else")
    print("most frequent errors (digits as #):")
    for key, count in sorted(stats.errors.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {count:7d}  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
