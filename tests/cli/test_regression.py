"""Regression from the command line: numeric targets from a CSV and a .npz, trained, quantized
and compressed on MSE; sources that hold classes are refused in one line."""

import json

import numpy as np
import pytest

from levin.cli.main import main

MODEL = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, {outputs}))
    net.input_shape = (4,)
    return net
"""


@pytest.fixture
def sensors(tmp_path):
    """A CSV of four sensor readings and a temperature that depends on them (plus noise)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = 2 * x[:, 0] - x[:, 1] * x[:, 2] + 0.1 * rng.normal(size=400)
    rows = ["a,b,c,d,temperature"] + [",".join(f"{v:.5f}" for v in (*xi, yi)) for xi, yi in zip(x, y)]
    (tmp_path / "sensors.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "one.py").write_text(MODEL.format(outputs=1))
    (tmp_path / "two.py").write_text(MODEL.format(outputs=2))
    np.savez(tmp_path / "two.npz", x=x, y=np.stack([y, -y], 1).astype(np.float32))
    (tmp_path / "prune.yaml").write_text("finetune: {epochs: 3, batch_size: 32, optimizer: adam, lr: 0.003, "
                                         "weight_decay: 0}\nsteps:\n  - prune: {sparsity: 0.5, schedule: agp}\n")
    return tmp_path


def test_csv_regression_trains_quantizes_and_compresses(sensors, capsys):
    model, data = f"{sensors / 'one.py'}:build", ["--data", str(sensors / "sensors.csv"), "--label-column",
                                                  "temperature", "--task", "regression"]
    assert main(["train", "--model", model, *data, "--epochs", "30", "--batch-size", "32", "--optimizer", "adam",
                 "--lr", "0.01", "--weight-decay", "0", "-o", str(sensors / "t"), "--quiet", "--json", "-"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["metric"] == "MSE" and trained["test_accuracy"] < 1.0    # the target's variance is ~5
    assert main(["quantize", "--model", model, "--weights", str(sensors / "t"), *data, "--json", "-"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["metric"] == "MSE" and q["scores"]["integer"]["value"] < 1.5 * q["scores"]["float"]["value"] + 0.05
    assert main(["compress", "--model", model, "--weights", str(sensors / "t"), *data, "--recipe",
                 str(sensors / "prune.yaml"), "-o", str(sensors / "c"), "--no-report", "--quiet", "--json", "-"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert (c["metric"], c["steps_metric"], c["higher_is_better"]) == ("MSE", "MSE", False)
    assert c["runtime"]["bit_exact"] and c["integer_accuracy"] < 1.5


def test_npz_with_two_targets_per_sample(sensors, capsys):
    assert main(["quantize", "--model", f"{sensors / 'two.py'}:build", "--data", str(sensors / "two.npz"),
                 "--task", "regression", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["metric"] == "MSE"
    assert "targets of 2 value(s)" in captured.err


@pytest.mark.parametrize("data, message", [
    (["--dataset", "digits"], "has class labels"),
    (["--data", "{dir}"], "regression targets come from"),
    (["--data", "{dir}/words.csv", "--label-column", "t"], "must be numbers"),
])
def test_sources_without_numeric_targets_are_refused(sensors, capsys, data, message):
    (sensors / "words.csv").write_text("a,b,c,d,t\n1,2,3,4,hot\n1,2,3,4,cold\n")
    data = [d.format(dir=sensors) for d in data]
    assert main(["quantize", "--model", f"{sensors / 'one.py'}:build", *data, "--task", "regression"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
