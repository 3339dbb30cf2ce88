import json
import shlex

import pytest

from levin.analyze.memory import ArenaPlan
from levin.cli import profile as profile_cmd
from levin.cli.main import main


def levin(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_prints_layers_and_totals(capsys):
    code, out, err = levin(capsys, "profile", "--model", "lenet5")
    assert code == 0 and err == ""
    for layer in ("conv1", "relu1", "pool1", "conv2", "flatten", "fc1", "fc2"):
        assert f"\n{layer} " in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert "431,080" in total and "2,293,000" in total and "1,724,320" in total
    assert "peak SRAM (activation arena): 57,600 B" in out
    assert "code (estimate)" in out and "est." not in out        # no device, no estimates


def test_device_adds_verdict_and_labelled_estimates(capsys):
    code, out, _ = levin(capsys, "profile", "--model", "lenet5", "--device", "cortex-m4")
    assert code == 3                    # does not fit: exit status 3 (it was 0, issue 21)
    assert "device cortex-m4: Arm Cortex-M4F @ 80 MHz" in out
    assert "SRAM" in out and "fits, margin 204,544 B" in out          # 256 KB - 57,600 B
    assert "DOES NOT FIT, over by" in out and "verdict: does not fit" in out
    assert "ESTIMATES (cost model, not measured)" in out and "data movement" in out
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    assert "est. us" in header and "est. nJ" in header


def test_json_output(capsys, tmp_path):
    path = tmp_path / "p.json"
    code, _, _ = levin(capsys, "profile", "--model", "dscnn", "--device", "accelerator",
                       "--json", str(path))
    assert code == 0
    data = json.loads(path.read_text())
    assert data["model"] == "dscnn" and data["totals"]["params"] == 23_756 - 9 * 2 * 64   # 9 BatchNorms folded away
    plan = ArenaPlan.from_dict(data["arena_plan"])
    assert plan.arena_bytes == data["totals"]["arena_bytes"]
    assert data["device"]["fit"]["fits"] is True and data["device"]["estimated"] is True
    assert len(data["device"]["layers"]) == len(data["layers"])


def test_unknown_device_is_one_line_exit_2(capsys):
    code, out, err = levin(capsys, "profile", "--model", "lenet5", "--device", "esp32")
    assert code == 2 and out == ""
    assert err == ("levin profile: error: unknown device 'esp32'; known devices: "
                   "cortex-m4, cortex-m7, accelerator\n")


MODEL_FILE = """
import torch
from torch import nn

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = ACT
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.act(self.conv(x))), 1))

def build():
    return Tiny()

def build_with_shape():
    m = Tiny()
    m.input_shape = (3, 10, 10)
    return m
"""


@pytest.fixture
def model_file(tmp_path):
    def write(act="nn.ReLU()"):
        path = tmp_path / "tiny.py"
        path.write_text(MODEL_FILE.replace("ACT", act))
        return path
    return write


def test_factory_models_need_an_input_shape(capsys, model_file):
    path = model_file()
    code, _, err = levin(capsys, "profile", "--model", f"{path}:build")
    assert code == 2 and "--input-shape C,H,W" in err and err.count("\n") == 1
    code, out, _ = levin(capsys, "profile", "--model", f"{path}:build", "--input-shape", "3,8,8")
    assert code == 0 and "input x: 8x8x3; shapes per sample, HxWxC (NHWC)" in out and "6x6x4" in out
    code, out, _ = levin(capsys, "profile", "--model", f"{path}:build_with_shape")
    assert code == 0 and "input x: 10x10x3;" in out


def test_bad_shapes_and_unsupported_ops_are_one_line_errors(capsys, model_file):
    path = model_file("nn.Mish()")
    code, _, err = levin(capsys, "profile", "--model", f"{path}:build", "--input-shape", "3,8,8")
    assert code == 2 and err.startswith("levin profile: error: unsupported op nn.Mish at module 'act'")
    assert err.count("\n") == 1
    path = model_file()
    code, _, err = levin(capsys, "profile", "--model", f"{path}:build", "--input-shape", "3,x")
    assert code == 2 and "expected positive integers like 1,28,28" in err
    code, _, err = levin(capsys, "profile", "--model", f"{path}:build", "--input-shape", "1,8,8")
    assert code == 2 and "does not run on an input of shape 1x1x8x8" in err


def test_help_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = [line.strip() for line in profile_cmd.EXAMPLES.splitlines()
                if line.strip().startswith("levin ")]
    assert len(commands) == 2
    for command in commands:
        code, out, _ = levin(capsys, *shlex.split(command)[1:])
        assert code == 0 and "peak SRAM" in out
    assert json.loads((tmp_path / "resnet8-profile.json").read_text())["device"]["device"]["name"] == "cortex-m4"


def test_profile_a_checkpoint_directory(capsys, tmp_path):
    import torch

    from levin import zoo
    from levin.train import checkpoint
    from levin.train.loop import FINAL

    model = zoo.create("digits_cnn")
    with torch.no_grad():
        model.fc.weight.zero_()
    checkpoint.save(tmp_path / FINAL, {"model": "digits_cnn"}, model)
    code, out, _ = levin(capsys, "profile", "--model", str(tmp_path))
    assert code == 0 and out.startswith("digits_cnn: 8 layers; input x: 8x8x1;")
