"""The peer runners: TFLite Micro's arena report is captured and parsed; one benchmark row."""

import numpy as np
import pytest

pytest.importorskip("tflite_micro")
pytest.importorskip("ai_edge_litert")

from levin.ir import tflite_run  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402
from tests.ir.test_tflite import model_path  # noqa: E402


def test_tflm_arena_is_reported():
    data = model_path("resnet8").read_bytes()
    arena = tflite_run.tflm_arena(data, np.zeros((32, 32, 3), np.int8))
    assert arena.total == arena.head + arena.tail
    assert arena.head >= 2 * 32 * 32 * 16            # two 32x32x16 int8 maps live at once


def test_benchmark_row_on_the_autoencoder():
    from levin.bench import vs_tflm

    row = vs_tflm.model_row("ad01", model_path("ad01"), 4, 2, SHARED_DATA)
    assert row["exact_vs_tflm"] == row["export_exact_in_tflm"] == 4
    assert row["exact_vs_litert_ref_single_round"] == 4
    assert row["levin_ram"] <= row["levin_arena_unstreamed"] <= row["tflm_arena_head"]
    assert row["ram_ratio"] == row["levin_ram"] / row["tflm_arena_total"] < 0.6
    assert row["c_flash_int8"] is None or row["c_flash_int8"] > row["lvn_weight_bytes"]
    assert row["tflite_bytes"] == model_path("ad01").stat().st_size
    assert row["c_exact"] in ("4/4", None)       # all 4 inputs bit-exact; None: no C compiler here


@pytest.mark.parametrize("runner", [tflite_run.tflm_interpreter, tflite_run.litert_interpreter])
def test_corrupt_model_is_refused_before_the_peer_sees_it(runner):
    from levin.errors import LevinFormatError
    from levin.ir.tflite_fuzz import sample_files

    with pytest.raises(LevinFormatError, match="model: not a valid .tflite"):
        runner(sample_files()[0][:300])
