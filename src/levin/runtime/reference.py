"""The integer reference interpreter: runs an integer Graph with TFLite int8 arithmetic, in numpy.

Read me first. This is levin's oracle: the C runtime and the TFLite interop are checked against
it bit for bit. Conventions of the integer graph are in `levin.quant.ptq` and `levin.quant.plan`;
this module adds how each op computes (one kernel per op, each naming the TFLite kernel it
follows; all rescaling goes through `levin.quant.intmath` / `softmax`):
- Requantization parameters are derived from the tensors' float32 scales at run time, as TFLite
  does at prepare time: conv and per-channel linear multiply in_scale * w_scale in double
  (`effective_scale`), as TFLite Micro's `PopulateConvolutionQuantizationParams`, which its
  FULLY_CONNECTED uses too, per-tensor or not (older TFLite multiplied the scales of a per-tensor
  FC in float32 first, `float_product`: the MLPerf Tiny autoencoder tells them apart). Classic
  double rounding (TFLite Micro / CMSIS-NN default); `single_round=True` for the other variant.
- Conv2d/Linear: int32 accumulators of (x - zp_x) * w plus the int32 bias; padding is the input
  zero point (real 0). The products are summed in float64 BLAS, which is exact because every
  operand and partial sum is an integer far below 2^53; the result must fit int32, as in C.
- ReLU/ReLU6: TFLite `ReluX`: zp_out + (x - zp_in) * (s_in / s_out) (the ratio in float32, as
  TFLite), clamped to the activation range; a no-op clamp when fused (same parameters in and
  out; then ReLU6 still clamps at the code of 6.0).
- MaxPool2d: max of the codes. AvgPool2d/GlobalAvgPool: TFLite int8 `AveragePool`, the sum of the
  raw codes divided by the count with rounding half away from zero; padded positions are left
  out (count_include_pad=False, TFLite's only mode) or, for count_include_pad=True, count as the
  zero point. Both need the input's parameters on the output, as TFLite. GlobalAvgPool is
  AVERAGE_POOL_2D with the whole map as its window (a TFLite export must emit that, not MEAN,
  whose int8 rescaling differs).
- Add: TFLite `AddElementwise` (20-bit left shift). Concat: inputs with other parameters than
  the output are requantized as TFLite's int8->int8 QUANTIZE. Reshape/Pad: codes kept; Pad fills
  with the quantized pad value. Softmax: TFLite Micro's gemmlowp kernel (output 1/256, -128).
- Sigmoid/Tanh: a 256-entry table of the float function at each input code, rounded half away
  from zero onto the output grid. Exact by construction between this interpreter and a C
  runtime that uses the same table, but not TFLite's LOGISTIC/TANH kernels (which may differ by
  an LSB).
Any batch size runs: the graph's leading dimension (1) is replaced by the inputs' N.
"""

from __future__ import annotations

from typing import Callable, Collection, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from levin.errors import GraphError
from levin.ir.graph import Graph, Node, Tensor
from levin.ir.interpreter import input_dict
from levin.quant import intmath as im
from levin.quant import softmax as sm

INT32 = (-(1 << 31), (1 << 31) - 1)


def _sz(t: Tensor) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized tensor."""
    if t.quant is None or t.quant.scale.size != 1:
        raise GraphError(f"tensor {t.name!r} needs per-tensor quantization parameters here")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _same_params(a: Tensor, b: Tensor, node: Node) -> None:
    if _sz(a) != _sz(b):
        raise GraphError(f"node {node.name!r} ({node.op}): int8 kernel needs the same scale and zero "
                         f"point on input {a.name!r} {_sz(a)} and output {b.name!r} {_sz(b)}")


def _pad(x, pads, value):
    pt, pb, pl, pr = pads
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _windows(x, kernel, stride, dilation=(1, 1)):
    """[N, H, W, C] -> [N, Ho, Wo, C, KH, KW] views of the (padded) input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    win = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    return win[:, ::sh, ::sw, :, ::dh, ::dw]


