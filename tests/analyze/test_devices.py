import numpy as np
import pytest
import torch

from levin import zoo
from levin.analyze import devices
from levin.analyze.devices import DEVICES, MAC_PJ, Fit, estimate
from levin.analyze.profile import profile
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams

KB, MB = 1024, 1024 * 1024


def zoo_profile(name):
    return profile(capture(zoo.create(name), torch.randn(1, *zoo.spec(name).input_shape)))


@pytest.fixture(scope="module")
def lenet5():
    return zoo_profile("lenet5")


def test_the_required_devices():
    m4, m7, acc = DEVICES["cortex-m4"], DEVICES["cortex-m7"], DEVICES["accelerator"]
    assert (m4.clock_hz, m4.sram_bytes, m4.flash_bytes) == (80e6, 256 * KB, 1 * MB)
    assert (m7.clock_hz, m7.sram_bytes, m7.flash_bytes) == (480e6, 512 * KB, 2 * MB)
    assert acc.weight_memory == "DRAM" and acc.weight_access_pj == 640.0
    assert acc.macs_per_cycle["int8"] >= 1000            # massively parallel
    assert devices.SRAM_PJ == 5.0 and MAC_PJ == {"float32": 3.7 + 0.9, "int8": 0.2 + 0.1}


def test_every_cortex_m_device_names_its_core_and_active_power():
    from levin.targets import cores

    cortex = {name: d for name, d in DEVICES.items() if d.core}
    assert set(cortex) == set(cores.CORES)          # one built-in board per core levin builds for
    for name, d in cortex.items():
        assert d.core == name and 0.001 < d.active_power_w < 1 and "MHz" in d.power_source, name
        assert d.description.startswith("Arm Cortex-M") and f"{d.clock_hz / 1e6:g} MHz" in d.description
    assert DEVICES["accelerator"].core is None and DEVICES["accelerator"].active_power_w is None


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(LevinError, match="unknown device 'esp32'; known devices: cortex-m4, cortex-m7, "
                                         "cortex-m0plus, cortex-m3, cortex-m33, accelerator, or a board.yaml"):
        devices.get("esp32")


def test_the_documented_board_file_parses(tmp_path, lenet5):
    path = tmp_path / "board.yaml"
    path.write_text(devices.BOARD_YAML)
    board = devices.get(str(path))
    assert (board.name, board.core, board.clock_hz) == ("my-board", "cortex-m4", 64e6)
    assert (board.sram_bytes, board.flash_bytes, board.active_power_w) == (128 * KB, 512 * KB, 0.0125)
    m4 = DEVICES["cortex-m4"]                    # float models: the cost model of the same core
    assert board.macs_per_cycle == m4.macs_per_cycle and board.reuse == m4.reuse
    assert "board.yaml" in board.power_source
    slower = estimate(lenet5, board).latency_s / estimate(lenet5, m4).latency_s
    assert 1.2 < slower < 1.3                    # the M4's cost model at 64 instead of 80 MHz
    path.write_text("core: M0+\nclock_mhz: 16\nsram_kb: 2.5\nflash_kb: 32\nactive_mw: 3\n")
    small = devices.load_board(path)
    assert (small.name, small.core, small.sram_bytes) == ("board", "cortex-m0plus", 2560)   # core alias


