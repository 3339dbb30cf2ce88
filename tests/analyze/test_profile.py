"""Profile figures checked against an independent count: forward hooks on the torch model."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from levin import zoo
from levin.analyze.profile import CODE_BASE_BYTES, profile
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams


def hook_counts(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, int]]:
    """module path -> (MACs, params) of every Conv2d / Linear, counted while torch runs."""
    counts, handles = {}, []
    for path, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            def hook(mod, inputs, out, path=path):
                if isinstance(mod, nn.Conv2d):
                    macs = out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
                else:
                    macs = out.numel() * mod.in_features
                counts[path] = (macs, sum(p.numel() for p in mod.parameters()))
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return counts


@pytest.fixture(scope="module")
def zoo_profiles():
    out = {}
    for name in zoo.names():
        model = zoo.create(name)
        x = torch.randn(1, *zoo.spec(name).input_shape)
        out[name] = (model, x, profile(capture(model, x, name)))
    return out


@pytest.mark.parametrize("name", zoo.names())
def test_macs_and_params_match_forward_hooks(name, zoo_profiles):
    model, x, result = zoo_profiles[name]
    expected = hook_counts(model, x)
    got = {l.name: (l.macs, l.params) for l in result.layers if l.macs}
    assert got == expected                                  # per layer, by module path
    assert result.macs == sum(m for m, _ in expected.values())
    # Every parameter except BatchNorm's (folded into the conv bias) is in a conv or linear.
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert result.params == sum(p.numel() for p in model.parameters()) - bn
    assert result.weight_bytes == 4 * result.params        # float32, as stored


def test_lenet5_figures(zoo_profiles):
    result = zoo_profiles["lenet5"][2]
    assert (result.params, result.macs, result.weight_bytes) == (431_080, 2_293_000, 1_724_320)
    conv1 = result.layers[0]
    assert (conv1.name, conv1.op, conv1.output_shape) == ("conv1", "Conv2d", (1, 24, 24, 20))
    assert (conv1.input_bytes, conv1.output_bytes, conv1.ops) == (4 * 784, 4 * 11_520, 11_520)
    pool = result.layers[2]
    assert (pool.op, pool.macs, pool.ops) == ("MaxPool2d", 0, 12 * 12 * 20 * 4)
    assert result.flash_bytes == result.weight_bytes + result.code_bytes_estimate
    assert result.code_bytes_estimate > CODE_BASE_BYTES
    assert result.arena_bytes == result.plan.arena_bytes > max(l.output_bytes for l in result.layers)


def test_depthwise_layers_are_labelled(zoo_profiles):
    ops = [l.op for l in zoo_profiles["dscnn"][2].layers]
    assert ops.count("DepthwiseConv2d") == 4 and ops.count("Conv2d") == 5


def test_profile_is_json_serializable(zoo_profiles):
    d = json.loads(json.dumps(zoo_profiles["resnet8"][2].to_dict()))
    assert d["layout"] == "NHWC" and d["totals"]["macs"] == zoo_profiles["resnet8"][2].macs
    assert d["totals"]["arena_bytes"] == d["arena_plan"]["arena_bytes"]
    assert "flash_bytes" in d["estimated"] and len(d["layers"]) == len(zoo_profiles["resnet8"][2].layers)


def test_integer_weights_count_as_stored():
    g = Graph("int8")
    x = g.add_input("x", (1, 16), np.int8, QuantParams(0.1, 0))
    w = g.add_constant("w", np.zeros((10, 16), np.int8), QuantParams(np.ones(10), np.zeros(10), axis=0))
    b = g.add_constant("b", np.zeros(10, np.int32), QuantParams(np.ones(10), np.zeros(10), axis=0))
    g.mark_output(g.add_node("Linear", [x, w, b], "fc", quant=QuantParams(0.2, 3)))
    layer = profile(g).layers[0]
    # 160 int8 weights + 10 int32 biases + (4-byte scale + 4-byte zero point) x 10 channels x 2.
    assert (layer.params, layer.weight_bytes, layer.macs, layer.dtype) == (170, 160 + 40 + 160, 160, "int8")
    assert (layer.input_bytes, layer.output_bytes) == (16, 10)
