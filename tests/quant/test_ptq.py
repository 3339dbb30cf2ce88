import numpy as np
import pytest
import torch

from levin.config import QuantConfig
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.ir.graph import Graph
from levin.quant import ptq
from levin.quant.plan import share_map


def _graph(model, data):
    return capture(model, torch.from_numpy(data.x_train[:1]))


def test_share_map_rules():
    g = Graph("g")
    x = g.add_input("x", (1, 4, 4, 2))
    w = g.add_constant("w", np.ones((2, 1, 1, 2), np.float32))
    c1 = g.add_node("Conv2d", [x, w], "c1")
    r1 = g.add_node("ReLU", [c1], "r1")                  # fused into c1
    p1 = g.add_node("MaxPool2d", [r1], "p1", kernel=2)  # keeps r1's parameters
    w2 = g.add_constant("w2", np.ones((2, 1, 1, 2), np.float32))
    c2 = g.add_node("Conv2d", [p1, w2], "c2")
    r2 = g.add_node("ReLU", [c2], "r2")                 # c2 has two consumers: not fused
    s = g.add_node("Add", [c2, r2], "s")
    f = g.add_node("Reshape", [s], "f", shape=(1, 8))
    sm = g.add_node("Softmax", [f], "sm")
    g.mark_output(sm)
    root = share_map(g)
    assert root["c1"] == root["r1"] == root["p1"] == "r1"
    assert root["c2"] == "c2" and root["r2"] == "r2" and root["f"] == "s" and root["sm"] == "sm"
    plan = ptq.make_plan(g, {"x": (-1, 1), "r1": (0, 2), "c2": (-3, 3), "r2": (0, 3), "s": (-3, 6)},
                         QuantConfig())
    assert plan.params("sm") == (1 / 256, -128) and "sm" in plan.fixed and "x" in plan.fixed
    assert plan.params("p1") == plan.params("c1")


def test_integer_graph_conventions(digits, digits_model):
    g = _graph(digits_model, digits)
    cfg = QuantConfig(layer_bits={"conv2": 4}, calibration_size=200)
    ig = ptq.quantize_graph(g, ptq.calibration_set(digits.x_train, 200), cfg)
    ig.validate()
    assert [n.name for n in ig.nodes] == [n.name for n in g.nodes]
    assert all(t.dtype == np.int8 for t in ig.activations())
    for node in ig.nodes:
        if node.op in ("Conv2d", "Linear"):
            w, b = ig.tensors[node.inputs[1]], ig.tensors[node.inputs[2]]
            bits = 4 if node.name == "conv2" else 8
            assert w.dtype == np.int8 and w.quant.bits == bits and w.quant.axis == 0
            assert np.abs(w.data).max() <= 2 ** (bits - 1) - 1
            assert np.all(w.quant.zero_point == 0) and w.quant.scale.size == w.shape[0]
            s_in = ig.tensors[node.inputs[0]].quant.scale[0]
            assert b.dtype == np.int32 and np.all(b.quant.zero_point == 0)
            np.testing.assert_array_equal(b.quant.scale, (np.float64(s_in) * w.quant.scale).astype(np.float32))
    # the conv fused with its ReLU shares the ReLU's output parameters (zero point -128: real 0)
    conv1, relu1 = ig.tensors["conv1"].quant, ig.tensors["relu1"].quant
    assert conv1.scale[0] == relu1.scale[0] and conv1.zero_point[0] == relu1.zero_point[0] == -128


def test_per_tensor_weights(digits, digits_model):
    g = _graph(digits_model, digits)
    ig = ptq.quantize_graph(g, digits.x_train[:50], QuantConfig(per_channel=False))
    assert ig.tensors["fc.weight"].quant.axis is None and ig.tensors["fc.weight"].quant.scale.size == 1


@pytest.mark.parametrize("observer", ["minmax", "percentile", "mse"])
def test_observers_all_give_accurate_graphs(digits, digits_model, observer):
    from levin.quant.pipeline import integer_outputs
    g = _graph(digits_model, digits)
    ig = ptq.quantize_graph(g, ptq.calibration_set(digits.x_train, 300),
                            QuantConfig(observer=observer, percentile=99.9))
    with torch.no_grad():
        ref = digits_model(torch.from_numpy(digits.x_test)).argmax(1).numpy()
    got = integer_outputs(ig, digits.x_test).argmax(1)
    assert (got == ref).mean() >= 0.97


