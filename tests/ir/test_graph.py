import time

import numpy as np
import pytest

from levin.errors import GraphError, LevinError
from levin import ops
from levin.ir.graph import Graph, QuantParams

F32 = np.float32


def conv_graph():
    g = Graph("t")
    x = g.add_input("x", (1, 8, 8, 3))
    w = g.add_constant("w", np.zeros((4, 3, 3, 3), F32))
    b = g.add_constant("b", np.zeros(4, F32))
    y = g.add_node("Conv2d", [x, w, b], "conv", stride=2, padding=1)
    g.mark_output(y)
    return g


def test_build_infers_shapes_and_normalizes_attributes():
    g = conv_graph()
    node = g.nodes[0]
    assert g.tensors["conv"].shape == (1, 4, 4, 4)
    assert node.attrs == {"stride": (2, 2), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    assert g.producer("conv") is node and g.consumers("x") == [node]
    assert [t.name for t in g.activations()] == ["x", "conv"]
    g.validate()


# (op, input shapes, attrs, expected output shape); weights are given as shapes too (NHWC, OHWI).
SHAPE_CASES = [
    ("Conv2d", [(1, 9, 10, 4), (8, 3, 3, 4)], {}, (1, 7, 8, 8)),
    ("Conv2d", [(1, 9, 10, 4), (8, 3, 3, 4)], {"padding": (1, 2, 0, 1), "stride": (2, 1)}, (1, 5, 9, 8)),
    ("Conv2d", [(1, 9, 9, 4), (8, 3, 3, 4)], {"dilation": 2}, (1, 5, 5, 8)),
    ("Conv2d", [(1, 5, 5, 6), (6, 3, 3, 1), (6,)], {"groups": 6, "padding": 1}, (1, 5, 5, 6)),
    ("Conv2d", [(1, 5, 5, 6), (4, 1, 1, 3)], {"groups": 2}, (1, 5, 5, 4)),
    ("Linear", [(2, 7), (3, 7), (3,)], {}, (2, 3)),
    ("ReLU6", [(1, 3)], {}, (1, 3)),
    ("MaxPool2d", [(1, 7, 7, 2)], {"kernel": 2}, (1, 3, 3, 2)),
    ("MaxPool2d", [(1, 7, 7, 2)], {"kernel": 3, "stride": 2, "padding": 1}, (1, 4, 4, 2)),
    ("AvgPool2d", [(1, 25, 5, 3)], {"kernel": (25, 5)}, (1, 1, 1, 3)),
    ("GlobalAvgPool", [(1, 6, 4, 5)], {}, (1, 1, 1, 5)),
    ("Add", [(1, 2, 2, 3), (1, 2, 2, 3)], {}, (1, 2, 2, 3)),
    ("Add", [(1, 2, 2, 3), (1, 1, 1, 3)], {}, (1, 2, 2, 3)),
    ("Sub", [(1,), (1, 2, 2, 3)], {}, (1, 2, 2, 3)),
    ("Mul", [(1, 2, 1, 3), (1, 1, 4, 1)], {}, (1, 2, 4, 3)),
    ("Maximum", [(1, 5), (1, 5)], {}, (1, 5)),
    ("Minimum", [(1, 2, 2, 3), (3,)], {}, (1, 2, 2, 3)),
    ("Concat", [(1, 2, 2, 3), (1, 2, 2, 5)], {"axis": -1}, (1, 2, 2, 8)),
    ("Concat", [(1, 2, 2, 3), (1, 4, 2, 3)], {"axis": 1}, (1, 6, 2, 3)),
    ("Reshape", [(1, 2, 2, 3)], {"shape": (1, -1)}, (1, 12)),
    ("Pad", [(1, 2, 2, 3)], {"pads": (1, 2, 0, 3)}, (1, 5, 5, 3)),
    ("MirrorPad", [(1, 4, 4, 3)], {"pads": (1, 2, 0, 3), "mode": "reflect"}, (1, 7, 7, 3)),
    ("Softmax", [(1, 10)], {}, (1, 10)),
    ("Hardswish", [(1, 2, 3)], {}, (1, 2, 3)),
    ("LeakyReLU", [(1, 3)], {"alpha": 0.2}, (1, 3)),
    ("ELU", [(1, 3)], {}, (1, 3)),
    ("GELU", [(1, 3)], {"approximate": "tanh"}, (1, 3)),
    ("Hardsigmoid", [(1, 3)], {}, (1, 3)),
    ("SiLU", [(1, 3)], {}, (1, 3)),
    ("Clamp", [(1, 3)], {"min": -2, "max": 2}, (1, 3)),
    ("Mean", [(1, 4, 5, 3)], {"axes": (3,)}, (1, 4, 5, 1)),
    ("Mean", [(1, 4, 5, 3)], {"axes": (-3, 2), "keepdims": False}, (1, 3)),
    ("Sum", [(1, 4, 5, 3)], {"axes": 1, "keepdims": False}, (1, 5, 3)),
    ("ReduceMax", [(2, 7)], {"axes": (1,)}, (2, 1)),
    ("Transpose", [(1, 4, 5, 3)], {"perm": (0, 3, 1, 2)}, (1, 3, 4, 5)),
    ("StridedSlice", [(1, 4, 5, 3)], {"begin": (0, 1, 0, 1), "end": (1, 4, 5, 3), "strides": (1, 2, 3, 1)},
     (1, 2, 2, 2)),
    ("ResizeNearest", [(1, 4, 5, 3)], {"size": (8, 7)}, (1, 8, 7, 3)),
    ("ResizeBilinear", [(1, 4, 5, 3)], {"size": (3, 10), "align_corners": True}, (1, 3, 10, 3)),
    ("ConvTranspose2d", [(1, 4, 5, 3), (6, 3, 3, 3)], {"stride": 2, "padding": 1, "output_padding": 1},
     (1, 8, 10, 6)),
]


def _graph_for(op, shapes, attrs):
    g = Graph("t")
    names = [g.add_input("x", shapes[0])]
    for i, shape in enumerate(shapes[1:]):
        if op in ("Conv2d", "Linear"):
            names.append(g.add_constant(f"c{i}", np.zeros(shape, F32)))
        else:
            names.append(g.add_input(f"x{i}", shape))
    return g, names


@pytest.mark.parametrize("op,shapes,attrs,expected", SHAPE_CASES)
def test_shape_rules(op, shapes, attrs, expected):
    g, names = _graph_for(op, shapes, attrs)
    assert g.tensors[g.add_node(op, names, "n", **attrs)].shape == expected


def test_every_op_has_a_shape_case():
    assert {c[0] for c in SHAPE_CASES} | {"ReLU", "Sigmoid", "Tanh"} == set(ops.names())


@pytest.mark.parametrize("op,shapes,attrs,message", [
    ("Conv2d", [(1, 8, 8, 3), (4, 3, 3, 2)], {}, "expects 2 input channels, input has 3"),
    ("Conv2d", [(1, 8, 8, 6), (4, 3, 3, 3)], {"groups": 4}, "groups=4 must divide"),
    ("Conv2d", [(1, 2, 2, 3), (4, 3, 3, 3)], {}, "does not fit the padded height"),
    ("Conv2d", [(1, 8, 8, 3), (4, 3, 3, 3), (5,)], {}, "bias shape (5,) must be (4,)"),
    ("Conv2d", [(1, 8, 8, 3), (4, 3, 3, 3)], {"stride": 0}, "stride must be 2 integers >= 1"),
    ("Conv2d", [(1, 8, 8, 3), (4, 3, 3, 3)], {"bogus": 1}, "unknown attribute(s) bogus"),
    ("Conv2d", [(1, 8, 8, 3)], {}, "takes 2 to 3 inputs, got 1"),
    ("Conv2d", [(8, 8, 3), (4, 3, 3, 3)], {}, "must be rank 4 (NHWC)"),
    ("Linear", [(1, 7), (3, 6)], {}, "does not take 7 features"),
    ("Add", [(1, 2, 2, 3), (1, 2, 4, 1)], {}, "do not broadcast"),
    ("Concat", [(1, 2, 2, 3), (1, 3, 2, 3)], {"axis": 3}, "differ outside axis 3"),
    ("Reshape", [(1, 2, 2, 3)], {"shape": (1, 5)}, "cannot reshape"),
    ("Reshape", [(1, 2, 2, 3)], {}, "'shape' is required"),
    ("MaxPool2d", [(1, 4, 4, 2)], {}, "kernel must be 2 integers"),
    ("MaxPool2d", [(1, 4, 4, 2)], {"kernel": 2, "padding": 2}, "must be smaller than the kernel"),
    ("Softmax", [(1, 10)], {"axis": 2}, "axis 2 is out of range"),
    ("Nope", [(1, 10)], {}, "unknown op 'Nope'; the op set is Conv2d, Linear"),
])
def test_build_errors_say_what_is_wrong(op, shapes, attrs, message):
    g, names = _graph_for(op, shapes, attrs)
    with pytest.raises(GraphError) as err:
        g.add_node(op, names, "n", **attrs)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, LevinError)


