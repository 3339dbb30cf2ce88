"""Bad input on the command line: one line on stderr, exit 2, nothing written (issue 16, items 5-6).
Each case is checked before any long work starts, so none of them trains anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from levin.cli.main import main
from levin.fileio import write_atomic

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "golden.lvn"
RECIPES = {
    "type.yaml": "name: x\nsteps:\n  - prune: {sparsity: high}\n",
    "dup.yaml": "name: x\nsteps:\n  - prune: {sparsity: 0.5, sparsity: 0.9}\n",
    "list.yaml": "name: x\nsteps:\n  - prune: {sparsity: 0.5}\n    finetune: {epochs: [1]}\n",
    "broken.yaml": "name: x\nsteps: [\n",
}
COMPRESS = ["compress", "--model", "digits_cnn", "--out", "{tmp}/out"]


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "digits_cnn", "--threads", "0", "--out", "{tmp}/out"], "--threads: expected a positive integer"),
    (["train", "--model", "digits_cnn", "--threads", "-1", "--out", "{tmp}/out"], "got '-1'"),
    ([*COMPRESS, "--recipe", "digits", "--threads", "-1"], "--threads: expected a positive integer"),
    ([*COMPRESS, "--recipe", "digits", "--verify-samples", "0"], "--verify-samples: expected a positive"),
    ([*COMPRESS, "--recipe", "digits", "--verify-samples", "-1"], "--verify-samples: expected a positive"),
    ([*COMPRESS, "--recipe", "digits", "--device", "esp32"], "--device: invalid choice: 'esp32'"),
    ([*COMPRESS, "--recipe", "digits", "--format", "zip"], "--format: invalid choice: 'zip'"),
    ([*COMPRESS, "--recipe", "{tmp}/type.yaml"], "sparsity: expected a number, got 'high' (str)"),
    ([*COMPRESS, "--recipe", "{tmp}/dup.yaml"], "line 3, column 28: duplicate key 'sparsity'"),
    ([*COMPRESS, "--recipe", "{tmp}/list.yaml"], "epochs: expected an integer, got [1]"),
    ([*COMPRESS, "--recipe", "{tmp}/broken.yaml"], "not valid YAML (line 3"),
    (["profile", "--model", "lenet5", "--input-shape", "1,100000,100000"], "more than levin takes"),
    (["profile", "--model", "lenet5", "--input-shape", "1,-2,3"], "positive integers"),
    (["export", str(GOLDEN), "--c", "{tmp}/afile"], "exists and is not a folder"),
    (["export", str(GOLDEN), "--c", "/proc/levin-no/such"], "cannot write the C sources to /proc/levin-no/such"),
    (["bogus-command"], "invalid choice: 'bogus-command'"),
    # issue 21 item 4: every argument is checked before any work
    ([*COMPRESS[:-2], "--recipe", "digits", "--out", "{tmp}/afile/sub"],
     "--out: cannot write to {tmp}/afile/sub: {tmp}/afile is not a folder"),
    ([*COMPRESS, "--recipe", "digits", "--json", "{tmp}/afile/s.json"], "--json: cannot write to {tmp}/afile"),
    ([*COMPRESS, "--recipe", "digits", "--json", "{tmp}"], "--json: cannot write {tmp}: it is a folder"),
    ([*COMPRESS, "--recipe", "digits", "--data", "x.npz", "--dataset", "digits"], "give --data (your own) or"),
    ([*COMPRESS, "--recipe", "digits", "--dataset", "imagenet"], "--dataset: invalid choice: 'imagenet'"),
    ([*COMPRESS, "--recipe", "digits", "--validation", "1.5"], "--validation: expected a share between 0"),
    ([*COMPRESS, "--recipe", "digits", "--split-seed", "-1"], "--split-seed: expected an integer >= 0"),
    ([*COMPRESS, "--recipe", "digits", "--layout", "hwcn"], "--layout: invalid choice: 'hwcn'"),
    ([*COMPRESS, "--recipe", "{tmp}/missing.yaml"], "no recipe file {tmp}/missing.yaml"),
    (["train", "--model", "digits_cnn", "--distill-alpha", "0.5", "--out", "{tmp}/out"], "--distill-alpha needs --teacher"),
    (["train", "--model", "digits_cnn", "--epochs", "0", "--out", "{tmp}/out"], "--epochs: expected a positive"),
    (["train", "--model", "digits_cnn", "--seed", "-3", "--out", "{tmp}/out"], "--seed: expected an integer >= 0"),
    (["train", "--model", "digits_cnn", "--weight-decay", "-1", "--out", "{tmp}/out"], "--weight-decay: expected a number"),
    (["train", "--model", "digits_cnn", "--json", "{tmp}/afile/s.json", "--out", "{tmp}/out"], "--json: cannot write"),
    (["quantize", "--model", "digits_cnn", "-o", "{tmp}/afile/q"], "--out: cannot write to {tmp}/afile/q"),
    (["quantize", "--model", "digits_cnn", "--percentile", "99.9"], "--percentile is for --observer percentile"),
    (["quantize", "--model", "digits_cnn", "--calibration-size", "0"], "--calibration-size: expected a positive"),
    (["quantize", "--model", "digits_cnn", "--json", "{tmp}/afile/q.json"], "--json: cannot write"),
    (["convert", str(GOLDEN), "-o", "{tmp}/afile/x.tflite"], "output: cannot write to {tmp}/afile"),
    (["convert", str(GOLDEN), "-o", "{tmp}/x.lvn", "--kmeans", "1"], "--kmeans: expected an integer in 2..256"),
    (["convert", str(GOLDEN), "-o", "{tmp}/x.lvn", "--kmeans", "300"], "--kmeans: expected an integer in 2..256"),
    (["convert", str(GOLDEN), "-o", "{tmp}/x.lvn", "--prune", "1"], "--prune: expected a share in [0, 1)"),
    (["convert", str(GOLDEN), "-o", "{tmp}/x.tflite", "--data", "x.npy", "--dataset", "digits"], "give --data"),
    (["convert", str(GOLDEN), "-o", "{tmp}/x.zip"], "unknown suffix '.zip'"),
    (["convert", str(GOLDEN), "-o", "{tmp}/x.tflite", "--json", "{tmp}/afile/c.json"], "--json: cannot write"),
    (["inspect", str(GOLDEN), "--json", "{tmp}/afile/i.json"], "--json: cannot write to {tmp}/afile"),
    (["demo", "--out", "{tmp}/afile/demo"], "--out: cannot write to {tmp}/afile/demo"),
    (["demo", "-o", "{tmp}/demo", "--json", "{tmp}/afile/d.json"], "--json: cannot write"),
])
def test_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch, args, message):
    _no_work(monkeypatch)
    for name, text in RECIPES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "afile").write_text("")
    before = sorted(p.name for p in tmp_path.iterdir())
    code = _exit_code([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message.format(tmp=tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before          # nothing written
    assert (tmp_path / "afile").read_text() == ""


def _no_work(monkeypatch) -> None:
    """Make the first step of any work fail loudly: a check that comes too late shows up as this
    error instead of its own message."""
    def work(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    for target in ("levin.models.load_model", "levin.models.load_graph", "levin.cli.convert.load_input",
                   "levin.compressor.api.compress", "levin.train.loop.train"):
        monkeypatch.setattr(target, work)


@pytest.mark.parametrize("command", [["compress", "--model", "digits_cnn", "--recipe", "digits", "-o", "{tmp}/c"],
                                     ["demo", "-o", "{tmp}/d"]])
def test_no_c_compiler_is_found_before_any_work(tmp_path, capsys, monkeypatch, command):
    _no_work(monkeypatch)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _exit_code([a.format(tmp=tmp_path) for a in command]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("no C compiler found (cc, gcc or $CC): install gcc, or pass --no-c"), err
    assert list(tmp_path.iterdir()) == []


def _exit_code(argv: list[str]) -> int:
    """main's status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_ctrl_c_outside_training_is_one_line_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("levin.cli.export.export_c", interrupted)
    assert main(["export", str(GOLDEN), "--c", str(tmp_path / "c")]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "levin export: interrupted; rerun the same command to resume"


def test_write_atomic_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "model.lvn"
    write_atomic(target, b"old")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("levin.fileio.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new bytes")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.lvn"]


def test_export_into_existing_folder_still_works(tmp_path, capsys):
    shutil.copy(GOLDEN, tmp_path / "m.lvn")
    (tmp_path / "c").mkdir()
    assert main(["export", str(tmp_path / "m.lvn"), "--c", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "model.c").is_file()


# ---- a CLI scripts can trust (issue 21, item 4) ---------------------------------------------------

def _stdout_is_json(capsys) -> dict:
    import json

    out = capsys.readouterr().out
    return json.loads(out)                  # nothing but JSON on stdout


@pytest.mark.parametrize("argv", [
    ["profile", "--model", "digits_cnn", "--json", "-"],
    ["profile", "--model", "lenet5", "--device", "cortex-m4", "--json", "-"],
    ["inspect", str(GOLDEN), "--json", "-"],
    ["export", str(GOLDEN), "--c", "{tmp}/c", "--json", "-"],
    ["train", "--model", "digits_cnn", "--epochs", "1", "--quiet", "--out", "{tmp}/run", "--json", "-"],
    ["quantize", "--model", "digits_cnn", "--test-size", "50", "--calibration-size", "50", "--quiet",
     "-o", "{tmp}/q", "--json", "-"],
    ["convert", str(GOLDEN), "-o", "{tmp}/golden2.lvn", "--json", "-"],
    ["compress", "--model", "digits_cnn", "--recipe", "{tmp}/quick.yaml", "--no-c", "--no-report", "--quiet",
     "-o", "{tmp}/c", "--json", "-"],
    ["demo", "-o", "{tmp}/demo", "--quiet", "--json", "-"],
])
def test_json_dash_writes_only_json_to_stdout(tmp_path, capsys, argv, quick_digits):
    (tmp_path / "quick.yaml").write_text(QUICK_RECIPE)
    code = _exit_code([a.format(tmp=tmp_path) for a in argv])
    assert code in (0, 3)
    assert isinstance(_stdout_is_json(capsys), dict)


QUICK_RECIPE = "name: quick\nsteps:\n  - prune: {sparsity: 0.5}\n    finetune: {epochs: 1}\n"


@pytest.fixture
def quick_digits(monkeypatch):
    """A 2-epoch baseline for the untrained digits CNN (its preset trains longer)."""
    import dataclasses

    from levin import zoo

    spec = zoo.spec("digits_cnn")
    quick = dataclasses.replace(spec, train=spec.train.with_(epochs=2))
    monkeypatch.setattr(zoo, "spec", lambda name: quick if name == "digits_cnn" else spec)


def test_profile_exit_status_says_whether_it_fits(capsys):
    assert main(["profile", "--model", "lenet5", "--device", "cortex-m4"]) == 3      # 1.7 MB of fp32 weights
    assert "does not fit" in capsys.readouterr().out
    assert main(["profile", "--model", "digits_cnn", "--device", "cortex-m4"]) == 0


def test_verification_failure_exits_4_in_one_line(capsys, monkeypatch):
    from levin.errors import VerificationError

    def mismatch(*args, **kwargs):
        raise VerificationError("output 0 element 3: C 12, reference 13")

    monkeypatch.setattr("levin.cli.export.export_c", mismatch)
    assert main(["export", str(GOLDEN), "--c", "/tmp/levin-never-written"]) == 4
    assert capsys.readouterr().err.strip() == ("levin export: verification failed: output 0 element 3: "
                                               "C 12, reference 13")


def test_version_is_fast_and_help_lists_exit_codes():
    import subprocess
    import sys
    import time

    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "levin.cli.main", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("levin ")
    assert time.perf_counter() - start < 2.0          # no torch import (was 2.4-6.7 s)
    help_text = subprocess.run([sys.executable, "-m", "levin.cli.main", "--help"], capture_output=True,
                               text=True).stdout
    assert "exit status:" in help_text and "4    verification failed" in help_text
