"""Every core in levin.targets.cores builds and runs a model bit-exact under qemu, and its SysTick
arithmetic gives the exact instruction count (icount against the exact trace)."""

import numpy as np
import pytest

from levin.bench._graphs import int8_graph
from levin.errors import LevinError
from levin.targets import cores, cortexm

from levin import reference
from tests.conftest import require_cortex_m  # noqa: E402


@pytest.mark.parametrize("core", list(cores.CORES.values()), ids=list(cores.CORES))
def test_one_tick_is_a_whole_number_of_instructions(core):
    ns_per_tick = 1e9 / core.sysclk_hz
    assert ns_per_tick % (1 << core.icount_shift) == 0
    assert core.per_tick == int(core.per_tick) >= 1


def test_core_names_and_defaults():
    assert cores.get("m0+") is cores.get("cortex-m0plus") is cores.CORES["cortex-m0plus"]
    assert cores.DEFAULT == "cortex-m4" and cores.get("M4").machine == "mps2-an386"
    assert cortexm.CPU_FLAGS == ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft")
    assert cortexm.SYSCLK_HZ == 25_000_000 and cortexm.ICOUNT_SHIFT == 3
    # The M0+ runs on the M3's machine (no MPS2 M0+ image with this memory map), built as M0+.
    assert cores.get("m0+").machine == cores.get("m3").machine
    assert "-mcpu=cortex-m0plus" in cores.get("m0+").cpu_flags
    with pytest.raises(LevinError, match="unknown core 'm99'; known: cortex-m0plus"):
        cores.get("m99")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    require_cortex_m()
    codegen = pytest.importorskip("levin.codegen", reason="the C code generator is not available")
    graph, inputs = int8_graph("digits_cnn", n_inputs=2)
    export = codegen.export_c(graph, tmp_path_factory.mktemp("digits") / "c", weight_format="int8")
    want = reference.run(graph, inputs.reshape((2,) + graph.tensors[graph.inputs[0]].shape[1:]))
    return export, inputs, want[graph.outputs[0]].reshape(2, -1)


@pytest.mark.parametrize("core", list(cores.CORES))
def test_every_core_runs_bit_exact_with_exact_counts(digits, core, tmp_path):
    export, inputs, want = digits
    fw = cortexm.model_firmware(export, inputs, tmp_path, core=core)
    assert fw.core == core and fw.opt == "-Os"
    fast, exact = cortexm.run(fw), cortexm.run(fw, count="trace", timeout=300)
    per_tick = cores.get(core).per_tick
    for f, e, w in zip(fast, exact, want):
        assert f.status == 0 and np.array_equal(np.frombuffer(f.output, np.int8), w)
        assert f.output == e.output
        assert f.instructions % per_tick == 0
        # icount also holds the SysTick reads around the markers (~10), and a window of W
        # instructions spans W / per_tick ticks give or take one, whatever the phase.
        assert -per_tick < f.instructions - e.instructions < 10 + per_tick, (f.instructions, e.instructions)


def test_the_optimisation_level_reaches_the_code_under_test(digits, tmp_path):
    export, inputs, _ = digits
    small = cortexm.model_firmware(export, inputs[:1], tmp_path / "os")
    fast = cortexm.model_firmware(export, inputs[:1], tmp_path / "o2", opt="-O2")
    assert fast.opt == "-O2" and fast.code.text > small.code.text  # -O2 inlines and unrolls
    with pytest.raises(LevinError, match="unknown optimisation level '-O3'"):
        cortexm.model_firmware(export, inputs[:1], tmp_path / "o3", opt="-O3")
