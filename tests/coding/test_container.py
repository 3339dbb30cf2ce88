"""The .lvn container: exact round trips of whole graphs, byte accounting, speed."""

import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import container, graph_codec, native
from levin.coding.fields import ByteReader, ByteWriter
from levin.coding.limits import LIMITS
from levin.config.code import CodeConfig, WeightCodecConfig
from levin.ir.graph import Graph, QuantParams
from tests.coding.graphs import quantize_graph
from tests.golden.make_golden import golden_config, golden_graph


def assert_same_graph(a: Graph, b: Graph) -> None:
    """Every tensor (order, name, shape, dtype, bits of the data, quantization) and node equal."""
    assert a.name == b.name and a.inputs == b.inputs and a.outputs == b.outputs
    assert list(a.tensors) == list(b.tensors)
    for name, t in a.tensors.items():
        u = b.tensors[name]
        assert (t.shape, t.dtype, t.is_constant) == (u.shape, u.dtype, u.is_constant), name
        if t.is_constant:
            assert t.data.tobytes() == u.data.tobytes() and u.data.dtype == t.data.dtype, name
        assert (t.quant is None) == (u.quant is None), name
        if t.quant is not None:
            assert t.quant.scale.tobytes() == u.quant.scale.tobytes(), name
            np.testing.assert_array_equal(t.quant.zero_point, u.quant.zero_point)
            assert t.quant.axis == u.quant.axis and t.quant.bits == u.quant.bits, name
    assert [(n.name, n.op, n.inputs, n.output, n.attrs) for n in a.nodes] == \
           [(n.name, n.op, n.inputs, n.output, n.attrs) for n in b.nodes]


def accounted(report: container.ContainerReport) -> int:
    return report.header_bytes + sum(report.graph_bytes.values()) + report.tensor_bytes + report.skipped_bytes


@pytest.fixture(scope="module")
def lenet5_int8():
    from levin.models import load_graph

    return quantize_graph(load_graph("lenet5"), seed=3, sparsity=0.8)


@pytest.mark.parametrize("config", [
    CodeConfig(),
    CodeConfig(default=WeightCodecConfig(coders=("raw",))),
    CodeConfig(default=WeightCodecConfig(coders=("pack", "varint"), sparse="never")),
    CodeConfig(default=WeightCodecConfig(coders=("huffman",), codebook="always")),
    CodeConfig(default=WeightCodecConfig(coders=("rans",), sparse="always", n_states=4, precision_bits=11)),
], ids=["auto", "raw", "pack", "huffman", "rans"])
@pytest.mark.filterwarnings("ignore:tensor")  # forced coders warn on tensors they make larger
def test_quantized_lenet5_round_trips_exactly(lenet5_int8, config):
    data = container.encode(lenet5_int8, config)
    back = container.decode(data)
    assert_same_graph(lenet5_int8, back)
    assert container.encode(back, config) == data  # encoding is a function of the graph
    report = container.inspect(data)
    assert accounted(report) == report.file_bytes == len(data)


