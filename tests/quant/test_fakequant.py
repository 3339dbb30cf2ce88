import numpy as np
import pytest
import torch

from levin.quant import fakequant as fq
from levin import intmath as im


def test_round_half_away_from_zero():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51])
    assert fq.round_half_away(x).tolist() == [-3, -2, -1, 1, 2, 3, 0, -1]


def test_fake_quantize_equals_quantize_then_dequantize():
    x = np.random.default_rng(0).normal(0, 2, 1000).astype(np.float32)
    s, zp = im.choose_qparams(-3, 5)
    want = im.dequantize(im.quantize(x.astype(np.float64), s, zp), s, zp)
    for grad in (False, True):
        t = torch.from_numpy(x).double().requires_grad_(grad)
        got = fq.fake_quantize(t, torch.tensor(s, dtype=torch.float64), zp, -128, 127)
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=0, atol=1e-6)


def test_ste_passes_gradients_inside_the_range_only():
    x = torch.tensor([-10.0, -0.3, 0.2, 0.6, 10.0], requires_grad=True)
    y = fq.fake_quantize(x, torch.tensor(0.1), 0.0, -8, 7)
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 0]


def test_lsq_scale_gradient():
    q = fq.ActQuantizer(0.1, 0, qmin=-8, qmax=7).train()
    x = torch.tensor([[0.26, 5.0]])      # round(2.6) - 2.6 = 0.4; clipped at 7
    q(x).sum().backward()
    g = 1 / np.sqrt(2 * 7)
    # d/ds of s * clamp(round(x/s)) = (round(x/s) - x/s) inside, qmax outside; rel = s / base
    assert q.rel.grad.item() == pytest.approx(0.1 * g * (0.4 + 7), rel=1e-5)


def test_weight_quantizer_is_per_channel_and_narrow():
    w = torch.tensor([[1.0, -1.0, 0.3], [0.02, -0.05, 0.04]])
    q = fq.WeightQuantizer(torch.tensor([1 / 7, 0.05 / 7]), bits=4).eval()
    out = q(w)
    assert torch.allclose(out[0], torch.tensor([1.0, -1.0, 2 / 7]))
    assert torch.allclose(out[1] / (0.05 / 7), torch.tensor([3.0, -7.0, 6.0]))


def test_bias_is_rounded_on_the_int32_grid():
    b = torch.tensor([1.0, -0.3])
    out = fq.fake_quantize_bias(b, torch.tensor(0.5), torch.tensor([0.25, 0.1]))
    assert out.tolist() == [1.0, np.float32(-6 * np.float32(0.05)).item()]


def test_disabled_quantizer_is_identity():
    q = fq.ActQuantizer(0.5, 3)
    q.enabled = False
    x = torch.randn(10)
    assert torch.equal(q(x), x)
