"""--input-scale: the data multiplied for a model trained on another range, recorded in the split."""

import json

import numpy as np
import pytest

from levin.cli.main import main

MODEL = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3))
    net.input_shape = (4,)
    return net
"""


def test_input_scale_is_applied_and_recorded(tmp_path, capsys):
    (tmp_path / "m.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.uniform(0, 1, (60, 4)).astype(np.float32), y=rng.integers(0, 3, 60))
    args = ["quantize", "--model", f"{tmp_path / 'm.py'}:build", "--data", str(tmp_path / "d.npz"), "--json", "-"]
    assert main(args + ["--input-scale", "255"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split"]["input_scale"] == 255.0
    with pytest.raises(SystemExit) as exit_:                 # a usage error: argparse's exit 2
        main(args + ["--input-scale", "0"])
    assert exit_.value.code == 2 and "expected a positive number" in capsys.readouterr().err
