"""How many Cortex-M4 instructions a conv or fully connected layer runs, per weight coding: the
cost model behind `export_c(..., prefer="speed")` (weight_fields.choose).

Read me first. Each term is a count the kernels really execute times a constant:

    dense                  outputs * rows * ROW[kind]   (a call and its setup per window row;
                                                         gathered: outputs * GATHERED_OUTPUT)
                           + macs * MAC[kind]           (in place or decoded: the same loops)
                           + size * VALUE[coder]        (decoded: every weight, once)
    sparse                 busy * pixels * OUTPUT[kind] (requantization, store, calls)
                           + nnz * (pixels + clipped) * NONZERO[kind]
                           + busy * clipped * CLIPPED   (clipped windows, row by row)
                           + nnz * VALUE[coder]         (values decoded once per inference)
                           + positions: size * POS_PACKED_ELEMENT, pos_symbols * POS_GAP_SYMBOL
                             or size * POS_BITMASK_ELEMENT

macs = size * pixels, pixels = output pixels per channel (1 for a fully connected layer),
rows = kernel rows, clipped = the output pixels whose window the input's border clips (the
sparse kernel runs them tap row by tap row, about twice the work per nonzero: counted twice),
gathered = a conv over short window rows whose kernel gathers each window into one run (im2col:
first convs such as KWS's 10x4 over one channel); its per-output cost is GATHERED_OUTPUT, a
two-point fit (KWS's first conv, +13%; the calibration's 1->16 3x3 conv, -20%) not in the NNLS
fit below. busy = min(channels, nnz), the channels that can have a nonzero (an empty one only stores its
bias's code), kind "conv" (groups 1), "depthwise" or "linear".

The constants are a non-negative least-squares fit (relative error) of the layer's instruction
count measured on the M4 (qemu -icount, arm-none-eabi-gcc -Os) over 120 single-layer graphs:
conv 3x3 32->32, 16->16 and 1->16 over 16x16, 16->16 over 6x6, depthwise 3x3 over 16x16x64,
fully connected 512->128; dense with 4- and 8-bit weights (int8, packed, codebook, rANS) and
sparse at 5, 10 and 20% (positions packed, gaps, bitmask; values raw or packed).
`benchmarks/sparse_speed.py --parts calibrate` reruns it, prints measured against fitted and
estimated per graph and writes benchmarks/results/sparse_speed.json: with the coded-weight
kernels of issue 20 item 3, 90 of the 120 within 10% (median 2.7%); the worst: fully connected
dense 4-bit packed (-59%) and codebook (-31%), decoded into scratch while 8-bit packed is read in
place (one VALUE[pack] covers both), and the 1->16 conv sparse at 5% (-30%: a handful of
nonzeros in 144 weights). Rounded here;
where the fit cannot split two terms (a fully connected dense weight's MAC[linear] and
VALUE[raw]; per-nonzero costs of raw values and packed positions) the cost sits in one of them.
Not fitted: packed widths other than 4 and 8 bits (`*_bits`, a guess from digits_cnn's 3-bit
codebook). Transposed convs get no estimate (they choose by flash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from levin.coding.sparse import BITMASK, GAPS, PACKED
from levin.ops import conv2d

# Dense: per window row of an output (the inner product's call; 0 for depthwise, whose 9 taps an
# output the fit puts in MAC), per multiply-accumulate (SIMD: two MACs per SMLAD).
ROW = {"conv": 25.4, "depthwise": 0.0, "linear": 0.0}
GATHERED_OUTPUT = 85.0
MAC = {"conv": 1.68, "depthwise": 7.9, "linear": 1.71}
# Sparse: per output of a channel with nonzeros, per nonzero per output pixel, per clipped
# output (its runs of nonzeros, row by row).
OUTPUT = {"conv": 48.5, "depthwise": 38.8, "linear": 0.0}
NONZERO = {"conv": 4.2, "depthwise": 8.6, "linear": 13.3}
CLIPPED = 167.0
# Per decoded value: raw (copied, or read in place by the fully connected kernel); packed at 8
# or 4 bits (a loop each), other widths (through a bit buffer), the same through a codebook; rANS.
# Generated (levin.coding.generated), not in the fit: measured on LeNet-300-100's fc1 (`levin
# profile runs/generated/lenet300-52000-C12-seed0/model.lvn --device cortex-m4 --optimize flash`):
# 3,723,537 instructions for 235,200 regenerated weights, less ~0.6 per MAC of the int8 kernel.
VALUE = {"raw": 0.0, "pack": 1.3, "pack_bits": 10.0, "codebook": 3.8, "codebook_bits": 10.0, "rans": 24.9,
         "generated": 15.2}
# Positions: packed bitmask per element (32 a word); rANS gaps per gap symbol (escapes count);
# rANS bitmask per element.
POS_PACKED_ELEMENT, POS_GAP_SYMBOL, POS_BITMASK_ELEMENT = 0.95, 49.6, 25.2


@dataclass(frozen=True)
class Layer:
    """What the cost of a weight tensor's layer depends on: its kind ("conv", "depthwise",
    "linear"), output pixels per channel, output channels, kernel rows, and the output pixels
    whose window the input's border clips; `gathered`: see the module docstring."""

    kind: str
    pixels: int
    channels: int
    rows: int = 1
    clipped: int = 0
    gathered: bool = False


