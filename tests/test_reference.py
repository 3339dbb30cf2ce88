"""The integer reference, op by op: against the float interpreter (within quantization error),
against the fake-quant model (within 1 LSB), and on hand-computed TFLite cases (exactly)."""

import numpy as np
import pytest

from levin.errors import GraphError
from levin.ir.graph import Graph, QuantParams
from levin import reference
from tests.runtime.helpers import one_op, run_all

RNG = np.random.default_rng(0)
X4 = RNG.normal(0, 1, (16, 6, 6, 4)).astype(np.float32)
X2 = RNG.normal(0, 1, (16, 12)).astype(np.float32)

CASES = {
    "conv": (X4, dict(op="Conv2d", weights=(5, 3, 3, 4), stride=1, padding=1)),
    "conv_strided_asym_pad": (X4, dict(op="Conv2d", weights=(3, 3, 3, 4), stride=2, padding=(0, 1, 0, 1))),
    "conv_dilated_nobias": (X4, dict(op="Conv2d", weights=(3, 2, 2, 4), bias=False, dilation=2)),
    "conv_depthwise": (X4, dict(op="Conv2d", weights=(8, 3, 3, 1), groups=4, padding=1)),
    "conv_grouped": (X4, dict(op="Conv2d", weights=(6, 1, 1, 2), groups=2)),
    "linear": (X2, dict(op="Linear", weights=(7, 12))),
    "relu": (X4, dict(op="ReLU")),
    "relu6": (X4 * 4, dict(op="ReLU6")),
    "sigmoid": (X4 * 3, dict(op="Sigmoid")),
    "tanh": (X4, dict(op="Tanh")),
    "hardswish": (X4 * 3, dict(op="Hardswish")),
    "leaky_relu": (X4, dict(op="LeakyReLU", alpha=0.1)),
    "elu": (X4 * 2, dict(op="ELU")),
    "gelu": (X4 * 2, dict(op="GELU")),
    "hardsigmoid": (X4 * 3, dict(op="Hardsigmoid")),
    "silu": (X4 * 3, dict(op="SiLU")),
    "clamp": (X4, dict(op="Clamp", min=-0.5, max=1.0)),
    "maxpool": (X4, dict(op="MaxPool2d", kernel=3, stride=2, padding=1)),
    "avgpool": (X4, dict(op="AvgPool2d", kernel=2)),
    "avgpool_pad_excluded": (X4, dict(op="AvgPool2d", kernel=3, stride=2, padding=1, count_include_pad=False)),
    "avgpool_pad_included": (X4, dict(op="AvgPool2d", kernel=3, stride=1, padding=1, count_include_pad=True)),
    "global_avgpool": (X4, dict(op="GlobalAvgPool")),
    "reshape": (X4, dict(op="Reshape", shape=(1, 144))),
    "pad": (X4, dict(op="Pad", pads=(1, 0, 2, 1), value=0.0)),
    "pad_value": (X4, dict(op="Pad", pads=1, value=0.5)),
    "mirror_pad": (X4, dict(op="MirrorPad", pads=(1, 0, 2, 1), mode="reflect")),
    "mirror_pad_symmetric": (X4, dict(op="MirrorPad", pads=(2, 1, 0, 3), mode="symmetric")),
    "softmax": (X2 * 3, dict(op="Softmax", axis=-1)),
    "mean_hw": (X4, dict(op="Mean", axes=(1, 2), keepdims=False)),
    "mean_c": (X4, dict(op="Mean", axes=(3,))),
    "sum_h": (X4, dict(op="Sum", axes=(1,))),
    "reduce_max_c": (X4, dict(op="ReduceMax", axes=(3,), keepdims=False)),
    "transpose": (X4, dict(op="Transpose", perm=(0, 3, 1, 2))),
    "strided_slice": (X4, dict(op="StridedSlice", begin=(0, 1, 0, 1), end=(1, 6, 5, 4), strides=(1, 2, 2, 1))),
    "resize_nearest": (X4, dict(op="ResizeNearest", size=(12, 9))),
    "resize_bilinear": (X4, dict(op="ResizeBilinear", size=(11, 12), half_pixel_centers=True)),
    "conv_transpose": (X4, dict(op="ConvTranspose2d", weights=(5, 3, 3, 4), stride=2, padding=1, output_padding=1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_against_float_and_fakequant(case):
    x, spec = CASES[case]
    spec = dict(spec)
    g = one_op(spec.pop("op"), (1,) + x.shape[1:], **spec)
    want, got, fake, codes, ig, plan = run_all(g, x)
    scale = plan.params("y")[0]
    # one output step, plus what the int8 input and the weights' rounding can move it
    tolerance = 3 * scale + 0.03 * np.abs(want).max()
    assert np.abs(got - want).max() <= tolerance, case
    assert np.abs(fake - codes).max() <= 1, case


def test_op_set_is_covered():
    from levin import ops
    assert {name for name, op in ops.OPS.items() if op.reference is not None} == set(ops.names())
    tested = {spec["op"] for _, spec in CASES.values()} | {"Add", "Concat", "Sub", "Mul", "Maximum", "Minimum"}
    assert tested == set(ops.names())


def _two_input_graph(op, **attrs):
    g = Graph(op)
    a = g.add_input("a", (1, 4, 4, 3))
    w = g.add_constant("w", RNG.normal(0, 0.5, (3, 1, 1, 3)).astype(np.float32))
    b = g.add_node("Conv2d", [a, w], "branch")                  # gives the second operand its own range
    g.mark_output(g.add_node(op, [a, b], "y", **attrs))
    return g


@pytest.mark.parametrize("op,attrs", [("Add", {}), ("Concat", {"axis": -1}), ("Sub", {}), ("Mul", {}),
                                      ("Maximum", {}), ("Minimum", {})])
def test_add_and_concat(op, attrs):
    g = _two_input_graph(op, **attrs)
    x = (RNG.normal(0, 1, (20, 4, 4, 3)) * np.array([1, 2, 0.5])).astype(np.float32)
    want, got, fake, codes, ig, plan = run_all(g, x)
    assert np.abs(got - want).max() <= 4 * plan.params("y")[0] + 0.03 * np.abs(want).max()
    assert np.abs(fake - codes).max() <= 1


# -- hand-computed TFLite cases -------------------------------------------------------------------

def _int_graph(op, in_q, out_q, shape=(1, 2, 2, 1), **attrs):
    g = Graph(op)
    x = g.add_input("x", shape, np.int8, QuantParams(*in_q))
    g.mark_output(g.add_node(op, [x], "y", dtype=np.int8, quant=QuantParams(*out_q), **attrs))
    return g


def _run(g, codes):
    return reference.run(g, np.asarray(codes, np.int8))["y"]


def test_avgpool_rounds_half_away_from_zero_on_raw_codes():
    g = _int_graph("AvgPool2d", (0.5, 3), (0.5, 3), kernel=2)
    assert _run(g, [[[[1], [2]], [[3], [5]]]]).item() == 3        # 11 / 4 = 2.75
    assert _run(g, [[[[-1], [-2]], [[-3], [-4]]]]).item() == -3   # -10 / 4 = -2.5 -> -3
    assert _run(g, [[[[1], [1]], [[0], [0]]]]).item() == 1        # 2 / 4 = 0.5 -> 1


def test_avgpool_count_excludes_or_includes_padding():
    x = [[[[8], [8]], [[8], [8]]]]
    ex = _int_graph("AvgPool2d", (1.0, 0), (1.0, 0), kernel=2, stride=2, padding=(1, 0, 1, 0),
                    count_include_pad=False)
    inc = _int_graph("AvgPool2d", (1.0, 0), (1.0, 0), kernel=2, stride=2, padding=(1, 0, 1, 0),
                     count_include_pad=True)
    assert _run(ex, x)[0, 0, 0, 0] == 8            # corner window: one real element, count 1
    assert _run(inc, x)[0, 0, 0, 0] == 2           # 8 / 4


def test_relu_requantizes_like_tflite_relux():
    g = _int_graph("ReLU", (0.5, 10), (0.25, -128), shape=(1, 3))
    # 12 -> real 1.0 -> code 4 - 128; 5 -> real -2.5 -> clamped at the zero point; 127 -> 58.5 -> 234 - 128
    assert _run(g, [[12, 5, 127]]).tolist() == [[-124, -128, 106]]


def test_relu6_clamps_at_six():
    g = _int_graph("ReLU6", (0.05, 0), (0.05, 0), shape=(1, 3))
    assert _run(g, [[-7, 100, 127]]).tolist() == [[0, 100, 120]]


def test_conv_hand_case_with_exact_multiplier():
    g = Graph("conv")
    x = g.add_input("x", (1, 1, 2, 2), np.int8, QuantParams(0.5, 1))
    w = g.add_constant("w", np.array([[[[2, -1]]], [[[1, 1]]]], np.int8), QuantParams([0.25, 0.5], [0, 0], 0))
    b = g.add_constant("b", np.array([3, -4], np.int32), QuantParams([0.125, 0.25], [0, 0], 0))
    g.mark_output(g.add_node("Conv2d", [x, w, b], "y", dtype=np.int8, quant=QuantParams(0.125, -2)))
    out = reference.run(g, np.array([[[[5, 3], [1, -7]]]], np.int8))["y"]
    # pixel 0: x - zp = (4, 2); ch0 acc = 8 - 2 + 3 = 9, M = 0.5*0.25/0.125 = 1 -> 9 - 2 = 7
    #                           ch1 acc = 4 + 2 - 4 = 2, M = 2 -> 4 - 2 = 2
    # pixel 1: x - zp = (0, -8); ch0 acc = 0 + 8 + 3 = 11 -> 9; ch1 acc = -8 - 4 = -12 -> -24 - 2 = -26
    assert out.tolist() == [[[[7, 2], [9, -26]]]]


def test_softmax_of_equal_inputs_is_uniform():
    g = _int_graph("Softmax", (0.1, 0), (1 / 256, -128), shape=(1, 4), axis=-1)
    assert _run(g, [[7, 7, 7, 7]]).tolist() == [[-64] * 4]           # 0.25 * 256 - 128


def test_softmax_needs_tflite_output_params():
    g = _int_graph("Softmax", (0.1, 0), (0.01, 0), shape=(1, 4), axis=-1)
    with pytest.raises(GraphError, match="1/256"):
        _run(g, [[1, 2, 3, 4]])


def test_concat_requantizes_like_tflite_quantize():
    g = Graph("cat")
    a = g.add_input("a", (1, 2), np.int8, QuantParams(1.0, 0))
    b = g.add_input("b", (1, 2), np.int8, QuantParams(2.0, 0))
    g.mark_output(g.add_node("Concat", [a, b], "y", dtype=np.int8, quant=QuantParams(2.0, 0), axis=-1))
    out = reference.run(g, {"a": np.array([[10, 3]], np.int8), "b": np.array([[-5, 7]], np.int8)})["y"]
    assert out.tolist() == [[5, 2, -5, 7]]                           # 3 / 2 = 1.5 -> 2


def test_pad_fills_with_the_quantized_value():
    g = _int_graph("Pad", (0.5, -3), (0.5, -3), pads=(1, 0, 0, 0), value=1.0)
    assert _run(g, np.zeros((1, 2, 2, 1)))[0, 0, :, 0].tolist() == [-1, -1]


def test_pool_and_reshape_need_the_inputs_params():
    g = _int_graph("MaxPool2d", (0.5, 0), (0.25, 0), kernel=2)
    with pytest.raises(GraphError, match="same scale"):
        _run(g, np.zeros((1, 2, 2, 1)))


def test_float_graph_and_bad_inputs_are_refused():
    g = one_op("ReLU", (1, 3))
    with pytest.raises(GraphError, match="integer graphs only"):
        reference.run(g, np.zeros((1, 3), np.float32))
    ig = _int_graph("ReLU", (0.5, 0), (0.5, 0), shape=(1, 3))
    with pytest.raises(GraphError, match="expected int8"):
        reference.run(ig, np.zeros((1, 3), np.float32))
    with pytest.raises(GraphError, match="expected int8"):
        reference.run(ig, np.zeros((1, 4), np.int8))


def test_any_batch_size_gives_the_per_sample_results():
    g = one_op("Conv2d", (1, 6, 6, 4), weights=(5, 3, 3, 4), padding=1)
    _, _, _, codes, ig, _ = run_all(g, X4)
    q = reference.quantize_input(ig, X4)
    single = np.concatenate([reference.run(ig, q[i:i + 1])["y"] for i in range(len(q))])
    np.testing.assert_array_equal(codes, single)


def test_accumulator_overflow_is_an_error():
    g = Graph("big")
    x = g.add_input("x", (1, 140000), np.int8, QuantParams(1.0, 0))
    w = g.add_constant("w", np.full((1, 140000), 127, np.int8), QuantParams(1.0, 0))
    g.mark_output(g.add_node("Linear", [x, w], "y", dtype=np.int8, quant=QuantParams(1.0, 0)))
    with pytest.raises(GraphError, match="overflows"):
        reference.run(g, np.full((1, 140000), -128, np.int8))


def test_weights_with_a_zero_point_are_refused():
    # TFLite int8 weights are symmetric; neither this oracle nor the C kernels subtract a weight
    # zero point, so a graph that has one must fail loudly rather than compute something else.
    from tests.golden.make_golden import golden_graph

    g = golden_graph()
    t = g.tensors["fc2.w"]
    t.quant = QuantParams(t.quant.scale, np.asarray(3, np.int32), t.quant.axis)
    with pytest.raises(GraphError, match="'fc2.w' has a nonzero zero point"):
        reference.run(g, np.zeros((1, 5, 5, 3), np.int8))
