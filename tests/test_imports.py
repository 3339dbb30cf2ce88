"""Packages import one way: no cycle between the packages (and top-level modules) of src/levin,
and nothing but `levin.cli` imports `levin.cli`. Imports inside functions count too: a lazy
import is still a dependency. The failure names the cycle and the modules that make it."""

from __future__ import annotations

import ast
import graphlib
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "levin"


def _unit(module: str) -> str:
    """The package (or top-level module) a dotted module name belongs to: levin.ir.graph -> ir."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> the modules whose imports make that edge."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                a, b = _unit(module), _unit(target)
                known = (ROOT / b).is_dir() or (ROOT / f"{b}.py").is_file()
                if target.startswith("levin.") and known and a and a != b and module not in edges[(a, b)]:
                    edges[(a, b)].append(module)
    return edges


def test_no_cycle_between_packages():
    edges = import_edges()
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]          # each unit is imported by the next one
        steps = [f"{b} -> {a} (in {', '.join(edges[(b, a)])})" for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("import cycle between packages: " + "; ".join(steps)) from None


def test_only_cli_imports_cli():
    wrong = [f"{', '.join(modules)} imports levin.cli" for (a, b), modules in import_edges().items()
             if b == "cli" and a != "cli"]
    assert not wrong, "; ".join(wrong)


def test_the_check_sees_a_cycle(tmp_path, monkeypatch):
    """The checker can fail: two packages importing each other are reported by name."""
    for pkg, other in (("alpha", "beta"), ("beta", "alpha")):
        (tmp_path / "levin" / pkg).mkdir(parents=True)
        (tmp_path / "levin" / pkg / "__init__.py").write_text(f"def f():\n    from levin.{other} import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "levin")
    try:
        test_no_cycle_between_packages()
    except AssertionError as exc:
        assert "alpha" in str(exc) and "beta" in str(exc) and "levin.alpha" in str(exc)
    else:
        raise AssertionError("the cycle alpha <-> beta was not reported")
