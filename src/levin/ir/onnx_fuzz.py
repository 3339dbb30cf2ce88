"""Mutation fuzzing of the ONNX importer: whatever the bytes, a Graph or a LevinError, fast.

Each case takes a small valid float .onnx model (built here with `onnx.helper`: no torch, no
files), mutates it with the .tflite fuzzer's mutations (bit flips, random bytes, truncation,
insertion, deletion, duplicated ranges, special 32-bit words and floats) and imports it
(`levin.ir.onnx.from_bytes`). Outcomes: imported, rejected with a LevinError, or a finding
(another exception, or a case over `case_seconds`), reported with the seed and case that
reproduce it (`levin.fuzzing`).

    .venv/bin/python -m levin.ir.onnx_fuzz --seconds 60
    .venv/bin/python -m levin.ir.onnx_fuzz --seed 3 --case 1234     # replay one case
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

from levin import fuzzing
from levin.ir import onnx as onnx_import
from levin.ir.tflite_fuzz import mutate


def sample_model(seed: int = 0, opset: int = 17) -> bytes:
    """A small float CNN: Conv + BatchNormalization + Clip, depthwise Conv (SAME_UPPER), MaxPool,
    Add of a constant, GlobalAveragePool, Flatten, MatMul + Add, Gemm, Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name, shape):
        return numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)

    inits = [init("w", (4, 3, 3, 3)), init("b", (4,)), init("dw", (4, 1, 3, 3)), init("k", (1, 4, 1, 1)),
             init("m", (4, 6)), init("mb", (6,)), init("g", (5, 6)), init("gb", (5,))]
    inits += [numpy_helper.from_array(v.astype(np.float32), f"bn{k}") for k, v in enumerate(
        (rng.uniform(0.5, 1.5, 4), rng.normal(0, 1, 4), rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4)))]
    inits += [numpy_helper.from_array(np.float32(v), n) for n, v in (("lo", 0.0), ("hi", 6.0))]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "bn0", "bn1", "bn2", "bn3"], ["n"], name="bn"),
        helper.make_node("Clip", ["n", "lo", "hi"], ["r"], name="relu6"),
        helper.make_node("Conv", ["r", "dw"], ["d"], group=4, auto_pad="SAME_UPPER", strides=[2, 2], name="dw"),
        helper.make_node("MaxPool", ["d"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("Add", ["p", "k"], ["a"], name="add"),
        helper.make_node("GlobalAveragePool", ["a"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "m"], ["mm"], name="mm"),
        helper.make_node("Add", ["mm", "mb"], ["h"], name="bias"),
        helper.make_node("Gemm", ["h", "g", "gb"], ["l"], transB=1, name="fc"),
        helper.make_node("Softmax", ["l"], ["y"], name="softmax"),
    ]
    graph = helper.make_graph(nodes, "sample", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


@lru_cache(maxsize=None)
def sample_files() -> tuple[bytes, ...]:
    return (sample_model(0, 13), sample_model(1, 17))


def make_case(rng: np.random.Generator, case: int) -> bytes:
    files = sample_files()
    return mutate(files[case % len(files)], rng)


def target(data: bytes) -> str:
    onnx_import.from_bytes(data, "fuzz")
    return "imported"


def run(seed: int = 0, seconds: float | None = None, cases: int | None = None, case_seconds: float = 1.0,
        keep_going: bool = False) -> fuzzing.FuzzStats:
    """Fuzz the importer (see `levin.fuzzing.run`) on mutants of the sample models."""
    return fuzzing.run(target, make_case, name="onnx import", seed=seed, seconds=seconds, cases=cases,
                       case_seconds=case_seconds, keep_going=keep_going)


def main(argv: list[str] | None = None) -> int:
    p = fuzzing.parser("python -m levin.ir.onnx_fuzz", __doc__)
    args = p.parse_args(argv)
    if args.case is not None:
        data = fuzzing.case_input(make_case, args.seed, args.case)
        print(f"case {args.case} of seed {args.seed}: {len(data)} bytes -> {target(data)}")
        return 0
    return fuzzing.main_loop(lambda: run(args.seed, args.seconds, case_seconds=args.case_seconds,
                                         keep_going=True), args.save)


if __name__ == "__main__":
    sys.exit(main())
