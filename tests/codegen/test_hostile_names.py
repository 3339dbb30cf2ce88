"""Names in a .lvn file are untrusted: whatever they hold, the generated C is the same code as for
plain names (only comments differ) and compiles under the strict flags."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from levin.coding import container
from levin.errors import LevinError
from levin.config import QuantConfig
from levin.ir.graph import Graph
from levin.quant import ptq
from levin.targets import build

from levin import codegen

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")

HOSTILE = 'x */ int pwned = system("id"); /* \n#include "/etc/passwd"\n\\\n??/ \' " //'


def _graph(name: str, node_prefix: str) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph(name)
    x = g.add_input("x", (1, 4, 4, 2))
    y = g.add_node("Conv2d", [x, g.add_constant(node_prefix + "w", rng.normal(0, .3, (3, 3, 3, 2)).astype(np.float32))],
                   node_prefix + "conv", padding=1)
    y = g.add_node("ReLU", [y], node_prefix + "relu")
    g.mark_output(g.add_node("Reshape", [y], node_prefix + "flat", shape=(1, -1)))
    x_cal = rng.uniform(-1, 1, (8, 2, 4, 4)).astype(np.float32)
    return ptq.build_integer_graph(g, ptq.prepare(g, x_cal, QuantConfig()))


def _preprocessed(c_file, include_dir) -> str:
    """The code the compiler sees: comments gone, no line markers."""
    return subprocess.run([build.compiler(), "-E", "-P", "-std=c99", f"-I{include_dir}", str(c_file)],
                          check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("via_lvn", [False, True])
def test_hostile_names_change_only_comments(tmp_path, via_lvn):
    outs = {}
    for label, (name, prefix) in {"plain": ("g", "n"), "hostile": (HOSTILE, HOSTILE)}.items():
        graph = _graph(name, prefix)
        if via_lvn:
            path = tmp_path / f"{label}.lvn"
            path.write_bytes(container.encode(graph))
            graph = path
        outs[label] = codegen.export_c(graph, tmp_path / label, weight_format="int8")
        text = (tmp_path / label / "model.c").read_text() + (tmp_path / label / "model.h").read_text()
        assert "*/ int pwned" not in text and "#include \"/etc" not in text
    for f in ("model.c", "model.h"):
        assert (_preprocessed(tmp_path / "hostile" / f, tmp_path / "hostile")
                == _preprocessed(tmp_path / "plain" / f, tmp_path / "plain"))
    build.compile_objects(outs["hostile"], flags=("-O2", "-Werror"))


def test_comment_text_keeps_ordinary_names():
    assert codegen.comment_text("features.0/conv:1") == "features.0/conv:1"
    assert "*" not in codegen.comment_text("a*/b/*c")
    assert len(codegen.comment_text("n" * 500)) == 80


def test_verify_catches_a_flipped_weight_byte(tmp_path):
    """The harness runs model_verify first: a weight byte changed in flash (here: in
    model.c) is LEVIN_ERR_CORRUPT (exit status 2), where the reader alone may decode it."""
    graph = _graph("g", "n")
    result = codegen.export_c(graph, tmp_path / "c", weight_format="packed")
    x = np.zeros((1,) + graph.tensors[graph.inputs[0]].shape[1:], np.int8)
    build.run_harness(build.build_harness(result), x, result.output_size)      # intact: runs
    source = (tmp_path / "c" / "model.c").read_text()
    start = source.index("n0_data[")
    first = source.index("{", start) + 1
    value = int(source[first:source.index(",", first)].strip())
    (tmp_path / "c" / "model.c").write_text(source[:first] + f"\n    {value ^ 1}" + source[source.index(",", first):])
    with pytest.raises(LevinError, match="exited with 2: weights: corrupt weight stream"):
        build.run_harness(build.build_harness(result), x, result.output_size)
