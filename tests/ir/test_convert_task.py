"""`levin convert --task`: the int8 model and the one written (after --kmeans / --prune) scored
on the user's data in the task's metric: the MLPerf Tiny anomaly model by ROC AUC (issue 19)."""

import json

import numpy as np
import pytest

pytest.importorskip("tflite")

from levin.cli.main import main  # noqa: E402
from levin.data.synthetic import machine_sounds  # noqa: E402
from tests.ir.test_tflite import model_path  # noqa: E402


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    d = machine_sounds(train=40, test_normal=30, test_anomalous=30)      # 5 x 128 = ad01's input
    path = tmp_path_factory.mktemp("ad") / "frames.npz"
    np.savez(path, x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    return path


def test_the_anomaly_model_is_scored_by_auc_before_and_after_kmeans(frames, tmp_path, capsys):
    src = model_path("ad01")
    assert main(["convert", str(src), "-o", str(tmp_path / "ad.lvn"), "--kmeans", "16",
                 "--data", str(frames), "--task", "anomaly", "--json", "-"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    assert scores["samples"] == 60
    assert scores["int8"]["metric"] == scores["written"]["metric"] == "AUC"
    assert 0 <= scores["written"]["value"] <= 1 and scores["int8"]["value"] != scores["written"]["value"]


def test_task_without_data_is_refused(tmp_path, capsys):
    assert main(["convert", str(model_path("ad01")), "-o", str(tmp_path / "ad.lvn"), "--task", "anomaly"]) == 2
    assert "--task scores on the test split" in capsys.readouterr().err
