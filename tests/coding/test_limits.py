"""Issue 16: small hostile .lvn files cost no more than their limits allow (limits.py).

Each reported case (tests/coding/hostile.py builds them) and one file per named limit must
raise a LevinFormatError naming the limit, quickly and without allocating what it declares;
`levin inspect` prints one line and exits 2. Valid files still read as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from levin.cli.main import main
from levin.coding import container, graph_codec, limits
from levin.coding.fields import ByteWriter
from levin.coding.graph_codec import T_INT, T_LIST, T_NONE
from levin.coding.limits import LIMITS
from levin.errors import LevinError, LevinFormatError
from levin.ir.graph import Graph, QuantParams
from tests.coding import hostile
from tests.coding.hostile import graph_body, lvn, node, relu_graph, tensor
from tests.golden.make_golden import HERE as GOLDEN_DIR

ROOT = Path(__file__).resolve().parents[2]


def _attr_list(n: int, tag: int = T_NONE) -> bytes:
    """Attribute "k" (string 4 of relu_graph) = a list of n values of `tag` (None, or int 1)."""
    w = ByteWriter()
    w.varint(4)
    w.u8(T_LIST)
    w.varint(n)
    return bytes(w.out) + (bytes([tag]) if tag == T_NONE else bytes([tag, 2])) * n


def _chain(n_nodes: int, attrs: bytes = b"", n_attrs: int = 0, width: int = 1) -> bytes:
    """n_nodes Concat nodes, each of `width` copies of input x, with the same attributes."""
    strings = ["g", "Concat", "x", "k"] + [f"n{i}" for i in range(n_nodes)]
    tensors = [tensor(2, (1, 1))] + [tensor(4 + i, (1, width)) for i in range(n_nodes)]
    nodes = [node(4 + i, 1, [0] * width, 1 + i, attrs, n_attrs) for i in range(n_nodes)]
    return graph_body(strings, tensors, [0], [1], nodes)


def _records(n: int, elements: int, constant: bool) -> bytes:
    """n int8 tensor records named "w" of `elements` each, and nothing else (it never gets further)."""
    return plain(graph_body(["g", "w"], [tensor(1, (elements,), constant=constant)] * n, [], [], []))


def _header_only(sections: int) -> bytes:
    w = ByteWriter()
    w.raw(container.MAGIC + bytes(container.VERSION))
    w.varint(sections)
    return bytes(w.out)


def plain(body: bytes) -> bytes:
    return lvn(container.GRAPH, body)


# name -> (file bytes, the limit its error must name). The issue's cases first.
CASES = {
    "16M empty strings, deflated (16 KB)": (hostile.empty_strings, "inflate_ratio"),
    "16M Nones in an attribute list, deflated": (hostile.none_list, "inflate_ratio"),
    "65,535 distinct graph outputs": (hostile.many_outputs, "strings"),
    "65,535 outputs of one tensor": (lambda: plain(graph_body(["g", "x"], [tensor(1, (1,))], [0], [0] * 65_535, [])),
                                     "graph_outputs"),
    "72 bytes: a 128 MB activation": (hostile.big_activation, "tensor_elements"),
    "74 bytes: a 2 GB activation": (hostile.huge_activation, "tensor_elements"),
    # One per limit, each just over it.
    "sections": (lambda: _header_only(LIMITS.sections + 1), "sections"),
    "graph_bytes": (lambda: plain(graph_body([""], [], [], [], [], LIMITS.graph_bytes - 9)), "graph_bytes"),
    "strings": (lambda: plain(graph_body([""], [], [], [], [], LIMITS.strings)), "strings"),
    "string_bytes": (lambda: plain(graph_body(["g" * (LIMITS.string_bytes + 1)], [], [], [], [])), "string_bytes"),
    "tensors": (lambda: plain(graph_body(["g"], [tensor(0, (1,))] * (LIMITS.tensors + 1), [], [], [])), "tensors"),
    "graph_inputs": (lambda: plain(graph_body(["g"], [tensor(0, (1,))], [0] * (LIMITS.graph_inputs + 1), [], [])),
                     "graph_inputs"),
    "node_inputs": (lambda: plain(_chain(1, width=LIMITS.node_inputs + 1)), "node_inputs"),
    "edges": (lambda: plain(_chain(LIMITS.edges // 1000 + 1, width=1000)), "edges"),
    "attributes": (lambda: plain(relu_graph((1, 4), _attr_list(0) * (LIMITS.attributes + 1),
                                            LIMITS.attributes + 1)), "attributes"),
    "attribute_items": (lambda: plain(relu_graph((1, 4), _attr_list(LIMITS.attribute_items + 1), 1)),
                        "attribute_items"),
    "attribute_values": (lambda: plain(_chain(LIMITS.attribute_values // 200 + 1, _attr_list(199, T_INT), 1)),
                         "attribute_values"),
    "nodes": (lambda: plain(graph_body(["g"], [], [], [], [b""] * (LIMITS.nodes + 1))), "nodes"),
    "attribute_depth": (lambda: plain(relu_graph((1, 4), b"\x04" + bytes([T_LIST, 1]) * (LIMITS.attribute_depth + 1)
                                                 + bytes([T_NONE]), 1)), "attribute_depth"),
    "rank": (lambda: plain(relu_graph((1,) * (LIMITS.rank + 1))), "rank"),
    "activation_bytes": (lambda: _records(LIMITS.activation_bytes // LIMITS.tensor_elements + 1,
                                          LIMITS.tensor_elements, False), "activation_bytes"),
    "constant_elements": (lambda: _records(LIMITS.constant_elements // LIMITS.tensor_elements + 1,
                                           LIMITS.tensor_elements, True), "constant_elements"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("hostile")
    paths = {}
    for i, (name, (build, _)) in enumerate(CASES.items()):
        paths[name] = out / f"case{i}.lvn"
        paths[name].write_bytes(build())
    return paths


@pytest.mark.parametrize("name", list(CASES))
def test_each_hostile_file_fails_fast_naming_its_limit(name, files):
    limit = CASES[name][1]
    start = time.perf_counter()
    with pytest.raises(LevinFormatError, match=f"limit {limit} ") as err:
        container.read(files[name])
    assert time.perf_counter() - start < 2.0, name
    assert "\n" not in str(err.value)


def test_the_issue_cases_have_the_reported_sizes(files):
    assert files["16M empty strings, deflated (16 KB)"].stat().st_size < 20_000
    assert files["72 bytes: a 128 MB activation"].stat().st_size <= 72
    assert files["74 bytes: a 2 GB activation"].stat().st_size <= 74


def test_every_limit_has_a_hostile_file():
    named = {limit for _, limit in CASES.values()}
    # file_bytes: test_files_larger_than_the_limit_are_refused_unread below; alphabets and
    # codebooks: test_entropy_model.py, test_huffman.py and test_weights.py.
    assert {name for name, _, _ in LIMITS.table()} - named == {"file_bytes", "alphabet_symbols", "codebook_entries"}


def _peak_rss_growth(paths: list[Path]) -> dict:
    child = """
