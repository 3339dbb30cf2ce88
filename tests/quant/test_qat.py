"""The fake-quant torch model predicts the integer graph: PTQ and QAT, on digits."""

import numpy as np
import torch

from levin.config import QuantConfig
from levin.ir.capture import capture
from levin.quant import ptq
from levin.quant.graphmodule import GraphModule
from levin.quant.pipeline import agreement, fakequant_outputs, integer_outputs, quantize
from levin.quant.qat import quantization_aware_training
from levin.train.loop import evaluate


def test_float_graph_module_is_the_torch_model(digits, digits_model):
    g = capture(digits_model, torch.from_numpy(digits.x_train[:1]))
    x = torch.from_numpy(digits.x_test[:50])
    with torch.no_grad():
        torch.testing.assert_close(GraphModule(g)(x), digits_model(x), rtol=1e-5, atol=1e-5)


def test_ptq_fakequant_agrees_with_integer_reference(digits, digits_model):
    r = quantize(digits_model, digits, QuantConfig(calibration_size=300))
    assert r.agreement.argmax_match >= 0.999 and r.agreement.max_lsb <= 1
    assert r.integer_accuracy >= r.float_accuracy - 0.01
    assert r.weight_bytes == sum(r.graph.tensors[n.inputs[1]].size for n in r.graph.nodes
                                 if n.op in ("Conv2d", "Linear"))


def test_single_rounding_makes_fakequant_exact(digits, digits_model):
    g = capture(digits_model, torch.from_numpy(digits.x_train[:1]))
    plan = ptq.prepare(g, digits.x_train[:300], QuantConfig())
    ig = ptq.build_integer_graph(g, plan)
    fake = fakequant_outputs(g, plan, digits.x_test, single_round=True)
    np.testing.assert_array_equal(fake, integer_outputs(ig, digits.x_test, single_round=True))


def test_qat_learns_and_converts_through_the_ptq_path(digits, digits_model):
    g = capture(digits_model, torch.from_numpy(digits.x_train[:1]))
    cfg = QuantConfig(weight_bits=2, qat_epochs=2, qat_lr=5e-3, calibration_size=300)
    plan = ptq.prepare(g, digits.x_train[:300], cfg)
    before = evaluate(GraphModule(g, plan), digits.x_test, digits.y_test)
    result = quantization_aware_training(g, plan, digits, cfg)
    new = result.plan
    assert any(new.activations[r] != plan.activations[r] for r in plan.activations if r not in plan.fixed)
    assert any(not np.array_equal(new.weight_scales[n], plan.weight_scales[n]) for n in plan.weight_scales)
    ig = ptq.build_integer_graph(g, new)
    ints = integer_outputs(ig, digits.x_test)
    after = float((ints.argmax(1) == digits.y_test).mean())
    assert after > before + 0.05                 # 2-bit PTQ is poor; QAT recovers most of it
    a = agreement(fakequant_outputs(g, new, digits.x_test), ints)
    assert a.argmax_match >= 0.999 and a.max_lsb <= 1
    assert all(ig.tensors[n.inputs[1]].quant.bits == 2 for n in ig.nodes if n.op in ("Conv2d", "Linear"))


def test_fixed_scales_stay_fixed_without_learn_scales(digits, digits_model):
    g = capture(digits_model, torch.from_numpy(digits.x_train[:1]))
    cfg = QuantConfig(qat_epochs=1, learn_scales=False, calibration_size=100)
    plan = ptq.prepare(g, digits.x_train[:100], cfg)
    new = quantization_aware_training(g, plan, digits, cfg).plan
    assert new.activations == plan.activations
    assert not np.array_equal(new.weights["fc.weight"], g.tensors["fc.weight"].data)
