"""Bad .lvn input: truncated, corrupt, wrong magic, future versions, hostile sizes. Always a
LevinFormatError naming the part, never a crash, never a hang."""

import time
import zlib

import numpy as np
import pytest

from levin.coding import container, graph_codec, graph_compact
from levin.coding.entropy_model import EntropyModelConfig, build_model
from levin.coding.fields import ByteWriter
from levin.coding.fuzz import fix_crcs
from levin.coding.graph_dictionary import DICTIONARY
from levin.coding.limits import LIMITS
from levin.config.code import CodeConfig
from levin.errors import LevinError, LevinFormatError
from levin.ir.graph import Graph, QuantParams
from tests.coding.test_format_doc import example_graph
from tests.golden.make_golden import golden_config, golden_graph

GOLDEN = container.encode(golden_graph(), golden_config())


def sections(data: bytes) -> list[tuple[int, bytes]]:
    """(kind, body) of every section of a valid file."""
    _, _, secs = container.read_sections(data)
    return [(s.kind, data[s.body : s.end]) for s in secs]


def build(parts: list[tuple[int, bytes]], version=container.VERSION) -> bytes:
    """A file from (kind, body) sections, with correct framing and CRCs."""
    head = ByteWriter()
    head.raw(container.MAGIC)
    head.u8(version[0])
    head.u8(version[1])
    head.varint(len(parts))
    head.u32(zlib.crc32(head.out))
    return bytes(head.out) + b"".join(container._section(k, b) for k, b in parts)


def test_the_helpers_rebuild_the_file():
    assert build(sections(GOLDEN)) == GOLDEN


def test_every_truncation_is_caught():
    for n in range(len(GOLDEN)):
        with pytest.raises(LevinFormatError):
            container.decode(GOLDEN[:n])


def test_every_single_byte_change_is_caught():
    start = time.perf_counter()
    for i in range(len(GOLDEN)):
        bad = bytearray(GOLDEN)
        bad[i] ^= 0x5A
        with pytest.raises(LevinFormatError):
            container.decode(bytes(bad))
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("data, message", [
    (b"", "not a .lvn file"),
    (b"PK\x03\x04rest", "not a .lvn file"),
    (b"LEVN", "header: major version"),
    (b"LEVN\x04\x00\x01", r"version 4.0 is newer than this levin reads \(1.x, 2.x, 3.x\)"),
    (b"LEVN\x00\x00\x01", "not a valid version"),
    (b"LEVN\x01\x00\xff\xff\xff\xff\x0f", "section count"),
])
def test_headers_are_checked(data, message):
    with pytest.raises(LevinFormatError, match=message):
        container.decode(data)


def test_newer_minor_versions_are_read():
    assert container.decode(build(sections(GOLDEN), version=(3, 7))).name == "golden"


def plain_graph_sections() -> list[tuple[int, bytes]]:
    """The golden file's sections with its graph stored plain (kind 1), as format 1.0 wrote it."""
    parts = sections(GOLDEN)
    parts[0] = (container.GRAPH, graph_codec.encode_graph(container.decode(GOLDEN)))
    return parts


def deflated(body: bytes, preset: bytes = b"") -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=preset)
    return packer.compress(body) + packer.flush()


def test_a_plain_or_a_deflated_graph_reads_the_same_and_1x_files_are_read():
    parts = plain_graph_sections()
    packed = [(container.GRAPH_DEFLATE, deflated(parts[0][1]))] + parts[1:]
    want = container.decode(GOLDEN)
    for data in (build(parts, (1, 0)), build(parts), build(packed)):
        got = container.decode(data)
        assert list(got.tensors) == list(want.tensors) and [n.name for n in got.nodes] == [n.name for n in want.nodes]
    with pytest.raises(LevinFormatError, match="unknown required section kind 3"):
        container.decode(build(packed, (1, 0)))         # 1.x has no deflated graph


