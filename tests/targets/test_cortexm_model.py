"""Generated models on the Cortex-M4 under qemu: every weight format gives the numpy integer
reference's output codes bit for bit, and the sparse kernel earns its keep at low density."""

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


def m4_outputs(graph, inputs, fmt, tmp_path):
    export = codegen.export_c(graph, tmp_path / "c", weight_format=fmt)
    fw = cortexm.model_firmware(export, inputs, tmp_path / "m4")
    return cortexm.run(fw), fw, export


def reference_codes(graph, inputs):
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    out = reference.run(graph, inputs.reshape((len(inputs),) + shape))[graph.outputs[0]]
    return out.reshape(len(inputs), -1)


@pytest.fixture(scope="module")
def digits():
    return int8_graph("digits_cnn", n_inputs=3, weight_bits=4)


@pytest.mark.parametrize("fmt", ["int8", "packed", "codebook", "rans", "sparse"])
def test_every_format_is_bit_exact_on_cortex_m4(digits, fmt, tmp_path):
    graph, inputs = digits
    want = reference_codes(graph, inputs)
    results, fw, export = m4_outputs(graph, inputs, fmt, tmp_path)
    assert len(results) == len(inputs)
    for k, (r, w) in enumerate(zip(results, want)):
        got = np.frombuffer(r.output, dtype=np.int8)
        assert r.status == 0, f"levin_model_run returned {r.status} on input {k}"
        bad = np.flatnonzero(got != w)
        assert bad.size == 0, f"input {k}: first mismatches at {bad[:5]}: M4 {got[bad[:5]]}, reference {w[bad[:5]]}"
        assert r.instructions > 0 and 0 < r.stack_bytes < 4096
    # The weights are in the code's flash, the test inputs are not.
    assert fw.code.rodata >= export.weight_bytes - 64
    assert fw.image.rodata >= fw.code.rodata + inputs.size


def test_sparse_runs_fewer_instructions_than_dense_at_8_percent(tmp_path):
    graph, inputs = int8_graph("digits_cnn", density=0.08, n_inputs=1, weight_bits=4)
    assert weight_density(graph) <= 0.10
    dense, fw_dense, _ = m4_outputs(graph, inputs, "int8", tmp_path / "dense")
    sparse, fw_sparse, _ = m4_outputs(graph, inputs, "sparse", tmp_path / "sparse")
    assert dense[0].output == sparse[0].output
    assert sparse[0].instructions < dense[0].instructions
    assert fw_sparse.code.rodata < fw_dense.code.rodata
