"""`levin inspect`: per-tensor bytes that add up to the file, JSON, one-line errors."""

import json
import shlex

import pytest

from levin.cli import inspect as inspect_cmd
from levin.cli.main import main
from tests.golden.make_golden import HERE, golden_graph

GOLDEN = HERE / "golden.lvn"


def test_prints_every_tensor_and_totals_that_add_up(capsys):
    assert main(["inspect", str(GOLDEN)]) == 0
    out = capsys.readouterr().out
    for name, t in golden_graph().tensors.items():
        if t.is_constant:
            assert f"\n{name} " in out
    size = GOLDEN.stat().st_size
    assert f"{size:,} bytes" in out
    summary = out.split("\n\n", 1)[1].splitlines()  # the lines below the table
    figures = {line.rsplit(None, 2)[0]: int(line.rsplit(None, 2)[1].replace(",", ""))
               for line in summary if line.endswith(" B")}
    assert "header (magic, version, section count, CRC)" in figures
    assert sum(figures.values()) == size


def test_json_has_the_same_figures(tmp_path, capsys):
    target = tmp_path / "bytes.json"
    assert main(["inspect", str(GOLDEN), "--json", str(target)]) == 0
    data = json.loads(target.read_text())
    assert data["file_bytes"] == GOLDEN.stat().st_size
    assert data["header_bytes"] + sum(data["graph_bytes"].values()) + data["tensor_bytes"] == data["file_bytes"]
    assert {t["name"] for t in data["tensors"]} == {n for n, t in golden_graph().tensors.items() if t.is_constant}
    for t in data["tensors"]:
        assert t["bytes"] == t["meta_bytes"] + t["data_bytes"] and t["entropy_bytes"] >= 0


@pytest.mark.parametrize("content, message", [
    (b"not a model", "header: not a .lvn file"),
    (GOLDEN.read_bytes()[:-3], "truncated"),
    (b"LEVN\x05\x00\x01", "version 5.0 is newer"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "model.lvn"
    path.write_bytes(content)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("levin inspect: error: ") and message in err and err.count("\n") == 1


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "none.lvn")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_help_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.lvn").write_bytes(GOLDEN.read_bytes())
    examples = [line.strip() for line in inspect_cmd.EXAMPLES.splitlines() if line.strip().startswith("levin ")]
    assert len(examples) == 2
    for line in examples:
        assert main(shlex.split(line)[1:]) == 0
    assert json.loads((tmp_path / "model-bytes.json").read_text())["file_bytes"] > 0
