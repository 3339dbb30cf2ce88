"""The fake-quant torch model predicts the integer graph: PTQ and QAT, on digits."""

import numpy as np
import torch

from levin.config import QuantConfig
from levin.ir.capture import capture
from levin.quant import ptq
from levin.quant.graphmodule import GraphModule
from levin.quant.pipeline import agreement, fakequant_outputs, integer_outputs, quantize
from levin.quant.plan import QuantPlan, share_map
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


def test_single_rounding_fakequant_is_exact_where_a_float_simulation_cannot_be():
    # One product 100 * 127 whose real requantized value, 12700 * s_in * s_w / s_out, is
    # 40.5 + 8.5e-9 (rounds to 41), while the integer graph's 31-bit multiplier gives
    # 40.5 - 3.0e-9 (rounds to 40): no float simulation with the real scale ratio matches it.
    s_in, s_w, s_out = np.float32(0.01), np.float32(0.001015746), np.float32(0.0031851789)
    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False)).eval()
    with torch.no_grad():
        model[0].weight.fill_(float(np.float32(127 * s_w)))
    g = capture(model, torch.zeros(1, 1))
    name, node = g.inputs[0], g.nodes[0]
    plan = QuantPlan(share_map(g), {name: (float(s_in), 0), node.output: (float(s_out), 0)},
                     {name}, {node.name: np.array([s_w])}, {node.name: 8})
    x = np.array([[100 * s_in]], dtype=np.float32)
    ints = integer_outputs(ptq.build_integer_graph(g, plan), x, single_round=True)
    with torch.no_grad():
        simulated = GraphModule(g, plan, double_round=False).double().eval()(torch.from_numpy(x).double())
    assert ints[0, 0] == 40 and float(simulated[0, 0]) / float(s_out) == 41
    np.testing.assert_array_equal(fakequant_outputs(g, plan, x, single_round=True), ints)