@pytest.mark.parametrize("body, message", [
    (b"\xff\xff\xff", "deflate stream is corrupt"),
    (lambda g: deflated(g)[:-3], "truncated"),
    (lambda g: deflated(g) + b"\x00", "bytes after its end"),
    (lambda g: deflated(b"\x00" * (LIMITS.graph_bytes + 1)), "inflates to more than"),
])
def test_a_bad_deflated_graph_is_a_clear_error(body, message):
    parts = plain_graph_sections()
    bad = body(parts[0][1]) if callable(body) else body
    with pytest.raises(LevinFormatError, match=message):
        container.decode(build([(container.GRAPH_DEFLATE, bad)] + parts[1:]))


def test_the_writer_keeps_the_shortest_graph_form():
    for graph in (example_graph(), golden_graph()):
        auto, plain = container.encode(graph), container.encode(graph, CodeConfig(graph="plain"))
        assert sections(plain)[0][0] == container.GRAPH
        kind, body = sections(auto)[0]
        plain_body = graph_codec.encode_graph(graph)
        compact = graph_compact.encode_compact(graph)
        forms = {container.GRAPH: plain_body, container.GRAPH_DEFLATE: deflated(plain_body),
                 container.GRAPH_COMPACT: compact, container.GRAPH_COMPACT_DEFLATE: deflated(compact),
                 container.GRAPH_COMPACT_PRESET: deflated(compact, DICTIONARY)}
        assert forms[kind] == body and len(body) == min(map(len, forms.values()))
        assert len(auto) <= len(plain)
    with pytest.raises(LevinError, match="graph must be"):
        CodeConfig(graph="zip")


def test_crc_mismatches_name_the_section():
    bad = bytearray(GOLDEN)
    bad[-6] ^= 1  # inside the last tensor section's body
    with pytest.raises(LevinFormatError, match=r"section 7 of 8 \(tensor, byte \d+\): CRC32 mismatch"):
        container.decode(bytes(bad))
    bad = bytearray(GOLDEN)
    bad[7] ^= 1  # the header CRC
    with pytest.raises(LevinFormatError, match="header: CRC32 mismatch"):
        container.decode(bytes(bad))


def test_section_structure_is_checked():
    parts = sections(GOLDEN)
    cases = {
        "exactly one graph section": parts[1:],
        "has no tensor section": parts[:-1],
        "holds tensor": [parts[0], parts[2], parts[1]] + parts[3:],
        "unknown required section kind 9": parts + [(9, b"")],
        "bytes after the last": None,
    }
    for message, p in cases.items():
        data = build(p) if p is not None else GOLDEN + b"\x00"
        with pytest.raises(LevinFormatError, match=message):
            container.decode(data)


def test_optional_sections_are_skipped_and_counted():
    data = build(sections(GOLDEN) + [(0x85, b"future metadata")])
    report = container.inspect(data)
    assert report.skipped_bytes == 1 + 1 + 15 + 4
    assert report.header_bytes + sum(report.graph_bytes.values()) + report.tensor_bytes + \
        report.skipped_bytes == len(data)


def _graph_body(tensor_shape=(4, 4), op="Linear", attrs=None) -> bytes:
    g = Graph("h")
    q = QuantParams(np.float32(0.1), 0)
    x = g.add_input("x", (1, 4), np.int8, q)
    g.add_constant("w", np.ones(tensor_shape, np.int8), q)
    g.add_node("Linear", [x, "w"], "fc", dtype=np.int8, quant=q)
    g.mark_output("fc")
    return container.encode(g, CodeConfig(graph="plain"))


def test_hostile_sizes_fail_before_allocating():
    """Huge declared counts and shapes, with valid CRCs, fail at once with a named field."""
    (gk, graph), (tk, tensor) = sections(_graph_body())
    huge = b"\xff\xff\xff\xff\x0f"
    cases = {
        "string count": huge + graph,
        "tensor count": b"\x01\x01h\x00" + huge + b"\x00" * 8,  # 1 string "h", graph name 0
        "raw values": tensor[:1] + b"\x00\x00" + tensor[3:3],
        # 16 one-bit symbols (a 2-symbol model) in a payload of 4 bytes: the initial state only.
        "symbols cannot fit": tensor[:1] + b"\x00\x04\x00" + build_model(np.array([1, 1]),
                                                                     EntropyModelConfig(8)).to_bytes()
                              + b"\x00\x00\x80\x00",
    }
    rec = graph.index(b"\x02\x04\x04")  # the rank and dims of "w", 4x4 -> 2^24 x 2^24
    cases["over the limit tensor_elements"] = graph[:rec] + b"\x02\x80\x80\x80\x08\x80\x80\x80\x08" + graph[rec + 3:]
    for message, body in cases.items():
        is_graph = message in ("string count", "tensor count", "over the limit tensor_elements")
        data = build([(gk, body), (tk, tensor)] if is_graph else [(gk, graph), (tk, body)])
        start = time.perf_counter()
        with pytest.raises(LevinFormatError, match=message):
            container.decode(data)
        assert time.perf_counter() - start < 0.5, message


