import json
import shlex

import numpy as np
import pytest

from levin.cli import quantize as cli_quantize
from levin.cli.main import build_parser, main
from levin.coding import container
from levin import reference
from levin.train import checkpoint
from levin.train.loop import FINAL
from tests.quant.digits import trained_digits


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A checkpoint directory as `levin train` leaves it, of the session's trained digits CNN."""
    out = tmp_path_factory.mktemp("digits")
    model, meta = trained_digits()
    checkpoint.save(out / FINAL, meta, model)
    return out


def test_quantize_prints_the_table_and_saves_the_graph(digits_run, tmp_path, capsys):
    out, js = tmp_path / "q", tmp_path / "r.json"
    assert main(["quantize", "--model", str(digits_run), "--out", str(out), "--json", str(js),
                 "--calibration-size", "200", "--quiet"]) == 0
    text = capsys.readouterr().out
    for line in ("float", "fake-quant", "integer reference", "same argmax on", "LSB"):
        assert line in text
    result = json.loads(js.read_text())
    assert result["agreement"]["argmax_match"] >= 0.999 and result["agreement"]["max_lsb"] <= 1
    assert result["integer_accuracy"] >= result["float_accuracy"] - 0.01
    g = container.read(out / "model.lvn")                # what export / inspect / convert read
    assert json.loads((out / "result.json").read_text())["integer_accuracy"] == result["integer_accuracy"]
    from levin.train import data as datasets
    x = datasets.load("digits").x_test.transpose(0, 2, 3, 1)
    codes = reference.run(g, reference.quantize_input(g, x))[g.outputs[0]]
    assert np.isclose((codes.argmax(1) == datasets.load("digits").y_test).mean(), result["integer_accuracy"])


def test_help_examples_parse_and_the_digits_one_runs(capsys):
    parser = build_parser()
    lines = [ln.strip() for ln in cli_quantize.EXAMPLES.splitlines() if ln.strip().startswith("levin ")]
    assert len(lines) >= 3
    for line in lines:
        args = parser.parse_args(shlex.split(line)[1:])
        assert args.command == "quantize"
    digits = next(ln for ln in lines if "digits_cnn" in ln)
    assert main(shlex.split(digits)[1:]) == 0
    assert "untrained zoo model" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--bits", "9"], "weight_bits must be an integer in 2..8"),
    (["--test-size", "0"], "--test-size must be >= 1"),
    (["--max-drop", "-1"], "max_drop must be in"),
])
def test_bad_arguments_exit_2(capsys, args, message):
    assert main(["quantize", "--model", "digits_cnn"] + args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_round_biases_reports_the_steps_and_writes_a_no_larger_file(digits_run, tmp_path, capsys):
    exact, rounded = tmp_path / "exact", tmp_path / "rounded"
    common = ["quantize", "--model", str(digits_run), "--calibration-size", "200", "--per-tensor", "--quiet"]
    assert main(common + ["--out", str(exact)]) == 0
    assert main(common + ["--out", str(rounded), "--round-biases", "--json", str(tmp_path / "r.json")]) == 0
    assert "biases rounded (output steps:" in capsys.readouterr().out
    info = json.loads((tmp_path / "r.json").read_text())["biases"]
    assert info["scored_on"] == "validation split" and info["rounded"] >= info["exact"]
    assert (rounded / "model.lvn").stat().st_size <= (exact / "model.lvn").stat().st_size
