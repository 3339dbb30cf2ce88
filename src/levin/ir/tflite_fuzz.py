"""Mutation fuzzing of the .tflite importer: whatever the bytes, a Graph or a LevinError, fast.

Each case takes a valid int8 .tflite file (the MLPerf Tiny models when the shared data is there,
and always a small model levin writes itself), mutates it and imports it
(`levin.ir.tflite.from_bytes`, what `levin convert` runs). Mutations: bit flips, random bytes,
truncation, insertion, deletion, duplicated ranges, and 32-bit words overwritten with values
that matter in a flatbuffer (offsets 0 and past the end, -1, 2**31 - 1, small counts, float32
0, NaN, inf, denormals). Three positions in four fall outside the weight buffers, where the
structure is (tables, vectors, shapes, quantization), so that mutations reach the checks
rather than only changing weights. Outcomes: imported, rejected with a LevinError, or a
finding (another exception, or a case over `case_seconds`), reported with the seed and case
that reproduce it (`levin.fuzzing`).

    .venv/bin/python -m levin.ir.tflite_fuzz --seconds 60
    .venv/bin/python -m levin.ir.tflite_fuzz --seed 3 --case 1234     # replay one case
"""

from __future__ import annotations

import os
import struct
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from levin import fuzzing
from levin.ir import tflite
from levin.ir.graph import Graph, QuantParams

MLPERF_TINY = ("keyword_spotting/kws_ref_model.tflite", "image_classification/pretrainedResnet_quant.tflite",
               "visual_wake_words/vww_96_int8.tflite", "anomaly_detection/ad01_int8.tflite")
DATA_DIR = Path(os.environ.get("LEVIN_TEST_DATA", "../shared/data"))
WORDS = (0, 1, 2, 3, 4, 7, 8, 255, 256, 0xFFFF, 0x7FFFFFFF, -1, -2, -(1 << 31), 1 << 20)
FLOATS = (0.0, -1.0, 1.0, float("inf"), float("-inf"), float("nan"), 1e-45, 1e-38, 3.4e38, 2.0 ** -30)


def _q(scale, zp=0, axis=None) -> QuantParams:
    return QuantParams(np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis)


def sample_graph(seed: int = 0) -> Graph:
    """A small int8 graph with every op the .tflite writer and reader share: conv (+ReLU6),
    depthwise conv, max and average pooling, add, concat, pad, global pooling, reshape,
    fully connected, softmax."""
    rng = np.random.default_rng(seed)
    g = Graph(f"sample{seed}")
    x = g.add_input("x", (1, 8, 8, 3), np.int8, _q(0.05, -3))

    def weights(name, shape, axis_scale):
        w = np.clip(np.round(rng.laplace(0, 30, shape)), -127, 127).astype(np.int8)
        return g.add_constant(name, w, _q(rng.uniform(0.005, 0.02, shape[0]), np.zeros(shape[0]), 0)
                              if axis_scale else _q(0.01))

    def bias(name, n, s):
        return g.add_constant(name, rng.integers(-500, 500, n).astype(np.int32),
                              _q(np.full(n, s, np.float32), np.zeros(n), 0))

    q1 = _q(0.04, -128)
    y = g.add_node("Conv2d", [x, weights("c.w", (8, 3, 3, 3), True), bias("c.b", 8, 0.0005)], "c",
                   dtype=np.int8, quant=q1, padding=1)
    y = g.add_node("ReLU6", [y], "c.relu6")
    y = g.add_node("Conv2d", [y, weights("dw.w", (8, 3, 3, 1), True), bias("dw.b", 8, 0.0004)], "dw",
                   dtype=np.int8, quant=_q(0.06, 5), padding=1, stride=2, groups=8)     # (1, 4, 4, 8)
    a = g.add_node("MaxPool2d", [y], "mp", kernel=2, stride=2)
    b = g.add_node("AvgPool2d", [y], "ap", kernel=2, stride=2, count_include_pad=False)
    s = g.add_node("Add", [a, b], "add", dtype=np.int8, quant=_q(0.1, -2))
    s = g.add_node("Concat", [s, s], "cat", axis=3)                                       # (1, 2, 2, 16)
    s = g.add_node("Pad", [s], "pad", pads=(0, 1, 0, 1), value=0.0)
    s = g.add_node("GlobalAvgPool", [s], "gap")
    s = g.add_node("Reshape", [s], "flat", shape=(1, 16))
    s = g.add_node("Linear", [s, weights("fc.w", (10, 16), False), bias("fc.b", 10, 0.001)], "fc",
                   dtype=np.int8, quant=_q(0.2, 3))
    g.mark_output(g.add_node("Softmax", [s], "sm", axis=-1, dtype=np.int8, quant=_q(1 / 256, -128)))
    return g


