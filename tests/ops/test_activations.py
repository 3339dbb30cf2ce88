"""The table activations (levin/ops/activations.py) through every layer: torch capture and the float
interpreter, the integer tables bit-exact against TFLite Micro (HARD_SWISH, LEAKY_RELU, ELU) and
desktop TFLite's reference kernel (GELU, which TFLite Micro lacks) on all 256 input codes, the
.tflite round trip, the C export bit-exact against the reference, and PTQ."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from levin import reference
from levin.config import QuantConfig
from levin.errors import GraphError
from levin.ir import interpreter
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams
from levin.quant import ptq
from tests.runtime.helpers import one_op, run_all

# (IR op, attrs, torch module, torch function)
OPS = [
    ("Hardswish", {}, nn.Hardswish(), F.hardswish),
    ("LeakyReLU", {"alpha": 0.1}, nn.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    ("ELU", {"alpha": 1.0}, nn.ELU(), F.elu),
    ("ELU", {"alpha": 0.5}, nn.ELU(0.5), lambda x: F.elu(x, alpha=0.5)),
    ("GELU", {"approximate": "none"}, nn.GELU(), F.gelu),
    ("GELU", {"approximate": "tanh"}, nn.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
    ("Hardsigmoid", {}, nn.Hardsigmoid(), F.hardsigmoid),
    ("SiLU", {}, nn.SiLU(), F.silu),
    ("Clamp", {"min": -1.0, "max": 2.0}, nn.Hardtanh(-1.0, 2.0), lambda x: torch.clamp(x, -1.0, 2.0)),
]
IDS = [f"{op}-{'-'.join(map(str, a.values()))}" for op, a, *_ in OPS]
X = torch.linspace(-7, 7, 2 * 3 * 5 * 5).reshape(2, 3, 5, 5)


class Functional(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.conv, self.fn = nn.Conv2d(3, 3, 1), fn

    def forward(self, x):
        return self.fn(self.conv(x))


@pytest.mark.parametrize("op,attrs,module,fn", OPS, ids=IDS)
def test_capture_and_float_interpreter_match_torch(op, attrs, module, fn):
    torch.manual_seed(0)
    for model in (nn.Sequential(nn.Conv2d(3, 3, 1), module), Functional(fn)):
        model.eval()
        g = capture(model, X[:1])
        assert [(n.op, n.attrs) for n in g.nodes][1] == (op, attrs)
        with torch.no_grad():
            want = model(X).numpy()
        got = np.concatenate([interpreter.run(g, reference.nhwc(X[i:i + 1].numpy()))[g.outputs[0]]
                              for i in range(len(X))])
        np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=1e-5, atol=1e-6)


def test_clamp_capture_keeps_relu_and_relu6():
    for fn, op in [(lambda x: F.hardtanh(x, 0.0, 6.0), "ReLU6"), (lambda x: torch.clamp(x, 0.0, 6.0), "ReLU6"),
                   (lambda x: x.clamp(min=0.0), "ReLU"), (lambda x: torch.clamp(x, max=1.5), "Clamp")]:
        g = capture(Functional(fn).eval(), X[:1])
        assert g.nodes[1].op == op
    assert capture(Functional(lambda x: x.clamp(max=1.5)).eval(), X[:1]).nodes[1].attrs == {
        "min": -np.inf, "max": 1.5}


# -- integer tables against TFLite --------------------------------------------------------------------
CODES = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
# (s_in, zp_in, s_out, zp_out): typical, asymmetric, equal, coarse, extreme ratios both ways
PARAMS = [(0.05, 4, 0.04, -30), (0.1, -128, 0.02, 0), (0.0235, 0, 0.0235, 0), (1.0, 127, 0.5, -128),
          (0.001, 0, 0.3, 5), (0.5, -10, 0.0051, 100), (3e-6, 0, 1e-3, 0), (0.3, 0, 0.0025, 0),
          (0.05, 0, 0.04, 0)]
TFLITE_OPS = [("Hardswish", {}), ("LeakyReLU", {"alpha": 0.01}), ("LeakyReLU", {"alpha": 0.2}),
              ("LeakyReLU", {"alpha": -0.3}), ("LeakyReLU", {"alpha": 3.5}), ("LeakyReLU", {"alpha": 0.0}),
              ("ELU", {"alpha": 1.0}), ("GELU", {"approximate": "none"}), ("GELU", {"approximate": "tanh"})]


def int_graph(op, s_in, zp_in, s_out, zp_out, **attrs) -> Graph:
    g = Graph("t")
    g.add_input("x", (1, 256), np.int8, QuantParams(np.float32(s_in), zp_in))
    g.mark_output(g.add_node(op, ["x"], "y", dtype=np.int8, quant=QuantParams(np.float32(s_out), zp_out),
                             **attrs))
    return g


@pytest.mark.parametrize("op,attrs", TFLITE_OPS, ids=[f"{o}-{a}" for o, a in TFLITE_OPS])
def test_tables_bit_exact_with_tflite_on_every_code(op, attrs):
    pytest.importorskip("tflite_micro")
    pytest.importorskip("ai_edge_litert")
    from levin.ir import tflite, tflite_export, tflite_run

    for p in PARAMS:
        g = int_graph(op, *p, **attrs)
        want = reference.run(g, CODES)[g.outputs[0]]
        data = tflite_export.to_bytes(g)
        # TFLite Micro has no GELU kernel: desktop TFLite's reference kernels build the same table
        got = tflite_run.run_litert(data, CODES) if op == "GELU" else tflite_run.run_tflm(data, CODES)
        np.testing.assert_array_equal(got, want, err_msg=f"{op} {attrs} {p}")
        back = tflite.from_bytes(data)
        node = back.nodes[0]
        assert node.op == op and node.attrs == {k: np.float32(v) if k == "alpha" else v
                                                for k, v in attrs.items()}
        np.testing.assert_array_equal(reference.run(back, CODES)[back.outputs[0]], want)


def test_leaky_relu_ties_follow_tflm_multiplier():
    # 0.05 * 3.5 / 0.04 is 4.375 exactly in float32, a hair above it in double: TFLite Micro's
    # multiplier is the double one, so -20 * 4.375 = -87.5 rounds to -88, not -87
    g = int_graph("LeakyReLU", 0.05, 4, 0.04, -30, alpha=3.5)
    assert reference.run(g, CODES)[g.outputs[0]][0, 128 - 16] == -30 - 88     # input code -16


def test_hardswish_golden_codes():
    """Frozen: a change here is a decision (it must stay equal to TFLite Micro's kernel)."""
    g = int_graph("Hardswish", 0.05, 4, 0.04, -30)
    out = reference.run(g, CODES)[g.outputs[0]].ravel()
    assert out[::32].tolist() == [-30, -30, -30, -39, -32, -4, 45, 85]


def test_refusals():
    with pytest.raises(GraphError, match="larger output scale"):
        reference.run(int_graph("Hardswish", 1.0, 0, 0.001, 0), CODES)
    with pytest.raises(GraphError, match="approximate must be"):
        int_graph("GELU", 0.1, 0, 0.1, 0, approximate="erf")
    with pytest.raises(GraphError, match="min 2.0 is above max"):
        int_graph("Clamp", 0.1, 0, 0.1, 0, min=2.0, max=1.0)
    from levin.ir import tflite_export
    for op, attrs in [("Hardsigmoid", {}), ("SiLU", {}), ("Clamp", {})]:
        with pytest.raises(GraphError, match=rf"\({op}\): no bit-exact TFLite op"):
            tflite_export.to_bytes(int_graph(op, 0.05, 0, 0.02, 0, **attrs))
    with pytest.raises(GraphError, match="alpha 1 only"):
        tflite_export.to_bytes(int_graph("ELU", 0.05, 0, 0.02, 0, alpha=0.5))


# -- C export and PTQ ---------------------------------------------------------------------------------
def _all_ops_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("acts")
    x = g.add_input("x", (1, 5, 5, 3))
    h = g.add_node("Conv2d", [x, g.add_constant("w", rng.normal(0, 0.8, (4, 3, 3, 3)).astype(np.float32))],
                   "conv", padding=1)
    outs = [g.add_node(op, [h], f"a{k}", **attrs) for k, (op, attrs, *_) in enumerate(OPS)]
    g.mark_output(g.add_node("Concat", outs, "cat", axis=-1))
    return g


def test_c_export_bit_exact(tmp_path):
    from levin.targets import build
    from tests.runtime.test_c_models import check_bit_exact

    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")
    g = _all_ops_graph()
    x = np.random.default_rng(1).uniform(-2, 2, (8, 5, 5, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    inputs = np.concatenate([reference.quantize_input(ig, x),
                             np.random.default_rng(2).integers(-128, 128, (4, 5, 5, 3)).astype(np.int8)])
    check_bit_exact(ig, inputs, tmp_path / "int8", "int8")


@pytest.mark.parametrize("op,attrs", [(op, a) for op, a, *_ in OPS], ids=IDS)
def test_ptq_agrees_with_float_and_fake_quant(op, attrs):
    x = np.random.default_rng(3).normal(0, 2, (16, 4, 4, 3)).astype(np.float32)
    want, got, fake, codes, ig, plan = run_all(one_op(op, (1, 4, 4, 3), **attrs), x)
    scale = plan.params("y")[0]
    assert np.abs(got - want).max() <= 2 * scale + 0.02 * np.abs(want).max()
    assert np.abs(fake - codes).max() <= 1
