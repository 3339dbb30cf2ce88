import itertools

import numpy as np
import torch

from levin.ir.capture import capture
from levin.config import QuantConfig
from levin.quant import ptq
from levin.quant.mixed import Sensitivity, assign_bits, mixed_precision


def _brute_force(sens, budget, bits):
    best = None
    for combo in itertools.product(bits, repeat=len(sens.params)):
        drop = sum(sens.drop(layer, b) for layer, b in zip(sens.params, combo))
        cost = sum(sens.params[layer] * b for layer, b in zip(sens.params, combo))
        if drop <= budget and (best is None or cost < best[0]):
            best = (cost, combo)
    return best[0]


def test_assignment_is_the_exact_optimum():
    rng = np.random.default_rng(0)
    bits = (2, 4, 6, 8)
    for trial in range(20):
        layers = [f"l{i}" for i in range(4)]
        params = {layer: int(rng.integers(10, 1000)) for layer in layers}
        correct = {layer: {b: 1000 - int(rng.integers(0, 40 // b + 1) * (8 - b)) for b in bits[:-1]}
                   for layer in layers}
        sens = Sensitivity(1000, 1000, params, correct)
        for budget in (0, 5, 20, 60):
            got = assign_bits(sens, budget, bits)
            cost = sum(params[layer] * b for layer, b in got.items())
            assert sum(sens.drop(layer, b) for layer, b in got.items()) <= budget
            assert cost == _brute_force(sens, budget, bits)


def test_mixed_precision_respects_the_limit_and_saves_bits(digits, digits_model):
    g = capture(digits_model, torch.from_numpy(digits.x_train[:1]))
    plan = ptq.prepare(g, digits.x_train[:200], QuantConfig())
    x, y = digits.x_train[-400:], digits.y_train[-400:]
    result = mixed_precision(g, plan, x, y, max_drop=1.0, bits=(2, 4, 8))
    assert result.drop <= 0.01
    assert set(result.bits) == {"conv1", "conv2", "fc"}
    assert result.total_bits < 8 * sum(result.sensitivity.params.values())
    assert result.sensitivity.correct["conv2"][2] <= result.sensitivity.correct["conv2"][4] + 5
