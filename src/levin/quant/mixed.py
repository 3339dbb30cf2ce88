"""Mixed precision: per-layer weight bit widths that minimise total weight bits under a limit on
how much worse the task's metric may get (`levin.metrics`: accuracy, MSE, AUC).

Read me first. (1) Sensitivity scan: starting from the 8-bit plan, each weighted layer alone is
put at each candidate width b (scales re-observed at b bits), the others kept at 8, and the
fake-quant model scored on the samples given (the pipeline passes the validation split, or
training samples without one: never the test set).
(2) Assignment: assuming the drops of the layers add up, choose one width per layer
minimising sum(params * bits) subject to the summed drop <= the limit. Scores are integer
points (`Points`: correct samples for classification; 0.01 pp of AUC; 0.1% of the 8-bit
model's MSE), so this multiple-choice knapsack is solved exactly by dynamic programming over
the drop budget. (3) Verification: the chosen assignment is evaluated
as a whole; if its real drop exceeds the limit (the drops interact), the budget shrinks by the
excess and (2) runs again, until the verified drop is within the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from levin import metrics
from levin.ir.graph import Graph
from levin.quant import lowbit
from levin.quant.graphmodule import GraphModule, _key
from levin.quant.plan import QuantPlan, weighted_nodes

CANDIDATE_BITS = (2, 3, 4, 5, 6, 7, 8)


class Points:
    """A model's score on (x, y) as integer points, higher better, and the points a drop of
    `max_drop` (in `metrics.drop`'s unit: percentage points, or % of the error) allows."""

    def __init__(self, task: str = "classification", top_k: int = 1, output: int = 0):
        metrics.check_task(task, top_k)
        self.task, self.top_k, self.output, self.base_error = task, top_k, output, None

    @torch.no_grad()
    def __call__(self, module: GraphModule, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> int:
        module.eval()
        out = np.concatenate([metrics.output_of(module(torch.from_numpy(x[i:i + batch_size])),
                                                self.output).double().numpy()
                              for i in range(0, len(x), batch_size)])
        s = metrics.score(self.task, out, x, y, self.top_k)
        if self.task == "classification":
            return int(round(s.value * len(x)))          # correct samples
        if s.higher_is_better:
            return int(round(s.value * 10_000))          # AUC in 0.01 pp
        if self.base_error is None:                      # the first model scored: all 8-bit
            self.base_error = max(s.value, 1e-12)
        return -int(round(1000 * s.value / self.base_error))   # error in 0.1% of the 8-bit one

    def limit(self, max_drop: float, samples: int) -> int:
        if self.task == "classification":
            return int(np.floor(max_drop / 100 * samples + 1e-9))
        return int(np.floor(max_drop * (100 if self.task == "anomaly" else 10) + 1e-9))


def _set_bits(module: GraphModule, graph: Graph, assignment: dict[str, int], per_channel: bool,
              method: str) -> None:
    for layer, bits in assignment.items():
        node = next(n for n in graph.nodes if n.name == layer)
        data = module.constants[_key(node.inputs[1])].detach().double().numpy()
        module.weight_q[_key(layer)].set_bits(
            bits, torch.from_numpy(lowbit.weight_scales(data, bits, per_channel=per_channel, method=method)))


@dataclass
class Sensitivity:
    base_correct: int                         # points (`Points`) with all layers at 8 bits
    samples: int
    params: dict[str, int]                    # weights per layer
    correct: dict[str, dict[int, int]]        # layer -> bits -> points

    def drop(self, layer: str, bits: int) -> int:
        """Points lost with `layer` alone at `bits` (never negative)."""
        return 0 if bits == 8 else max(0, self.base_correct - self.correct[layer][bits])


@dataclass
class MixedResult:
    bits: dict[str, int]
    total_bits: int
    verified_correct: int
    base_correct: int
    samples: int
    sensitivity: Sensitivity
    rounds: list[dict] = field(default_factory=list)

    points: Points = field(default_factory=Points)

    @property
    def drop(self) -> float:
        """The verified drop in the metric's unit (`metrics.drop`): percentage points of accuracy
        or AUC, % of the 8-bit model's error."""
        lost = self.base_correct - self.verified_correct
        if self.points.task == "classification":
            return 100 * lost / self.samples
        return lost / (100 if self.points.task == "anomaly" else 10)


def sensitivity_scan(graph: Graph, plan: QuantPlan, x: np.ndarray, y: np.ndarray,
                     bits: tuple[int, ...] = CANDIDATE_BITS[:-1], *, per_channel: bool = True,
                     method: str = "minmax", points: Points | None = None) -> Sensitivity:
    """Points with one layer at b bits and the rest at 8, for every weighted layer and b."""
    points = points or Points()
    module = GraphModule(graph, plan)
    layers = weighted_nodes(graph)
    eight = {layer: 8 for layer in layers}
    _set_bits(module, graph, eight, per_channel, method)
    base = points(module, x, y)
    table: dict[str, dict[int, int]] = {}
    for layer in layers:
        table[layer] = {}
        for b in bits:
            _set_bits(module, graph, {layer: b}, per_channel, method)
            table[layer][b] = points(module, x, y)
        _set_bits(module, graph, {layer: 8}, per_channel, method)
    params = {n.name: graph.tensors[n.inputs[1]].size for n in graph.nodes if n.name in eight}
    return Sensitivity(base, len(x), params, table)


def assign_bits(sens: Sensitivity, budget: int, bits: tuple[int, ...] = CANDIDATE_BITS) -> dict[str, int]:
    """Widths minimising sum(params * bits) with sum of single-layer drops <= `budget` samples
    (exact dynamic programme over the integer budget)."""
    layers = list(sens.params)
    budget = max(0, int(budget))
    inf = float("inf")
    best = np.full(budget + 1, inf)
    best[0] = 0.0
    choice: list[np.ndarray] = []
    for layer in layers:
        new = np.full(budget + 1, inf)
        pick = np.full(budget + 1, 8, dtype=np.int64)
        for b in bits:
            d = sens.drop(layer, b) if b != 8 else 0
            if d > budget:
                continue
            cost = sens.params[layer] * b
            cand = np.full(budget + 1, inf)
            cand[d:] = best[:budget + 1 - d] + cost
            better = cand < new
            new[better], pick[better] = cand[better], b
        best = new
        choice.append(pick)
    used = int(np.argmin(best))
    out = {}
    for layer, pick in zip(reversed(layers), reversed(choice)):
        b = int(pick[used])
        out[layer] = b
        used -= sens.drop(layer, b) if b != 8 else 0
    return dict(reversed(list(out.items())))


def mixed_precision(graph: Graph, plan: QuantPlan, x: np.ndarray, y: np.ndarray | None, max_drop: float,
                    *, bits: tuple[int, ...] = CANDIDATE_BITS, per_channel: bool = True,
                    method: str = "minmax", max_rounds: int = 20, task: str = "classification",
                    top_k: int = 1, output: int = 0) -> MixedResult:
    """Per-layer widths for the least weight bits whose `task` metric on (x, y) is at most
    `max_drop` worse than all-8-bit (`metrics.drop`'s unit: 0.3 = 0.3 percentage points of
    accuracy or AUC, or 0.3% more error)."""
    points = Points(task, top_k, output)
    sens = sensitivity_scan(graph, plan, x, y, tuple(b for b in bits if b != 8),
                            per_channel=per_channel, method=method, points=points)
    limit = points.limit(max_drop, len(x))
    budget, rounds = limit, []
    module = GraphModule(graph, plan)
    for _ in range(max_rounds):
        assignment = assign_bits(sens, budget, bits)
        _set_bits(module, graph, assignment, per_channel, method)
        correct = points(module, x, y)
        rounds.append({"budget": budget, "bits": assignment, "points": correct})
        excess = sens.base_correct - correct - limit
        if excess <= 0:
            break
        if budget == 0:                        # even drop-free layers interact: stay at 8 bits
            assignment, correct = {layer: 8 for layer in assignment}, sens.base_correct
            break
        budget = max(0, budget - excess)
    total = sum(sens.params[layer] * b for layer, b in assignment.items())
    return MixedResult(assignment, total, correct, sens.base_correct, len(x), sens, rounds, points)
