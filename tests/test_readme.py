"""The README's commands stay true: every `levin ...` line it shows parses with today's CLI,
and the two quick-start commands are the Makefile's and CI's."""

import re
import shlex
from pathlib import Path

import pytest

from levin.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(set(re.findall(r"`(levin [^`]+)`", README)))


def test_readme_shows_commands():
    assert len(COMMANDS) >= 4


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:          # argparse rejected it (exit 2), or it was --help (exit 0)
        assert exc.code == 0, f"README command no longer parses: {command}"
        return
    assert args.command is not None


def test_quick_start_is_what_ci_runs():
    assert "make demo" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


@pytest.fixture
def quick_baseline(monkeypatch):
    """The examples train the digits CNN first; a 4-epoch preset keeps that part of the test short."""
    import dataclasses

    from levin import zoo

    spec = zoo.spec("digits_cnn")
    quick = dataclasses.replace(spec, train=spec.train.with_(epochs=4))
    monkeypatch.setattr(zoo, "spec", lambda name: quick if name == "digits_cnn" else spec)


def test_use_it_on_your_model_examples_run(tmp_path, quick_baseline, capsys):
    from levin.cli.main import main

    section = _section("Use it on your model")
    shell = re.search(r"```sh\n(.*?)```", section, re.S).group(1).strip()
    argv = shlex.split(shell)[1:]
    argv[argv.index("--out") + 1] = str(tmp_path / "cli")
    assert main(argv + ["--quiet"]) == 0
    assert "bit-exact" in capsys.readouterr().out

    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace('"runs/digits-api"', repr(str(tmp_path / "api")))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert (tmp_path / "api" / "model.lvn").stat().st_size == result.lvn_bytes
    assert result.integer_accuracy > 0.9