@pytest.mark.parametrize("text, message", [
    ("core: cortex-m4\nclock_mhz: 64\nsram_kb: 128\nflash_kb: 512\n",
     "b.yaml: missing field 'active_mw' (a board needs core, clock_mhz, sram_kb, flash_kb, active_mw)"),
    ("core: cortex-m4\nclock_mhz: fast\nsram_kb: 128\nflash_kb: 512\nactive_mw: 5\n",
     "b.yaml: clock_mhz must be a positive number, got 'fast'"),
    ("core: cortex-m4\nclock_mhz: 64\nsram_kb: -1\nflash_kb: 512\nactive_mw: 5\n",
     "b.yaml: sram_kb must be a positive number, got -1"),
    ("core: cortex-m4\nclock_mhz: 64\nsram_kb: true\nflash_kb: 512\nactive_mw: 5\n",
     "b.yaml: sram_kb must be a positive number, got True"),
    ("core: 4\nclock_mhz: 64\nsram_kb: 1\nflash_kb: 512\nactive_mw: 5\n",
     "b.yaml: core must be a non-empty string, got 4"),
    ("core: esp32\nclock_mhz: 64\nsram_kb: 1\nflash_kb: 512\nactive_mw: 5\n",
     "b.yaml: unknown core 'esp32'; known cores: cortex-m0plus, cortex-m3, cortex-m4, cortex-m7, cortex-m33"),
    ("core: cortex-m4\nclock_mhz: 64\nsram_kb: 1\nflash_kb: 512\nactive_mw: 5\nram_kb: 3\n",
     "b.yaml: unknown field 'ram_kb'; a board has core, clock_mhz, sram_kb, flash_kb, active_mw, name, description"),
    ("- core\n", "b.yaml: expected a mapping of core, clock_mhz, sram_kb, flash_kb, active_mw, got list"),
    ("core: [cortex-m4\n", "b.yaml: not valid YAML (line 2, column 1)"),
])
def test_bad_board_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "b.yaml"
    path.write_text(text)
    with pytest.raises(LevinError) as info:
        devices.get(str(path))
    assert str(info.value) == message.replace("b.yaml", str(path), 1) and "\n" not in str(info.value)


def test_a_missing_board_file_is_one_line(tmp_path):
    with pytest.raises(LevinError, match="cannot read .*nope.yaml: No such file"):
        devices.get(str(tmp_path / "nope.yaml"))


def test_fit_verdict_and_margins(lenet5):
    est = estimate(lenet5, DEVICES["cortex-m4"])
    fit = est.fit
    assert (fit.sram_needed, fit.flash_needed) == (lenet5.arena_bytes, lenet5.flash_bytes)
    assert fit.sram_margin == 256 * KB - lenet5.arena_bytes > 0
    assert fit.flash_margin == 1 * MB - lenet5.flash_bytes < 0     # 1.7 MB of float32 weights
    assert not fit.fits and estimate(lenet5, DEVICES["cortex-m7"]).fit.fits
    assert Fit(10, 10, 5, 5).fits and not Fit(11, 10, 5, 5).fits
    assert estimate(zoo_profile("digits_cnn"), DEVICES["cortex-m4"]).fit.to_dict()["fits"] is True


def test_estimates_per_layer(lenet5):
    m4, m7 = estimate(lenet5, DEVICES["cortex-m4"]), estimate(lenet5, DEVICES["cortex-m7"])
    assert len(m4.layers) == len(lenet5.layers)
    assert m7.latency_s < m4.latency_s / 5                # 6x clock, 2x per-cycle throughput
    conv2 = next(e for e, l in zip(m4.layers, lenet5.layers) if l.name == "conv2")
    # float32 on the M4 at 0.25 MAC/cycle: 1.6 M MACs take 6.4 M cycles (+ bias adds, overhead).
    assert 6.4e6 < conv2.cycles < 6.5e6
    assert conv2.compute_pj == pytest.approx(1_600_000 * 4.6 + 3_200 * 0.9)
    flatten = next(e for e, l in zip(m4.layers, lenet5.layers) if l.op == "Reshape")
    assert flatten.sram_bytes_moved == flatten.compute_pj == flatten.memory_pj == 0
    assert est_total(m4) == pytest.approx(m4.energy_pj)


def est_total(est):
    return sum(e.compute_pj + e.memory_pj for e in est.layers)


def test_data_movement_dominates_for_int8_and_dram():
    g = Graph("int8 mlp")
    x = g.add_input("x", (1, 256), np.int8, QuantParams(0.1, 0))
    q = QuantParams(np.ones(256), np.zeros(256), axis=0)
    w = g.add_constant("w", np.zeros((256, 256), np.int8), q)
    g.mark_output(g.add_node("Linear", [x, w], "fc"))
    result = profile(g)
    for name in DEVICES:
        est = estimate(result, DEVICES[name])
        assert est.memory_pj > 2 * est.compute_pj, name
    acc = estimate(result, DEVICES["accelerator"])
    assert acc.layers[0].weight_bytes_moved == result.weight_bytes       # DRAM once
    assert acc.to_dict()["estimated"] is True and acc.to_dict()["device"]["weight_memory"] == "DRAM"
