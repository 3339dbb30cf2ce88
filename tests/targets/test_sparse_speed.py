"""Sparse and coded weights on the Cortex-M4 under qemu (SIMD paths): bit-exact against the
numpy reference, and sparse weights that pay: at ~8% density fewer instructions than dense
int8 on the same weights, for the whole model and, on LeNet-5, for every conv and fully
connected layer (issue 20 items 2 and 3; figures in benchmarks/sparse_speed.py)."""

import numpy as np
import pytest

from levin.bench._graphs import int8_graph, weight_density
from levin.targets import cortexm

from levin import reference

try:
    cortexm.require_toolchain()
    cortexm.require_qemu()
except cortexm.ToolMissing as exc:
    pytest.skip(f"Cortex-M tests need the cross toolchain and qemu: {exc}", allow_module_level=True)
codegen = pytest.importorskip("levin.codegen", reason="the C code generator is not available")


def m4_run(graph, inputs, tmp_path, weight_format, prefer="flash", per_layer=False):
    """(results, firmware, export) of `graph` on the M4; every output checked against the reference."""
    export = codegen.export_c(graph, tmp_path / "c", weight_format=weight_format, prefer=prefer)
    fw = cortexm.model_firmware(export, inputs.reshape(len(inputs), -1), tmp_path / "m4", per_layer=per_layer)
    results = cortexm.run(fw, timeout=600)
    shape = (len(inputs),) + graph.tensors[graph.inputs[0]].shape[1:]
    want = reference.run(graph, inputs.reshape(shape))[graph.outputs[0]].reshape(len(inputs), -1)
    for k, (r, w) in enumerate(zip(results, want)):
        got = np.frombuffer(r.output, dtype=np.int8)
        assert r.status == 0, f"{weight_format}/{prefer}: model_run returned {r.status} on input {k}"
        bad = np.flatnonzero(got != w)
        assert bad.size == 0, f"{weight_format}/{prefer} input {k}: first mismatches at {bad[:5]}"
    return results, fw, export


def test_sparse_at_8_percent_runs_fewer_instructions_than_int8_on_digits_cnn(tmp_path):
    graph, inputs = int8_graph("digits_cnn", density=0.08, n_inputs=1, weight_bits=4)
    assert weight_density(graph) <= 0.10
    dense, fw_dense, _ = m4_run(graph, inputs, tmp_path / "int8", "int8")
    sparse, fw_sparse, export = m4_run(graph, inputs, tmp_path / "sparse", "sparse", prefer="speed")
    assert all(c.startswith("sparse:") for c in export.chains.values()), export.chains
    assert sparse[0].instructions < dense[0].instructions
    assert fw_sparse.code.rodata < fw_dense.code.rodata
    auto, _, _ = m4_run(graph, inputs, tmp_path / "auto", "auto", prefer="speed")
    assert auto[0].instructions < dense[0].instructions


def test_sparse_pays_per_layer_on_lenet5(tmp_path):
    """LeNet-5, 4-bit weights pruned to 8%: each conv and fully connected layer runs fewer
    instructions sparse (prefer="speed") than int8; the model about half."""
    graph, inputs = int8_graph("lenet5", density=0.08, n_inputs=1, weight_bits=4)
    dense, _, export = m4_run(graph, inputs, tmp_path / "int8", "int8", per_layer=True)
    sparse, _, _ = m4_run(graph, inputs, tmp_path / "sparse", "sparse", prefer="speed", per_layer=True)
    from levin.bench import _layers
    weighted = {k: d["name"] for k, d in _layers.describe(graph, export).items() if d["op"] in ("Conv2d", "Linear")}
    assert len(weighted) == 4
    for k, name in weighted.items():
        assert sparse[0].layers[k] < dense[0].layers[k], (name, sparse[0].layers[k], dense[0].layers[k])
    assert sparse[0].instructions < 0.6 * dense[0].instructions


@pytest.mark.parametrize("weight_format,prefer", [("packed", "flash"), ("codebook", "flash"), ("rans", "flash"),
                                                  ("sparse", "flash"), ("sparse", "speed"), ("auto", "speed")])
def test_every_coded_path_is_bit_exact_on_cortex_m4(weight_format, prefer, tmp_path):
    from tests.runtime.test_c_coded_paths import coded_paths
    graph, inputs = coded_paths()
    m4_run(graph, inputs, tmp_path, weight_format, prefer)
