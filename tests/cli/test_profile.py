import json
import shlex

import pytest

from levin.analyze import devices
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
    assert err == ("levin profile: error: unknown device 'esp32'; known devices: cortex-m4, cortex-m7, "
                   "cortex-m0plus, cortex-m3, cortex-m33, accelerator, or a board.yaml file\n")


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


def test_float_help_examples_run(capsys, tmp_path, monkeypatch):
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


# --- integer models: the C build, measured ------------------------------------------------------

def needs_qemu():
    from tests.conftest import require_cortex_m

    require_cortex_m()


@pytest.fixture(scope="module")
def lvn(tmp_path_factory):
    from levin.bench._graphs import int8_graph
    from levin.coding import container

    graph, _ = int8_graph("digits_cnn", n_inputs=1)
    path = tmp_path_factory.mktemp("lvn") / "model.lvn"
    container.write(graph, path)
    return path


def test_c_help_examples_run(capsys, tmp_path, monkeypatch, lvn):
    """Every integer-model example of `levin profile --help`, with the board file it documents."""
    needs_qemu()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.lvn").write_bytes(lvn.read_bytes())
    (tmp_path / "board.yaml").write_text(devices.BOARD_YAML)
    commands = [line.strip() for line in profile_cmd.C_EXAMPLES.splitlines()
                if line.strip().startswith("levin ")]
    assert len(commands) == 3
    outs = [levin(capsys, *shlex.split(command)[1:]) for command in commands]
    assert all(code == 0 for code, _, _ in outs)
    # No device: the measured build and the cycle estimate, no time, energy or verdict.
    _, out, err = outs[0]
    assert err == "" and out.startswith("model.lvn: C build (`levin export`, --format auto")
    for layer in ("conv1", "pool1", "conv2", "pool2", "flatten", "fc"):
        assert f"\n{layer} " in out
    assert "Conv2d+relu1" in out and "flash" in out and "stack (high-water mark)" in out
    assert "ESTIMATE (not measured)" in out and "est. ms" not in out and "verdict:" not in out
    # --json -: JSON alone on stdout, the report on stderr.
    _, out, err = outs[1]
    data = json.loads(out)
    assert "verdict: fits" in err and "est. uJ" in err
    assert data["model"] == "model.lvn" and data["exact"] and data["fit"]["fits"]
    assert data["fit"]["sram_needed"] == data["ram"] == (data["arena"] + data["stack"] + data["data"]
                                                         + data["bss"])
    assert data["flash"] == data["weight_bytes"] + data["code_bytes"]
    assert sum(layer["weight_bytes"] for layer in data["layers"]) == data["weight_bytes"]
    assert data["ms_estimate"] == pytest.approx(1e3 * data["cycles_estimate"] / 80e6)
    assert data["energy_uj_estimate"] == pytest.approx(data["ms_estimate"] * 26)   # 26 mW x ms = uJ
    assert "ms_estimate" in data["estimated"] and data["device"]["name"] == "cortex-m4"
    # A board of one's own.
    _, out, _ = outs[2]
    assert "device my-board: cortex-m4 @ 64 MHz, 128 KB SRAM, 512 KB flash (board.yaml)" in out
    assert "at 12.5 mW active (active_mw in board.yaml)" in out


def test_does_not_fit_counts_the_stack_and_exits_3(capsys, tmp_path, lvn):
    needs_qemu()
    board = tmp_path / "small.yaml"
    # 1,056 B of activations fit in 1.25 KB; with the stack the int8 build needs ~1.5 KB.
    board.write_text("core: cortex-m0plus\nclock_mhz: 16\nsram_kb: 1.25\nflash_kb: 64\nactive_mw: 3\n")
    code, out, err = levin(capsys, "profile", str(lvn), "--device", str(board), "--format", "int8",
                           "--json", str(tmp_path / "p.json"))
    data = json.loads((tmp_path / "p.json").read_text())
    assert code == 3 and err == ""
    assert data["arena"] <= 1280 < data["ram"] and data["core"] == "cortex-m0plus"
    assert "RAM" in out and "DOES NOT FIT, over by" in out and "verdict: does not fit" in out


@pytest.mark.parametrize("argv, message", [
    (["model.lvn", "--model", "lenet5"], "give the model once"),
    ([], "which model? `levin profile model.lvn`"),
    (["LVN", "--device", "accelerator"], "device accelerator has no Cortex-M core"),
    (["LVN", "--input-shape", "1,8,8"], "a model file carries its weights and input shape"),
    (["LVN", "--format", "zip"], "--format 'zip' is not one of int8, packed"),
    (["LVN", "--device", "BOARD"], "unknown core 'cortex-m99'; known cores: cortex-m0plus"),
])
def test_bad_integer_profile_input_is_one_line_exit_2(capsys, tmp_path, lvn, argv, message):
    board = tmp_path / "b.yaml"
    board.write_text("core: cortex-m99\nclock_mhz: 16\nsram_kb: 1\nflash_kb: 64\nactive_mw: 3\n")
    argv = [str(lvn) if a == "LVN" else str(board) if a == "BOARD" else a for a in argv]
    code, out, err = levin(capsys, "profile", *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_docs_board_file_is_the_one_in_the_help():
    """docs/profile.md shows the board file `levin profile --help` documents, and it parses."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "profile.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert block == devices.BOARD_YAML and block in profile_cmd.BOARD_HELP
    assert devices.parse_board(__import__("yaml").safe_load(block), "board.yaml").core == "cortex-m4"
    for name, d in devices.DEVICES.items():           # the devices table lists every built-in one
        assert f"| {name} |" in doc


def test_an_int8_tflite_is_profiled_as_its_c_build(capsys, tmp_path, monkeypatch):
    """The docs' .tflite example, on the MLPerf Tiny KWS model and the Cortex-M7."""
    import shutil

    from tests.conftest import shared_data

    needs_qemu()
    monkeypatch.chdir(tmp_path)
    shutil.copy(shared_data("models/mlperf_tiny") / "keyword_spotting/kws_ref_model.tflite", tmp_path)
    code, out, err = levin(capsys, "profile", "kws_ref_model.tflite", "--device", "cortex-m7", "--json", "-")
    data = json.loads(out)
    assert code == 0 and data["exact"] and data["core"] == "cortex-m7" and data["fit"]["fits"]
    assert len(data["layers"]) == 13 and data["weight_bytes"] > 20_000     # DS-CNN: 5 conv pairs, pool, fc, softmax
    assert "device cortex-m7: Arm Cortex-M7 @ 480 MHz" in err


def test_without_the_toolchain_an_integer_model_is_one_line_exit_2(capsys, lvn, monkeypatch):
    from levin.targets import cortexm

    def missing(name):
        raise cortexm.ToolMissing(f"{name} not found; {cortexm.DEBIAN_HINT}")

    monkeypatch.setattr(cortexm, "_tool", missing)
    code, out, err = levin(capsys, "profile", str(lvn), "--device", "cortex-m4")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "is an integer model: levin profiles its C build, compiled for cortex-m4" in err
    assert "arm-none-eabi-gcc not found; install the Debian packages gcc-arm-none-eabi" in err