def test_graph_errors():
    g = conv_graph()
    with pytest.raises(GraphError, match="already used"):
        g.add_input("x", (1, 2))
    with pytest.raises(GraphError, match="'nope' is not defined before it"):
        g.add_node("ReLU", ["nope"], "r")
    with pytest.raises(GraphError, match="node name 'conv' is already used"):
        g.add_node("ReLU", ["conv"], "conv")
    with pytest.raises(GraphError, match="not an activation"):
        g.mark_output("w")
    with pytest.raises(GraphError, match="dtype float64 is not supported"):
        g.add_constant("d", np.zeros(3))
    with pytest.raises(GraphError, match="float and integer"):
        g.add_node("Add", ["conv", g.add_input("q", (1, 4, 4, 4), np.int8, QuantParams(0.1, 0))], "a")


def test_validate_catches_a_broken_graph():
    g = conv_graph()
    g.add_node("ReLU", ["conv"], "relu")
    g.nodes.reverse()                         # relu now runs before conv computes its input
    with pytest.raises(GraphError, match="uses 'conv' before it is computed"):
        g.validate()
    g = conv_graph()
    g.outputs.clear()
    with pytest.raises(GraphError, match="at least one input and one output"):
        g.validate()


def test_integer_tensors_carry_validated_quant_params():
    g = Graph("int8")
    x = g.add_input("x", (1, 4, 4, 2), np.int8, QuantParams(0.05, -3))
    wq = QuantParams(np.full(4, 0.01), np.zeros(4), axis=0)
    w = g.add_constant("w", np.ones((4, 1, 1, 2), np.int8), wq)
    b = g.add_constant("b", np.zeros(4, np.int32), QuantParams(np.full(4, 5e-4), np.zeros(4), axis=0))
    y = g.add_node("Conv2d", [x, w, b], "conv", quant=QuantParams(0.1, 5))
    r = g.add_node("ReLU", [y], "relu")
    g.mark_output(r)
    g.validate()
    assert g.tensors["relu"].dtype == np.int8 and g.tensors["relu"].quant.zero_point[0] == 5
    assert g.tensors["w"].quant.scale.dtype == np.float32 and g.tensors["w"].quant.nbytes == 32