@lru_cache(maxsize=None)
def sample_files() -> tuple[bytes, ...]:
    """.tflite files levin writes itself (no shared data needed)."""
    from levin.ir import tflite_export

    return tuple(tflite_export.to_bytes(sample_graph(seed)) for seed in (0, 1))


def real_files(data_dir: Path | None = None) -> tuple[bytes, ...]:
    """The MLPerf Tiny int8 models under data_dir/models/mlperf_tiny that exist."""
    base = (data_dir or DATA_DIR) / "models" / "mlperf_tiny"
    return tuple(p.read_bytes() for p in (base / f for f in MLPERF_TINY) if p.is_file())


def hot_positions(data: bytes) -> np.ndarray:
    """Byte positions outside the weight buffers' data: the flatbuffer's structure."""
    cold = np.zeros(len(data), bool)
    m = tflite._fb.Model.GetRootAsModel(data, 0)
    for j in range(m.BuffersLength()):
        b = m.Buffers(j)
        if b.DataLength():
            start = b._tab.Vector(b._tab.Offset(4))
            cold[start:start + b.DataLength()] = True
    return np.flatnonzero(~cold)


def mutate(data: bytes, rng: np.random.Generator, hot: np.ndarray | None = None) -> bytes:
    """One to four random mutations of `data`; positions mostly from `hot` when given."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        n = len(buf)
        if hot is not None and hot.size and rng.random() < 0.75:
            at = int(hot[rng.integers(0, hot.size)])
        else:
            at = int(rng.integers(0, max(n, 1)))
        at = min(at, n)
        kind = int(rng.integers(0, 9))
        if kind == 0 and at < n:
            buf[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1 and at < n:
            buf[at] = int(rng.integers(0, 256))
        elif kind == 2 and rng.random() < 0.3:      # truncation ends most mutants early: rarer
            del buf[at:]
        elif kind == 3:
            buf[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        elif kind == 4:
            del buf[at : at + int(rng.integers(1, 17))]
        elif kind == 5 and at < n:
            end = min(n, at + int(rng.integers(1, 65)))
            buf[at:at] = buf[at:end]
        elif kind in (6, 7) and n >= 4:             # an aligned 32-bit word: an offset, count or index
            at = min(at - at % 4, n - 4)
            v = int(rng.choice(WORDS)) if rng.random() < 0.7 else at + int(rng.integers(-64, 65))
            buf[at:at + 4] = struct.pack("<I", v & 0xFFFFFFFF)
        elif kind == 8 and n >= 4:                  # an aligned float32: a scale or beta
            at = min(at - at % 4, n - 4)
            buf[at:at + 4] = struct.pack("<f", FLOATS[int(rng.integers(0, len(FLOATS)))])
    return bytes(buf)


class Corpus:
    """Files to mutate and their hot positions; `make_case` draws a file and mutates it."""

    def __init__(self, files: tuple[bytes, ...]):
        self.files = files
        self.hot = [hot_positions(f) for f in files]

    def make_case(self, rng: np.random.Generator, case: int) -> bytes:
        k = case % len(self.files)
        return mutate(self.files[k], rng, self.hot[k])


def target(data: bytes) -> str:
    tflite.from_bytes(data, "fuzz")
    return "imported"


def run(seed: int = 0, seconds: float | None = None, cases: int | None = None,
        files: tuple[bytes, ...] | None = None, case_seconds: float = 1.0,
        keep_going: bool = False) -> fuzzing.FuzzStats:
    """Fuzz the importer (see `levin.fuzzing.run`); default files: MLPerf Tiny + samples."""
    corpus = Corpus(files or real_files() + sample_files())
    return fuzzing.run(target, corpus.make_case, name="tflite import", seed=seed, seconds=seconds,
                       cases=cases, case_seconds=case_seconds, keep_going=keep_going)


def main(argv: list[str] | None = None) -> int:
    p = fuzzing.parser("python -m levin.ir.tflite_fuzz", __doc__,
                       ".tflite files to mutate (default: MLPerf Tiny + samples)")
    args = p.parse_args(argv)
    files = tuple(Path(f).read_bytes() for f in args.files) or real_files(args.data_dir) + sample_files()
    corpus = Corpus(files)
    if args.case is not None:
        data = fuzzing.case_input(corpus.make_case, args.seed, args.case)
        print(f"case {args.case} of seed {args.seed}: {len(data)} bytes -> {target(data)}")
        return 0
    return fuzzing.main_loop(lambda: fuzzing.run(target, corpus.make_case, name="tflite import",
                                                 seed=args.seed, seconds=args.seconds,
                                                 case_seconds=args.case_seconds, keep_going=True), args.save)


if __name__ == "__main__":
    sys.exit(main())
