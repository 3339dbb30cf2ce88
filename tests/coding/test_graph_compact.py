"""The compact graph section (kinds 4 and 5): the same graph back, fewer bytes, clear errors."""

import numpy as np
import pytest

from levin.coding import container, graph_codec, graph_compact
from levin.coding.fields import ByteReader, ByteWriter
from levin.errors import LevinFormatError
from levin.ir.graph import Graph, QuantParams
from tests.coding.graphs import quantize_graph
from tests.coding.test_container import assert_same_graph
from tests.coding.test_container_errors import build, sections
from tests.coding.test_format_doc import example_graph
from tests.golden.make_golden import golden_graph


@pytest.fixture(scope="module")
def lenet5_int8():
    from levin.models import load_graph

    return quantize_graph(load_graph("lenet5"), seed=3, sparsity=0.8)


def with_compact_graph(graph: Graph, deflate: bool = False) -> bytes:
    """`graph`'s file with its graph section forced to kind 4 (or 5)."""
    parts = sections(container.encode(graph))
    body = graph_compact.encode_compact(graph)
    parts[0] = (container.GRAPH_COMPACT_DEFLATE, container._deflate(body)) if deflate \
        else (container.GRAPH_COMPACT, body)
    return build(parts)


@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("make", [example_graph, golden_graph], ids=["example", "golden"])
def test_compact_graphs_decode_to_the_same_graph(make, deflate):
    graph = make()
    data = with_compact_graph(graph, deflate)
    assert_same_graph(graph, container.decode(data))
    report = container.inspect(data)
    assert report.header_bytes + sum(report.graph_bytes.values()) + report.tensor_bytes == len(data)


def test_per_channel_lenet5_round_trips_and_the_compact_form_is_shorter(lenet5_int8):
    g = lenet5_int8
    data = with_compact_graph(g)
    assert_same_graph(g, container.decode(data))
    compact, plain = graph_compact.encode_compact(g), graph_codec.encode_graph(g)
    assert len(compact) < len(plain)
    desc = graph_compact.decode_compact(compact, 0, len(compact))
    produced = {n.output for n in g.nodes}
    assert all((t.shape is None) == (t.name in produced) for t in desc.tensors)   # shapes left out
    assert [n.attrs for n in desc.nodes] == [graph_compact._needed_attrs(g, n) for n in g.nodes]
    assert all(not n.attrs for n in desc.nodes if n.op == "Conv2d")   # stride 1, no padding: defaults


def test_scales_by_reference_copy_and_product():
    """A ReLU output takes its input's scale by copy; a per-channel int32 bias whose scales are the
    float32 products of input and weight scales stores two indices, not 4 bytes per channel."""
    g = Graph("s")
    x = g.add_input("x", (1, 4), np.int8, QuantParams(np.float32(0.03), 1))
    ws = np.linspace(0.01, 0.02, 64).astype(np.float32)
    g.add_constant("w", np.ones((64, 4), np.int8), QuantParams(ws, np.zeros(64, np.int32), 0))
    g.add_constant("b", np.arange(64, dtype=np.int32), QuantParams(ws * np.float32(0.03), np.zeros(64, np.int32), 0))
    y = g.add_node("Linear", [x, "w", "b"], "fc", dtype=np.int8, quant=QuantParams(np.float32(0.5), -3))
    g.add_node("ReLU", [y], "relu", dtype=np.int8, quant=QuantParams(np.float32(0.5), -3))
    g.mark_output("relu")
    assert graph_compact._scale_refs(g) == {"b": (0, 1), "relu": (3,)}
    body, plain = graph_compact.encode_compact(g), graph_codec.encode_graph(g)
    b = next(t for t in graph_compact.decode_compact(body, 0, len(body)).tensors if t.name == "b")
    b_plain = next(t for t in graph_codec.decode_graph(plain, 0, len(plain)).tensors if t.name == "b")
    assert b.nbytes <= 8 and b_plain.nbytes > 4 * 64
    assert_same_graph(g, container.decode(with_compact_graph(g)))


def compact_body(tensors: bytes, n_tensors: int, strings=("g", "x")) -> bytes:
    """A compact body: strings, name "g", the given tensor records, input 0, output 0, no nodes."""
    w = ByteWriter()
    w.varint(len(strings))
    for s in strings:
        w.varint(0)
        w.blob(s.encode())
    w.varint(0)
    w.varint(n_tensors)
    w.raw(tensors)
    w.raw(bytes([1, 0, 1, 0, 0]))
    return bytes(w.out)


INT8 = graph_codec.DTYPES.index(np.dtype(np.int8))
Q = graph_codec.QUANTIZED


@pytest.mark.parametrize("tensors, n, message", [
    (bytes([1, INT8 | graph_codec.CONSTANT | Q]), 1, "constant without its shape"),
    (bytes([1, INT8 | Q, 0x00, 0, 0, 0x80, 0x3F]), 1, "graph input without its shape"),
    (bytes([1, INT8 | Q | 0x40, 1, 4, graph_compact.SCALE_COPY, 0]), 1, "scale reference 0 is not an earlier"),
    (bytes([1, INT8 | Q | 0x40, 1, 4, 0x30]), 1, "unknown quantization flags"),
    (bytes([1, INT8 | Q | 0x80, 1, 4]), 1, "unknown dtype/flags"),
])
def test_hostile_compact_sections_are_clear_errors(tensors, n, message):
    with pytest.raises(LevinFormatError, match=message):
        container.decode(build([(container.GRAPH_COMPACT, compact_body(tensors, n))]))


def test_front_coded_strings_are_checked():
    w = ByteWriter()
    w.varint(2)
    w.varint(0)
    w.blob(b"ab")
    w.varint(3)                     # shares 3 bytes with a 2-byte string
    w.blob(b"c")
    with pytest.raises(LevinFormatError, match="shares 3 bytes"):
        graph_compact.decode_compact(bytes(w.out), 0, len(w.out))


def test_a_2x_reader_sees_a_new_major_version_and_a_compact_kind_needs_3x():
    data = with_compact_graph(example_graph())
    assert data[4:6] == bytes([3, 0])
    with pytest.raises(LevinFormatError, match="unknown required section kind 4"):
        container.decode(build(sections(data), (2, 0)))


def test_constant_names_after_their_node_store_only_the_suffix(lenet5_int8):
    g = lenet5_int8
    suffixes = graph_compact._suffixes(g)
    assert suffixes["conv1.weight"] == "weight" and suffixes["fc2.bias"] == "bias"
    body = graph_compact.encode_compact(g)
    table = graph_compact._read_strings(ByteReader(body, 0, len(body), "s"))
    assert "weight" in table and "conv1.weight" not in table
    desc = graph_compact.decode_compact(body, 0, len(body))
    assert [t.name for t in desc.tensors] == list(g.tensors)


def test_odd_names_are_stored_whole():
    """A constant not named after its first reader, or read by no node, keeps its full name."""
    g = golden_graph()
    assert "spare.f" not in graph_compact._suffixes(g)
    assert_same_graph(g, container.decode(with_compact_graph(g)))


@pytest.mark.parametrize("tensors, n, message", [
    (bytes([0, 1, INT8 | graph_codec.CONSTANT | Q | 0x40, 1, 4, 0, 0, 0, 0x80, 0x3F]), 1, "no node reads it"),
])
def test_a_derived_name_needs_a_reader(tensors, n, message):
    body = compact_body(tensors, n).replace(bytes([1, 0, 1, 0, 0]), bytes([0, 0, 0]))   # no io, no nodes
    with pytest.raises(LevinFormatError, match=message):
        graph_compact.decode_compact(body, 0, len(body))