def test_bad_layer_names_and_config_values():
    g = Graph("g")
    x = g.add_input("x", (1, 3))
    w = g.add_constant("w", np.ones((2, 3), np.float32))
    g.mark_output(g.add_node("Linear", [x, w], "fc"))
    with pytest.raises(LevinError, match="not weighted layers.*fc"):
        ptq.quantize_graph(g, np.ones((2, 3), np.float32), QuantConfig(layer_bits={"fc2": 4}))
    for bad in ({"weight_bits": 1}, {"observer": "kl"}, {"percentile": 40}, {"layer_bits": {"fc": 9}},
                {"calibration_size": 0}, {"max_drop": -1}):
        with pytest.raises(LevinError, match="QuantConfig"):
            QuantConfig(**bad)
    c = QuantConfig(layer_bits={"fc": 3}, max_drop=0.5)
    assert QuantConfig.from_dict(c.to_dict()) == c and c.bits_for("fc") == 3 and c.bits_for("x") == 8


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_integer_graph_round_trips_through_the_lvn_container(digits, digits_model, bits):
    from levin.coding import container
    from levin.quant.pipeline import integer_outputs
    g = _graph(digits_model, digits)
    ig = ptq.quantize_graph(g, digits.x_train[:200], QuantConfig(weight_bits=bits))
    data = container.encode(ig)
    back = container.decode(data)
    assert back.tensors["conv2.weight"].quant.bits == bits
    np.testing.assert_array_equal(integer_outputs(back, digits.x_test), integer_outputs(ig, digits.x_test))
    if bits < 8:    # b-bit codes take about b/8 of the int8 bytes in the container
        assert len(data) < len(container.encode(ptq.quantize_graph(g, digits.x_train[:200], QuantConfig())))


@pytest.mark.parametrize("per_channel", [True, False])
def test_a_dead_channel_with_a_bias_does_not_overflow_int32(per_channel):
    # VWW's float model: 1x1 conv channels with weights ~1e-30 and a real bias. Their weight scale
    # is raised until the bias code fits (TFLite's converter does the same); the weights become 0.
    from levin import reference
    from levin.quant.pipeline import integer_outputs

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ReLU()).eval()
    with torch.no_grad():
        model[0].weight[0] = 1e-30
        model[0].bias[0] = 0.75
    x = np.random.default_rng(0).uniform(-1, 1, (32, 3, 4, 4)).astype(np.float32)
    graph = capture(model, torch.from_numpy(x[:1]))
    q = ptq.quantize_graph(graph, x, QuantConfig(per_channel=per_channel))
    node = q.nodes[0]
    bias = q.tensors[node.inputs[2]].data
    assert np.abs(bias).max() <= ptq.BIAS_LIMIT
    if per_channel:
        assert not q.tensors[node.inputs[1]].data[0].any()
    codes = integer_outputs(q, x)
    out = q.tensors[q.outputs[0]].quant
    got = (codes.astype(np.float64) - out.zero_point[0]) * out.scale[0]
    want = reference.nhwc(model(torch.from_numpy(x)).detach().numpy(), 4)
    assert np.abs(got - want).max() <= 2 * out.scale[0] + (0.0 if per_channel else 0.1)


def test_activations_near_zero_are_named_with_the_why():
    from levin.errors import GraphError
    from levin.quant.pipeline import integer_outputs

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU6(), torch.nn.Flatten(),
                                torch.nn.Linear(144, 3)).eval()
    with torch.no_grad():
        model[0].weight.mul_(1e-12)
        model[0].bias.zero_()
    x = np.random.default_rng(0).uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
    q = ptq.quantize_graph(capture(model, torch.from_numpy(x[:1])), x)
    with pytest.raises(GraphError, match=r"\(ReLU6\): activation bound 6.0 / scale .* overflows int32: .*"
                                         r"calibrated activations were ~0"):
        integer_outputs(q, x)
