"""The binary ops with broadcasting (levin/ops/add.py, binary.py) through every layer: torch capture
(functions, methods, operators, constant operands, a squeeze-and-excitation block) and the float
interpreter; the integer reference bit-exact against TFLite Micro's ADD, SUB, MUL, MAXIMUM and
MINIMUM on random codes for several parameter sets and broadcast shapes; the .tflite round trip;
PTQ; and the C export bit-exact against the reference, with broadcasting and constant operands."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from levin import reference
from levin.config import QuantConfig
from levin.errors import GraphError
from levin.ir import interpreter
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams
from levin.ops.broadcast import layout
from levin.quant import ptq

X = torch.linspace(-3, 3, 4 * 8 * 5 * 5).reshape(4, 8, 5, 5)


class SE(nn.Module):
    """conv -> global average pool -> linear -> sigmoid -> multiplied back onto the feature map."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        s = torch.sigmoid(self.fc(h.mean((2, 3))))
        return h * s.view(-1, 8, 1, 1)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.conv, self.fn = nn.Conv2d(8, 8, 1), fn
        self.scale = nn.Parameter(torch.linspace(0.5, 2.0, 8).reshape(8, 1, 1))

    def forward(self, x):
        return self.fn(self, self.conv(x), x)


CASES = [   # (torch forward, the IR ops it captures after the conv)
    (lambda m, h, x: h * 0.5 + 1, ["Mul", "Add"]),
    (lambda m, h, x: torch.mul(h, x), ["Mul"]),
    (lambda m, h, x: h.mul(m.scale), ["Mul"]),
    (lambda m, h, x: 1 - h, ["Sub"]),
    (lambda m, h, x: torch.sub(h, x).sub(0.25), ["Sub", "Sub"]),
    (lambda m, h, x: h + x.mean((2, 3), keepdim=True), ["GlobalAvgPool", "Add"]),
    (lambda m, h, x: torch.maximum(h, x), ["Maximum"]),
    (lambda m, h, x: torch.minimum(h, x).minimum(x), ["Minimum", "Minimum"]),
]


def _float_check(model, g):
    with torch.no_grad():
        want = model(X).numpy()
    got = np.concatenate([interpreter.run(g, reference.nhwc(X[i:i + 1].numpy()))[g.outputs[0]]
                          for i in range(len(X))])
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", range(len(CASES)))
def test_capture_and_float_interpreter_match_torch(k):
    torch.manual_seed(0)
    fn, want_ops = CASES[k]
    model = Fn(fn).eval()
    g = capture(model, X[:1])
    assert [n.op for n in g.nodes][1:] == want_ops
    _float_check(model, g)


def test_se_block_capture():
    torch.manual_seed(0)
    model = SE().eval()
    g = capture(model, X[:1])
    mul = g.nodes[-1]
    assert mul.op == "Mul" and g.tensors[mul.inputs[1]].shape == (1, 1, 1, 8)
    _float_check(model, g)


def test_scalar_constant_is_a_constant_tensor():
    g = capture(Fn(lambda m, h, x: h * 0.5 + 1).eval(), X[:1])
    consts = [g.tensors[i] for n in g.nodes[1:] for i in n.inputs if g.tensors[i].is_constant]
    assert [float(c.data.ravel()[0]) for c in consts] == [0.5, 1.0]


def test_broadcast_layout_merges_dims():
    assert layout((1, 4, 5, 3), (1, 4, 5, 3), (1, 4, 5, 3)) == {
        "dims": [1, 1, 1, 60], "stride1": [0, 0, 0, 1], "stride2": [0, 0, 0, 1]}
    assert layout((1, 4, 5, 3), (1, 1, 1, 3), (1, 4, 5, 3)) == {
        "dims": [1, 1, 20, 3], "stride1": [0, 0, 3, 1], "stride2": [0, 0, 0, 1]}
    assert layout((1,), (1, 4, 5, 3), (1, 4, 5, 3))["stride1"] == [0, 0, 0, 0]


