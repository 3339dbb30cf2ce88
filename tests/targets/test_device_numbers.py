"""levin.targets.device_numbers: the measured C build of an integer model (bytes, stack,
instructions per layer and in total) and the estimates derived from it for a device."""

import numpy as np
import pytest

from levin.targets import device_numbers as dn
from levin.analyze.devices import DEVICES, DeviceProfile
from levin.analyze.memory import ArenaPlan, Placement
from tests.conftest import require_cortex_m  # noqa: E402


def numbers(**kw):
    base = dict(source="m.lvn", core="cortex-m4", weight_format="auto", prefer="balanced", chains={},
                text=9000, rodata=3000, data=8, bss=24, weight_bytes=2500, arena=1500, activation=1200,
                scratch=300, stack=700, instructions=100_000, instructions_per_input=[100_000],
                exact=True, cycles=160_000.0)
    return dn.DeviceNumbers(**{**base, **kw})


def test_flash_ram_fit_and_estimates_add_up():
    n, m4 = numbers(), DEVICES["cortex-m4"]
    assert (n.flash, n.code_bytes, n.ram) == (12_008, 9_508, 1500 + 8 + 24 + 700)
    fit = n.fit(m4)
    assert (fit.sram_needed, fit.flash_needed, fit.fits) == (n.ram, n.flash, True)
    assert n.seconds(m4) == pytest.approx(160_000 / 80e6) and n.joules(m4) == pytest.approx(2e-3 * 0.026)
    assert n.seconds(m4, 8e4) == pytest.approx(1e-3)
    tiny = DeviceProfile(**{**m4.__dict__, "name": "tiny", "sram_bytes": 2_000, "active_power_w": None})
    assert not n.fit(tiny).fits                # 1,532 B of arena and data fit, the stack does not
    assert n.joules(tiny) is None and numbers(cycles=None).seconds(m4) is None
    d = n.to_dict(m4)
    assert d["fit"]["fits"] and d["ms_estimate"] == pytest.approx(2.0) and d["device"]["core"] == "cortex-m4"
    assert {"cycles_estimate", "ms_estimate", "energy_uj_estimate"} <= set(d["estimated"])
    assert "device" not in n.to_dict() and "export" not in d


def test_live_extent_is_the_top_of_the_tensors_live_at_a_step():
    plan = ArenaPlan(96, 16, {"x": Placement(0, 64, -1, 0), "a": Placement(64, 32, 0, 1),
                              "b": Placement(0, 16, 1, 2)})
    assert [dn._live_extent(plan, k) for k in range(4)] == [96, 96, 16, 0]


def test_random_inputs_are_seeded_int8_rows():
    from levin.bench._graphs import int8_graph

    graph, _ = int8_graph("digits_cnn", n_inputs=1)
    x = dn.random_inputs(graph, 3)
    assert x.shape == (3, 64) and x.dtype == np.int8
    assert np.array_equal(x[:1], dn.random_inputs(graph, 1))   # input 0 is the same for any n


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    require_cortex_m()
    from levin.bench._graphs import int8_graph

    graph, inputs = int8_graph("digits_cnn", n_inputs=2, weight_bits=4)
    return graph, dn.measure(graph, tmp_path_factory.mktemp("dn"), inputs, weight_format="rans",
                             per_layer=True, cycles=True)


def test_measure_a_model_on_the_m4(measured):
    graph, n = measured
    assert n.exact and len(n.instructions_per_input) == 2 and n.core == "cortex-m4"
    assert n.flash == n.text + n.rodata + n.data and n.code_bytes > 5_000     # runtime + rANS decoder
    assert n.arena == n.export.arena_bytes and 0 < n.scratch < n.arena and 200 < n.stack < 4_000
    # Per layer: the C code's nodes (the ReLUs run inside their convs), the bytes of each node's
    # arrays in the ELF adding up to the export's weight bytes.
    assert [(l.name, l.op, l.fused) for l in n.layers][:2] == [("conv1", "Conv2d", "relu1"),
                                                               ("pool1", "MaxPool2d", "")]
    assert sum(l.weight_bytes for l in n.layers) == n.weight_bytes
    assert max(l.scratch_bytes for l in n.layers) == n.scratch
    assert max(l.activation_bytes for l in n.layers) == n.activation
    flatten = next(l for l in n.layers if l.op == "Reshape")
    assert flatten.weight_bytes == flatten.macs == 0 and flatten.instructions <= 5   # the hook only
    # The per-layer build adds 2-4 hook instructions per node, and the window's few around them.
    layered = sum(l.instructions for l in n.layers) + n.rest["instructions"]
    assert 0 <= layered - n.instructions_per_input[0] <= 5 * len(n.layers) + 10
    # Cycles are an estimate: at least one cycle per instruction on the M4's timing table.
    assert n.cycles >= layered and all(l.cycles >= l.instructions for l in n.layers)
    assert n.cycles == pytest.approx(sum(l.cycles for l in n.layers) + n.rest["cycles"])


def test_a_lvn_file_measures_as_its_graph(measured, tmp_path):
    from levin.coding import container

    graph, n = measured
    path = tmp_path / "m.lvn"
    container.write(graph, path)
    again = dn.measure(path, tmp_path / "w", dn.random_inputs(graph, 1), weight_format="rans")
    assert again.exact and again.source == str(path) and again.layers == [] and again.cycles is None
    assert (again.flash, again.weight_bytes, again.arena) == (n.flash, n.weight_bytes, n.arena)
