"""Mixed precision: per-layer weight bit widths that minimise total weight bits under an
accuracy-drop limit.

Read me first. (1) Sensitivity scan: starting from the 8-bit plan, each weighted layer alone is
put at each candidate width b (scales re-observed at b bits), the others kept at 8, and the
fake-quant model's accuracy measured on the samples given (the pipeline passes training
samples: never the test set; a real held-out split is better where one exists).
(2) Assignment: assuming the accuracy drops of the layers add up, choose one width per layer
minimising sum(params * bits) subject to the summed drop <= the limit. Drops are counted
in misclassified samples, integers, so this multiple-choice knapsack is solved exactly by
dynamic programming over the drop budget. (3) Verification: the chosen assignment is evaluated
as a whole; if its real drop exceeds the limit (the drops interact), the budget shrinks by the
excess and (2) runs again, until the verified drop is within the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from levin.ir.graph import Graph
from levin.quant import lowbit
from levin.quant.graphmodule import GraphModule, _key
from levin.quant.plan import QuantPlan, weighted_nodes

CANDIDATE_BITS = (2, 3, 4, 5, 6, 7, 8)


@torch.no_grad()
def _correct(module: GraphModule, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> int:
    module.eval()
    hits = 0
    for i in range(0, len(x), batch_size):
        hits += int((module(torch.from_numpy(x[i:i + batch_size])).argmax(1)
                     == torch.from_numpy(y[i:i + batch_size])).sum())
    return hits


def _set_bits(module: GraphModule, graph: Graph, assignment: dict[str, int], per_channel: bool,
              method: str) -> None:
    for layer, bits in assignment.items():
        node = next(n for n in graph.nodes if n.name == layer)
        data = module.constants[_key(node.inputs[1])].detach().double().numpy()
        module.weight_q[_key(layer)].set_bits(
            bits, torch.from_numpy(lowbit.weight_scales(data, bits, per_channel=per_channel, method=method)))


@dataclass
class Sensitivity:
    base_correct: int                         # all layers at 8 bits
    samples: int
    params: dict[str, int]                    # weights per layer
    correct: dict[str, dict[int, int]]        # layer -> bits -> correct samples

    def drop(self, layer: str, bits: int) -> int:
        """Samples lost with `layer` alone at `bits` (never negative)."""
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

    @property
    def drop(self) -> float:
        return (self.base_correct - self.verified_correct) / self.samples


def sensitivity_scan(graph: Graph, plan: QuantPlan, x: np.ndarray, y: np.ndarray,
                     bits: tuple[int, ...] = CANDIDATE_BITS[:-1], *, per_channel: bool = True,
                     method: str = "minmax") -> Sensitivity:
    """Accuracy with one layer at b bits and the rest at 8, for every weighted layer and b."""
    module = GraphModule(graph, plan)
    layers = weighted_nodes(graph)
    eight = {layer: 8 for layer in layers}
    _set_bits(module, graph, eight, per_channel, method)
    base = _correct(module, x, y)
    table: dict[str, dict[int, int]] = {}
    for layer in layers:
        table[layer] = {}
        for b in bits:
            _set_bits(module, graph, {layer: b}, per_channel, method)
            table[layer][b] = _correct(module, x, y)
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


def mixed_precision(graph: Graph, plan: QuantPlan, x: np.ndarray, y: np.ndarray, max_drop: float,
                    *, bits: tuple[int, ...] = CANDIDATE_BITS, per_channel: bool = True,
                    method: str = "minmax", max_rounds: int = 20) -> MixedResult:
    """Per-layer widths for the least weight bits with accuracy drop <= `max_drop` (a fraction,
    e.g. 0.003 for 0.3 percentage points) against all-8-bit, measured on (x, y)."""
    sens = sensitivity_scan(graph, plan, x, y, tuple(b for b in bits if b != 8),
                            per_channel=per_channel, method=method)
    limit = int(np.floor(max_drop * len(x) + 1e-9))
    budget, rounds = limit, []
    module = GraphModule(graph, plan)
    for _ in range(max_rounds):
        assignment = assign_bits(sens, budget, bits)
        _set_bits(module, graph, assignment, per_channel, method)
        correct = _correct(module, x, y)
        rounds.append({"budget": budget, "bits": assignment, "correct": correct})
        excess = sens.base_correct - correct - limit
        if excess <= 0:
            break
        if budget == 0:                        # even drop-free layers interact: stay at 8 bits
            assignment, correct = {layer: 8 for layer in assignment}, sens.base_correct
            break
        budget = max(0, budget - excess)
    total = sum(sens.params[layer] * b for layer, b in assignment.items())
    return MixedResult(assignment, total, correct, sens.base_correct, len(x), sens, rounds)