def test_shape_errors():
    g = Graph("t")
    a, b = g.add_input("a", (1, 4, 5, 3)), g.add_input("b", (1, 4, 2, 3))
    with pytest.raises(GraphError, match="do not broadcast"):
        g.add_node("Mul", [a, b], "y")


# -- integer kernels against TFLite Micro ----------------------------------------------------------
SHAPES = [((1, 4, 5, 3), (1, 4, 5, 3)), ((1, 4, 5, 3), (1, 1, 1, 3)), ((1, 1, 1, 3), (1, 4, 5, 3)),
          ((1, 4, 5, 3), (1, 1, 1, 1)), ((1, 4, 1, 3), (1, 1, 5, 1)), ((1, 6, 5, 2), (1, 6, 1, 2))]
# (s1, zp1, s2, zp2, s_out, zp_out)
PARAMS = [(0.05, 4, 0.02, -30, 0.04, 7), (0.1, -128, 0.1, 127, 0.02, 0), (0.0235, 0, 0.5, 3, 0.3, -100),
          (1.0, 127, 0.003, -5, 0.01, 0), (0.004, -7, 0.004, -7, 0.004, -7)]


def int_graph(op, shape1, shape2, p, const2=None) -> Graph:
    g = Graph("t")
    a = g.add_input("a", shape1, np.int8, QuantParams(np.float32(p[0]), p[1]))
    q2 = QuantParams(np.float32(p[2]), p[3])
    b = (g.add_input("b", shape2, np.int8, q2) if const2 is None else g.add_constant("b", const2, q2))
    g.mark_output(g.add_node(op, [a, b], "y", dtype=np.int8, quant=QuantParams(np.float32(p[4]), p[5])))
    return g


def _tflm(data: bytes, xs) -> np.ndarray:
    from levin.ir import tflite_run
    it = tflite_run.tflm_interpreter(data)
    for k, x in enumerate(xs):
        it.set_input(np.ascontiguousarray(x), k)
    it.invoke()
    return np.array(it.get_output(0))


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Maximum", "Minimum"])
def test_bit_exact_with_tflite_micro(op):
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite, tflite_export

    rng = np.random.default_rng(0)
    params = PARAMS if op in ("Add", "Sub", "Mul") else [(0.05, 3, 0.05, 3, 0.05, 3), (0.2, -128, 0.2, -128, 0.2, -128)]
    checked = 0
    for p in params:
        for s1, s2 in SHAPES:
            g = int_graph(op, s1, s2, p)
            xs = [rng.integers(-128, 128, s, dtype=np.int8) for s in (s1, s2)]
            want = reference.run(g, {"a": xs[0], "b": xs[1]})["y"]
            data = tflite_export.to_bytes(g)
            np.testing.assert_array_equal(_tflm(data, xs), want, err_msg=f"{op} {p} {s1} {s2}")
            back = tflite.from_bytes(data)
            assert back.nodes[0].op == op
            np.testing.assert_array_equal(reference.run(back, {"input": xs[0], "input1": xs[1]})[back.outputs[0]], want)
            checked += 1
            # a constant second operand, as a captured `x * 0.5` or learned scale becomes
            c = rng.integers(-128, 128, s2, dtype=np.int8)
            gc = int_graph(op, s1, s2, p, const2=c)
            np.testing.assert_array_equal(_tflm(tflite_export.to_bytes(gc), xs[:1]),
                                          reference.run(gc, xs[0])["y"], err_msg=f"{op} const {p} {s2}")
    assert checked == len(params) * len(SHAPES)


def test_max_min_refuse_different_parameters():
    g = int_graph("Maximum", (1, 3), (1, 3), (0.05, 3, 0.04, 3, 0.05, 3))
    with pytest.raises(GraphError, match="same scale and zero point"):
        reference.run(g, {"a": np.zeros((1, 3), np.int8), "b": np.zeros((1, 3), np.int8)})


