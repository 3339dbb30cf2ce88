"""The cost model behind export_c(prefer="speed") and the choice it drives (levin.codegen.
weight_cost, weight_fields.choose): geometry, the estimate's shape, what each preference picks."""

from __future__ import annotations

import re
import warnings

import pytest

from levin import codegen, runtime
from levin.bench._graphs import int8_graph
from levin.codegen import weight_cost, weight_fields
from levin.errors import LevinError
from levin.ops import cparams


@pytest.fixture(scope="module")
def digits8():
    return int8_graph("digits_cnn", density=0.08, n_inputs=1, weight_bits=4)[0]


def _layers(graph):
    return {n.name: (n, weight_cost.layer_of(graph, n)) for n in graph.nodes if n.op in ("Conv2d", "Linear")}


def test_layer_geometry(digits8):
    layers = {k: v[1] for k, v in _layers(digits8).items()}
    # conv1: 8x8 output, 3x3 padding 1: the 6x6 interior is unclipped; over one input channel
    # (rows of 3 bytes) into 16, its windows are gathered; conv2 4x4 -> 2x2
    assert layers["conv1"] == weight_cost.Layer("conv", 64, 16, 3, 64 - 36, gathered=True)
    assert layers["conv2"] == weight_cost.Layer("conv", 16, 32, 3, 16 - 4)
    assert layers["fc"] == weight_cost.Layer("linear", 1, 10)


def test_estimate_grows_with_nonzeros_and_pixels():
    w = dict(size=4608, nnz=400, pos_method=2, coder=0, codebook=None, bits=0, pos_symbols=0)
    layer = weight_cost.Layer("conv", 64, 32, 3, 28)
    base = weight_cost.instructions(w, layer)
    assert weight_cost.instructions(dict(w, nnz=800), layer) > base
    assert weight_cost.instructions(w, weight_cost.Layer("conv", 256, 32, 3, 60)) > base
    dense = dict(w, nnz=4608, pos_method=weight_fields.DENSE)
    # decoding costs on top of the same loops: packed, then rANS, above int8 read in place
    costs = [weight_cost.instructions(dict(dense, **kw), layer)
             for kw in ({}, dict(coder=1, bits=4), dict(coder=4))]
    assert costs == sorted(costs) and len(set(costs)) == 3


def test_whole_decode_bound_agrees_with_c():
    header = (runtime.C_DIR / "levin_weights.h").read_text()
    assert int(re.search(r"#define LEVIN_WEIGHTS_WHOLE_MAX (\d+)u", header).group(1)) == cparams.WHOLE_MAX


def test_speed_picks_sparse_at_low_density_flash_picks_fewest_bytes(digits8):
    for name, (node, layer) in _layers(digits8).items():
        t = digits8.tensors[node.inputs[1]]
        flash = weight_fields._code_weight(t, "auto", None, None)
        fast = weight_fields._code_weight(t, "auto", None, layer)
        size = lambda b: weight_fields.flash_bytes(b, t)
        cost = lambda b: weight_cost.instructions(weight_fields.parse_weights(b, t, "w")[0], layer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            others = [weight_fields._encode(t, f) for f in weight_fields.FORMATS] + weight_fields._fast_sparse(t)
        assert size(flash) == min(map(size, others)), name
        best = min(map(cost, others))
        assert cost(fast) <= best * (1 + weight_fields.SPEED_SLACK), name
        assert cost(fast) <= cost(weight_fields._encode(t, "int8")) * (1 + weight_fields.SPEED_SLACK), name
        # conv1: 144 weights, 12 nonzeros: dense codings come within the slack. fc: 10 rows of 128
        # read once each, 102 nonzeros: the four-row SIMD int8 loop (MAC[linear] 1.71 a weight)
        # beats the sparse kernel's 13.3 a nonzero plus 0.95 a position bit.
        if name not in ("conv1", "fc"):
            assert weight_fields.parse_weights(fast, t, "w")[0]["pos_method"] != weight_fields.DENSE, name
            assert cost(fast) < cost(weight_fields._encode(t, "int8")), name


def test_speed_keeps_dense_weights_dense_and_small_where_decoding_is_amortized():
    graph = int8_graph("digits_cnn", n_inputs=1, weight_bits=8)[0]
    layers = _layers(graph)
    node, layer = layers["conv1"]
    t = graph.tensors[node.inputs[1]]
    chosen = weight_fields._code_weight(t, "auto", None, layer)
    w = weight_fields.parse_weights(chosen, t, "w")[0]
    # 64 pixels a weight: any dense coding is within the slack of int8, the smallest one wins
    assert w["pos_method"] == weight_fields.DENSE
    node, layer = layers["fc"]
    t = graph.tensors[node.inputs[1]]
    # one use a weight: decoding costs more than the slack, int8 read in place wins
    assert weight_fields._code_weight(t, "auto", None, layer) == weight_fields._encode(t, "int8")


def test_prefer_is_checked_and_defaults_to_balanced(digits8, tmp_path):
    with pytest.raises(LevinError, match="prefer 'fast'"):
        codegen.export_c(digits8, tmp_path / "bad", "auto", prefer="fast")
    default = codegen.export_c(digits8, tmp_path / "default", "auto")
    balanced = codegen.export_c(digits8, tmp_path / "balanced", "auto", prefer="balanced")
    speed = codegen.export_c(digits8, tmp_path / "speed", "sparse", prefer="speed")
    assert default.chains == balanced.chains and default.weight_bytes == balanced.weight_bytes
    assert all(c.startswith("sparse:") for c in speed.chains.values())


def test_a_gathered_conv_pays_per_output_not_per_window_row():
    # KWS's first conv: 10x4 over one channel into 64, 125 output pixels
    dense = dict(size=2560, nnz=2560, pos_method=weight_fields.DENSE, coder=0, codebook=None, bits=8,
                 pos_symbols=0)
    rows = weight_cost.Layer("conv", 125, 64, 10, 65)
    gathered = weight_cost.Layer("conv", 125, 64, 10, 65, gathered=True)
    assert weight_cost.instructions(dense, gathered) == pytest.approx(
        weight_cost.instructions(dense, rows) - 125 * 64 * (10 * weight_cost.ROW["conv"] - weight_cost.GATHERED_OUTPUT))
