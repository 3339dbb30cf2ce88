"""Generated weights in C: the runtime regenerates them bit-exact (host, and Cortex-M4 under qemu),
one output channel at a time, and the model's outputs equal the numpy integer reference's."""

import numpy as np
import pytest

from levin import codegen, ops, reference
from levin.bench._graphs import int8_graph
from levin.coding import container, generated as G
from levin.targets import build, cortexm


@pytest.fixture(scope="module")
def lvn(tmp_path_factory):
    """digits_cnn (conv, conv, fully connected) with every weight tensor generated: blocks that
    straddle output channels (7), a dead zone, and blocks longer than a channel (200)."""
    graph, inputs = int8_graph("digits_cnn", n_inputs=4)
    rng = np.random.default_rng(0)
    bodies = {}
    shapes = iter([(24, 5, 0), (7, 9, 4), (200, 3, 0)])
    for node in graph.nodes:
        if ops.get(node.op).weighted:
            t = graph.tensors[node.inputs[1]]
            block, bits, zero = next(shapes)
            code = G.GeneratedCode(t.size, 11 + len(bodies), block, bits, 16 * 18, zero,
                                   rng.integers(0, 1 << bits, -(-t.size // block)))
            t.data = code.codes().reshape(t.shape)
            bodies[t.name] = code.body()
    path = tmp_path_factory.mktemp("gen") / "model.lvn"
    path.write_bytes(container.encode(graph, bodies=bodies))
    return path, inputs, bodies


def _want(path, inputs):
    g = container.read(path)
    shape = g.tensors[g.inputs[0]].shape[1:]
    return reference.run(g, inputs.reshape((len(inputs),) + shape))[g.outputs[0]].reshape(len(inputs), -1)


def test_host_is_bit_exact(lvn, tmp_path):
    path, inputs, bodies = lvn
    exp = codegen.export_c(path, tmp_path / "c", weight_format="auto", prefer="flash")
    assert set(exp.chains.values()) == {"generated:B24xC5", "generated:B7xC9", "generated:B200xC3"}
    # the flash holds the indices only (no table: the reader builds it)
    assert exp.weight_bytes < sum(len(b) for b in bodies.values()) + 1024
    out, _ = build.run_harness(build.build_harness(exp, sanitize=build.compiler() is not None and
                                                   build.sanitize_requested()), inputs, exp.output_size)
    assert build.compare(out, _want(path, inputs)) is None


def test_cortex_m4_is_bit_exact(lvn, tmp_path):
    try:
        cortexm.require_toolchain()
        cortexm.require_qemu()
    except cortexm.ToolMissing as exc:
        pytest.skip(f"needs the Cortex-M toolchain and qemu: {exc}")
    path, inputs, _ = lvn
    exp = codegen.export_c(path, tmp_path / "c", weight_format="auto", prefer="flash")
    results = cortexm.run(cortexm.model_firmware(exp, inputs[:2], tmp_path / "m4"))
    want = _want(path, inputs[:2])
    for r, w in zip(results, want):
        assert r.status == 0
        assert build.compare(np.frombuffer(r.output, np.int8), w) is None
        assert 0 < r.stack_bytes < 4096


@pytest.mark.parametrize("field, value", [(1, 0), (2, 0), (3, 129)])    # block 0, sigma 0, zero > 128
def test_a_corrupt_generator_header_is_an_error_not_a_crash(lvn, tmp_path, field, value):
    """The C reader checks the 16-byte header (seed, block, sigma16, zero) before it decodes."""
    import re

    from levin.errors import LevinError

    if build.compiler() is None:
        pytest.skip("no C compiler")
    path, inputs, _ = lvn
    exp = codegen.export_c(path, tmp_path / "c", weight_format="auto", prefer="flash")
    model_c = next(p for p in (tmp_path / "c").glob("*.c") if "_data[" in p.read_text())
    text = model_c.read_text()
    m = re.search(r"(_data\[\d+\] = \{)([^}]*)\}", text)
    values = [int(v) for v in m.group(2).replace("\n", " ").split(",") if v.strip()]
    values[4 * field:4 * field + 4] = list(value.to_bytes(4, "little"))
    model_c.write_text(text[:m.start(2)] + ", ".join(map(str, values)) + text[m.end(2):])
    with pytest.raises(LevinError, match="corrupt weight stream"):
        build.run_harness(build.build_harness(exp), inputs[:1], exp.output_size)
