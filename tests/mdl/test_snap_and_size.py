"""Snapping puts weights on an exact int8 codebook; the predicted bits match the coded bytes."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from levin.coding import container
from levin.coding.weights import encode_tensor
from levin.ir.graph import Graph
from levin.coding.cost import levin_cost
from levin.mdl.prior import MixturePrior
from levin.mdl.snap import grid, snap_layer
from levin.quant.lowbit import quantize_weights


def mixture_layer(n_out=200, n_in=250, seed=0, zero=0.9):
    """A Linear layer whose weights sit near 0 (90%) or near one of 6 means, and its prior."""
    rng = np.random.default_rng(seed)
    means = np.array([-0.3, -0.15, -0.05, 0.05, 0.12, 0.4])
    probs = np.array([zero] + [(1 - zero) * f for f in (0.1, 0.25, 0.2, 0.2, 0.15, 0.1)])
    comp = rng.choice(7, size=(n_out, n_in), p=probs)
    w = np.concatenate([[0.0], means])[comp] + rng.normal(0, 0.002, comp.shape)
    layer = nn.Linear(n_in, n_out, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w.astype(np.float32)))
    prior = MixturePrior(layer.weight, components=6)
    with torch.no_grad():
        prior.means.copy_(torch.from_numpy(means.astype(np.float32)))
        prior.log_var.fill_(2 * math.log(0.004))
        prior.logits.copy_(torch.from_numpy(np.log(probs).astype(np.float32)))
    return layer, prior, comp


def test_snap_gives_exact_zeros_and_at_most_k_plus_one_values_that_quantize_exactly():
    layer, prior, comp = mixture_layer()
    s = snap_layer(layer, prior)
    w = layer.weight.detach().numpy()
    assert np.array_equal(s.components, comp)          # the noise is far below the spacing
    assert (w[comp == 0] == 0).all() and (w[comp != 0] != 0).all()
    assert np.unique(w).size <= 7
    # PTQ's weight quantizer with the chosen scale returns the snapped codes, bit for bit.
    assert np.array_equal(quantize_weights(w, np.array([s.scale])), s.codes)
    assert np.abs(s.codes).max() == 127


@settings(derandomize=True, max_examples=50, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=1, max_size=20))
def test_grid_keeps_order_signs_and_range(values):
    scale, codes = grid(np.array(values))
    v = np.array(values, dtype=np.float64)
    assert np.all(np.abs(codes) <= 127)
    assert np.all(np.abs(codes * np.float64(scale) - v) <= np.float64(scale) / 2 + 1e-9)
    assert np.all(np.diff(codes[np.argsort(v)]) >= 0)


def test_predicted_bits_match_the_coded_tensor_within_5_percent():
    layer, prior, _ = mixture_layer(400, 250)
    with torch.no_grad():
        predicted = float(prior.code_bits(layer.weight)) / 8
    s = snap_layer(layer, prior)
    coded = len(encode_tensor(s.codes).body)
    assert abs(predicted / coded - 1) < 0.05, (predicted, coded)


def test_levin_cost_counts_decoded_symbols():
    layer, prior, _ = mixture_layer(50, 40)
    s = snap_layer(layer, prior)
    g = Graph("one")
    from levin.ir.graph import QuantParams
    g.add_input("x", (1, 40), np.int8, QuantParams(np.array([0.1], np.float32), np.array([0], np.int32)))
    g.add_constant("w", s.codes, QuantParams(np.array([s.scale], np.float32), np.array([0], np.int32)))
    g.add_constant("b", np.zeros(50, np.int32), QuantParams(np.array([0.1 * s.scale], np.float32),
                                                            np.array([0], np.int32)))
    g.add_node("Linear", ["x", "w", "b"], "fc", dtype=np.int8,
               quant=QuantParams(np.array([0.1], np.float32), np.array([0], np.int32)))
    g.mark_output("fc")
    report = container.inspect(container.encode(g))
    cost = levin_cost(report)
    w = next(t for t in report.tensors if t.name == "w")
    w_streams = {st.role: st.count for st in w.streams}
    assert w_streams["indices"] == (s.nonzero if w.chain.startswith("sparse") else s.codes.size)
    assert cost.per_tensor["w"] == sum(w_streams.values())
    assert cost.decode_steps == sum(cost.per_tensor.values())
    assert cost.cost == pytest.approx(8 * report.file_bytes + math.log2(cost.decode_steps))
