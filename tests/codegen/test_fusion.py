"""A ReLU that only clamps runs inside its producer's C kernel (`levin.codegen.fusion`)."""

from __future__ import annotations

import numpy as np
import pytest

from levin.codegen.fusion import fuse_activations
from levin.config import QuantConfig
from levin.ir.graph import Graph
from levin.quant import ptq
from levin import reference
from tests.runtime.test_c_models import check_bit_exact


def _integer(g: Graph) -> tuple[Graph, np.ndarray]:
    x = np.random.default_rng(0).uniform(-1, 1, (6, 6, 6, 3)).astype(np.float32)   # NHWC
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    return ig, reference.quantize_input(ig, x)


def _conv_relu(relu="ReLU", second_reader=False) -> Graph:
    rng = np.random.default_rng(1)
    g = Graph("fuse")
    t = g.add_input("x", (1, 6, 6, 3))
    c = g.add_node("Conv2d", [t, g.add_constant("w", rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32))], "c",
                   padding=1)
    r = g.add_node(relu, [c], "r")
    if second_reader:  # the conv's own output is read again: the ReLU must stay a node
        r = g.add_node("Add", [r, c], "sum")
    g.mark_output(g.add_node("Linear", [g.add_node("Reshape", [r], "flat", shape=(1, -1)),
                                        g.add_constant("fc.w", rng.normal(0, 0.3, (5, 144)).astype(np.float32))], "fc"))
    return g


@pytest.mark.parametrize("relu", ["ReLU", "ReLU6"])
def test_relu_after_conv_fuses_and_stays_bit_exact(relu, tmp_path):
    ig, inputs = _integer(_conv_relu(relu))
    fused, ranges = fuse_activations(ig)
    assert [n.op for n in fused.nodes] == ["Conv2d", "Reshape", "Linear"]
    zp = int(ig.tensors["r"].quant.zero_point[0])
    assert set(ranges) == {"c"} and ranges["c"][0] == max(zp, -128)    # the code of 0.0
    result = check_bit_exact(ig, inputs, tmp_path, "int8")
    assert "levin_rescale_s8" not in (result.out_dir / "model.c").read_text()


def test_relu_stays_a_node_when_the_conv_output_has_another_reader():
    ig, _ = _integer(_conv_relu(second_reader=True))
    fused, ranges = fuse_activations(ig)
    assert fused is ig and ranges == {}