def test_auto_is_no_larger_than_any_forced_coder(lenet5_int8):
    auto = len(container.encode(lenet5_int8))
    for coder in ("raw", "pack", "huffman", "rans"):
        forced = CodeConfig(default=WeightCodecConfig(coders=(coder,)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pack cannot hold the int32 biases: raw, with a warning
            assert auto <= len(container.encode(lenet5_int8, forced)), coder


def test_float_graph_round_trips_bit_exactly():
    from levin.models import load_graph

    g = load_graph("lenet5")
    assert_same_graph(g, container.decode(container.encode(g)))


@st.composite
def mlp_graphs(draw):
    """A random int8 MLP: widths, per-channel or per-tensor scales, zero points, bits, sparsity."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    widths = draw(st.lists(st.integers(1, 40), min_size=2, max_size=4))
    g = Graph(draw(st.text(min_size=0, max_size=8)))
    act = QuantParams(np.float32(rng.uniform(0.01, 1)), int(rng.integers(-128, 128)))
    x = g.add_input("in", (1, widths[0]), np.int8, act)
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        bits = draw(st.integers(2, 8))
        q = (1 << (bits - 1)) - 1
        w = rng.integers(-q, q + 1, (b, a))
        w[rng.random(w.shape) < draw(st.sampled_from([0.0, 0.5, 0.95, 1.0]))] = 0
        if draw(st.booleans()):
            s = rng.uniform(1e-4, 1, b).astype(np.float32)
            wq = QuantParams(s, rng.integers(-3, 3, b) * draw(st.integers(0, 1)), 0, bits=bits)
        else:
            wq = QuantParams(np.float32(rng.uniform(1e-4, 1)), 0, bits=bits)
        g.add_constant(f"w{i}", w.astype(np.int8), wq)
        inputs = [x, f"w{i}"]
        if draw(st.booleans()):
            g.add_constant(f"b{i}", rng.integers(-(2**31), 2**31, b).astype(np.int32),
                           QuantParams(np.float32(1e-6), 0))
            inputs.append(f"b{i}")
        x = g.add_node("Linear", inputs, f"fc{i}", dtype=np.int8, quant=act)
        x = g.add_node("ReLU", [x], f"relu{i}")
    g.mark_output(x)
    return g


@settings(derandomize=True, max_examples=40, deadline=None)
@given(mlp_graphs(), st.sampled_from(["auto", "rans", "pack"]))
def test_random_graphs_round_trip_exactly(graph, coders):
    config = CodeConfig(default=WeightCodecConfig(coders=coders))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pack falls back to raw on int32 biases, with a warning
        data = container.encode(graph, config)
    assert_same_graph(graph, container.decode(data))
    assert accounted(container.inspect(data)) == len(data)


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**31, -(2**40), 0.1, float("inf"), "same",
                                   "", (1, (2, [3, "x"])), [], ()])
def test_attribute_values_of_every_type_round_trip(value):
    strings, w = graph_codec._Strings(), ByteWriter()
    graph_codec._write_value(w, value, strings)
    back = graph_codec._read_value(ByteReader(bytes(w.out), 0, len(w.out), "attr"), list(strings.index))
    assert back == value and type(back) is type(value)


def test_graph_section_stores_op_names_and_keys_once(lenet5_int8):
    body = graph_codec.encode_graph(lenet5_int8)
    assert body.count(b"Conv2d") == 1 and body.count(b"padding") == 1


def test_inspect_names_every_constant_and_its_entropy():
    data = container.encode(golden_graph(), golden_config())
    report = container.inspect(data)
    assert [t.name for t in report.tensors] == [n for n, t in golden_graph().tensors.items() if t.is_constant]
    for t in report.tensors:
        assert t.data_bytes > 0 and t.meta_bytes > 0 and t.entropy_bits >= 0
    assert accounted(report) == len(data)
    d = report.to_dict()
    assert d["file_bytes"] == len(data) and len(d["tensors"]) == len(report.tensors)


def _mlp_1m() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("mlp1m")
    act = QuantParams(np.float32(0.05), 3)
    x = g.add_input("x", (1, 784), np.int8, act)
    for i, (o, n) in enumerate([(1024, 784), (256, 1024)]):
        w = np.clip(np.round(rng.laplace(0, 6, (o, n))), -127, 127).astype(np.int8)
        s = rng.uniform(0.001, 0.01, o).astype(np.float32)
        g.add_constant(f"fc{i}.weight", w, QuantParams(s, np.zeros(o, np.int32), 0))
        g.add_constant(f"fc{i}.bias", rng.integers(-3000, 3000, o).astype(np.int32),
                       QuantParams(s * 0.05, np.zeros(o, np.int32), 0))
        x = g.add_node("Linear", [x, f"fc{i}.weight", f"fc{i}.bias"], f"fc{i}", dtype=np.int8, quant=act)
    g.mark_output(x)
    return g


@pytest.mark.skipif(native.library() is None, reason="C coder unavailable: the pure-Python coder is slower")
def test_a_million_weights_encode_and_decode_in_under_a_second_each():
    g = _mlp_1m()
    assert sum(t.size for t in g.tensors.values() if t.is_constant) > 1_000_000
    t_enc, t_dec = [], []
    for _ in range(2):  # best of two: the first run warms caches
        # CPU time of this process, so that other jobs on a shared machine do not count (the
        # coder is single-threaded; wall time on an idle machine is the same figure).
        start = time.process_time()
        data = container.encode(g)
        t_enc.append(time.process_time() - start)
        start = time.process_time()
        container.decode(data)
        t_dec.append(time.process_time() - start)
    assert min(t_enc) < 1.0 and min(t_dec) < 1.0, (t_enc, t_dec)


def test_attribute_nesting_is_limited_the_same_way_on_both_sides():
    deep = ()
    for _ in range(LIMITS.attribute_depth - 1):
        deep = (deep,)  # attribute_depth tuples, one inside the other
    strings, w = graph_codec._Strings(), ByteWriter()
    graph_codec._write_value(w, deep, strings)
    assert graph_codec._read_value(ByteReader(bytes(w.out), 0, len(w.out), "a"), []) == deep
    with pytest.raises(ValueError, match="nested deeper"):
        graph_codec._write_value(ByteWriter(), (deep,), strings)
