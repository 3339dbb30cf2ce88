"""Sensitivity scan: one layer at a time, the model restored, targets from the curves."""

import json

import pytest
import torch

from levin.compressor import sensitivity
from levin.report.figures import sensitivity_curves
from levin.compressor.sensitivity import SensitivityResult, quantize_linear, scan, targets
from levin.config import PruneConfig, SensitivityConfig
from levin.prune.magnitude import prune
from levin.prune.masks import sparsity_report

from tests.prune.conftest import trained_digits


def test_scan_covers_every_layer_restores_the_model_and_round_trips(small_digits, trained_digits_state,
                                                                  tmp_path):
    model = trained_digits(trained_digits_state)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = SensitivityConfig(sparsities=(0.5, 0.95), bits=(8, 2))
    result = scan(model, small_digits.x_test, small_digits.y_test, config)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert set(result.sparsity) == set(result.bits) == {"conv1", "conv2", "fc"}
    assert result.baseline > 0.9
    for layer in result.sparsity:
        assert result.sparsity[layer][0.95] < result.sparsity[layer][0.5] + 0.02
        assert abs(result.bits[layer][8] - result.baseline) < 0.01        # 8 bits costs ~nothing
    assert result.bits["conv1"][2] < result.baseline - 0.02               # 2 bits costs a lot
    path = sensitivity.save(result, tmp_path / "scan.json")
    assert SensitivityResult.from_dict(json.loads(path.read_text())) == result
    drawn = sensitivity_curves(result, tmp_path / "scan.png")
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sensitivity_curves(result) == drawn.read_bytes()          # bytes when no path


def test_targets_take_the_highest_sparsity_within_the_drop_below_every_failure():
    result = SensitivityResult(0.98, {"a": {0.5: 0.98, 0.8: 0.975, 0.9: 0.97, 0.95: 0.976},
                                      "b": {0.5: 0.95, 0.8: 0.9},
                                      "c": {0.5: 0.98, 0.9: 0.979}})
    assert targets(result, 0.005) == {"a": 0.8, "b": 0.0, "c": 0.9}


def test_scan_targets_feed_per_layer_pruning(small_digits, trained_digits_state):
    model = trained_digits(trained_digits_state)
    result = scan(model, small_digits.x_test, small_digits.y_test,
                  SensitivityConfig(sparsities=(0.3, 0.6), bits=()))
    chosen = targets(result, 0.02)
    prune(model, PruneConfig(scope="layer", layer_sparsity=chosen))
    report = sparsity_report(model)
    for layer, s in chosen.items():
        assert report["layers"][layer]["density"] == pytest.approx(1 - s, abs=0.01)


def test_linear_quantization_has_2_to_the_bits_minus_one_levels_per_channel():
    w = torch.randn(3, 50)
    q = quantize_linear(w, 3)
    assert all(len(torch.unique(row)) <= 7 for row in q)
    assert torch.allclose(q.abs().amax(1), w.abs().amax(1))
    assert ((q - w).abs() <= w.abs().amax(1, keepdim=True) / 3 / 2 + 1e-6).all()
