"""Mutation fuzzing of the export path: mutated .lvn files that still decode, through the
integer oracle (`reference.run`) and the C generator (`codegen.export_c`).

Read me first. The .lvn reader has its own fuzzer (`levin.coding.fuzz`); this one starts where
it ends: from a file that decodes, whatever the graph holds, `levin export` must write its C
files or raise one LevinError, and leave no half-written output. Two kinds of case:
- bytes: `levin.coding.fuzz.mutate` on a valid file with an uncompressed graph section, then
  `fix_crcs`, so that mutated scales, zero points, shapes and attributes reach the decoder's
  checks and, when they pass them, the oracle and the generator;
- values: the decoded graph rebuilt with extreme values where the integer arithmetic breaks
  (scales from 1e-45 to 3e38, so multipliers overflow and shifts leave -31..30; zero points at
  the int8 ends; int32 biases at their limits and weights at +-127, so accumulators overflow;
  pad values NaN or inf; other strides, paddings, kernels), and encoded again (weights raw;
  the byte cases keep every coding chain of the sample files). What the graph
  IR refuses (it checks as it builds) cannot come from a file and counts as "refused by the IR".
A case's first byte picks the weight format, the rest is the .lvn file. The oracle runs on a
random int8 input, `export_c` into a fresh folder. Outcomes: unreadable .lvn (LevinFormatError),
exported (the oracle accepting or rejecting the random input), a clean LevinError from the
export, or a finding (another exception, a case over `case_seconds`, or files left behind by a
failed export), reported with the seed and case that reproduce it (`levin.fuzzing`).

    .venv/bin/python -m levin.codegen.fuzz --seconds 60
    .venv/bin/python -m levin.codegen.fuzz --seed 3 --case 1234     # replay one case
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from levin import fuzzing
from levin.coding import container
from levin.coding import fuzz as lvn_fuzz
from levin.config.code import CodeConfig, WeightCodecConfig
from levin.errors import LevinError, LevinFormatError
from levin.ir.graph import Graph, QuantParams
from levin import codegen, reference

FORMATS = ("auto", "int8", "packed", "codebook", "rans", "sparse")
FAST_FORMATS = ("int8", "packed", "codebook", "rans")   # for models too large to search "auto" in 1 s
LARGE = 20_000               # constant elements from which a model counts as large
MAX_ORACLE_ELEMENTS = 1 << 22  # activations the oracle runs within a case's time (else: skipped)
SCALES = (1e-45, 1e-40, 1e-38, 2.0 ** -40, 2.0 ** -27, 2.0 ** -20, 1e-6, 1.0, 2.0 ** 20, 1e30, 3.4e38)
INT32 = (-(1 << 31), (1 << 31) - 1)
PLAIN = CodeConfig(graph="plain")
RAW = CodeConfig(default=WeightCodecConfig(coders=("raw",), sparse="never", codebook="never"), graph="plain")


class HalfWritten(AssertionError):
    """An export that raised left files in its output folder."""


def _q(scale, zp=0, axis=None) -> QuantParams:
    return QuantParams(np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis)


def lookup_graph() -> Graph:
    """Sigmoid, Tanh, a rescaling Concat and ReLU, Linear, Softmax: the ops the .tflite sample lacks."""
    g = Graph("lookup")
    x = g.add_input("x", (1, 4, 4, 2), np.int8, _q(0.05, 3))
    a = g.add_node("Sigmoid", [x], "sig", dtype=np.int8, quant=_q(1 / 256, -128))
    b = g.add_node("Tanh", [x], "tanh", dtype=np.int8, quant=_q(1 / 128, 0))
    y = g.add_node("Concat", [a, b], "cat", axis=3, dtype=np.int8, quant=_q(1 / 100, -20))
    y = g.add_node("ReLU", [y], "relu", dtype=np.int8, quant=_q(1 / 90, -128))
    y = g.add_node("Reshape", [y], "flat", shape=(1, 64))
    w = np.random.default_rng(7).integers(-127, 128, (5, 64)).astype(np.int8)
    g.add_constant("fc.w", w, _q(np.full(5, 0.002, np.float32), np.zeros(5), 0))
    y = g.add_node("Linear", [y, "fc.w"], "fc", dtype=np.int8, quant=_q(0.1, 0))
    g.mark_output(g.add_node("Softmax", [y], "sm", axis=-1, dtype=np.int8, quant=_q(1 / 256, -128)))
    return g


@lru_cache(maxsize=None)
def sample_files() -> tuple[bytes, ...]:
    """Small integer models as .lvn files with an uncompressed graph section: every op the C
    runtime has, and weights in every coding chain."""
    from levin.ir.tflite_fuzz import sample_graph

    g, config = lvn_fuzz.sample_graph(0)
    return (container.encode(sample_graph(0), PLAIN), container.encode(lookup_graph(), PLAIN),
            container.encode(g, CodeConfig(tensors=config.tensors, graph="plain")))


def real_files(data_dir: Path | None = None) -> tuple[bytes, ...]:
    """The MLPerf Tiny int8 models, imported and written as .lvn (weights raw: fast to write)."""
    from levin.ir import tflite, tflite_fuzz

    base = (data_dir or tflite_fuzz.DATA_DIR) / "models" / "mlperf_tiny"
    paths = [base / f for f in tflite_fuzz.MLPERF_TINY]
    return tuple(container.encode(tflite.load(p), RAW) for p in paths if p.is_file())


def _constant_elements(g: Graph) -> int:
    return sum(t.size for t in g.tensors.values() if t.is_constant)


def rebuild(g: Graph, quant: dict[str, QuantParams], data: dict[str, np.ndarray],
            attrs: dict[str, dict]) -> Graph:
    """A copy of `g` with some tensors' parameters or values and some nodes' attributes replaced;
    shapes are inferred again. Raises GraphError where the IR refuses the result."""
    out = Graph(g.name)
    for name, t in g.tensors.items():
        if t.is_constant:
            out.add_constant(name, data.get(name, t.data), quant.get(name, t.quant))
        elif name in g.inputs:
            out.add_input(name, t.shape, t.dtype, quant.get(name, t.quant))
    for node in g.nodes:
        t = g.tensors[node.output]
        out.add_node(node.op, node.inputs, node.name, output=node.output, dtype=t.dtype,
                     quant=quant.get(node.output, t.quant), **{**node.attrs, **attrs.get(node.name, {})})
    for name in g.outputs:
        out.mark_output(name)
    return out


def _scale(rng: np.random.Generator) -> float:
    if rng.random() < 0.6:
        return float(rng.choice(SCALES))
    return float(np.float32(2.0 ** rng.uniform(-140, 127)))


def mutate_values(g: Graph, rng: np.random.Generator) -> Graph:
    """`g` rebuilt with one to three extreme values (see the module docstring)."""
    quant: dict[str, QuantParams] = {}
    data: dict[str, np.ndarray] = {}
    attrs: dict[str, dict] = {}
    quantized = [t for t in g.tensors.values() if t.quant is not None]
    constants = [t for t in g.tensors.values() if t.is_constant and t.dtype.kind == "i"]
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 4))
        if kind == 0 and quantized:                       # a scale (or every channel's)
            t = quantized[int(rng.integers(0, len(quantized)))]
            q = quant.get(t.name, t.quant)
            scale = np.full(q.scale.size, _scale(rng), np.float32)
            quant[t.name] = QuantParams(scale, q.zero_point, q.axis, q.bits)
        elif kind == 1 and quantized:                     # a zero point at an end of int8
            t = quantized[int(rng.integers(0, len(quantized)))]
            q = quant.get(t.name, t.quant)
            zp = np.full(q.zero_point.size, int(rng.choice([-128, 127, 0])), np.int32)
            quant[t.name] = QuantParams(q.scale, zp, q.axis, q.bits)
        elif kind == 2 and constants:                     # extreme weights or biases
            t = constants[int(rng.integers(0, len(constants)))]
            lo, hi = (INT32 if t.dtype == np.int32 else (-127, 127))
            values = np.array(data.get(t.name, t.data), copy=True)
            values[rng.random(values.shape) < rng.uniform(0.1, 1)] = int(rng.choice([lo, hi]))
            data[t.name] = values
        elif kind == 3 and g.nodes:                       # an attribute
            node = g.nodes[int(rng.integers(0, len(g.nodes)))]
            if node.op == "Pad":
                attrs[node.name] = {"value": float(rng.choice([np.nan, np.inf, -np.inf, 1e30, -1e9]))}
            elif node.op in ("Conv2d", "MaxPool2d", "AvgPool2d"):
                key = str(rng.choice(["stride", "padding"] + (["dilation"] if node.op == "Conv2d" else ["kernel"])))
                n = 4 if key == "padding" else 2
                attrs[node.name] = {key: tuple(int(v) for v in rng.integers(0 if key == "padding" else 1, 5, n))}
    return rebuild(g, quant, data, attrs)


class Corpus:
    """Valid .lvn files and their graphs; `make_case` mutates one (bytes or values)."""

    def __init__(self, files: tuple[bytes, ...]):
        self.files = files
        self.graphs = [container.decode(f) for f in files]
        self.large = [_constant_elements(g) >= LARGE for g in self.graphs]

    def make_case(self, rng: np.random.Generator, case: int) -> bytes:
        k = case % len(self.files)
        formats = FAST_FORMATS if self.large[k] else FORMATS
        head = bytes([FORMATS.index(formats[int(rng.integers(0, len(formats)))])])
        if rng.random() < 0.5:
            return head + lvn_fuzz.fix_crcs(lvn_fuzz.mutate(self.files[k], rng))
        try:
            g = mutate_values(self.graphs[k], rng)
        except LevinError:
            return head + b"refused by the IR"
        return head + container.encode(g, RAW)   # the coder search would take most of the time


def target(data: bytes) -> str:
    if data[1:] == b"refused by the IR":
        return "refused by the IR"
    fmt, lvn = FORMATS[data[0] % len(FORMATS)], data[1:]
    try:
        graph = container.decode(lvn)
    except LevinFormatError:
        return "unreadable .lvn"
    if sum(t.size for t in graph.activations()) > MAX_ORACLE_ELEMENTS:
        return "too large for the oracle"
    oracle = "oracle ok"
    if len(graph.inputs) == 1 and graph.tensors[graph.inputs[0]].dtype == np.int8:
        t = graph.tensors[graph.inputs[0]]
        x = np.random.default_rng(zlib.crc32(lvn)).integers(-128, 128, t.shape).astype(np.int8)
        try:
            reference.run(graph, x)
        except LevinError:
            oracle = "oracle rejects"
    work = Path(tempfile.mkdtemp(prefix="levin-export-fuzz-"))
    try:
        (work / "m.lvn").write_bytes(lvn)
        try:
            codegen.export_c(work / "m.lvn", work / "c", fmt)
        except LevinError:
            left = sorted(p.name for p in (work / "c").iterdir()) if (work / "c").is_dir() else []
            if left:
                raise HalfWritten(f"a failed export left {left}") from None
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return f"{oracle}, exported"


def run(seed: int = 0, seconds: float | None = None, cases: int | None = None,
        files: tuple[bytes, ...] | None = None, case_seconds: float = 1.0,
        keep_going: bool = False) -> fuzzing.FuzzStats:
    """Fuzz the export path (see `levin.fuzzing.run`); default files: samples + MLPerf Tiny."""
    corpus = Corpus(files or sample_files() + real_files())
    return fuzzing.run(target, corpus.make_case, name="export", seed=seed, seconds=seconds,
                       cases=cases, case_seconds=case_seconds, keep_going=keep_going)


def main(argv: list[str] | None = None) -> int:
    p = fuzzing.parser("python -m levin.codegen.fuzz", __doc__,
                       ".lvn files to mutate (default: samples + MLPerf Tiny)")
    args = p.parse_args(argv)
    files = tuple(Path(f).read_bytes() for f in args.files) or sample_files() + real_files(args.data_dir)
    corpus = Corpus(files)
    if args.case is not None:
        data = fuzzing.case_input(corpus.make_case, args.seed, args.case)
        print(f"case {args.case} of seed {args.seed}: format {FORMATS[data[0] % len(FORMATS)]}, "
              f"{len(data) - 1} bytes -> {target(data)}")
        return 0
    return fuzzing.main_loop(lambda: fuzzing.run(target, corpus.make_case, name="export", seed=args.seed,
                                                 seconds=args.seconds, case_seconds=args.case_seconds,
                                                 keep_going=True), args.save)


if __name__ == "__main__":
    sys.exit(main())
