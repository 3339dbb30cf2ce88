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
])
def test_one_line_exit_2_nothing_written(tmp_path, capsys, args, message):
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
