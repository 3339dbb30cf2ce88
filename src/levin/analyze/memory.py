"""Static memory planner: every activation gets an offset in one arena, decided ahead of time.

Read me first:
- Nodes run in graph order; step k is node k, and graph inputs are written at step -1.
  A tensor is live from the step that writes it to the last step that reads it (graph
  outputs: to the end). Weights are constants in flash and are not planned.
- Buffers, not tensors, are placed. A Reshape's output *is* its input's buffer (an alias). An
  elementwise op (ReLU, Add, ...) writes its output over an input whose buffer is read for the
  last time at that step ("in place"), as TFLite Micro's kernels do for such ops. The plan lists
  these reuses, because the C kernels must then accept output == input.
- A window op (conv, pooling) whose kernel writes its output pixel after pixel may be *streamed*:
  its output starts `stream_shift` bytes before its input, in the same buffer, and overwrites
  input rows no later pixel reads (the row-buffer idea behind TinyEngine's in-place depthwise,
  applied to any conv). For a 3x3 conv that keeps the tensor size, in + out shrinks from 2x
  to 1x the tensor + (W + 2) pixels. The caller says which nodes' kernels stream (the C conv does
  when its weights are read in place from flash); the planner streams where the arena does not grow.
- Placement is greedy by size, as TFLite Micro's GreedyMemoryPlanner: largest buffer first, each
  at the lowest aligned offset where none of its tensors overlaps a placed tensor whose lifetime
  meets its own.
- Peak SRAM for activations = `ArenaPlan.arena_bytes`. Kernel scratch and the stack are not
  in it (the C runtime will report those).
- The plan is what the C runtime will use: `to_dict()` / `from_dict()` make it a file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from levin import ops
from levin.errors import LevinError
from levin.ir.graph import Graph, Node

PLAN_VERSION = 2             # 2: streamed buffers (Placement.shift); 1 still reads
DEFAULT_ALIGNMENT = 16        # TFLite Micro's arena alignment (kBufferAlignment)


@dataclass(frozen=True)
class Placement:
    offset: int               # bytes from the start of the arena
    size: int                 # bytes of the tensor itself (unaligned)
    first: int                # step that writes it (-1: graph input)
    last: int                 # last step that reads it (len(nodes): a graph output)
    reuses: str | None = None # tensor whose buffer this one takes over (alias, in place, streamed)
    shift: int = 0            # streamed: bytes it starts before `reuses` (stream_shift, aligned)
    ahead: int = 0            # streamed: pixels its kernel may write past the one it reads (pairs)


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
        if not isinstance(d, dict) or d.get("version") not in (1, PLAN_VERSION):
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


def stream_shift(graph: Graph, node: Node, ahead: int | None = None) -> int | None:
    """Bytes by which `node`'s output must start *before* its input for the node to run streamed:
    its kernel writes the output pixel after pixel (NHWC order) and reads, for each pixel, a
    window of input rows and columns that never moves backwards. The output may then overwrite
    input no later pixel reads: write pixel p at out + p*C_out only where every byte below
    out + (p+1)*C_out lies before the first input byte any pixel >= p still reads. A kernel that
    writes `ahead` pixels past the one it reads (default: the op's `stream_ahead`; conv pixel
    pairs) moves that bound by as many pixels. None for ops that do not work this way (fully
    connected, softmax, concat: each output reads everything).
    """
    op = ops.get(node.op)
    if op.streams == "never":
        return None
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.output]
    _, h, w, c_in = x.shape
    _, ho, wo, c_out = y.shape
    a = node.attrs
    (kh, kw), (dh, dw) = op.window(graph, node)
    (sh, sw), (pt, _, pl, _) = a["stride"], a["padding"]
    rows, row_ok = _first_read(ho, h, kh, sh, dh, pt)
    cols, col_ok = _first_read(wo, w, kw, sw, dw, pl)
    item = x.dtype.itemsize
    first = (rows[:, None] * w + cols[None, :]) * c_in * item          # first byte each pixel reads
    first = np.where(row_ok[:, None] & col_ok[None, :], first, np.iinfo(np.int64).max).ravel()
    still_read = np.minimum.accumulate(first[::-1])[::-1]               # by pixel p or any later one
    ahead = op.stream_ahead if ahead is None else ahead
    written = np.minimum(np.arange(1, ho * wo + 1, dtype=np.int64) + ahead, ho * wo) * c_out * y.dtype.itemsize
    return max(0, int((written - still_read).max()))


def _first_read(n_out: int, size: int, kernel: int, stride: int, dilation: int, pad: int):
    """Per output row (or column): the first input row its window reads, and whether it reads any."""
    start = np.arange(n_out, dtype=np.int64) * stride - pad
    skip = np.where(start < 0, -(start // dilation), 0)                 # ceil(-start / dilation) taps
    first = start + skip * dilation
    return first, (skip < kernel) & (first < size)


SCRATCH_SUFFIX = "#scratch"   # plan entry of a node's planned kernel scratch: "<node>#scratch"


def plan_memory(graph: Graph, alignment: int = DEFAULT_ALIGNMENT, inplace: bool = True,
                streamed: Iterable[str] = (), scratch: dict[str, int | tuple[int, ...]] | None = None,
                unstreamed: dict[str, int] | None = None) -> ArenaPlan:
    """Place every activation of `graph` in one arena; see the module docstring for the rules.

    `streamed` names the nodes whose C kernels may run streamed (`stream_shift`). The planner
    tries them largest input + output first and keeps each that does not grow the arena (one
    stream alone seldom lowers a peak that several steps share); a kernel that may write ahead
    (`Op.stream_ahead`, faster) does so only where that lead does not grow the arena either
    (`Placement.ahead`). `scratch` names nodes whose kernels can use that many bytes of arena
    while they run (`Op.planned_scratch`); each gets an entry "<node>#scratch" live at its step
    only where the arena does not grow, largest first (a tuple of sizes, best first: the first
    that fits). `unstreamed` names nodes whose kernels run
    faster with that much scratch and their output apart from their input
    (`Op.unstreamed_scratch`): each gets both (out of the streams if it was in them) where the
    arena does not grow, before the others' scratch is placed.
    """
    if alignment < 1:
        raise LevinError(f"alignment must be >= 1, got {alignment}")
    live = lifetimes(graph)
    wanted = set(streamed)
    nbytes = {name: graph.tensors[name].nbytes for name in live}
    candidates = sorted((n for n in graph.nodes if n.name in wanted and stream_shift(graph, n) is not None),
                        key=lambda n: -(nbytes.get(n.inputs[0], 0) + nbytes[n.output]))
    chosen: dict[str, tuple[int, int]] = {}            # node -> (shift, ahead)
    best = _place(graph, live, nbytes, alignment, inplace, chosen)
    for node in candidates:
        trial = {**chosen, node.name: (_align(stream_shift(graph, node, 0), alignment), 0)}
        plan = _place(graph, live, nbytes, alignment, inplace, trial)
        if plan.arena_bytes <= best.arena_bytes:
            best, chosen = plan, trial
    for node in candidates:  # then a lead for writing ahead, wherever it costs nothing
        ahead = ops.get(node.op).stream_ahead
        if node.name in chosen and ahead:
            trial = {**chosen, node.name: (_align(stream_shift(graph, node, ahead), alignment), ahead)}
            plan = _place(graph, live, nbytes, alignment, inplace, trial)
            if plan.arena_bytes <= best.arena_bytes:
                best, chosen = plan, trial
    step = {n.name: k for k, n in enumerate(graph.nodes)}
    # The nodes that run faster apart from their input first, then the others' scratch.
    for name, sizes, apart in [(n, b, True) for n, b in _largest_first(unstreamed)] + \
                              [(n, b, False) for n, b in _largest_first(scratch)]:
        entry = name + SCRATCH_SUFFIX
        if name not in step or entry in live:
            continue
        for size in (s for s in sizes if s > 0):
            trial = {k: v for k, v in chosen.items() if k != name} if apart else chosen
            trial_live, trial_bytes = {**live, entry: (step[name], step[name])}, {**nbytes, entry: size}
            plan = _place(graph, trial_live, trial_bytes, alignment, inplace, trial)
            if plan.arena_bytes <= best.arena_bytes:
                best, chosen, live, nbytes = plan, trial, trial_live, trial_bytes
                break
    return best


def _largest_first(sizes: dict[str, int | tuple[int, ...]] | None) -> list[tuple[str, tuple[int, ...]]]:
    """(node, its sizes best first), the nodes by their largest size, largest first."""
    items = [(name, size if isinstance(size, tuple) else (size,)) for name, size in (sizes or {}).items()]
    return sorted(items, key=lambda item: -max(item[1], default=0))


def _place(graph: Graph, live: dict[str, tuple[int, int]], nbytes: dict[str, int], alignment: int,
           inplace: bool, streams: dict[str, tuple[int, int]]) -> ArenaPlan:
    """Group tensors into buffers (alias, in place, streamed: fixed offsets relative to each
    other), then place the buffers greedily, largest first, each at the lowest offset where no
    member overlaps a placed tensor whose lifetime meets its own."""
    buffer_of = {name: name for name in live}          # tensor -> buffer (named by first tensor)
    members = {name: [name] for name in live}
    rel = {name: 0 for name in live}                   # offset within the buffer
    reuses: dict[str, str] = {}

    def buffer_last(b: str) -> int:
        return max(live[t][1] for t in members[b])

    for k, node in enumerate(graph.nodes):
        kind, (shift, _) = ops.get(node.op).kind, streams.get(node.name, (None, 0))
        if (kind == "compute" and shift is None) or (kind == "elementwise" and not inplace):
            continue
        for i in node.inputs:
            if i not in live or (shift is None and nbytes[i] != nbytes[node.output]):
                continue
            b = buffer_of[i]
            if kind == "alias" or buffer_last(b) == k:
                buffer_of[node.output] = b
                members[b].append(node.output)
                del members[node.output]
                rel[node.output] = rel[i] - (shift or 0)
                reuses[node.output] = i
                break
    for ts in members.values():
        low = min(rel[t] for t in ts)
        for t in ts:
            rel[t] -= low

    size = {t: _align(nbytes[t], alignment) for t in live}
    order = sorted(members, key=lambda b: (-max(size[t] for t in members[b]),
                                           min(live[t][0] for t in members[b]), b))
    placed: list[tuple[int, int, int, int]] = []       # (offset, size, first, last) of each tensor
    offsets: dict[str, int] = {}
    for b in order:
        ts = members[b]
        meets = [(t, r) for t in ts for r in placed if r[2] <= live[t][1] and live[t][0] <= r[3]]

        def fits(at: int) -> bool:
            return all(not (at + rel[t] < o + s and o < at + rel[t] + size[t]) for t, (o, s, _, _) in meets)

        at = min(c for c in {0} | {o + s - rel[t] for t, (o, s, _, _) in meets} if c >= 0 and fits(c))
        offsets[b] = at
        placed += [(at + rel[t], size[t], *live[t]) for t in ts]
    arena = max((o + s for o, s, _, _ in placed), default=0)
    ahead = {n.output: streams[n.name][1] for n in graph.nodes if n.name in streams}
    tensors = {t: Placement(offsets[buffer_of[t]] + rel[t], nbytes[t], live[t][0], live[t][1],
                            reuses.get(t), rel[reuses[t]] - rel[t] if t in reuses else 0, ahead.get(t, 0))
               for t in live}
    return ArenaPlan(arena, alignment, tensors)
