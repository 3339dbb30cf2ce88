"""Every op the C runtime has a kernel for, compiled and checked bit for bit against the oracle on
small PTQ graphs (Concat, Sigmoid, Tanh, grouped/depthwise/dilated conv, pools, Add, Pad,
Softmax), on the golden .lvn files (low-bit, codebook, every positions method), and the build
under the strict flags with -Os, -m32 and, when present, arm-none-eabi-gcc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from levin.analyze.memory import plan_memory
from levin.coding import container
from levin.config import QuantConfig
from levin.errors import LevinError
from levin.ir.graph import Graph
from levin.quant import ptq
from levin.targets import build
from levin import codegen, reference
from tests.runtime.test_c_models import FORMATS, check_bit_exact

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _ops_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("ops")
    w = lambda *s: rng.normal(0, 0.3, s).astype(np.float32)  # noqa: E731
    x = g.add_input("x", (1, 9, 9, 4))
    a = g.add_node("Conv2d", [x, g.add_constant("dw.w", w(8, 3, 3, 1)), g.add_constant("dw.b", w(8))], "dw",
                   groups=4, padding=(2, 2), dilation=2)
    a = g.add_node("ReLU6", [a], "r6")
    b = g.add_node("Conv2d", [x, g.add_constant("gc.w", w(8, 3, 3, 2))], "gc", groups=2, padding=1)
    b = g.add_node("Sigmoid", [b], "sig")
    c = g.add_node("Tanh", [g.add_node("Conv2d", [x, g.add_constant("pw.w", w(8, 1, 1, 4))], "pw")], "tanh")
    s = g.add_node("Add", [a, b], "add")
    y = g.add_node("Concat", [s, c], "cat", axis=-1)
    y = g.add_node("Pad", [y], "pad", pads=(1, 0, 0, 1), value=0.25)
    y = g.add_node("AvgPool2d", [y], "avg", kernel=3, stride=2, padding=1, count_include_pad=True)
    y = g.add_node("MaxPool2d", [y], "max", kernel=2, stride=1, padding=(0, 1, 0, 1))
    y = g.add_node("ReLU", [g.add_node("GlobalAvgPool", [y], "gap")], "relu")
    y = g.add_node("Reshape", [y], "flat", shape=(1, -1))
    y = g.add_node("Linear", [y, g.add_constant("fc.w", w(6, 16)), g.add_constant("fc.b", w(6))], "fc")
    g.mark_output(g.add_node("Softmax", [y], "sm"))
    return g


def test_every_op_bit_exact(tmp_path):
    g = _ops_graph()
    x = np.random.default_rng(1).uniform(-1, 1, (16, 9, 9, 4)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    inputs = np.concatenate([reference.quantize_input(ig, x),
                             np.random.default_rng(2).integers(-128, 128, (8, 9, 9, 4)).astype(np.int8)])
    check_bit_exact(ig, inputs, tmp_path / "int8", "int8")
    check_bit_exact(ig, inputs, tmp_path / "rans", "rans")


def _window_chain() -> Graph:
    """Window ops end to end, each free to stream over its input: conv, strided, dilated and
    padded conv, depthwise, expanding 1x1, max and average pooling."""
    rng = np.random.default_rng(4)
    g = Graph("chain")
    t = g.add_input("x", (1, 12, 10, 3))
    for k, (shape, attrs) in enumerate([((8, 3, 3, 3), dict(padding=1)), ((8, 3, 3, 1), dict(padding=1, groups=8)),
                                        ((12, 3, 3, 8), dict(padding=(0, 2, 1, 1), stride=2)),
                                        ((12, 3, 3, 12), dict(padding=2, dilation=2)), ((24, 1, 1, 12), {})]):
        t = g.add_node("Conv2d", [t, g.add_constant(f"w{k}", rng.normal(0, 0.3, shape).astype(np.float32))],
                       f"c{k}", **attrs)
        t = g.add_node("ReLU", [t], f"r{k}")
    t = g.add_node("MaxPool2d", [t], "max", kernel=3, stride=1, padding=1)
    g.mark_output(g.add_node("AvgPool2d", [t], "avg", kernel=2, stride=1, padding=(0, 1, 0, 1)))
    return g


def test_streamed_kernels_bit_exact(tmp_path):
    g = _window_chain()
    x = np.random.default_rng(5).uniform(-1, 1, (12, 12, 10, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    inputs = reference.quantize_input(ig, x)
    streamed = check_bit_exact(ig, inputs, tmp_path / "int8", "int8")      # raw weights: convs stream
    plain = check_bit_exact(ig, inputs, tmp_path / "rans", "rans")          # coded: only the pools
    assert streamed.activation_bytes < plain.activation_bytes <= plan_memory(ig, 16).arena_bytes


@pytest.mark.parametrize("weight_format", FORMATS)
def test_golden_lvn_bit_exact(weight_format, tmp_path):
    path = GOLDEN / "golden.lvn"
    g = container.read(path)
    inputs = np.random.default_rng(3).integers(-128, 128, (16, 5, 5, 3)).astype(np.int8)
    result = codegen.export_c(path, tmp_path, weight_format, prefer="flash")
    got, _ = build.run_harness(build.build_harness(result), inputs, result.output_size)
    assert build.compare(got, reference.run(g, inputs)[g.outputs[0]]) is None
    if weight_format == "packed":
        assert result.chains["fc.w"] == "pack3"  # the 3-bit weights (QuantParams.bits) packed at 3 bits
    if weight_format == "auto":  # the file's own bytes where the C reader takes them
        assert result.chains["fc2.w"] == "sparse:packed+codebook4+pack2"


def test_sparse_positions_methods_all_decode(tmp_path):
    """gaps, bitmask and packed positions, forced by the tensor's density, through the C reader."""
    from tests.coding.graphs import quantize_graph
    from tests.runtime.helpers import one_op
    methods = set()
    for sparsity in (0.3, 0.6, 0.95):
        g = quantize_graph(one_op("Linear", (1, 64), weights=(24, 64)), sparsity=sparsity)
        inputs = np.random.default_rng(4).integers(-128, 128, (6, 64)).astype(np.int8)
        result = check_bit_exact(g, inputs, tmp_path / str(sparsity), "sparse")
        methods.add(result.chains["w"].split("+")[0])
    assert len(methods) >= 2, methods


