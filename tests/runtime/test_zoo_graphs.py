"""Whole zoo models (random weights, non-trivial BatchNorm folded in): the integer reference
tracks the float graph and the fake-quant model predicts it to 1 LSB. Covers Add with a fused
ReLU (ResNet-8), depthwise convs and 'same' padding (DS-CNN), pools and flatten (LeNet-5)."""

import numpy as np
import pytest
import torch

from levin import zoo
from levin.config import QuantConfig
from levin.ir import interpreter
from levin.ir.capture import capture
from levin.quant import ptq
from levin.quant.pipeline import agreement, fakequant_outputs, integer_outputs
from tests.ir.conftest import randomize_batchnorm


@pytest.mark.parametrize("name", ["resnet8", "dscnn", "lenet5"])
def test_zoo_model_integer_vs_float(name):
    torch.manual_seed(0)
    model = randomize_batchnorm(zoo.create(name)).eval()
    shape = zoo.spec(name).input_shape
    x = np.random.default_rng(0).uniform(0, 1, (12,) + shape).astype(np.float32)
    g = capture(model, torch.from_numpy(x[:1]))
    plan = ptq.prepare(g, x[:8], QuantConfig())
    ig = ptq.build_integer_graph(g, plan)
    ig.validate()
    want = np.concatenate([interpreter.run(g, s[None].transpose(0, 2, 3, 1))[g.outputs[0]] for s in x])
    codes = integer_outputs(ig, x)
    s, zp = plan.params(g.outputs[0])
    got = s * (codes.astype(np.float64) - zp)
    assert np.abs(got - want).max() <= 0.05 * (want.max() - want.min()) + 2 * s
    a = agreement(fakequant_outputs(g, plan, x), codes)
    assert a.max_lsb <= 1