def _inside(n_out: int, n_in: int, k: int, stride: int, pad: int, dilation: int) -> int:
    """Output positions along one axis whose window lies wholly inside the input."""
    return sum(0 <= o * stride - pad and o * stride - pad + (k - 1) * dilation < n_in for o in range(n_out))


def layer_of(graph, node) -> Layer | None:
    """The Layer of a weighted node, None for ops the model does not cover."""
    out = graph.tensors[node.output]
    if node.op == "Linear":
        return Layer("linear", 1, out.shape[-1])
    if node.op != "Conv2d":
        return None
    (_, h, w, _), (_, ho, wo, channels) = graph.tensors[node.inputs[0]].shape, out.shape
    kh, kw = graph.tensors[node.inputs[1]].shape[1:3]
    a = node.attrs
    (sh, sw), (dh, dw), (pt, _, pl, _) = a["stride"], a["dilation"], a["padding"]
    groups = a.get("groups", 1)
    kind = "conv" if groups == 1 else "depthwise" if groups == channels else None
    inside = _inside(ho, h, kh, sh, pt, dh) * _inside(wo, w, kw, sw, pl, dw)
    gathered = conv2d.gathers_windows(graph, node)
    return None if kind is None else Layer(kind, ho * wo, channels, kh, ho * wo - inside, gathered)


def _value_key(w: dict[str, Any]) -> str:
    """The VALUE entry of a tensor's value stream."""
    if w["coder"] == 0:                         # raw
        return "raw"
    if w["coder"] == 4:                         # rANS
        return "rans"
    if w["coder"] == 16:                        # generated
        return "generated"
    suffix = "" if w["bits"] in (4, 8) else "_bits"
    return ("codebook" if w["codebook"] is not None else "pack") + suffix


def instructions(w: dict[str, Any], layer: Layer) -> float:
    """Estimated M4 instructions of `layer` with weights `w` (weight_fields.parse_weights fields)."""
    size, nnz, pixels, kind = w["size"], w["nnz"], layer.pixels, layer.kind
    if w["pos_method"] == 255:                  # dense
        per_output = GATHERED_OUTPUT if layer.gathered else layer.rows * ROW[kind]
        return (layer.channels * pixels * per_output + size * pixels * MAC[kind]
                + size * VALUE[_value_key(w)])
    busy = min(layer.channels, nnz)
    cost = (busy * pixels * OUTPUT[kind] + nnz * (pixels + layer.clipped) * NONZERO[kind]
            + busy * layer.clipped * CLIPPED + nnz * VALUE[_value_key(w)])
    if w["pos_method"] == PACKED:
        return cost + size * POS_PACKED_ELEMENT
    if w["pos_method"] == GAPS:
        return cost + w["pos_symbols"] * POS_GAP_SYMBOL
    assert w["pos_method"] == BITMASK, w["pos_method"]
    return cost + size * POS_BITMASK_ELEMENT