@pytest.mark.parametrize("build,message", [
    (lambda g: g.add_input("i", (1, 4), np.int8), "needs quantization parameters"),
    (lambda g: g.add_input("i", (1, 4), np.float32, QuantParams(1.0, 0)), "float tensor has no"),
    (lambda g: g.add_input("i", (1, 4), np.int8, QuantParams([1.0, 2.0], [0, 0], axis=1)),
     "2 scales for 4 channels along axis 1"),
    (lambda g: g.add_input("i", (1, 4), np.int8, QuantParams([1.0] * 4, [0] * 4, axis=2)),
     "axis 2 is out of range"),
    (lambda g: g.add_input("i", (1, 4), np.int8, QuantParams(1.0, 200)), "zero point outside"),
    (lambda g: QuantParams(0.0, 0), "every scale must be finite and > 0"),
    (lambda g: QuantParams([1.0, 1.0], [0, 0]), "2 scales need a per-channel axis"),
    (lambda g: QuantParams(1.0, 0.5), "zero points must be integers"),
    (lambda g: g.add_input("i", (1, 0)), "must be positive integers"),
])
def test_quantization_and_tensor_checks(build, message):
    with pytest.raises(GraphError, match=message):
        build(Graph("q"))


def test_marking_outputs_and_adding_nodes_take_constant_time():
    """Issue 16: a .lvn with 65,535 graph outputs took 26.5 s (mark_output scanned a list)."""
    g = Graph("wide")
    names = [g.add_input(f"x{i}", (1,)) for i in range(65_535)]
    start = time.perf_counter()
    for name in names + names:                      # the second pass: all duplicates, ignored
        g.mark_output(name)
    y = names[0]
    for i in range(20_000):
        y = g.add_node("ReLU", [y], f"relu{i}")
    assert time.perf_counter() - start < 2.0
    assert g.outputs == names and len(g.nodes) == 20_000
    with pytest.raises(GraphError, match="node name 'relu7' is already used"):
        g.add_node("ReLU", [y], "relu7")


def test_the_lists_stay_the_truth_when_edited_directly():
    g = conv_graph()
    g.mark_output("conv")
    assert g.outputs == ["conv"]
    g.outputs.clear()
    g.mark_output("conv")                           # cleared by hand: marked again
    assert g.outputs == ["conv"]
    g.outputs = []
    g.mark_output("conv")
    assert g.outputs == ["conv"]
    g.nodes = []                                    # nodes dropped by hand: their names are free
    g.add_node("ReLU", ["x"], "conv_again")
    g.add_node("ReLU", ["x"], "conv", output="conv2")
    with pytest.raises(GraphError, match="node name 'conv' is already used"):
        g.add_node("ReLU", ["x"], "conv", output="conv3")
