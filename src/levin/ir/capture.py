"""Capture a torch.nn.Module into a levin Graph with torch.fx.

Read me first:
- The module is traced with `torch.fx.symbolic_trace` (so its forward must not branch on tensor
  values) and run once on the example input to learn every shape. Capture is in eval mode:
  Dropout and Identity vanish, BatchNorm uses its running statistics and is folded into the
  Conv2d/Linear before it; a zero pad whose only user is a Conv2d becomes that conv's padding
  (as TF's 'same' padding, so no padded copy is kept in RAM).
- PyTorch is NCHW, the IR is NHWC (see levin.ir.graph). A rank-3 tensor (N, C, L) is a 1-D
  feature map, held as (N, 1, L, C): Conv1d and the 1-D pools become the 2-D IR ops with height
  1, and BatchNorm1d folds into the Conv1d before it. Each captured value remembers whether
  it is a transposed feature map and, after a flatten, which torch element each IR element
  holds (`perm`); a Linear that consumes such a vector gets its weight columns permuted, so no
  transpose op is needed at run time. A permute whose every user flattens it joins that order
  too (no copy); a permute read by anything else is a Transpose node.
- Anything outside the op set raises CaptureError naming the op, the module path where it
  occurs, and what is supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from levin.errors import CaptureError, GraphError
from levin.ir.graph import Graph
from levin.ir import torch_ops as H
from levin.ir.torch_ops import Value


def capture(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...],
            name: str | None = None, fold_pad: bool = True) -> Graph:
    """Trace `module` on `example` (batch dimension included) into a float32 Graph.

    Raises:
        CaptureError: the forward cannot be traced, or uses an op outside the op set.
    """
    examples = example if isinstance(example, (tuple, list)) else (example,)
    name = name or type(module).__name__
    was_training = module.training
    module.eval()
    try:
        # fx traces *through* the root module: a bare nn.Conv2d needs a wrapper to stay a leaf.
        root = nn.Sequential(module) if type(module) in H.MODULES else module
        try:
            traced = fx.GraphModule(root, _Tracer().trace(root), type(root).__name__)
        except Exception as exc:  # fx raises many types; all mean "this forward cannot be traced"
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CaptureError(f"cannot trace {name} with torch.fx ({msg}); levin captures "
                               f"forwards without data-dependent control flow") from None
        placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(examples):
            raise CaptureError(f"{name}.forward takes {len(placeholders)} inputs, "
                               f"{len(examples)} example inputs were given")
        try:
            with torch.no_grad():
                ShapeProp(traced).propagate(*examples)
        except Exception as exc:  # the user's forward on the user's input: report it in one line
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            shapes = ", ".join("x".join(map(str, e.shape)) for e in examples)
            raise CaptureError(f"{name} does not run on an input of shape {shapes} "
                               f"({type(exc).__name__}: {msg}); check the input shape") from None
        return _Capture(traced, name, fold_pad).run()
    finally:
        module.train(was_training)


class _Tracer(fx.Tracer):
    """fx's tracer, with every module type the torch frontend has an entry for kept as a leaf
    (torch.nn's are leaves anyway; a user's module with its own entry is one too)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m) in H.MODULES or super().is_leaf_module(m, qualname)


