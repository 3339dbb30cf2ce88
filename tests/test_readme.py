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
