"""levin.targets.c_check: the generated C of a .lvn against the integer reference, image for image,
on the host and on the Cortex-M4; a model whose C differs is counted, not hidden."""

import numpy as np

from levin.bench._graphs import int8_graph
from levin.coding import container
from levin.targets.c_check import c_check
from tests.conftest import require_cortex_m


def test_every_image_matches_on_the_host_and_the_m4(tmp_path):
    require_cortex_m()
    graph, _ = int8_graph("digits_cnn", n_inputs=1)
    path = tmp_path / "m.lvn"
    container.write(graph, path)
    x = np.random.default_rng(0).uniform(0, 1, (5, 1, 8, 8)).astype(np.float32)   # as the dataset holds them
    d = c_check(path, graph, x, tmp_path / "work", 2)
    assert (d["host_images"], d["host_bit_exact"]) == (5, 5)
    assert (d["m4_images"], d["m4_bit_exact"]) == (2, 2) and d["m4_instructions"] > 0


def test_a_reference_that_disagrees_is_counted(tmp_path):
    graph, _ = int8_graph("digits_cnn", n_inputs=1)
    path = tmp_path / "m.lvn"
    container.write(graph, path)
    other = graph.with_constants({"fc.bias": graph.tensors["fc.bias"].data + (1 << 20)})
    x = np.random.default_rng(1).uniform(0, 1, (4, 1, 8, 8)).astype(np.float32)
    d = c_check(path, other, x, tmp_path / "work", 0)
    assert d["host_images"] == 4 and d["host_bit_exact"] < 4 and "m4_images" not in d