import json, resource, sys
from levin.coding import container
from levin.errors import LevinFormatError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
errors = []
for p in sys.argv[1:]:
    try:
        container.read(p)
    except LevinFormatError as e:
        errors.append(str(e))
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grown_kib": grown, "errors": errors}))
"""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", child, *map(str, paths)], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB, /dev/zero")
def test_the_big_declarations_allocate_nothing(files):
    """Peak RSS of a process reading them all (128 MB, 2 GB and 80 MB declared) grows < 32 MiB."""
    names = ["72 bytes: a 128 MB activation", "74 bytes: a 2 GB activation", "activation_bytes",
             "constant_elements", "16M empty strings, deflated (16 KB)", "16M Nones in an attribute list, deflated"]
    got = _peak_rss_growth([files[n] for n in names] + [Path("/dev/zero")])
    assert len(got["errors"]) == len(names) + 1
    assert got["grown_kib"] < 32 * 1024, got


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "pipe.lvn"
    os.mkfifo(fifo)
    for path, kind in ((Path("/dev/zero"), "character device"), (fifo, "pipe"), (tmp_path, "directory")):
        start = time.perf_counter()
        with pytest.raises(LevinFormatError, match=f"not a regular file \\(a {kind}\\)"):
            container.read(path)
        assert time.perf_counter() - start < 1.0
    with pytest.raises(LevinError, match="cannot read .*No such file"):
        container.read(tmp_path / "missing.lvn")


def test_files_larger_than_the_limit_are_refused_unread(tmp_path):
    big = tmp_path / "big.lvn"
    with open(big, "wb") as f:
        f.truncate(LIMITS.file_bytes + 1)           # sparse: no disk, no bytes read
    start = time.perf_counter()
    with pytest.raises(LevinFormatError, match="over the limit file_bytes"):
        container.read_bytes(big)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("name", ["16M empty strings, deflated (16 KB)", "65,535 outputs of one tensor",
                                  "72 bytes: a 128 MB activation", "74 bytes: a 2 GB activation"])
def test_levin_inspect_prints_one_line_and_exits_2(name, files, capsys):
    assert main(["inspect", str(files[name])]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("levin inspect: error: ")
    assert f"limit {CASES[name][1]} " in err


def test_levin_inspect_and_export_refuse_dev_zero_and_the_big_activation(files, tmp_path, capsys):
    assert main(["inspect", "/dev/zero"]) == 2
    assert capsys.readouterr().err == ("levin inspect: error: /dev/zero: not a regular file (a character "
                                       "device); give a .lvn file\n")
    start = time.perf_counter()
    assert main(["export", str(files["72 bytes: a 128 MB activation"]), "--c", str(tmp_path / "c")]) == 2
    assert time.perf_counter() - start < 2.0
    assert "over the limit tensor_elements" in capsys.readouterr().err


def test_valid_files_read_as_before():
    for path in sorted(GOLDEN_DIR.glob("*.lvn")):
        data = path.read_bytes()
        assert container.read_bytes(path) == data
        a, b = container.read(path), container.decode(data)
        assert list(a.tensors) == list(b.tensors) and [n.name for n in a.nodes] == [n.name for n in b.nodes]
        for name, t in a.tensors.items():
            assert t.shape == b.tensors[name].shape
            if t.is_constant:
                np.testing.assert_array_equal(t.data, b.tensors[name].data)


def test_a_graph_at_the_limits_is_still_read():
    """Just under the limits: 4,096 nodes (the node limit) in a chain, 1,024 graph outputs."""
    g = Graph("at_limits")
    y = g.add_input("x", (1, 8), np.int8, QuantParams(np.float32(0.5), 0))
    for i in range(LIMITS.nodes):
        y = g.add_node("ReLU", [y], f"relu{i}")
        if i >= LIMITS.nodes - LIMITS.graph_outputs:
            g.mark_output(y)
    start = time.perf_counter()
    back = container.decode(container.encode(g))
    assert time.perf_counter() - start < 2.0
    assert len(back.nodes) == LIMITS.nodes and back.outputs == g.outputs


def test_the_writer_refuses_what_the_reader_would():
    g = Graph("too_wide")
    for i in range(LIMITS.graph_inputs + 1):
        g.add_input(f"x{i}", (1,))
    with pytest.raises(LevinError, match="cannot be stored: graph_inputs = 1,025, over the limit"):
        container.encode(g)
    g = Graph("n" * (LIMITS.string_bytes + 1))
    with pytest.raises(LevinError, match="over the limit string_bytes"):
        graph_codec.encode_graph(g)


def test_check_activation_bytes_takes_a_device_ceiling():
    g = Graph("a")
    x = g.add_input("x", (1, 64, 64, 8), np.int8, QuantParams(np.float32(0.5), 0))
    g.add_node("ReLU", [x], "r")
    assert limits.check_activation_bytes(g) == 2 * 64 * 64 * 8
    assert limits.check_activation_bytes(g, ceiling=65_536) == 65_536
    with pytest.raises(LevinFormatError, match="activations need 65,536 bytes, more than the ceiling of 65,535"):
        limits.check_activation_bytes(g, ceiling=65_535)
    g = Graph("b")
    g.add_input("x", (1, LIMITS.tensor_elements + 1), np.int8, QuantParams(np.float32(0.5), 0))
    with pytest.raises(LevinFormatError, match="activation 'x'.*over the limit tensor_elements"):
        limits.check_activation_bytes(g)
