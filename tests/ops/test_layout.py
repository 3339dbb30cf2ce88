"""Layout and reduction ops (levin/ops/reduce.py, layout.py) through every layer: torch capture
(torch.mean / sum / amax over any dims, keepdim or not; permute / transpose, folded into a
following flatten + Linear; slicing, narrow, chunk, split; squeeze / unsqueeze; adaptive average
pooling to sizes above 1x1) and the float interpreter; the integer reference bit-exact against
TFLite Micro's MEAN, SUM, REDUCE_MAX (several axis sets and parameter sets, input and output
parameters equal and different), TRANSPOSE and STRIDED_SLICE; the .tflite round trip (a MEAN
over H and W, as a MobileNetV2 exported from PyTorch ends); PTQ; and the C export bit-exact
against the reference, with a MobileNetV2-like torch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from levin import reference
from levin.config import QuantConfig
from levin.errors import CaptureError, GraphError
from levin.ir import interpreter
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams
from levin.quant import ptq

X = torch.linspace(-3, 3, 4 * 6 * 5 * 7).reshape(4, 6, 5, 7)


class Fn(nn.Module):
    def __init__(self, fn, c=6):
        super().__init__()
        self.conv, self.fn = nn.Conv2d(c, 6, 1), fn

    def forward(self, x):
        return self.fn(self.conv(x))


REDUCE_CASES = [   # (torch forward, the IR ops it captures after the conv)
    (lambda h: h.mean(1, keepdim=True), ["Mean"]),
    (lambda h: h.mean(2), ["Mean", "Reshape"]),                          # (N, C, W): a 1-D map
    (lambda h: torch.mean(h, dim=(2, 3)), ["GlobalAvgPool", "Reshape"]),
    (lambda h: h.mean((2, 3), keepdim=True), ["GlobalAvgPool"]),
    (lambda h: torch.sum(h, 3, keepdim=True), ["Sum"]),
    (lambda h: h.sum(dim=(1, 2)), ["Sum", "Reshape"]),
    (lambda h: torch.amax(h, dim=1, keepdim=True), ["ReduceMax"]),
    (lambda h: h.amax((2, 3)), ["ReduceMax", "Reshape"]),
    (lambda h: h.flatten(1).mean(1, keepdim=True), ["Reshape", "Mean"]),
]


def _float_check(model, g, x=X):
    with torch.no_grad():
        want = model(x).numpy()
    got = np.concatenate([interpreter.run(g, reference.nhwc(x[i:i + 1].numpy()))[g.outputs[0]]
                          for i in range(len(x))])
    if want.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    elif want.ndim == 3:
        got = got[:, 0].transpose(0, 2, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", range(len(REDUCE_CASES)))
def test_reduce_capture_and_float_interpreter_match_torch(k):
    torch.manual_seed(0)
    fn, want_ops = REDUCE_CASES[k]
    model = Fn(fn).eval()
    g = capture(model, X[:1])
    assert [n.op for n in g.nodes][1:] == want_ops
    _float_check(model, g)


def test_reduce_1d_feature_map():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(3, 4, 3), Lambda(lambda h: h.mean(1, keepdim=True))).eval()
    x = torch.randn(2, 3, 9)
    g = capture(model, x[:1])
    assert [n.op for n in g.nodes][-1] == "Mean" and g.nodes[-1].attrs["axes"] == (3,)
    with torch.no_grad():
        want = model(x).numpy()
    got = np.concatenate([interpreter.run(g, x[i:i + 1].numpy().transpose(0, 2, 1)[:, None])[g.outputs[0]]
                          for i in range(len(x))])
    np.testing.assert_allclose(got[:, 0].transpose(0, 2, 1), want, rtol=1e-5, atol=1e-5)


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("fn,message", [
    (lambda h: h.mean(0, keepdim=True), "batch dim 0 cannot be reduced"),
    (lambda h: h.mean(1), "not supported"),                # (N, H, W) would need a transpose
    (lambda h: h.flatten(1).reshape(1, 6, 35).mean(1), "reshape a flattened"),
])
def test_reduce_capture_errors(fn, message):
    with pytest.raises(CaptureError, match=message):
        capture(Fn(fn).eval(), X[:1])


@pytest.mark.parametrize("shape,attrs,message", [
    ((1, 4, 4, 3), {}, "'axes' is required"),
    ((1, 4, 4, 3), {"axes": (0, 1)}, "batch axis 0"),
    ((1, 4, 4, 3), {"axes": (4,)}, "must be axes of a rank-4 input"),
    ((1, 2, 2, 2, 2), {"axes": (1,)}, "rank <= 4"),
])
def test_reduce_shape_errors(shape, attrs, message):
    g = Graph("t")
    x = g.add_input("x", shape)
    with pytest.raises(GraphError, match=message):
        g.add_node("Mean", [x], "y", **attrs)


class Layout(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.conv, self.fn, self.fc = nn.Conv2d(6, 6, 1), fn, nn.Linear(210, 3)

    def forward(self, x):
        return self.fn(self, self.conv(x))


LAYOUT_CASES = [   # (torch forward, the IR ops it captures after the conv)
    (lambda m, h: h.permute(0, 2, 3, 1), ["Transpose"]),
    (lambda m, h: h.transpose(2, 3), ["Transpose"]),
    (lambda m, h: torch.permute(h, (0, 3, 1, 2)), ["Transpose"]),
    (lambda m, h: h.flatten(2).transpose(1, 2), ["Reshape", "Transpose"]),
    # a permute only a flatten + Linear reads: folded into the weight columns, no copy
    (lambda m, h: m.fc(h.permute(0, 2, 3, 1).flatten(1)), ["Reshape", "Linear"]),
    (lambda m, h: m.fc(h.transpose(1, 3).reshape(h.shape[0], -1)), ["Reshape", "Linear"]),
    (lambda m, h: m.fc(torch.flatten(h.permute(0, 3, 2, 1), 1)), ["Reshape", "Linear"]),
    (lambda m, h: h[:, 1:4], ["StridedSlice"]),
    (lambda m, h: h[:, :, ::2, 1:], ["StridedSlice"]),
    (lambda m, h: h[..., 2:5], ["StridedSlice"]),
    (lambda m, h: torch.narrow(h, 3, 1, 4), ["StridedSlice"]),
    (lambda m, h: h.narrow(1, 2, 3), ["StridedSlice"]),
    (lambda m, h: torch.chunk(h, 2, 1)[1] + h.chunk(2, dim=1)[0], ["StridedSlice", "StridedSlice", "Add"]),
    (lambda m, h: h.split([2, 4], dim=1)[1] * torch.split(h, 4, 1)[0], ["StridedSlice", "StridedSlice", "Mul"]),
    (lambda m, h: h.mean(2).unsqueeze(2), ["Mean", "Reshape", "Reshape"]),
    (lambda m, h: h.mean(1, keepdim=True).view(-1, 1, 35).squeeze(1), ["Mean", "Reshape", "Reshape"]),
    (lambda m, h: nn.functional.adaptive_avg_pool2d(h[:, :, :4, :6], (2, 3)), ["StridedSlice", "AvgPool2d"]),
    (lambda m, h: nn.functional.adaptive_avg_pool2d(h[:, :, :4], (None, 7)), ["StridedSlice", "AvgPool2d"]),
]


@pytest.mark.parametrize("k", range(len(LAYOUT_CASES)))
def test_layout_capture_and_float_interpreter_match_torch(k):
    torch.manual_seed(0)
    fn, want_ops = LAYOUT_CASES[k]
    model = Layout(fn).eval()
    g = capture(model, X[:1])
    assert [n.op for n in g.nodes][1:] == want_ops
    _float_check(model, g)


@pytest.mark.parametrize("fn,message", [
    (lambda m, h: h.permute(1, 0, 2, 3), "batch dim must stay first"),
    (lambda m, h: h[:, 1], "only slices"),
    (lambda m, h: h[:, None], "only slices"),
    (lambda m, h: h[:, 3:3], "non-empty"),
    (lambda m, h: nn.functional.adaptive_avg_pool2d(h, (2, 3)), "does not divide the input"),
    (lambda m, h: h.permute(0, 2, 3, 1).flatten(1), "flattened feature map"),     # an output
])
def test_layout_capture_errors(fn, message):
    with pytest.raises(CaptureError, match=message):
        capture(Layout(fn).eval(), X[:1])


@pytest.mark.parametrize("op,shape,attrs,message", [
    ("Transpose", (1, 4, 4, 3), {}, "'perm' is required"),
    ("Transpose", (1, 4, 4, 3), {"perm": (0, 1, 1, 2)}, "no permutation"),
    ("Transpose", (1, 4, 4, 3), {"perm": (1, 0, 2, 3)}, "moves the batch axis"),
    ("StridedSlice", (1, 4, 4, 3), {"begin": (0, 0, 0, 0)}, "'begin' and 'end' are required"),
    ("StridedSlice", (1, 4, 4, 3), {"begin": (0, 2, 0, 0), "end": (1, 2, 4, 3)}, "is empty or outside"),
    ("StridedSlice", (1, 4, 4, 3), {"begin": (0, 0), "end": (1, 2)}, "need 4 entries"),
    ("StridedSlice", (2, 4), {"begin": (1, 0), "end": (2, 4)}, "batch axis 0 cannot be sliced"),
])
def test_layout_shape_errors(op, shape, attrs, message):
    g = Graph("t")
    x = g.add_input("x", shape)
    with pytest.raises(GraphError, match=message):
        g.add_node(op, [x], "y", **attrs)


# -- integer kernels against TFLite Micro ----------------------------------------------------------
AXES = [((1, 5, 7, 3), (1, 2)), ((1, 5, 7, 3), (3,)), ((1, 5, 7, 3), (1,)), ((1, 5, 7, 3), (2, 3)),
        ((1, 5, 7, 3), (1, 2, 3)), ((1, 4, 6), (2,)), ((1, 9), (1,)), ((1, 16, 16, 8), (2, 1))]
# (s_in, zp_in, s_out, zp_out)
PARAMS = [(0.05, 3, 0.05, 3), (0.05, 4, 0.02, -30), (0.1, -128, 0.3, 5), (0.02, 0, 0.01, 100),
          (1.0, 127, 0.003, -5), (0.004, -7, 0.5, -128)]


def reduce_graph(op, shape, axes, keepdims, p) -> Graph:
    g = Graph("t")
    a = g.add_input("a", shape, np.int8, QuantParams(np.float32(p[0]), p[1]))
    g.mark_output(g.add_node(op, [a], "y", dtype=np.int8, quant=QuantParams(np.float32(p[2]), p[3]),
                             axes=axes, keepdims=keepdims))
    return g


def _tflm(data: bytes, x) -> np.ndarray:
    from levin.ir import tflite_run
    it = tflite_run.tflm_interpreter(data)
    it.set_input(np.ascontiguousarray(x), 0)
    it.invoke()
    return np.array(it.get_output(0))


@pytest.mark.parametrize("op", ["Mean", "Sum", "ReduceMax"])
def test_reduce_bit_exact_with_tflite_micro(op):
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite, tflite_export

    rng = np.random.default_rng(0)
    params = PARAMS if op != "ReduceMax" else [p for p in PARAMS if p[:2] == p[2:]] + [(0.3, -128) * 2]
    checked = 0
    for p in params:
        for shape, axes in AXES:
            for keepdims in (True, False):
                g = reduce_graph(op, shape, axes, keepdims, p)
                x = rng.integers(-128, 128, shape, dtype=np.int8)
                want = reference.run(g, {"a": x})["y"]
                data = tflite_export.to_bytes(g)
                got = _tflm(data, x)
                assert got.shape == want.shape
                np.testing.assert_array_equal(got, want, err_msg=f"{op} {p} {shape} {axes} {keepdims}")
                back = tflite.from_bytes(data)
                assert back.nodes[0].op == op and back.nodes[0].attrs["keepdims"] == keepdims
                np.testing.assert_array_equal(reference.run(back, {"input": x})[back.outputs[0]], want)
                checked += 1
    assert checked == len(params) * len(AXES) * 2


COPY_CASES = [
    ("Transpose", (1, 5, 7, 3), dict(perm=(0, 3, 1, 2))), ("Transpose", (1, 5, 7, 3), dict(perm=(0, 2, 1, 3))),
    ("Transpose", (1, 4, 6), dict(perm=(0, 2, 1))), ("Transpose", (1, 2, 3, 4), dict(perm=(0, 3, 2, 1))),
    ("StridedSlice", (1, 5, 7, 3), dict(begin=(0, 1, 0, 0), end=(1, 4, 7, 3), strides=(1, 1, 2, 1))),
    ("StridedSlice", (1, 5, 7, 6), dict(begin=(0, 0, 0, 2), end=(1, 5, 7, 5))),
    ("StridedSlice", (1, 9), dict(begin=(0, 3), end=(1, 9), strides=(1, 2))),
    ("StridedSlice", (1, 5, 7, 6), dict(begin=(0, 1, 2, 1), end=(1, 5, 7, 6), strides=(1, 3, 2, 2))),
]


@pytest.mark.parametrize("op,shape,attrs", COPY_CASES)
def test_layout_bit_exact_with_tflite_micro(op, shape, attrs):
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite, tflite_export

    rng = np.random.default_rng(0)
    for s, zp in [(0.05, 3), (0.2, -128)]:
        g = Graph("t")
        q = QuantParams(np.float32(s), zp)
        g.mark_output(g.add_node(op, [g.add_input("a", shape, np.int8, q)], "y", dtype=np.int8, quant=q, **attrs))
        x = rng.integers(-128, 128, shape, dtype=np.int8)
        want = reference.run(g, {"a": x})["y"]
        data = tflite_export.to_bytes(g)
        np.testing.assert_array_equal(_tflm(data, x), want)
        back = tflite.from_bytes(data)
        assert back.nodes[0].op == op
        np.testing.assert_array_equal(reference.run(back, {"input": x})[back.outputs[0]], want)


def test_reduce_max_refuses_different_parameters():
    g = reduce_graph("ReduceMax", (1, 3, 3, 2), (1,), True, (0.05, 3, 0.04, 3))
    with pytest.raises(GraphError, match="same scale and zero point"):
        reference.run(g, {"a": np.zeros((1, 3, 3, 2), np.int8)})


def _head_graph() -> Graph:
    """conv -> MEAN over H, W (keepdims false) -> fully connected: how a MobileNetV2 exported
    from PyTorch (ai-edge-torch) ends."""
    rng = np.random.default_rng(0)
    g = Graph("head")
    x = g.add_input("x", (1, 6, 6, 3))
    h = g.add_node("Conv2d", [x, g.add_constant("w", rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32))],
                   "conv", padding=1)
    h = g.add_node("ReLU6", [h], "relu")
    m = g.add_node("Mean", [h], "mean", axes=(1, 2), keepdims=False)
    g.mark_output(g.add_node("Linear", [m, g.add_constant("fc.weight", rng.normal(0, 0.5, (4, 8)).astype(np.float32))],
                             "fc"))
    return g


def test_tflite_mean_head_imports_bit_exact():
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite, tflite_export, tflite_run

    g = _head_graph()
    x = np.random.default_rng(1).uniform(-2, 2, (8, 6, 6, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    data = tflite_export.to_bytes(ig)
    back = tflite.from_bytes(data)
    assert "Mean" in [n.op for n in back.nodes]
    codes = reference.quantize_input(ig, x)
    want = tflite_run.run_tflm(data, codes)
    np.testing.assert_array_equal(reference.run(back, codes)[back.outputs[0]], want)
    np.testing.assert_array_equal(reference.run(ig, codes)[ig.outputs[0]], want)


# -- PTQ and the C export ----------------------------------------------------------------------------
def _reduce_ops_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("reduce")
    x = g.add_input("x", (1, 5, 6, 3))
    h = g.add_node("Conv2d", [x, g.add_constant("w", rng.normal(0, 0.8, (4, 3, 3, 3)).astype(np.float32))],
                   "conv", padding=1)
    c = g.add_node("Mean", [h], "mean_c", axes=(3,))                       # (1, 5, 6, 1)
    hh = g.add_node("Mean", [h], "mean_h", axes=(1,), keepdims=False)      # (1, 6, 4)
    s = g.add_node("Sum", [hh], "sum_w", axes=(1,))                         # (1, 1, 4)
    mx = g.add_node("ReduceMax", [h], "max_hw", axes=(1, 2))                # (1, 1, 1, 4)
    a = g.add_node("Add", [h, c], "add_c")
    a = g.add_node("Add", [a, mx], "add_mx")
    a = g.add_node("Mul", [a, g.add_node("Reshape", [s], "s4", shape=(1, 1, 1, 4))], "mul_s")
    t = g.add_node("Transpose", [a], "t", perm=(0, 3, 1, 2))                # (1, 4, 5, 6)
    t = g.add_node("StridedSlice", [t], "sl", begin=(0, 1, 0, 1), end=(1, 4, 5, 6), strides=(1, 2, 2, 2))
    g.mark_output(g.add_node("Mean", [t], "out", axes=(1, 2, 3), keepdims=False))
    return g


def _c_ready():
    from levin.targets import build
    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")


def test_reduce_c_export_bit_exact(tmp_path):
    from tests.runtime.test_c_models import check_bit_exact

    _c_ready()
    g = _reduce_ops_graph()
    x = np.random.default_rng(1).uniform(-2, 2, (8, 5, 6, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    want = np.concatenate([interpreter.run(g, x[i:i + 1])["out"] for i in range(len(x))])
    got = reference.dequantize_output(ig, reference.run(ig, reference.quantize_input(ig, x))["out"])
    assert np.abs(got - want).max() <= 0.1 * np.abs(want).max()
    inputs = np.concatenate([reference.quantize_input(ig, x),
                             np.random.default_rng(2).integers(-128, 128, (4, 5, 6, 3)).astype(np.int8)])
    check_bit_exact(ig, inputs, tmp_path, "int8")


class InvertedResidual(nn.Module):
    def __init__(self, c_in, c_out, stride, expand):
        super().__init__()
        hidden = c_in * expand
        self.use_res = stride == 1 and c_in == c_out
        self.block = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class TinyMobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(8, 8, 1, 2), InvertedResidual(8, 12, 2, 3),
                                    InvertedResidual(12, 12, 1, 3))
        self.head = nn.Sequential(nn.Conv2d(12, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(self.head(self.blocks(self.stem(x))).mean([2, 3]))


def test_mobilenetv2_like_ptq_c_bit_exact(tmp_path):
    from tests.runtime.test_c_models import check_bit_exact

    _c_ready()
    torch.manual_seed(0)
    model = TinyMobileNetV2()
    for m in model.modules():       # non-trivial batch norm statistics to fold
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(8, 3, 16, 16)
    g = capture(model, x[:1])
    _float_check(model, g, x)
    ig = ptq.quantize_graph(g, x.numpy())
    codes = reference.quantize_batch(ig, x.numpy())
    with torch.no_grad():
        want = model(x).numpy()
    got = reference.dequantize_output(ig, reference.run(ig, codes)[ig.outputs[0]])
    assert np.abs(got - want).max() <= 0.15 * np.abs(want).max()
    check_bit_exact(ig, codes, tmp_path, "int8")
