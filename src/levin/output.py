"""Text for people and scripts: plain-text tables and JSON output (files or stdout).

Shared by the CLI, the benchmarks and the summaries, so it sits below all of them.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from levin.fileio import write_atomic


def write_json(data: Any, target: str) -> None:
    """Write `data` as JSON to the file `target`, or to stdout for '-'."""
    text = json.dumps(data, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    write_atomic(target, text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])