def test_strict_flags_os_m32_and_cortex_m(tmp_path):
    result = codegen.export_c(GOLDEN / "golden.lvn", tmp_path / "m", "auto")
    objs = build.compile_objects(result, ("-Os",), obj_dir=tmp_path / "os")
    assert build.section_sizes(objs)["model.o"]["text"] > 0
    # -ffreestanding: gcc's own <stdint.h>, as on a microcontroller (no 32-bit libc headers needed)
    build.compile_objects(result, ("-O2", "-m32", "-ffreestanding"), obj_dir=tmp_path / "m32")
    # no float in the int8 path: the runtime's objects reference no soft-float or libm routine
    if shutil.which("arm-none-eabi-gcc"):
        objs = build.compile_objects(result, ("-Os", "-mcpu=cortex-m4", "-mthumb", "-ffreestanding"),
                                     cc="arm-none-eabi-gcc", obj_dir=tmp_path / "arm")
        syms = subprocess.run(["arm-none-eabi-nm", "-u", *map(str, objs)], capture_output=True,
                              text=True).stdout
        assert "__aeabi_f" not in syms and "__aeabi_d" not in syms and "malloc" not in syms, syms


def test_export_rejects_bad_input(tmp_path):
    with pytest.raises(LevinError, match="weight format 'zip'"):
        codegen.export_c(GOLDEN / "golden.lvn", tmp_path, "zip")
    g = Graph("f")
    g.mark_output(g.add_node("ReLU", [g.add_input("x", (1, 4))], "r"))
    with pytest.raises(LevinError, match="int8 activations"):
        codegen.export_c(g, tmp_path, "int8")
    with pytest.raises(LevinError, match="no such file"):
        codegen.export_c(tmp_path / "missing.lvn", tmp_path, "auto")
