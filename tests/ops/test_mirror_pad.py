"""Reflect padding (levin/ops/pad.py, MirrorPad) through every layer: torch capture
(nn.ReflectionPad1d/2d, F.pad(mode="reflect"), a conv's padding_mode="reflect"), ONNX Pad
mode "reflect", the float interpreter against torch and onnxruntime, the integer reference
bit-exact with TFLite Micro's MIRROR_PAD (REFLECT and SYMMETRIC) and through the .tflite round
trip, PTQ, and the C export bit-exact against the reference; bad pads are refused."""

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


class Reflect(nn.Module):
    """F.pad(reflect), nn.ReflectionPad2d and a conv with padding_mode="reflect"."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d((1, 2, 2, 0))
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        h = torch.relu(self.conv(self.pad(x)))
        return nn.functional.pad(h, (2, 1, 1, 1), mode="reflect")


def reflect_1d():
    return nn.Sequential(nn.Conv1d(2, 3, 5, padding=2, padding_mode="reflect"), nn.ReLU(), nn.ReflectionPad1d(3))


def _ir(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x.transpose(0, 2, 1)[:, None]


@pytest.mark.parametrize("factory, shape, ops", [
    (Reflect, (3, 6, 7), ["MirrorPad", "MirrorPad", "Conv2d", "ReLU", "MirrorPad"]),
    (reflect_1d, (2, 9), ["MirrorPad", "Conv2d", "ReLU", "MirrorPad"])])
def test_capture_and_float_interpreter_match_torch(factory, shape, ops):
    torch.manual_seed(0)
    model = factory().eval()
    x = torch.randn(2, *shape)
    g = capture(model, x[:1])
    assert [n.op for n in g.nodes] == ops
    with torch.no_grad():
        want = _ir(model(x).numpy())
    got = np.concatenate([interpreter.run(g, _ir(x[i:i + 1].numpy()))[g.outputs[0]] for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_onnx_reflect_pad_agrees_with_onnxruntime():
    pytest.importorskip("onnxruntime")
    from tests.ir.test_onnx import TOL, export, float_diff

    torch.manual_seed(0)
    g, diff = float_diff(export(Reflect(), (3, 6, 7), 17), (3, 6, 7))
    assert diff <= TOL and "MirrorPad" in [n.op for n in g.nodes]


def _graph(shape, pads, mode, q) -> Graph:
    g = Graph("t")
    g.mark_output(g.add_node("MirrorPad", [g.add_input("a", shape, np.int8, q)], "y", dtype=np.int8,
                             quant=q, pads=pads, mode=mode))
    return g


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
@pytest.mark.parametrize("shape, pads", [((1, 5, 7, 3), (2, 1, 3, 0)), ((1, 1, 9, 4), (0, 0, 4, 2)),
                                         ((1, 4, 4, 2), (3, 3, 3, 3))])
def test_bit_exact_with_tflite_micro(shape, pads, mode):
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite, tflite_export
    from tests.ops.test_layout import _tflm

    if mode == "reflect" and max(pads) >= min(shape[1:3]) and shape[1] > 1:
        pads = tuple(min(p, min(shape[1:3]) - 1) for p in pads)
    g = _graph(shape, pads, mode, QuantParams(np.float32(0.05), 3))
    x = np.random.default_rng(0).integers(-128, 128, shape, dtype=np.int8)
    want = reference.run(g, {"a": x})["y"]
    np.testing.assert_array_equal(want[0], np.pad(x[0], ((pads[0], pads[1]), (pads[2], pads[3]), (0, 0)), mode=mode))
    data = tflite_export.to_bytes(g)
    np.testing.assert_array_equal(_tflm(data, x), want)
    back = tflite.from_bytes(data)
    assert back.nodes[0].op == "MirrorPad" and back.nodes[0].attrs["mode"] == mode
    np.testing.assert_array_equal(reference.run(back, {"input": x})[back.outputs[0]], want)


def test_pads_past_the_map_are_refused():
    q = QuantParams(np.float32(0.05), 3)
    with pytest.raises(GraphError, match="reflect padding .* larger than the 3x4 map minus its edge"):
        _graph((1, 3, 4, 2), (3, 0, 0, 0), "reflect", q)
    _graph((1, 3, 4, 2), (3, 0, 0, 0), "symmetric", q)                     # symmetric may repeat it
    with pytest.raises(CaptureError, match="padding_mode='circular'"):
        capture(nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), torch.zeros(1, 3, 5, 5))


def test_c_export_bit_exact(tmp_path):
    from levin.targets import build
    from tests.runtime.test_c_models import check_bit_exact

    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")
    torch.manual_seed(0)
    model = Reflect().eval()
    x = torch.randn(8, 3, 6, 7)
    g = capture(model, x[:1])
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.numpy(), QuantConfig()))
    for node in ig.nodes:                   # the conv's own pad as SYMMETRIC: both C paths run
        if node.op == "MirrorPad":
            node.attrs["mode"] = "symmetric" if node.name.endswith(".pad") else node.attrs["mode"]
    codes = reference.quantize_input(ig, _ir(x.numpy()))
    check_bit_exact(ig, codes, tmp_path, "int8")
