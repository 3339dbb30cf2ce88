"""The report's pictures: weight histograms, the size-vs-accuracy Pareto plot, the memory timeline.

Drawn on matplotlib's Agg canvas without pyplot (as levin.report.plots explains); each function
returns PNG bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from levin.analyze.memory import ArenaPlan
from levin.compressor.sensitivity import SensitivityResult
from levin.ir import Graph
from levin.report.plots import Panel, render


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def weight_histograms(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray],
                      columns: int = 3) -> bytes:
    """Per layer: the nonzero weights before (grey) and after compression (blue), with counts."""
    names = list(before)
    rows = max(1, -(-len(names) // columns))
    fig = _figure(4.2 * min(columns, len(names) or 1), 2.8 * rows)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, min(columns, len(names)), i + 1)
        b = np.asarray(before[name]).ravel()
        a = np.asarray(after.get(name, np.zeros(0))).ravel()
        a = a[a != 0]
        edges = np.linspace(float(b.min()), float(b.max()), 81) if b.size else 80
        ax.hist(b, bins=edges, color="0.75", label=f"before: {b.size:,}")
        ax.hist(a, bins=edges, color="tab:blue", alpha=0.8, label=f"after: {a.size:,} nonzero, "
                f"{np.unique(a).size} values")
        ax.set_title(name, fontsize="small")
        ax.set_yscale("log")
        ax.legend(fontsize="x-small")
        ax.tick_params(labelsize="x-small")
    return _png(fig)


def pareto(points: Sequence[dict], title: str = "size vs accuracy", *, metric: str = "accuracy",
           higher_is_better: bool = True) -> bytes:
    """Scatter of {label, bytes, accuracy, kind} points (log-size axis) with the Pareto front of
    those not marked {"front": False}. "accuracy" holds the score in `metric` (a fraction drawn
    in percent when higher is better, an error drawn as it is)."""
    from matplotlib.ticker import FuncFormatter

    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    scale = 100 if higher_is_better else 1
    for kind in dict.fromkeys(p.get("kind", "") for p in points):
        sel = [p for p in points if p.get("kind", "") == kind]
        ax.scatter([p["bytes"] for p in sel], [scale * p["accuracy"] for p in sel], label=kind or None,
                   s=30, zorder=3)
    for p in points:
        ax.annotate(p["label"], (p["bytes"], scale * p["accuracy"]), fontsize="x-small",
                    xytext=(4, 3), textcoords="offset points")
    front = pareto_front([p for p in points if p.get("front", True)], higher_is_better)
    ax.step([p["bytes"] for p in front], [scale * p["accuracy"] for p in front], where="post",
            color="0.3", linewidth=1, linestyle="--", label="Pareto front")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: readable_bytes(v)))
    ax.set_xlabel("size (log scale)")
    ax.set_ylabel(f"{metric} (%)" if higher_is_better else f"{metric} (lower is better)")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="best")
    return _png(fig)


def readable_bytes(n: float) -> str:
    """512 B, 4 KB, 1.5 MB (KB = 1,000 B, as file sizes are counted)."""
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g} B"


def pareto_front(points: Sequence[dict], higher_is_better: bool = True) -> list[dict]:
    """The points no other point beats on both size (smaller) and score ("accuracy": higher, or
    lower for an error), by size."""
    sign = 1 if higher_is_better else -1
    front, best = [], -float("inf")
    for p in sorted(points, key=lambda p: (p["bytes"], -sign * p["accuracy"])):
        if sign * p["accuracy"] > best:
            front.append(p)
            best = sign * p["accuracy"]
    return front


def live_bytes(graph: Graph, plan: ArenaPlan) -> list[int]:
    """Arena bytes in use while each node runs: the union of the live tensors' byte ranges, so
    aliases, in-place and streamed outputs count once."""
    out = []
    for k in range(len(graph.nodes)):
        used, end = 0, 0
        for start, stop in sorted((p.offset, p.offset + p.size) for p in plan.tensors.values()
                                  if p.first <= k <= p.last):
            used += max(0, stop - max(start, end))
            end = max(end, stop)
        out.append(used)
    return out


def memory_timeline(graph: Graph, plan: ArenaPlan, scratch: int = 0) -> bytes:
    """Bytes of live activations per op, the planned arena, and the device's RAM use."""
    live = live_bytes(graph, plan)
    labels = [f"{k}:{n.op}" for k, n in enumerate(graph.nodes)]
    fig = _figure(max(6.0, 0.35 * len(labels) + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(len(live)), live, color="tab:blue", label="live activations")
    ax.axhline(plan.arena_bytes, color="tab:red", linestyle="--", linewidth=1,
               label=f"planned arena {plan.arena_bytes:,} B")
    if scratch:
        ax.axhline(plan.arena_bytes + scratch, color="tab:orange", linestyle=":", linewidth=1,
                   label=f"+ weight-decode scratch {scratch:,} B")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize="x-small")
    ax.set_ylabel("bytes")
    ax.set_title("memory timeline (activation arena per op)", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def sensitivity_curves(result: SensitivityResult, path: str | Path | None = None,
                       title: str | None = None) -> Path | bytes:
    """Accuracy vs sparsity and vs bits, one curve per layer, the unchanged model dashed.

    Returns `path` once written there, or the PNG bytes when no path is given."""
    def label(layer: str) -> str:
        weights = result.weights.get(layer)
        return f"{layer} ({weights:,} w)" if weights else layer

    def curves(table: dict) -> dict:
        return {label(layer): (sorted(c), [100 * c[k] for k in sorted(c)])
                for layer, c in table.items() if c}

    baseline = 100 * result.baseline
    panels = [Panel("pruning one layer (magnitude), the rest untouched",
                    "sparsity of that layer", "accuracy (%)", curves(result.sparsity),
                    baseline, f"unchanged model ({baseline:.2f}%)",
                    xticks=sorted({s for c in result.sparsity.values() for s in c}),
                    xscale="logit" if all(0 < s < 1 for c in result.sparsity.values()
                                          for s in c) else "linear")]
    if any(result.bits.values()):
        panels.append(Panel(f"quantizing one layer ({result.bits_method}), the rest float",
                            "bits of that layer's weights", "accuracy (%)", curves(result.bits),
                            baseline, f"unchanged model ({baseline:.2f}%)",
                            xticks=sorted({b for c in result.bits.values() for b in c}),
                            invert_x=True))
    png = render(panels, path, title=title)
    return Path(path) if path is not None else png
