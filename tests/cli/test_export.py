"""`levin export`: the weight format and the preference reach the generator; JSON is pure."""

import json
from pathlib import Path

import pytest

from levin.cli.main import main

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "golden.lvn"


@pytest.mark.parametrize("prefer", ["flash", "speed"])
def test_export_prefer_writes_the_model_and_pure_json(prefer, tmp_path, capsys):
    assert main(["export", str(GOLDEN), "--c", str(tmp_path / "c"), "--format", "sparse",
                 "--prefer", prefer, "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (tmp_path / "c" / "model.c").exists()
    assert summary["chains"] and all(c.startswith("sparse:") for c in summary["chains"].values())


def test_export_rejects_an_unknown_preference(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", str(GOLDEN), "--c", str(tmp_path / "c"), "--prefer", "fast"])
    assert exc.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
