"""Biases rounded to the resolution the outputs can see (issue 22: biases were a tenth of LeNet-5's file).

Read me first. An int32 bias is stored at the accumulator's scale, input scale x weight scale,
which on LeNet-5 is 2^-8..2^-10 of one step of the layer's int8 output: its low 8-10 bits move
the output by less than a code, yet cost 8-10 bits per channel. Here each bias is rounded to a
multiple of 2^s, the largest power of two no coarser than `fraction` of the output step:

    s = floor(log2(fraction x output scale / max over channels of (input scale x weight scale)))

so the rounding moves each output by at most fraction / 2 of a step before requantization. The
container's golomb coder stores such a tensor scaled (`levin.coding.golomb`: the codes of
v >> s, s in one byte), so s bits per channel leave the file; a bias that rounds to all zeros
leaves the graph (a layer without a bias computes the same), and with it its tensor section.

This changes the integer model, so it is a lossy step chosen on data: `choose_fractions` takes
each layer in turn and keeps the coarsest fraction whose error (the caller's function, on a
validation split) is no higher than the exact biases'. What the graph runs is what is measured:
the C runtime and the reference both run the rounded integers.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from levin import ops
from levin.ir.graph import Graph

FRACTIONS = (64.0, 32.0, 16.0, 8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125)  # coarsest first, output steps
MAX_SHIFT = 30


def biased_layers(graph: Graph) -> dict[str, str]:
    """Node name -> bias tensor name, for every weighted node with an int32 bias."""
    out = {}
    for node in graph.nodes:
        if ops.get(node.op).weighted and len(node.inputs) > 2:
            bias = graph.tensors[node.inputs[2]]
            if bias.is_constant and bias.dtype == np.int32 and bias.quant is not None:
                out[node.name] = node.inputs[2]
    return out


def bias_shift(graph: Graph, layer: str, fraction: float) -> int:
    """The s of the module docstring for `layer` (0: the bias cannot be coarser than it is)."""
    node = next(n for n in graph.nodes if n.name == layer)
    bias, output = graph.tensors[node.inputs[2]], graph.tensors[node.output]
    steps = float(np.max(bias.quant.scale)) / float(np.max(output.quant.scale))  # accumulator / output
    if not steps > 0:
        return 0
    return int(np.clip(math.floor(math.log2(fraction / steps)), 0, MAX_SHIFT))


def round_to_shift(values: np.ndarray, shift: int) -> np.ndarray:
    """int32 `values` to the nearest multiple of 2^shift (halves away from zero), within int32."""
    v = np.asarray(values, dtype=np.int64)
    half = (1 << shift) >> 1
    r = np.sign(v) * (((np.abs(v) + half) >> shift) << shift)
    top = ((1 << 31) - 1) >> shift << shift
    return np.clip(r, -top, top).astype(np.int32)


def round_biases(graph: Graph, fractions: dict[str, float]) -> Graph:
    """A copy of `graph` with each listed layer's bias rounded for its fraction of an output step."""
    layers = biased_layers(graph)
    new: dict[str, np.ndarray | None] = {}
    for layer, fraction in fractions.items():
        shift = bias_shift(graph, layer, fraction)
        if shift:
            name = layers[layer]
            rounded = round_to_shift(graph.tensors[name].data, shift)
            new[name] = rounded if rounded.any() else None
    return graph.with_constants(new) if new else graph


def choose_fractions(graph: Graph, error: Callable[[Graph], float],
                     fractions: tuple[float, ...] = FRACTIONS) -> tuple[Graph, dict[str, float], float, float]:
    """Per layer in graph order, the coarsest fraction whose `error` is no higher than with exact
    biases (earlier layers' choices kept). Returns (graph, {layer: fraction}, the error with
    exact biases, the error of the graph returned)."""
    base = best = error(graph)
    chosen: dict[str, float] = {}
    for layer in biased_layers(graph):
        tried = set()
        for fraction in fractions:
            shift = bias_shift(graph, layer, fraction)
            if shift == 0 or shift in tried:
                continue
            tried.add(shift)
            trial = round_biases(graph, {layer: fraction})
            e = error(trial)
            if e <= base:
                graph, best, chosen[layer] = trial, e, fraction
                break
    return graph, chosen, base, best
