"""A model with two heads: quantized whole, each head scored by its own task (`--score-output K`);
`levin train`, which would have no target for the other head, refuses it in one line
(compressing one: tests/compressor/test_multi_output.py)."""

import json

import numpy as np
import pytest

from levin.cli.main import main
from levin.coding import container

MODEL = """
import torch
from torch import nn

class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU())
        self.cls = nn.Linear(32, 3)
        self.reg = nn.Linear(32, 2)

    def forward(self, x):
        h = self.body(x)
        return self.cls(h), self.reg(h)

def build():
    torch.manual_seed(0)
    net = TwoHeads()
    net.input_shape = (16,)
    return net
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "two.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    np.savez(tmp_path / "classes.npz", x=x, y=(x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1))
    np.savez(tmp_path / "values.npz", x=x, y=x[:, :2].copy())
    return tmp_path


def test_each_head_is_scored_by_its_own_task_and_both_are_kept(files, capsys):
    model = f"{files / 'two.py'}:build"
    assert main(["quantize", "--model", model, "--data", str(files / "classes.npz"), "-o", str(files / "q"),
                 "--json", "-"]) == 0
    captured = capsys.readouterr()
    cls = json.loads(captured.out)
    assert cls["metric"] == "top-1 accuracy" and cls["scored_output"] == {"index": 0, "name": "cls",
                                                                          "outputs": ["cls", "reg"]}
    assert "scored on output 0 (cls) of 2" in captured.err
    assert container.read(files / "q" / "model.lvn").outputs == ["cls", "reg"]
    assert main(["quantize", "--model", model, "--data", str(files / "values.npz"), "--task", "regression",
                 "--score-output", "1", "--json", "-"]) == 0
    reg = json.loads(capsys.readouterr().out)
    assert reg["metric"] == "MSE" and reg["scored_output"]["name"] == "reg"


@pytest.mark.parametrize("argv, message", [
    (["quantize", "--data", "classes.npz", "--score-output", "2"], "output 2 asked for, but the model returns 2"),
    (["train", "--data", "classes.npz", "-o", "t"], "returns 2 outputs; levin trains"),
    (["compress", "--data", "classes.npz", "--recipe", "digits", "-o", "c", "--score-output", "5"],
     "output 5 asked for, but the model returns 2"),
])
def test_what_cannot_take_two_heads_says_so(files, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)
    assert main([argv[0], "--model", "two.py:build", *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