def test_graph_errors_name_the_node_or_tensor():
    (gk, graph), (tk, tensor) = sections(_graph_body())
    bad_op = build([(gk, graph.replace(b"\x06Linear", b"\x06Lineax")), (tk, tensor)])
    with pytest.raises(LevinFormatError, match="node 'fc' \\(Lineax\\).*unknown op"):
        container.decode(bad_op)
    bad_shape = build([(gk, graph.replace(b"\x02\x01\x04", b"\x02\x01\x05", 1)), (tk, tensor)])
    with pytest.raises(LevinFormatError, match="node 'fc'"):
        container.decode(bad_shape)


def test_attributes_of_the_wrong_type_are_format_errors_not_type_errors():
    g = Graph("r")
    q = QuantParams(np.float32(0.1), 0)
    g.add_input("x", (1, 2, 2, 1), np.int8, q)
    g.add_node("Reshape", ["x"], "flat", shape=(1, 4))
    g.mark_output("flat")
    body = graph_codec.encode_graph(g)
    # shape=(1, 4) is tag 7, 2 items, (3, 2), (3, 8); make it the float 1.5 (tag 5) instead.
    tup = bytes([7, 2, 3, 2, 3, 8])
    assert body.count(tup) == 1
    bad = body.replace(tup, bytes([5]) + np.float64(1.5).tobytes())
    with pytest.raises(LevinFormatError, match="node 'flat' \\(Reshape\\)"):
        container.decode(build([(1, bad)]))


def test_fix_crcs_lets_body_mutations_reach_the_parsers():
    bad = bytearray(GOLDEN)
    bad[20] ^= 0xFF  # in the graph section's string table
    with pytest.raises(LevinFormatError, match="CRC32"):
        container.decode(bytes(bad))
    with pytest.raises(LevinFormatError) as err:
        container.decode(fix_crcs(bytes(bad)))
    assert "CRC32" not in str(err.value)
    assert fix_crcs(GOLDEN) == GOLDEN


def test_many_small_parts_do_not_make_decoding_quadratic():
    data = build(sections(GOLDEN) + [(0x80, b"")] * 50_000)  # 300 KB of empty optional sections
    start = time.perf_counter()
    assert container.inspect(data).skipped_bytes == 6 * 50_000
    assert time.perf_counter() - start < 3
    too_many_nodes = b"\x01\x01h\x00\x00\x00\x00" + b"\x80\x40" + b"\x00" * 5 * 8192  # 8192 nodes
    with pytest.raises(LevinFormatError, match="node count = 8,192, over the limit nodes = 4,096"):
        container.decode(build([(1, too_many_nodes)]))


def test_the_preset_dictionary_is_frozen():
    """Kind-6 files name no dictionary version: changing a byte of it misreads every one of them."""
    assert (len(DICTIONARY), zlib.crc32(DICTIONARY)) == (668, 0xB6760EFA)


def test_a_kind_6_graph_needs_the_dictionary_and_a_corrupt_one_is_a_clear_error():
    data = container.encode(golden_graph())
    kind, body = sections(data)[0]
    assert kind == container.GRAPH_COMPACT_PRESET
    with pytest.raises(zlib.error):                   # refers back into the dictionary
        zlib.decompressobj(-15).decompress(body)
    start = data.index(body)
    bad = bytearray(data)
    bad[start:start + 4] = b"\xff\xff\xff\xff"
    with pytest.raises(LevinFormatError, match="graph .*preset dictionary.*deflate stream is corrupt"):
        container.decode(fix_crcs(bytes(bad)))