def _accumulate(acc: np.ndarray, node: Node, bias: np.ndarray | None = None) -> np.ndarray:
    """The int32 accumulators: products, then products plus bias, each checked to fit int32 (C
    would overflow; TFLite's kernels assume they fit)."""
    def check(acc: np.ndarray, what: str) -> np.ndarray:
        if acc.size and (acc.min() < INT32[0] or acc.max() > INT32[1]):
            raise GraphError(f"node {node.name!r} ({node.op}): an int32 accumulator{what} overflows "
                             f"(reaches {acc.min() if acc.min() < INT32[0] else acc.max()})")
        return acc

    acc = check(np.rint(acc).astype(np.int64), "")
    return acc if bias is None else check(acc + bias.astype(np.int64), " plus the bias")


def _shift_ok(shift, ratio, node: Node) -> None:
    """TFLite's kernels take requantization shifts in -31..30 (C shifts are undefined beyond)."""
    shift = np.atleast_1d(shift)
    if shift.size and shift.max() > 30:
        raise GraphError(f"node {node.name!r} ({node.op}): requantization shift {int(shift.max())} "
                         f"outside -31..30 (scale ratio {float(np.max(ratio)):.3g}: the scales are too "
                         f"far apart for TFLite's int8 kernels)")


def _requantize(acc, node, x: Tensor, w: Tensor, out: Tensor, *, float_product=False, single_round=False):
    s_out, zp_out = _sz(out)
    reals = im.effective_scale(_sz(x)[0], w.quant.scale, s_out, float_product=float_product)
    m, shift = im.quantize_multipliers(np.atleast_1d(reals), single_round=single_round)
    _shift_ok(shift, reals, node)
    if m.size == 1:
        m, shift = m[0], shift[0]
    return im.requantize(acc, m, shift, zp_out, axis=-1, single_round=single_round)


def _symmetric(node: Node, w: Tensor) -> None:
    """TFLite int8 weights are symmetric; the kernels (here and in C) never subtract a weight zero point."""
    if w.quant is not None and np.any(w.quant.zero_point != 0):
        raise GraphError(f"node {node.name!r}: weight {w.name!r} has a nonzero zero point; int8 weights "
                         f"must be symmetric (zero point 0), as in TFLite")


