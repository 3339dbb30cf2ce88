"""The float64-BLAS accumulation of conv/linear equals plain int64 arithmetic, bit for bit."""

import numpy as np
from hypothesis import given, settings, strategies as st

from levin.ir.graph import Graph, QuantParams
from levin import intmath as im
from levin import reference


def _naive_conv(x, w, b, zp, stride, pad, dilation, groups):
    """Direct int64 loops over output pixels (padding = the input zero point)."""
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    pt, pb, pl, pr = pad
    xp = np.pad(x.astype(np.int64) - zp, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    ho = (h + pt + pb - dilation * (kh - 1) - 1) // stride + 1
    wo = (wd + pl + pr - dilation * (kw - 1) - 1) // stride + 1
    acc = np.zeros((n, ho, wo, o), np.int64)
    per_group = o // groups
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                       j * stride:j * stride + dilation * (kw - 1) + 1:dilation, :]
            for oc in range(o):
                g = oc // per_group
                acc[:, i, j, oc] = (patch[..., g * cg:(g + 1) * cg] * w[oc].astype(np.int64)).sum(axis=(1, 2, 3))
    return acc + b


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from([1, 2]), st.integers(1, 2), st.integers(1, 2),
       st.integers(0, 2), st.sampled_from([1, 2, 4]))
def test_conv_matches_int64_loops(seed, n, stride, dilation, pad, groups):
    rng = np.random.default_rng(seed)
    c, o = 4, 4 * rng.integers(1, 3)
    x = rng.integers(-128, 128, (n, 6, 5, c), dtype=np.int8)
    w = rng.integers(-127, 128, (o, 3, 2, c // groups), dtype=np.int8)
    b = rng.integers(-5000, 5000, o, dtype=np.int32)
    zp, s_x, s_out = int(rng.integers(-128, 128)), 0.02, 0.5
    s_w = rng.uniform(0.001, 0.01, o).astype(np.float32)
    pads = (pad, 0, pad, 1)
    g = Graph("c")
    xi = g.add_input("x", (1, 6, 5, c), np.int8, QuantParams(s_x, zp))
    wi = g.add_constant("w", w, QuantParams(s_w, np.zeros(o, np.int32), 0))
    bi = g.add_constant("b", b, QuantParams((np.float64(np.float32(s_x)) * s_w).astype(np.float32),
                                            np.zeros(o, np.int32), 0))
    g.mark_output(g.add_node("Conv2d", [xi, wi, bi], "y", dtype=np.int8, quant=QuantParams(s_out, 3),
                             stride=stride, padding=pads, dilation=dilation, groups=groups))
    got = reference.run(g, x)["y"]
    acc = _naive_conv(x, w, b, zp, stride, pads, dilation, groups)
    m, shift = im.quantize_multipliers(im.effective_scale(s_x, s_w, s_out))
    np.testing.assert_array_equal(got, im.requantize(acc, m, shift, 3))
