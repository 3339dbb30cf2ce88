"""Upsampling (levin/ops/resize.py) through every layer: torch capture (F.interpolate nearest /
nearest-exact, nn.Upsample, nn.UpsamplingNearest2d) and the float interpreter against torch;
the integer reference bit-exact against TFLite Micro's RESIZE_NEAREST_NEIGHBOR (integer factors
and general sizes, align_corners, half_pixel_centers) and the .tflite round trip; PTQ and the C
export bit-exact against the reference with a tiny UNet (downsample, upsample, skip Concat)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from levin import reference
from levin.errors import CaptureError, GraphError
from levin.ir import interpreter
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams
from levin.quant import ptq

X = torch.linspace(-3, 3, 2 * 3 * 5 * 6).reshape(2, 3, 5, 6)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.conv, self.fn = nn.Conv2d(3, 4, 1), fn

    def forward(self, x):
        return self.fn(self.conv(x))


def _float_check(model, g, x=X, rtol=1e-4):
    with torch.no_grad():
        want = model(x).numpy()
    got = np.concatenate([interpreter.run(g, reference.nhwc(x[i:i + 1].numpy()))[g.outputs[0]]
                          for i in range(len(x))])
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=rtol, atol=1e-5)


NEAREST_CASES = [
    lambda h: F.interpolate(h, scale_factor=2),
    lambda h: F.interpolate(h, scale_factor=(3, 2), mode="nearest"),
    lambda h: F.interpolate(h, size=(7, 13)),
    lambda h: F.interpolate(h, size=(3, 4)),                       # downsampling
    lambda h: F.interpolate(h, size=(9, 11), mode="nearest-exact"),
    nn.Upsample(scale_factor=2),
    nn.Upsample(size=(8, 9), mode="nearest"),
    nn.UpsamplingNearest2d(scale_factor=3),
]


@pytest.mark.parametrize("k", range(len(NEAREST_CASES)))
def test_nearest_capture_and_float_interpreter_match_torch(k):
    torch.manual_seed(0)
    model = Fn(NEAREST_CASES[k]).eval()
    g = capture(model, X[:1])
    assert [n.op for n in g.nodes] == ["Conv2d", "ResizeNearest"]
    _float_check(model, g)


@pytest.mark.parametrize("fn,message", [
    (lambda h: F.interpolate(h, scale_factor=1.7), "pass size="),
    (lambda h: F.interpolate(h, scale_factor=2, mode="bicubic"), "not supported"),
])
def test_nearest_capture_errors(fn, message):
    with pytest.raises(CaptureError, match=message):
        capture(Fn(fn).eval(), X[:1])


@pytest.mark.parametrize("attrs,message", [
    ({}, "'size'.*required"),
    ({"size": (0, 3)}, "size must be 2 integers"),
    ({"size": (4, 4), "align_corners": True, "half_pixel_centers": True}, "cannot both"),
])
def test_nearest_shape_errors(attrs, message):
    g = Graph("t")
    x = g.add_input("x", (1, 4, 4, 3))
    with pytest.raises(GraphError, match=message):
        g.add_node("ResizeNearest", [x], "y", **attrs)


# -- integer kernels against TFLite Micro ----------------------------------------------------------
def _tflm(data: bytes, x) -> np.ndarray:
    from levin.ir import tflite_run
    it = tflite_run.tflm_interpreter(data)
    it.set_input(np.ascontiguousarray(x), 0)
    it.invoke()
    return np.array(it.get_output(0))


def _check_tflm_and_import(g: Graph, x: np.ndarray, op: str) -> None:
    from levin.ir import tflite, tflite_export

    want = reference.run(g, {"a": x})["y"]
    data = tflite_export.to_bytes(g)
    got = _tflm(data, x)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    back = tflite.from_bytes(data)
    assert back.nodes[0].op == op
    np.testing.assert_array_equal(reference.run(back, {"input": x})[back.outputs[0]], want)


NEAREST_TFLM = [((1, 4, 5, 3), (8, 10)), ((1, 3, 3, 2), (9, 6)), ((1, 5, 7, 4), (7, 13)),
                ((1, 6, 6, 1), (4, 3)), ((1, 1, 1, 5), (3, 3)), ((1, 7, 3, 2), (10, 11))]


@pytest.mark.parametrize("shape,size", NEAREST_TFLM)
def test_nearest_bit_exact_with_tflite_micro(shape, size):
    pytest.importorskip("tflite_micro")
    rng = np.random.default_rng(0)
    for s, zp in [(0.05, 3), (0.2, -128)]:
        for ac, hp in [(False, False), (True, False), (False, True)]:
            g = Graph("t")
            q = QuantParams(np.float32(s), zp)
            g.mark_output(g.add_node("ResizeNearest", [g.add_input("a", shape, np.int8, q)], "y",
                                     dtype=np.int8, quant=q, size=size, align_corners=ac,
                                     half_pixel_centers=hp))
            _check_tflm_and_import(g, rng.integers(-128, 128, shape, dtype=np.int8), "ResizeNearest")


# -- PTQ and the C export ----------------------------------------------------------------------------
def _c_ready():
    from levin.targets import build
    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU())
        self.mid = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = nn.Sequential(nn.Conv2d(14, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 2, 1))

    def forward(self, x):
        e = self.enc(x)
        m = self.mid(self.down(e))
        return self.dec(torch.cat([F.interpolate(m, size=e.shape[2:]) + self.up(m), e], 1))


def _ptq_c_check(model, x, tmp_path, tolerance=0.15, formats=("int8",)):
    from tests.runtime.test_c_models import check_bit_exact

    g = capture(model, x[:1])
    _float_check(model, g, x)
    ig = ptq.quantize_graph(g, x.numpy())
    codes = reference.quantize_batch(ig, x.numpy())
    with torch.no_grad():
        want = model(x).numpy()
    got = reference.dequantize_output(ig, reference.run(ig, codes)[ig.outputs[0]])
    assert np.abs(got.transpose(0, 3, 1, 2) - want).max() <= tolerance * np.abs(want).max()
    for fmt in formats:
        check_bit_exact(ig, codes, tmp_path / fmt, fmt)
    return g


def test_tiny_unet_ptq_c_bit_exact(tmp_path):
    _c_ready()
    torch.manual_seed(0)
    g = _ptq_c_check(TinyUNet().eval(), torch.randn(8, 3, 8, 8), tmp_path)
    assert [n.op for n in g.nodes].count("ResizeNearest") == 2


# -- ConvTranspose2d ---------------------------------------------------------------------------------
CT_CASES = [dict(kernel_size=2, stride=2), dict(kernel_size=3, stride=2, padding=1, output_padding=1),
            dict(kernel_size=4, stride=2, padding=1), dict(kernel_size=3, stride=1, padding=1, bias=False),
            dict(kernel_size=(3, 2), stride=(2, 3), padding=(0, 1), output_padding=(1, 2)),
            dict(kernel_size=3, stride=3, padding=2)]


@pytest.mark.parametrize("kw", CT_CASES)
def test_conv_transpose_capture_and_float_interpreter_match_torch(kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(3, 5, **kw), nn.BatchNorm2d(5)).eval()
    model[1].running_mean.uniform_(-0.2, 0.2)
    model[1].running_var.uniform_(0.5, 1.5)
    g = capture(model, X[:1])
    assert [n.op for n in g.nodes] == ["ConvTranspose2d"]
    _float_check(model, g)


def test_conv_transpose_capture_errors():
    with pytest.raises(CaptureError, match="only groups 1"):
        capture(nn.Sequential(nn.ConvTranspose2d(3, 6, 3, groups=3)).eval(), X[:1])


def test_conv_transpose_fake_quant_torch_matches_float():
    from levin import ops
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(1, 4, 5, 3)), rng.normal(size=(6, 3, 2, 3)), rng.normal(size=6)
    for attrs in [dict(stride=(2, 1), padding=(1, 0, 0, 2), output_padding=(1, 0)), dict(stride=(3, 3), padding=(0, 0, 0, 0), output_padding=(2, 2))]:
        op = ops.get("ConvTranspose2d")
        want = op.evaluate(x, w, b, **attrs)
        got = op.evaluate_torch(*(torch.from_numpy(t) for t in (x, w, b)), **attrs).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


class TinyAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())
        self.dec = nn.Sequential(nn.ConvTranspose2d(8, 6, 3, 2, 1, output_padding=1), nn.BatchNorm2d(6),
                                 nn.ReLU(), nn.ConvTranspose2d(6, 3, 4, 2, 1))

    def forward(self, x):
        return self.dec(self.enc(x))


def test_conv_autoencoder_ptq_c_bit_exact(tmp_path):
    _c_ready()
    torch.manual_seed(0)
    model = TinyAutoencoder()
    model.dec[1].running_mean.uniform_(-0.2, 0.2)
    model.dec[1].running_var.uniform_(0.5, 1.5)
    g = _ptq_c_check(model.eval(), torch.randn(8, 3, 8, 8), tmp_path,
                     formats=("int8", "sparse", "rans", "codebook"))    # every path of the weight reader
    assert [n.op for n in g.nodes].count("ConvTranspose2d") == 2


# (input shape, weights OHWI, stride, padding, output_padding); SAME, VALID and sliced pads
CT_TFLM = [((1, 4, 5, 3), (6, 4, 4, 3), (2, 2), (1, 1, 1, 1), (0, 0)),        # SAME (k4 s2 p1)
           ((1, 4, 5, 3), (6, 2, 2, 3), (2, 2), (0, 0, 0, 0), (0, 0)),        # VALID
           ((1, 3, 3, 4), (5, 3, 3, 4), (2, 2), (0, 0, 0, 0), (1, 1)),        # VALID, bias-only rows
           ((1, 4, 4, 2), (3, 3, 3, 2), (2, 2), (1, 1, 1, 1), (1, 1)),        # torch k3 s2 p1 op1: sliced
           ((1, 3, 5, 3), (4, 3, 2, 3), (2, 3), (0, 0, 1, 1), (1, 2)),
           ((1, 5, 5, 2), (2, 3, 3, 2), (1, 1), (1, 1, 1, 1), (0, 0))]        # stride 1 SAME


@pytest.mark.parametrize("shape,wshape,stride,padding,output_padding", CT_TFLM)
def test_conv_transpose_bit_exact_with_tflite_micro(shape, wshape, stride, padding, output_padding):
    pytest.importorskip("tflite_micro")
    rng = np.random.default_rng(0)
    o = wshape[0]
    for (s_in, zp_in, s_out, zp_out), bias in [((0.05, 3, 0.1, -5), True), ((0.2, -128, 0.3, 20), False)]:
        g = Graph("t")
        a = g.add_input("a", shape, np.int8, QuantParams(np.float32(s_in), zp_in))
        ws = rng.uniform(0.005, 0.02, o).astype(np.float32)
        w = g.add_constant("w", rng.integers(-127, 128, wshape).astype(np.int8), QuantParams(ws, np.zeros(o, np.int64), 0))
        ins = [a, w]
        if bias:
            bs = (np.float32(s_in) * ws).astype(np.float32)
            ins.append(g.add_constant("b", rng.integers(-3000, 3000, o).astype(np.int32),
                                      QuantParams(bs, np.zeros(o, np.int64), 0)))
        g.mark_output(g.add_node("ConvTranspose2d", ins, "y", dtype=np.int8,
                                 quant=QuantParams(np.float32(s_out), zp_out), stride=stride, padding=padding,
                                 output_padding=output_padding))
        _check_tflm_and_import(g, rng.integers(-128, 128, shape, dtype=np.int8), "ConvTranspose2d")


# -- ResizeBilinear ------------------------------------------------------------------------------------
BILINEAR_CASES = [
    lambda h: F.interpolate(h, scale_factor=2, mode="bilinear"),
    lambda h: F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=True),
    lambda h: F.interpolate(h, size=(7, 13), mode="bilinear", align_corners=False),
    lambda h: F.interpolate(h, size=(3, 4), mode="bilinear"),                     # downsampling
    nn.Upsample(scale_factor=3, mode="bilinear"),
    nn.UpsamplingBilinear2d(size=(9, 10)),
]


@pytest.mark.parametrize("k", range(len(BILINEAR_CASES)))
def test_bilinear_capture_and_float_interpreter_match_torch(k):
    torch.manual_seed(0)
    model = Fn(BILINEAR_CASES[k]).eval()
    g = capture(model, X[:1])
    assert [n.op for n in g.nodes] == ["Conv2d", "ResizeBilinear"]
    _float_check(model, g)


def test_bilinear_torch_kernel_matches_numpy():
    from levin import ops
    x = np.random.default_rng(0).normal(size=(1, 4, 5, 3))
    for attrs in [dict(size=(9, 7), align_corners=False, half_pixel_centers=True),
                  dict(size=(3, 11), align_corners=True, half_pixel_centers=False)]:
        op = ops.get("ResizeBilinear")
        np.testing.assert_allclose(op.evaluate_torch(torch.from_numpy(x), **attrs).numpy(),
                                   op.evaluate(x, **attrs), rtol=1e-12, atol=1e-12)


BILINEAR_TFLM = NEAREST_TFLM + [((1, 2, 9, 3), (5, 4)), ((1, 8, 8, 2), (16, 16))]


@pytest.mark.parametrize("shape,size", BILINEAR_TFLM)
def test_bilinear_bit_exact_with_tflite_micro(shape, size):
    pytest.importorskip("tflite_micro")
    rng = np.random.default_rng(0)
    for s, zp in [(0.05, 3), (0.2, -128)]:
        for ac, hp in [(False, False), (True, False), (False, True)]:
            g = Graph("t")
            q = QuantParams(np.float32(s), zp)
            g.mark_output(g.add_node("ResizeBilinear", [g.add_input("a", shape, np.int8, q)], "y",
                                     dtype=np.int8, quant=q, size=size, align_corners=ac,
                                     half_pixel_centers=hp))
            _check_tflm_and_import(g, rng.integers(-128, 128, shape, dtype=np.int8), "ResizeBilinear")


class BilinearUNet(TinyUNet):
    def __init__(self):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")

    def forward(self, x):
        e = self.enc(x)
        m = self.mid(self.down(e))
        u = F.interpolate(m, size=e.shape[2:], mode="bilinear", align_corners=True)
        return self.dec(torch.cat([u + self.up(m), e], 1))


def test_bilinear_unet_ptq_c_bit_exact(tmp_path):
    _c_ready()
    torch.manual_seed(0)
    g = _ptq_c_check(BilinearUNet().eval(), torch.randn(8, 3, 8, 8), tmp_path)
    assert [n.op for n in g.nodes].count("ResizeBilinear") == 2


def test_profile_counts_macs_and_element_ops():
    from levin.analyze.profile import count_macs, count_ops

    torch.manual_seed(0)
    g = capture(nn.Sequential(nn.ConvTranspose2d(3, 5, 3, 2, 1, output_padding=1), nn.Upsample(scale_factor=2),
                              nn.Upsample(scale_factor=2, mode="bilinear")).eval(), X[:1])
    ct, near, bil = g.nodes
    assert count_macs(g, ct) == 5 * 6 * 3 * 5 * 3 * 3          # input elements x O x KH x KW
    assert count_ops(g, ct) == 10 * 12 * 5                      # bias adds
    assert count_macs(g, near) == 0 and count_ops(g, near) == 20 * 24 * 5
    assert count_ops(g, bil) == 8 * 40 * 48 * 5