# -- PTQ and the C export ----------------------------------------------------------------------------
def _ops_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("binary")
    x = g.add_input("x", (1, 5, 5, 3))
    h = g.add_node("Conv2d", [x, g.add_constant("w", rng.normal(0, 0.8, (3, 3, 3, 3)).astype(np.float32))],
                   "conv", padding=1)
    gap = g.add_node("GlobalAvgPool", [h], "gap")
    m = g.add_node("Mul", [h, gap], "se")                                               # [1,5,5,3] * [1,1,1,3]
    m = g.add_node("Mul", [m, g.add_constant("c_half", np.array([0.5], np.float32))], "half_mul")
    s = g.add_node("Sub", [g.add_constant("one", np.ones((1, 1, 1, 3), np.float32)), x], "one_minus")
    a = g.add_node("Add", [m, g.add_constant("bias", rng.normal(0, 1, (1, 1, 5, 1)).astype(np.float32))], "add_b")
    a = g.add_node("Add", [a, s], "add")
    mx = g.add_node("Maximum", [a, h], "max")
    mn = g.add_node("Minimum", [mx, gap], "min")
    g.mark_output(g.add_node("Mul", [mn, x], "out"))
    return g


def test_c_export_bit_exact(tmp_path):
    from levin.targets import build
    from tests.runtime.test_c_models import check_bit_exact

    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")
    g = _ops_graph()
    x = np.random.default_rng(1).uniform(-2, 2, (8, 5, 5, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    want = np.concatenate([interpreter.run(g, x[i:i + 1])["out"] for i in range(len(x))])
    got = reference.dequantize_output(ig, reference.run(ig, reference.quantize_input(ig, x))["out"])
    assert np.abs(got - want).max() <= 0.1 * np.abs(want).max()
    inputs = np.concatenate([reference.quantize_input(ig, x),
                             np.random.default_rng(2).integers(-128, 128, (4, 5, 5, 3)).astype(np.int8)])
    check_bit_exact(ig, inputs, tmp_path / "int8", "int8")


def test_se_block_after_ptq_c_bit_exact(tmp_path):
    from levin.targets import build
    from tests.runtime.test_c_models import check_bit_exact

    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")
    torch.manual_seed(0)
    model = SE().eval()
    g = capture(model, X[:1])
    ig = ptq.quantize_graph(g, X.numpy())
    codes = reference.quantize_batch(ig, X.numpy())
    with torch.no_grad():
        want = model(X).numpy().transpose(0, 2, 3, 1)
    got = reference.dequantize_output(ig, reference.run(ig, codes)[ig.outputs[0]])
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()
    check_bit_exact(ig, codes, tmp_path, "int8")


def test_constant_operands_quantized_per_tensor():
    g = _ops_graph()
    x = np.random.default_rng(1).uniform(-2, 2, (8, 5, 5, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    half = ig.tensors["c_half"]
    assert half.dtype == np.int8 and half.quant.scale.size == 1
    np.testing.assert_allclose((half.data.astype(np.float64) - half.quant.zero_point[0]) * half.quant.scale[0],
                               0.5, atol=half.quant.scale[0] / 2)
    mx = ig.nodes[[n.name for n in ig.nodes].index("max")]
    assert len({(float(ig.tensors[t].quant.scale[0]), int(ig.tensors[t].quant.zero_point[0]))
                for t in (*mx.inputs, mx.output)}) == 1


def test_graph_module_takes_names_that_are_module_attributes():
    """A constant called "half" and a node called "train" used to clash with nn.Module's own
    attributes in GraphModule's dicts (KeyError: attribute 'half' already exists)."""
    from levin.ir.graph import Graph
    from levin.quant.graphmodule import GraphModule

    g = Graph("names")
    x = g.add_input("x", (1, 2, 2, 3))
    half = g.add_constant("half", np.full((1, 1, 1, 3), 0.5, np.float32))
    g.mark_output(g.add_node("Mul", [x, half], "train"))
    out = GraphModule(g)(torch.ones(1, 3, 2, 2))
    assert torch.allclose(out, torch.full((1, 3, 2, 2), 0.5))
