"""Small line charts as PNG bytes or files, for benchmarks and (later) the HTML report.

Read me first: figures are drawn on matplotlib's Agg canvas directly (`Figure` +
`FigureCanvasAgg`), never through pyplot, so nothing global changes: no backend switch that
would surprise a user's notebook, and no figure left open in pyplot's registry (a leak when a
search draws hundreds). A chart is a list of `Panel`s side by side; each panel holds named
curves. `render` returns the PNG bytes and writes them to `path` if one is given.

>>> png = render([Panel("demo", "x", "y", {"a": ([0, 1], [1, 2])})])
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from levin.errors import LevinError

Curve = tuple[Sequence[float], Sequence[float]]


@dataclass
class Panel:
    """One plot: `curves` maps a legend label to (xs, ys)."""

    title: str
    xlabel: str
    ylabel: str
    curves: Mapping[str, Curve]
    reference: float | None = None        # a dashed horizontal line (e.g. the unchanged model)
    reference_label: str = "baseline"
    xticks: Sequence[float] | None = None   # ticks at exactly these x (e.g. the scanned points)
    invert_x: bool = False                # e.g. bits: fewer to the right
    xscale: str = "linear"                # or "log", "logit" (spreads sparsities near 1)
    ylim: tuple[float, float] | None = None
    legend: bool = True
    notes: list[str] = field(default_factory=list)   # lines of small text under the title


def render(panels: Sequence[Panel], path: str | Path | None = None, panel_size=(5.0, 4.0),
           dpi: int = 120, title: str | None = None) -> bytes:
    """The panels side by side as PNG bytes; also written to `path` (folders made) if given.

    Raises:
        LevinError: no panels, or a curve whose xs and ys differ in length.
    """
    if not panels:
        raise LevinError("a chart needs at least one panel")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel_size[0] * len(panels), panel_size[1]), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        _draw(ax, panel)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    png = buffer.getvalue()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    return png


def _draw(ax, panel: Panel) -> None:
    for label, (xs, ys) in panel.curves.items():
        if len(xs) != len(ys):
            raise LevinError(f"curve {label!r} of panel {panel.title!r} has {len(xs)} x values "
                             f"and {len(ys)} y values")
        ax.plot(list(xs), list(ys), marker="o", markersize=4, linewidth=1.5, label=label)
    if panel.reference is not None:
        ax.axhline(panel.reference, color="0.4", linestyle="--", linewidth=1,
                   label=panel.reference_label)
    title = panel.title + "".join(f"\n{line}" for line in panel.notes)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.set_xscale(panel.xscale)
    if panel.xticks is not None:
        ax.set_xticks(list(panel.xticks))
        ax.set_xticklabels([f"{t:g}" for t in panel.xticks])
        ax.minorticks_off()
    if panel.invert_x:
        ax.invert_xaxis()
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    ax.grid(True, alpha=0.3)
    if panel.legend and (panel.curves or panel.reference is not None):
        ax.legend(fontsize="small", loc="lower left")
