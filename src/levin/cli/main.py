"""`levin` command line: parse arguments, call the library, print results.

Each subcommand lives in its own module of `levin.cli` with `register(subparsers)`, which adds
its parser and sets `run=` to a function taking the parsed arguments and returning an exit
status. Modules are found by listing the package, so adding a command is adding a file.
Exit status (also in `levin --help`): EXIT_CODES below. Errors a user can fix print one line.

`levin CMD ...` imports only CMD's module: the others are listed by the one-line help their
`add_parser(..., help="...")` call gives, read from their source (so `levin --help` imports no
numpy, torch or jinja2, and a command whose dependencies are missing breaks only itself).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import pkgutil
import sys

import levin
import levin.cli
from levin.cli.common import (EXIT_BAD_INPUT, EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK,
                              EXIT_VERIFICATION)
from levin.errors import LevinError, TrainingInterrupted, VerificationError


def command_names() -> list[str]:
    """The modules of `levin.cli`, by name, without importing them (those defining `register`
    are the commands)."""
    return sorted(m.name for m in pkgutil.iter_modules(levin.cli.__path__))


def commands(names: list[str] | None = None) -> list:
    """The command modules of `levin.cli` (those defining `register`), by name."""
    found = []
    for name in command_names() if names is None else names:
        module = importlib.import_module(f"levin.cli.{name}")
        if hasattr(module, "register"):
            found.append(module)
    return found


def _summary(name: str) -> str | None:
    """The constant `help=` of the `add_parser(NAME, ...)` call in levin.cli.NAME's source, or
    None when there is none (a computed help: the module is imported instead)."""
    source = os.path.join(levin.cli.__path__[0], f"{name}.py")
    try:
        with open(source, encoding="utf-8") as f:
            tree = ast.parse(f.read(), source)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_parser"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == name):
            for kw in node.keywords:
                if kw.arg == "help" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


class _Parser(argparse.ArgumentParser):
    """A usage error is one line naming the command, and exit status 2 (argparse's own status)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The `levin` parser. `command`: the one command registered in full ("*": all of them;
    None: none), the others listed by name and one-line help only."""
    parser = _Parser(
        prog="levin",
        description="Shrink neural networks onto microcontrollers: prune, quantize, share "
                    "weights, entropy-code, and run the result bit-exact in C.",
        epilog="Run `levin COMMAND --help` for the options of a command.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"levin {levin.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_names():
        summary = None if command in ("*", name) else _summary(name)
        if summary is not None:
            sub.add_parser(name, help=summary, add_help=False)
        else:
            for module in commands([name]):
                module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:          # answered before the commands (and torch) are imported
        print(f"levin {levin.__version__}")
        return EXIT_OK
    command = argv[0] if argv and not argv[0].startswith("-") else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.run(args)
    except TrainingInterrupted as exc:
        print(f"levin: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        # Outside a training loop (k-means, freeze, a C build): finished steps and files are kept
        # (each is written whole, then renamed), and a rerun resumes from them.
        print(f"levin {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except VerificationError as exc:
        print(f"levin {args.command}: verification failed: {exc}", file=sys.stderr)
        return EXIT_VERIFICATION
    except LevinError as exc:
        print(f"levin {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # `levin inspect model.lvn | head`: the reader left; not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
