"""The op registry: one `Op` per IR op, holding everything levin knows about it.

Read me first. An IR op is declared once, in its own module of `levin.ops`, by `register(Op(...))`.
Every layer asks the registry instead of keeping a table of its own:
- the graph (`levin.ir.graph`) checks inputs and attributes and infers the output shape (`shape`);
- the memory planner (`levin.analyze.memory`) reads `kind` and, for kernels that write their
  output pixel by pixel, `window`;
- the float interpreter (`levin.ir.interpreter`) runs `evaluate`; the fake-quant graph module
  (`levin.quant.graphmodule`) runs `evaluate_torch`;
- the quantizer (`levin.quant.plan`, `ptq`) reads `weighted`, `output_quant`, `constant_inputs`
  and the activation fusion flags;
- the integer reference (`levin.reference`) runs `reference`, TFLite's int8 arithmetic;
- the C generator (`levin.codegen`) renders `c.template` with what `c.prepare` returns and
  ships `c.sources`;
- the profile (`levin.analyze.profile`) counts `macs` and `element_ops` and adds `code_bytes`.
Ops may not import the IR (the IR imports them): they see tensors and nodes only through their
attributes (`.shape`, `.dtype`, `.quant`, `.attrs`, ...). docs/adding-an-op.md walks through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from levin.errors import GraphError

Shape = tuple[int, ...]
KINDS = ("compute", "elementwise", "alias")


def _zero(graph, node) -> int:
    return 0


@dataclass(frozen=True)
class CBinding:
    """How the C export runs an op: `template` (a file in levin/runtime/templates, or a Path) has
    two macros, `data(n)` for the node's const arrays and parameters and `call(n)` for the call in
    the model's run function; `prepare(ctx, node, k)` returns the template's context (`n`).
    `sources`: the C files of its kernel (names in levin/runtime/c, or paths), copied into the export.
    `kernel_paths(n)`: which of the runtime's optional paths (`cparams.KERNEL_PATHS`) the call
    runs, from its context `n`; the package compiles out those no model runs (levin_config.h)."""

    template: str | Path
    prepare: Callable[[Any, Any, int], dict]
    sources: tuple[str | Path, ...] = ()
    kernel_paths: Callable[[dict], set[str]] | None = None


@dataclass(frozen=True)
class Op:
    name: str
    arity: tuple[int, int]                 # (min, max) inputs; max -1 for any number
    defaults: Mapping[str, Any]            # every attribute and its default
    shape: Callable[[str, list, dict], tuple[dict, Shape]]   # (where, inputs, attrs) -> (attrs, shape)
    evaluate: Callable[..., Any]           # float kernel, numpy: (*inputs as float64, **attrs)
    evaluate_torch: Callable[..., Any]     # the same in torch, for fake-quant training
    reference: Callable[..., Any] | None = None   # int kernel: (node, args, ins, out, single_round)
    c: CBinding | None = None
    kind: str = "compute"                  # planner: "compute" | "elementwise" | "alias"
    window: Callable[[Any, Any], tuple] | None = None   # (graph, node) -> ((kh, kw), (dh, dw)) of a
    streams: str = "never"                 # pixel-by-pixel kernel: "never" | "always" | "weights_in_flash"
    stream_ahead: int = 0                  # pixels a streamed kernel may write past the one it still
                                           # reads (Conv2d: 1, it computes pixels in pairs)
    planned_scratch: Callable[[Any, Any], int | tuple[int, ...]] | None = None  # (graph, node) ->
                                           # bytes of arena its C kernel can use when weights are
                                           # in flash and the plan has room at that step (conv:
                                           # im2col of short windows), or such sizes best first
    unstreamed_scratch: Callable[[Any, Any], int] | None = None  # (graph, node) -> bytes of arena a
                                           # faster kernel uses when the output does not stream over
                                           # the input (conv 1x1: four weight rows widened); the plan
                                           # gives it only where the arena does not grow
    macs: Callable[[Any, Any], int] = _zero          # (graph, node) -> multiply-accumulates
    element_ops: Callable[[Any, Any], int] = _zero   # (graph, node) -> other element operations
    code_bytes: int = 0                    # Thumb-2 bytes of its C kernel (estimate, until built)
    variant: Callable[[Any, Any], tuple[str, int]] | None = None   # (graph, node) -> (C kernel, bytes)
                                           # when a node's shape picks another kernel (depthwise)
    # Quantization: a weighted op takes weights as input 1 and an optional bias as input 2
    # (symmetric int8, per channel); its output scale is "free" (calibrated), "input" (the
    # input's parameters, codes unchanged), "inputs" (every input and the output share one set
    # of parameters: MAXIMUM / MINIMUM move codes between them) or a fixed (scale, zero point).
    weighted: bool = False
    output_quant: str | tuple[float, int] = "free"
    constant_inputs: tuple[int, ...] = ()  # inputs that may be float constants of a non-weighted
                                           # op, quantized as TFLite quantizes a constant MUL / ADD
                                           # operand: int8, per tensor, (scale, zero point) from
                                           # the constant's own min / max (`levin.quant.ptq`)
    fuses_activation: bool = False         # a following fusable activation folds into its output
    fusable_activation: bool = False       # ReLU / ReLU6: a clamp of the producer's output range
    fused_on_grid: bool = False            # fused, its float output is on the output grid already
                                           # (ReLU: max(x, 0); not ReLU6, whose 6.0 may fall off it)
    requantizes: bool = True               # False: output codes are input codes (max, reshape)
    fake_quant_torch: Callable[..., Any] | None = None   # fake-quant output where the int8 kernel
                                           # rounds otherwise than quantizing the float result

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"op {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.streams not in ("never", "always", "weights_in_flash"):
            raise ValueError(f"op {self.name}: streams {self.streams!r}")
        if not (isinstance(self.output_quant, tuple) or self.output_quant in ("free", "input", "inputs")):
            raise ValueError(f"op {self.name}: output_quant {self.output_quant!r}")
        if self.streams != "never" and self.window is None:
            raise ValueError(f"op {self.name}: a streamed op needs its window")

    def check(self, node: str, inputs: list, attrs: dict[str, Any]) -> tuple[dict[str, Any], Shape]:
        """Normalized attributes and the output shape of `node`, or a GraphError saying what is wrong."""
        where = f"node {node!r} ({self.name})"
        lo, hi = self.arity
        if len(inputs) < lo or (hi >= 0 and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi if hi >= 0 else 'any'}"
            raise GraphError(f"{where}: takes {want} inputs, got {len(inputs)}")
        unknown = set(attrs) - set(self.defaults)
        if unknown:
            raise GraphError(f"{where}: unknown attribute(s) {', '.join(sorted(map(str, unknown)))}; "
                             f"known: {', '.join(self.defaults) or 'none'}")
        if len({t.is_float for t in inputs}) > 1:
            raise GraphError(f"{where}: mixes float and integer inputs")
        return self.shape(where, inputs, {**self.defaults, **attrs})


OPS: dict[str, Op] = {}


def register(op: Op, *, replace: bool = False) -> Op:
    """Add `op` to the registry (`replace` only for tests that swap an op in and out)."""
    if op.name in OPS and not replace:
        raise ValueError(f"op {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def unregister(name: str) -> None:
    OPS.pop(name, None)


def get(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}; the op set is {', '.join(OPS)}") from None


def names() -> list[str]:
    return list(OPS)
