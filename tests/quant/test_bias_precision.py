"""Biases rounded to the resolution the outputs need: exact arithmetic, the step from the scales,
the per-layer choice never worse on its samples, and the bytes it takes out of the file."""

import numpy as np
import pytest

from levin.coding import container
from levin.config import QuantConfig
from levin.quant import bias_precision as bp
from levin.quant.pipeline import integer_outputs, quantize


def test_round_to_shift_rounds_halves_away_from_zero_and_stays_in_int32():
    v = np.array([0, 5, 6, -6, -5, 7, -7, 2**31 - 1, -2**31], dtype=np.int32)
    got = bp.round_to_shift(v, 2)
    assert got.tolist() == [0, 4, 8, -8, -4, 8, -8, 2**31 - 4, -(2**31 - 4)]
    assert (got % 4 == 0).all() and got.dtype == np.int32
    assert bp.round_to_shift(v, 0).tolist()[:7] == v.tolist()[:7]


@pytest.fixture(scope="module")
def int8_digits(digits, digits_model):
    return quantize(digits_model, digits, QuantConfig(per_channel=False)).graph


def test_the_step_is_the_largest_power_of_two_within_the_fraction_of_an_output_step(int8_digits):
    g = int8_digits
    layers = bp.biased_layers(g)
    assert layers, "the digits CNN has biased layers"
    for layer, bias in layers.items():
        node = next(n for n in g.nodes if n.name == layer)
        steps = float(g.tensors[bias].quant.scale.max() / g.tensors[node.output].quant.scale.max())
        for fraction in (0.25, 1.0, 4.0):
            s = bp.bias_shift(g, layer, fraction)
            assert 2.0 ** s * steps <= fraction or s == 0
            assert 2.0 ** (s + 1) * steps > fraction


def test_rounded_biases_are_multiples_and_the_file_shrinks(int8_digits):
    g = int8_digits
    fractions = {layer: 1.0 for layer in bp.biased_layers(g)}
    r = bp.round_biases(g, fractions)
    for layer, bias in bp.biased_layers(g).items():
        s = bp.bias_shift(g, layer, 1.0)
        assert s > 0 and (bias not in r.tensors or (r.tensors[bias].data % (1 << s) == 0).all())
        w = next(n for n in g.nodes if n.name == layer).inputs[1]
        np.testing.assert_array_equal(r.tensors[w].data, g.tensors[w].data)   # weights untouched
    assert len(container.encode(r)) < len(container.encode(g)) - 10
    back = container.decode(container.encode(r))
    for bias in bp.biased_layers(r).values():
        np.testing.assert_array_equal(back.tensors[bias].data, r.tensors[bias].data)


def test_a_bias_that_rounds_to_zero_leaves_the_graph_and_the_outputs_stay(int8_digits, digits):
    g = int8_digits
    layer, bias = next(iter(bp.biased_layers(g).items()))
    zero = g.with_constants({bias: np.zeros_like(g.tensors[bias].data)})
    dropped = bp.round_biases(zero, {layer: 1.0})
    node = next(n for n in dropped.nodes if n.name == layer)
    assert bias not in dropped.tensors and len(node.inputs) == 2
    x = digits.x_test[:50]
    np.testing.assert_array_equal(integer_outputs(dropped, x), integer_outputs(zero, x))
    assert len(container.encode(dropped)) < len(container.encode(zero))


def test_the_choice_is_never_worse_on_its_samples(int8_digits, digits):
    g = int8_digits
    x, y = digits.x_train[:300], digits.y_train[:300]

    def error(graph):
        return float((integer_outputs(graph, x).argmax(1) != y).mean())

    chosen_graph, chosen, exact, e = bp.choose_fractions(g, error)
    assert e <= exact == error(g) and e == error(chosen_graph)
    assert set(chosen) <= set(bp.biased_layers(g))
    # a loss that any rounding makes worse keeps every bias exact
    same, none, _, _ = bp.choose_fractions(g, lambda graph: 0.0 if graph is g else 1.0)
    assert same is g and none == {}


def test_quantize_rounds_biases_on_training_samples_and_reports_it(digits, digits_model):
    r = quantize(digits_model, digits, QuantConfig(per_channel=False, round_biases=True, validation_size=300))
    info = r.extra["biases"]
    assert info["scored_on"] == "training samples" and info["samples"] == 300
    assert info["rounded"] >= info["exact"]                     # accuracy: higher is better
    exact = quantize(digits_model, digits, QuantConfig(per_channel=False))
    assert len(container.encode(r.graph)) <= len(container.encode(exact.graph))