class _Capture:
    def __init__(self, traced: fx.GraphModule, name: str, fold_pad: bool):
        self.traced = traced
        self.graph = Graph(name)
        self.env: dict[fx.Node, Value] = {}
        self.modules = dict(traced.named_modules())
        self.bn_into: dict[fx.Node, nn.Module] = {}      # conv/linear node -> BatchNorm to fold
        self.absorbed: set[fx.Node] = set()              # BN and pad nodes folded away
        self._plan_folds(fold_pad)

    # -- helpers the handlers use -----------------------------------------------------------
    def module(self, node: fx.Node) -> nn.Module:
        return self.modules[node.target]

    def where(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return f"module '{node.target}'"
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        return f"module '{path}' (fx node '{node.name}')" if path else f"the top-level forward (fx node '{node.name}')"

    def torch_shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape)

    def node_name(self, node: fx.Node) -> str:
        if node.op == "call_module":
            base = str(node.target)
        else:
            stack = node.meta.get("nn_module_stack") or {}
            path = list(stack.values())[-1][0] if stack else ""
            base = f"{path}.{node.name}" if path else node.name
        name, i = base, 0
        while name in self.graph.tensors:
            i += 1
            name = f"{base}_{i}"
        return name

    def value(self, node: fx.Node, arg: Any, role: str = "input") -> Value:
        """The captured Value of a tensor argument; CaptureError if it is not one."""
        if isinstance(arg, fx.Node) and arg in self.env:
            return self.env[arg]
        what = f"'{arg.target}'" if isinstance(arg, fx.Node) else repr(arg)
        raise CaptureError(f"{H.op_label(self, node)} at {self.where(node)}: its {role} {what} "
                           f"is not a captured activation (constants and tensor attributes are "
                           f"not supported as operands)")

    def emit(self, fx_node: fx.Node, op: str, inputs: list[str], name: str | None = None,
             **attrs) -> str:
        return self.graph.add_node(op, inputs, name or self.node_name(fx_node), **attrs)

    def constant(self, name: str, data: np.ndarray) -> str:
        return self.graph.add_constant(name, np.asarray(data, dtype=np.float32))

    # -- the walk ---------------------------------------------------------------------------
    def _plan_folds(self, fold_pad: bool) -> None:
        for node in self.traced.graph.nodes:
            if node.op != "call_module" or type(self.module(node)) not in H.BATCHNORMS:
                continue
            src = node.args[0]
            if (isinstance(src, fx.Node) and src.op == "call_module" and len(src.users) == 1
                    and type(self.module(src)) in (nn.Conv2d, nn.Conv1d, nn.Linear, nn.ConvTranspose2d)):
                self.bn_into[src] = self.module(node)
                self.absorbed.add(node)
        if not fold_pad:
            return
        for node in self.traced.graph.nodes:
            users = list(node.users)
            if (H.zero_pad_of(self, node) is not None and len(users) == 1
                    and users[0].op == "call_module"
                    and type(self.module(users[0])) in (nn.Conv2d, nn.Conv1d)
                    and self.module(users[0]).padding_mode == "zeros"):
                self.absorbed.add(node)

    def run(self) -> Graph:
        unsupported = [n for n in self.traced.graph.nodes if n.op.startswith("call_")
                       and n.meta.get("tensor_meta") is not None and not H.is_supported(self, n)]
        if len(unsupported) > 1:      # all of them at once, not one per attempt
            where = "; ".join(f"{H.op_label(self, n)} at {self.where(n)}" for n in unsupported)
            raise CaptureError(f"{len(unsupported)} unsupported ops: {where}; levin captures {H.supported()}")
        for node in self.traced.graph.nodes:
            try:
                self._visit(node)
            except GraphError as exc:
                raise CaptureError(f"{H.op_label(self, node)} at {self.where(node)}: {exc}") from None
        return self.graph

    def _visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            shape = self.torch_shape(node)
            if node.meta["tensor_meta"].dtype != torch.float32:
                raise CaptureError(f"input '{node.name}' is {node.meta['tensor_meta'].dtype}; "
                                   f"capture takes float32 example inputs")
            nchw = len(shape) in (3, 4)         # (N, C, L) is a 1-D feature map: (N, 1, L, C)
            self.graph.add_input(node.name, H.nhwc(shape) if nchw else shape)
            self.env[node] = Value(node.name, nchw)
        elif node.op == "output":
            self._outputs(node)
        elif node.op == "get_attr" or node.meta.get("tensor_meta") is None:
            return                        # a parameter or a non-tensor value (x.size(0) ...)
        else:
            handler, args = H.dispatch(self, node)
            self.env[node] = handler(self, node, args)

    def _outputs(self, node: fx.Node) -> None:
        outs = node.args[0]
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        for out in outs:
            v = self.value(node, out, "output")
            if v.perm is not None:
                raise CaptureError(f"output '{v.name}' is a flattened feature map, whose element "
                                   f"order differs in NHWC; end the model with a Linear or pool "
                                   f"to 1x1 before flattening")
            self.graph.mark_output(v.name)

