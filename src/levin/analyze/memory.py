"""Static memory planner: every activation gets an offset in one arena, decided ahead of time.

Read me first:
- Nodes run in graph order; step k is node k, and graph inputs are written at step -1.
  A tensor is live from the step that writes it to the last step that reads it (graph
  outputs: to the end). Weights are constants in flash and are not planned.
- Buffers, not tensors, are placed. A Reshape's output *is* its input's buffer (an alias). An
  elementwise op (ReLU, Add, ...) writes its output over an input whose buffer is read for the
  last time at that step ("in place"), as TFLite Micro's kernels do for such ops. The plan lists
  these reuses, because the C kernels must then accept output == input.
- Placement is greedy by size, as TFLite Micro's GreedyMemoryPlanner: largest buffer first, each
  at the lowest aligned offset where it overlaps no placed buffer whose lifetime meets its own.
- Peak SRAM for activations = `ArenaPlan.arena_bytes`. Kernel scratch and the stack are not
  in it (the C runtime will report those).
- The plan is what the C runtime will use: `to_dict()` / `from_dict()` make it a file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from levin.errors import LevinError
from levin.ir import ops
from levin.ir.graph import Graph

PLAN_VERSION = 1
DEFAULT_ALIGNMENT = 16        # TFLite Micro's arena alignment (kBufferAlignment)


@dataclass(frozen=True)
class Placement:
    offset: int               # bytes from the start of the arena
    size: int                 # bytes of the tensor itself (unaligned)
    first: int                # step that writes it (-1: graph input)
    last: int                 # last step that reads it (len(nodes): a graph output)
    reuses: str | None = None # tensor whose buffer this one takes over (alias or in place)


@dataclass
class ArenaPlan:
    """Where each activation tensor lives in the arena: the contract with the C runtime."""

    arena_bytes: int
    alignment: int
    tensors: dict[str, Placement]
    version: int = PLAN_VERSION

    def offset(self, tensor: str) -> int:
        return self.tensors[tensor].offset

    def to_dict(self) -> dict:
        return {"version": self.version, "arena_bytes": self.arena_bytes,
                "alignment": self.alignment,
                "tensors": {name: asdict(p) for name, p in self.tensors.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "ArenaPlan":
        if not isinstance(d, dict) or d.get("version") != PLAN_VERSION:
            raise LevinError(f"arena plan: version {d.get('version') if isinstance(d, dict) else None!r}"
                             f" is not {PLAN_VERSION}; re-plan the graph with this levin")
        try:
            tensors = {k: Placement(**v) for k, v in d["tensors"].items()}
            plan = cls(int(d["arena_bytes"]), int(d["alignment"]), tensors)
        except (KeyError, TypeError, ValueError) as exc:
            raise LevinError(f"arena plan: malformed ({type(exc).__name__}: {exc}); "
                             f"re-plan the graph") from None
        for name, p in tensors.items():
            if p.offset < 0 or p.offset + p.size > plan.arena_bytes:
                raise LevinError(f"arena plan: tensor {name!r} lies outside the "
                                 f"{plan.arena_bytes}-byte arena")
        return plan


def lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """(first, last) step of every activation tensor, by the rules in the module docstring."""
    end = len(graph.nodes)
    live = {name: (-1, -1) for name in graph.inputs}
    for k, node in enumerate(graph.nodes):
        live[node.output] = (k, k)
        for i in node.inputs:
            if i in live:
                live[i] = (live[i][0], k)
    for out in graph.outputs:
        live[out] = (live[out][0], end)
    return live


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


def plan_memory(graph: Graph, alignment: int = DEFAULT_ALIGNMENT, inplace: bool = True) -> ArenaPlan:
    """Place every activation of `graph` in one arena; see the module docstring for the rules."""
    if alignment < 1:
        raise LevinError(f"alignment must be >= 1, got {alignment}")
    live = lifetimes(graph)
    nbytes = {name: graph.tensors[name].nbytes for name in live}
    buffer_of = {name: name for name in live}          # tensor -> buffer (named by first tensor)
    members = {name: [name] for name in live}
    reuses: dict[str, str] = {}

    def buffer_last(b: str) -> int:
        return max(live[t][1] for t in members[b])

    for k, node in enumerate(graph.nodes):
        kind = ops.get(node.op).kind
        if kind == "compute" or (kind == "elementwise" and not inplace):
            continue
        for i in node.inputs:
            if i not in live or nbytes[i] != nbytes[node.output]:
                continue
            b = buffer_of[i]
            if kind == "alias" or buffer_last(b) == k:
                buffer_of[node.output] = b
                members[b].append(node.output)
                del members[node.output]
                reuses[node.output] = i
                break

    spans = {b: (min(live[t][0] for t in ts), buffer_last(b)) for b, ts in members.items()}
    sizes = {b: _align(max(nbytes[t] for t in ts), alignment) for b, ts in members.items()}
    order = sorted(members, key=lambda b: (-sizes[b], spans[b][0], b))
    offsets: dict[str, int] = {}
    for b in order:
        lo, hi = spans[b]
        clashes = sorted((offsets[o], sizes[o]) for o in offsets
                         if spans[o][0] <= hi and lo <= spans[o][1])
        at = 0
        for start, size in clashes:
            if at + sizes[b] <= start:
                break
            at = max(at, start + size)
        offsets[b] = at
    arena = max((offsets[b] + sizes[b] for b in members), default=0)
    tensors = {t: Placement(offsets[buffer_of[t]], nbytes[t], live[t][0], live[t][1], reuses.get(t))
               for t in live}
    return ArenaPlan(arena, alignment, tensors)
