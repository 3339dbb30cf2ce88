"""levin.targets.levin_cost: a .lvn's bits plus log2 of the Cortex-M4 instructions its C build
runs, with the smallest and the fastest weight codings, both checked bit-exact."""

import math

import pytest

from tests.conftest import require_cortex_m


def test_a_pruned_4_bit_model_costs_its_bits_plus_log2_instructions(tmp_path):
    require_cortex_m()
    import numpy as np

    from levin.bench._graphs import int8_graph
    from levin.coding import container
    from levin.targets.levin_cost import measured_cost

    graph, _ = int8_graph("digits_cnn", n_inputs=1, weight_bits=4)
    for name in ("conv2.weight", "fc.weight"):          # sparse enough that codings differ in speed
        w = graph.tensors[name].data
        graph.tensors[name].data = np.where(np.abs(w) < np.quantile(np.abs(w), 0.8), 0, w).astype(w.dtype)
    path = tmp_path / "m.lvn"
    container.write(graph, path)
    m = measured_cost(path, tmp_path / "work")
    assert m.file_bits == 8 * path.stat().st_size and m.core == "cortex-m4"
    assert m.cost == pytest.approx(m.file_bits + math.log2(m.flash_instructions))
    assert m.flash_weight_bytes <= m.speed_weight_bytes         # the smallest coding is no bigger
    assert m.speed_instructions <= m.flash_instructions * 1.05  # and the fastest (nearly) no slower
    assert m.to_dict()["decode_price"] == pytest.approx(m.flash_instructions / m.speed_instructions)
