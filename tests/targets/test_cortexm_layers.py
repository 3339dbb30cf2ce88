"""Per-layer instruction counts on Cortex-M: opt-in, one count per node, summing to the total,
and agreeing with the exact per-layer counts of the execution log (levin.targets.estimate)."""

import pytest

from levin.bench._graphs import int8_graph
from levin.targets import cores, cortexm, estimate

try:
    cortexm.require_toolchain()
    cortexm.require_qemu()
except cortexm.ToolMissing as exc:
    pytest.skip(f"Cortex-M tests need the cross toolchain and qemu: {exc}", allow_module_level=True)
codegen = pytest.importorskip("levin.codegen", reason="the C code generator is not available")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    graph, inputs = int8_graph("digits_cnn", n_inputs=1)
    export = codegen.export_c(graph, tmp_path_factory.mktemp("digits") / "c", weight_format="int8")
    return export, inputs


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m33"])
def test_per_layer_counts_sum_to_the_total(digits, core, tmp_path):
    export, inputs = digits
    nodes = cortexm.layer_nodes(export)
    assert list(nodes) == sorted(nodes) and "" not in nodes.values()
    plain = cortexm.run(cortexm.model_firmware(export, inputs, tmp_path / "plain", core=core))[0]
    fw = cortexm.model_firmware(export, inputs, tmp_path / "layers", core=core, per_layer=True)
    (r,) = cortexm.run(fw)
    per_tick = cores.get(core).per_tick
    assert plain.layers == () and len(r.layers) == max(nodes) + 1
    assert all(r.layers[k] > 0 or nodes[k] == "flatten" for k in nodes)  # a reshape is only the hook
    # What follows the last node (the 10-byte output copy, the return) is in the total only.
    assert 0 <= r.instructions - sum(r.layers) <= 100 + per_tick
    # The hook: 2-4 instructions a node; each total is within a tick of its true window.
    extra = r.instructions - plain.instructions
    assert 2 * len(nodes) - 2 * per_tick < extra < 4 * len(nodes) + 2 * per_tick, extra


def test_icount_layers_agree_with_the_exact_log(digits, tmp_path):
    export, inputs = digits
    fw = cortexm.model_firmware(export, inputs, tmp_path, per_layer=True)
    (counted,), (exact,) = cortexm.run(fw), estimate.estimate(fw)
    assert set(exact.layers) == set(cortexm.layer_nodes(export))
    for k, layer in exact.layers.items():
        # A reading is a SysTick tick (5 instructions) and sits a few instructions before the label
        # (1-2 with the C kernels; up to 4 where the compiler schedules the hook's call around the
        # kernels' inline assembly).
        assert abs(counted.layers[k] - layer["instructions"]) <= 5 + 4, k
    in_layers = sum(v["instructions"] for v in exact.layers.values())
    assert in_layers + exact.rest["instructions"] == exact.instructions