def conv2d(node, args, ins, out, single_round=False):
    """TFLite reference `integer_ops::ConvPerChannel` / `DepthwiseConvPerChannel`."""
    x, w, *b = args
    _symmetric(node, ins[1])
    _, zp = _sz(ins[0])
    a = node.attrs
    o, kh, kw, cg = w.shape
    g = a["groups"]
    xp = _pad(x, a["padding"], zp).astype(np.float64) - zp
    win = _windows(xp, (kh, kw), a["stride"], a["dilation"])            # N Ho Wo C KH KW
    n, ho, wo = win.shape[:3]
    if g == 1:
        cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kw * cg)
        acc = (cols @ w.reshape(o, -1).T.astype(np.float64)).reshape(n, ho, wo, o)
    else:
        win = win.reshape(n, ho, wo, g, cg, kh, kw)
        wg = w.reshape(g, o // g, kh, kw, cg).astype(np.float64)
        acc = np.einsum("nhwgcij,goijc->nhwgo", win, wg, optimize=True).reshape(n, ho, wo, o)
    acc = _accumulate(acc, node, b[0] if b else None)
    return _requantize(acc, node, ins[0], ins[1], out, single_round=single_round)


def linear(node, args, ins, out, single_round=False):
    """TFLite reference `integer_ops::FullyConnected` (per-channel or per-tensor weights)."""
    x, w, *b = args
    _symmetric(node, ins[1])
    _, zp = _sz(ins[0])
    acc = _accumulate((x.astype(np.float64) - zp) @ w.T.astype(np.float64), node, b[0] if b else None)
    return _requantize(acc, node, ins[0], ins[1], out, single_round=single_round)


def _rescale(x, t_in: Tensor, t_out: Tensor, lo: int, hi: int, single_round=False, float_ratio=False,
             node: Node | None = None):
    """zp_out + (x - zp_in) * s_in / s_out, clamped: TFLite `ReluX` (which divides the scales in
    float32, `float_ratio`) and int8 -> int8 `Requantize` (in double)."""
    (s_in, zp_in), (s_out, zp_out) = _sz(t_in), _sz(t_out)
    diff = x.astype(np.int64) - zp_in
    if (s_in, zp_in) != (s_out, zp_out):
        with np.errstate(over="ignore"):
            ratio = (np.float32(s_in) / np.float32(s_out) if float_ratio
                     else np.float64(np.float32(s_in)) / np.float64(np.float32(s_out)))
        where = f"node {node.name!r} ({node.op})" if node is not None else f"tensor {t_out.name!r}"
        if not np.isfinite(ratio):
            raise GraphError(f"{where}: scale ratio {s_in:.3g} / {s_out:.3g} overflows float32 "
                             f"(TFLite divides the scales in float32 here)")
        m, shift = im.quantize_multiplier(float(ratio), single_round=single_round)
        if node is not None:
            _shift_ok(shift, ratio, node)
        diff = im.multiply_by_quantized_multiplier(diff, m, shift, single_round=single_round)
    return np.clip(np.asarray(diff, np.int64) + zp_out, lo, hi).astype(np.int8)


def relu(node, args, ins, out, single_round=False):
    name = {"ReLU": "RELU", "ReLU6": "RELU6"}[node.op]
    lo, hi = im.activation_range(name, *_sz(out))
    return _rescale(args[0], ins[0], out, lo, hi, single_round, float_ratio=True, node=node)


def lookup(node, args, ins, out, single_round=False):
    """Sigmoid/Tanh through a 256-entry table of the float function (see the module docstring)."""
    (s_in, zp_in), (s_out, zp_out) = _sz(ins[0]), _sz(out)
    codes = np.arange(-128, 128, dtype=np.float64)
    real = np.float64(np.float32(s_in)) * (codes - zp_in)
    f = (lambda v: 1.0 / (1.0 + np.exp(-v))) if node.op == "Sigmoid" else np.tanh
    with np.errstate(over="ignore"):    # exp(-v) = inf for very negative v: 1 / inf = 0, as it should
        table = np.clip(im.round_half_away(f(real) / np.float64(np.float32(s_out))) + zp_out, -128, 127)
    return table.astype(np.int8)[args[0].astype(np.int64) + 128]


def max_pool(node, args, ins, out, single_round=False):
    """TFLite reference int8 `MaxPool` (padding never wins: it is the int8 minimum)."""
    _same_params(ins[0], out, node)
    a = node.attrs
    return _windows(_pad(args[0], a["padding"], -128), a["kernel"], a["stride"]).max(axis=(-2, -1))


def avg_pool(node, args, ins, out, single_round=False):
    """TFLite reference int8 `AveragePool`: rounded (sum of codes) / count."""
    _same_params(ins[0], out, node)
    x = args[0].astype(np.int64)
    if node.op == "GlobalAvgPool":
        kernel, stride, pads, include = x.shape[1:3], x.shape[1:3], (0, 0, 0, 0), True
    else:
        a = node.attrs
        kernel, stride, pads, include = a["kernel"], a["stride"], a["padding"], a["count_include_pad"]
    _, zp = _sz(ins[0])
    total = _windows(_pad(x, pads, zp if include else 0), kernel, stride).sum(axis=(-2, -1))
    if include or not any(pads):
        count = np.int64(kernel[0] * kernel[1])
    else:
        ones = np.ones((1,) + x.shape[1:3] + (1,), np.int64)
        count = _windows(_pad(ones, pads, 0), kernel, stride).sum(axis=(-2, -1))
    return np.clip(im.average_pool_divide(total, count), -128, 127).astype(np.int8)


def add(node, args, ins, out, single_round=False):
    p = im.add_params(*_sz(ins[0]), *_sz(ins[1]), *_sz(out))
    return im.add_quantized(args[0], args[1], p, single_round=single_round)


def concat(node, args, ins, out, single_round=False):
    parts = [_rescale(x, t, out, -128, 127, single_round, node=node) for x, t in zip(args, ins)]
    return np.concatenate(parts, axis=node.attrs["axis"])


def reshape(node, args, ins, out, single_round=False):
    _same_params(ins[0], out, node)
    return args[0].reshape((args[0].shape[0],) + tuple(node.attrs["shape"][1:]))


def pad(node, args, ins, out, single_round=False):
    _same_params(ins[0], out, node)
    s, zp = _sz(ins[0])
    return _pad(args[0], node.attrs["pads"], int(im.quantize(node.attrs["value"], s, zp)))


def softmax(node, args, ins, out, single_round=False):
    if _sz(out) != (1.0 / 256, -128):
        raise GraphError(f"node {node.name!r} (Softmax): int8 output needs scale 1/256, zero point -128")
    return sm.softmax_quantized(args[0], sm.softmax_params(_sz(ins[0])[0]), axis=node.attrs["axis"])


KERNELS: dict[str, Callable] = {
    "Conv2d": conv2d, "Linear": linear, "ReLU": relu, "ReLU6": relu, "Sigmoid": lookup,
    "Tanh": lookup, "MaxPool2d": max_pool, "AvgPool2d": avg_pool, "GlobalAvgPool": avg_pool,
    "Add": add, "Concat": concat, "Reshape": reshape, "Pad": pad, "Softmax": softmax,
}


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, keep: bool = False,
        single_round: bool | Collection[str] = False) -> dict[str, np.ndarray]:
    """Run integer `graph` on int8 `inputs` (one array for a one-input graph, else a dict).

    Inputs are NHWC with any batch size N. Returns the outputs by name (int8), or every
    activation if `keep`. `single_round` is a bool for every op, or the op names that round
    once: desktop TFLite's reference kernels round FULLY_CONNECTED once and CONV_2D twice, so
    `single_round={"Linear"}` reproduces them (TFLite Micro: the default, twice everywhere).
    Raises GraphError for float tensors or parameters a kernel rejects (naming the node): scales
    whose ratio overflows or needs a shift outside -31..30, an int32 accumulator that overflows,
    a NaN pad value, a softmax input scale too small for its multiplier, ...
    """
    inputs = input_dict(graph, inputs)
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        x = np.asarray(inputs.get(name)) if name in inputs else None
        if x is None or x.dtype != t.dtype or x.shape[1:] != t.shape[1:]:
            got = "missing" if x is None else f"{x.dtype}{list(x.shape)}"
            raise GraphError(f"input {name!r}: expected {t.dtype}[N, {', '.join(map(str, t.shape[1:]))}]"
                             f" (NHWC), got {got}")
        values[name] = x
    for node in graph.nodes:
        ins = [graph.tensors[i] for i in node.inputs]
        if any(t.is_float for t in ins):
            raise GraphError(f"node {node.name!r}: the integer reference runs integer graphs only; "
                             f"quantize the graph first (levin.quant.ptq.quantize_graph)")
        args = [t.data if t.is_constant else values[t.name] for t in ins]
        once = single_round if isinstance(single_round, bool) else node.op in single_round
        try:
            values[node.output] = KERNELS[node.op](node, args, ins, graph.tensors[node.output], once)
        except im.IntMathError as exc:   # parameters the integer arithmetic cannot take
            raise GraphError(f"node {node.name!r} ({node.op}): {exc}") from None
    return values if keep else {name: values[name] for name in graph.outputs}


def nhwc(x: np.ndarray) -> np.ndarray:
    """A dataset batch (N, C, H, W) in the IR's layout (N, H, W, C); other ranks unchanged."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def quantize_batch(graph: Graph, x: np.ndarray) -> np.ndarray:
    """A float dataset batch (N, C, H, W, or flat) -> int8 codes of the graph's first input."""
    return quantize_input(graph, nhwc(x))


def quantize_input(graph: Graph, x: np.ndarray, name: str | None = None) -> np.ndarray:
    """Float NHWC input -> int8 codes of graph input `name` (the first by default), as TFLite's
    QUANTIZE op (float32 division, rounding half away from zero)."""
    t = graph.tensors[name or graph.inputs[0]]
    s, zp = _sz(t)
    return im.quantize(x, s, zp, dtype=t.dtype)


def dequantize_output(graph: Graph, q: np.ndarray, name: str | None = None) -> np.ndarray:
    """int8 codes of graph output `name` (the first by default) -> float32 real values."""
    s, zp = _sz(graph.tensors[name or graph.outputs[0]])
    return im.dequantize(q, s, zp)
