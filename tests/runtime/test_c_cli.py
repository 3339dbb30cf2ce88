"""`levin export model.lvn --c OUTDIR`: writes sources that build and run, a JSON summary, errors exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest

from levin.cli.main import main
from levin.coding import container
from levin.targets import build
from levin import reference
from levin.codegen import ExportResult

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "golden.lvn"


@pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")
def test_export_cli_json_and_build(tmp_path, capsys):
    assert main(["export", str(GOLDEN), "--c", str(tmp_path), "--format", "rans", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["weight_format"] == "rans" and set(summary["chains"].values()) == {"rans"}
    assert summary["arena_bytes"] == summary["activation_bytes"] + summary["scratch_bytes"]
    result = ExportResult(tmp_path, [Path(p) for p in summary["sources"]], [Path(p) for p in summary["headers"]],
                          "rans", summary["arena_bytes"], summary["activation_bytes"], summary["scratch_bytes"],
                          summary["input_size"], summary["output_size"], summary["weight_bytes"])
    x = np.random.default_rng(0).integers(-128, 128, (4, 5, 5, 3)).astype(np.int8)
    got, _ = build.run_harness(build.build_harness(result), x, result.output_size)
    g = container.read(GOLDEN)
    assert build.compare(got, reference.run(g, x)[g.outputs[0]]) is None


def test_export_cli_errors_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope.lvn"), "--c", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
