"""Fake quantization in torch: quantize-dequantize with a straight-through estimator (STE).

Read me first. A fake quantizer maps x to s * (clamp(round(x / s) + zp, qmin, qmax) - zp): the
value the integer model holds, in float. The forward is exactly the integer graph's rounding:
`round` is half away from zero (TFLite's `TfLiteRound`, also the rounding of its fixed-point
requantization), not torch's half-to-even, and weights use the same float64 division as
`lowbit.quantize_weights`. Run in float64 (`module.double()`), a fake-quant model therefore
gives the integer reference's codes except where the integer pipeline's own approximations
(31-bit multipliers, double rounding, gemmlowp exp) land on the other side of a rounding tie.

Backward: the STE passes the gradient through `round` (zero outside the clamp range). Scales
are learnable parameters with the LSQ gradient (Esser et al., "Learned Step Size
Quantization", ICLR 2020): d/ds of the quantizer, scaled by g = 1 / sqrt(numel * qmax). A
scale is held as base * rel with `rel` learned, so that Adam (scale-free steps) moves it by a
fraction of itself. Zero points stay the fixed integers calibration chose.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, ties away from zero (TFLite's TfLiteRound)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round_half_away forward, identity backward."""
    return x + (round_half_away(x) - x).detach()


def grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    """x forward, gradient multiplied by g backward (LSQ's step-size gradient scale)."""
    return (x - x * g).detach() + x * g


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor | float,
                  qmin: int, qmax: int) -> torch.Tensor:
    """s * (clamp(round(x / s) + zp, qmin, qmax) - zp) with STE; scale/zp broadcast against x."""
    if not torch.is_grad_enabled() or not (x.requires_grad or scale.requires_grad):
        v = x / scale                     # the same arithmetic, in place and without the STE
        q = v.abs().add_(0.5).floor_().copysign_(v).add_(zero_point).clamp_(qmin, qmax)
        return q.sub_(zero_point).mul_(scale)
    q = torch.clamp(round_ste(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


class _Scaled(nn.Module):
    """Holds a scale as base * rel: `rel` (init 1) is the learned parameter, so that an Adam step
    changes a scale by a fraction of itself whatever its magnitude. Outside training the scale is
    rounded to float32, the precision the integer graph stores."""

    def _init_scale(self, scale, learn: bool) -> None:
        base = torch.as_tensor(scale, dtype=torch.float32).clone().reshape(-1)
        self.register_buffer("base", base)
        self.rel = nn.Parameter(torch.ones_like(base), requires_grad=learn)
        self.enabled = True

    def scale_values(self) -> torch.Tensor:
        s = (self.base * self.rel).abs().clamp_min(1e-12)
        return s if self.training else s.float().to(s.dtype)

    def set_scale(self, scale) -> None:
        with torch.no_grad():
            self.base.copy_(torch.as_tensor(scale, dtype=self.base.dtype).reshape(-1))
            self.rel.fill_(1.0)

    def float32_scales(self) -> np.ndarray:
        return (self.base.detach() * self.rel.detach()).abs().float().numpy().copy()


class ActQuantizer(_Scaled):
    """Per-tensor asymmetric fake quantizer of an activation (int8 unless told otherwise).

    `learn=False` keeps the scale fixed (graph inputs, Softmax/Sigmoid/Tanh outputs).
    """

    def __init__(self, scale: float, zero_point: int, learn: bool = True,
                 qmin: int = -128, qmax: int = 127):
        super().__init__()
        self._init_scale([float(scale)], learn)
        self.register_buffer("zero_point", torch.tensor(float(zero_point)))
        self.qmin, self.qmax = qmin, qmax

    @property
    def scale(self) -> torch.Tensor:
        return self.scale_values().reshape(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        s = self.scale
        if self.rel.requires_grad and self.training:
            s = grad_scale(s, 1.0 / math.sqrt(x[0].numel() * self.qmax))
        return fake_quantize(x, s, self.zero_point, self.qmin, self.qmax)

    def params(self) -> tuple[float, int]:
        """(scale, zero point) as the integer graph stores them (float32 scale)."""
        return float(self.float32_scales()[0]), int(self.zero_point)


class WeightQuantizer(_Scaled):
    """Symmetric, narrow-range fake quantizer of a weight, one scale per output channel (axis 0)."""

    def __init__(self, scales, bits: int, learn: bool = True):
        super().__init__()
        self._init_scale(scales, learn)
        self.bits = bits

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def scales(self) -> torch.Tensor:
        return self.scale_values()

    def set_bits(self, bits: int, scales) -> None:
        self.bits = bits
        self.set_scale(scales)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return w
        s = self.scales
        if self.rel.requires_grad and self.training:
            s = grad_scale(s, 1.0 / math.sqrt(w[0].numel() * self.qmax))
        s = s.reshape((-1,) + (1,) * (w.dim() - 1)) if s.numel() > 1 else s.reshape(())
        return fake_quantize(w, s, 0.0, -self.qmax, self.qmax)


def fake_quantize_bias(b: torch.Tensor, input_scale: torch.Tensor, weight_scales: torch.Tensor) -> torch.Tensor:
    """The bias as the integer graph holds it: int32 codes of the float32 scale
    input_scale * weight_scale (as `lowbit.quantize_bias`), STE for b, no gradient to the scales.
    Its value is codes * input_scale * weight_scale, the product of the float32 scales unrounded
    (exact in float64), not codes * the stored float32 scale: the integer kernels add the codes
    to accumulators of that exact scale. The float32 rounding of the product (2^-24 relative)
    times a code of thousands can move a requantized value across a rounding tie."""
    s_in, s_w = input_scale.detach().abs().float(), weight_scales.detach().abs().float()
    codes = torch.clamp(round_ste(b / (s_in * s_w).to(b.dtype)), -(2.0 ** 31), 2.0 ** 31 - 1)
    return codes * (s_in.to(b.dtype) * s_w.to(b.dtype))
