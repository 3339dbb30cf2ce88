"""Per-layer and total figures for a Graph: parameters, MACs, stored weight bytes, activations,
peak SRAM (the planned arena) and flash (weight bytes + a code-size estimate).

MAC convention: one multiply-accumulate per use of a weight (Conv2d: output elements x
in-channels/groups x KH x KW; Linear: batch x in x out). `ops` counts the other arithmetic
(bias adds, activations, pooling, residual adds), one per element operation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from levin import ops
from levin.analyze.memory import ArenaPlan, plan_memory
from levin.ir.graph import Graph, Node

# Code-size estimate, in bytes of Thumb-2 code, until the C runtime is built and measured with
# `size -A`: the core below plus each kernel's own estimate (`Op.code_bytes`: ballpark of one
# plain C kernel, as CMSIS-NN's reference kernels are 0.5-4 KB).
CODE_BASE_BYTES = 6 * 1024      # runtime core: invoke loop, arena setup, requantization helpers
NODE_CODE_BYTES = 48            # per node: op, tensor offsets, attributes (const data)
TENSOR_CODE_BYTES = 16          # per activation: arena offset and shape


@dataclass
class LayerProfile:
    name: str
    op: str                     # the kernel it needs: the IR op, or DepthwiseConv2d
    output_shape: tuple[int, ...]
    dtype: str                  # of the weights if any, else of the output
    params: int
    macs: int
    ops: int
    weight_bytes: int           # constants as stored, with their quantization parameters
    input_bytes: int            # activations read
    output_bytes: int           # activation written


@dataclass
class ProfileResult:
    graph: str
    inputs: dict[str, tuple[int, ...]]
    layers: list[LayerProfile]
    plan: ArenaPlan
    code_bytes_estimate: int

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def arena_bytes(self) -> int:
        """Peak SRAM for activations: the size of the planned arena."""
        return self.plan.arena_bytes

    @property
    def flash_bytes(self) -> int:
        """Weight bytes plus the code-size estimate."""
        return self.weight_bytes + self.code_bytes_estimate

    def to_dict(self) -> dict:
        return {
            "graph": self.graph,
            "layout": "NHWC",
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "layers": [dict(asdict(layer), output_shape=list(layer.output_shape))
                       for layer in self.layers],
            "totals": {"params": self.params, "macs": self.macs, "weight_bytes": self.weight_bytes,
                       "arena_bytes": self.arena_bytes,
                       "code_bytes_estimate": self.code_bytes_estimate,
                       "flash_bytes": self.flash_bytes,
                       "largest_activation_bytes": max((layer.output_bytes for layer in self.layers),
                                                       default=0)},
            "estimated": ["code_bytes_estimate", "flash_bytes"],
            "arena_plan": self.plan.to_dict(),
        }


def count_macs(graph: Graph, node: Node) -> int:
    return ops.get(node.op).macs(graph, node)


def count_ops(graph: Graph, node: Node) -> int:
    """Non-MAC element operations (an estimate's input: one per add, compare, exp, ...)."""
    return ops.get(node.op).element_ops(graph, node)


def kernel_of(graph: Graph, node: Node) -> tuple[str, int]:
    """The C kernel a node needs (depthwise convs have their own) and its code-size estimate."""
    op = ops.get(node.op)
    return op.variant(graph, node) if op.variant else (op.name, op.code_bytes)


def code_size_estimate(graph: Graph) -> int:
    kernels = dict(kernel_of(graph, n) for n in graph.nodes)
    return (CODE_BASE_BYTES + sum(kernels.values())
            + NODE_CODE_BYTES * len(graph.nodes) + TENSOR_CODE_BYTES * len(graph.activations()))


def profile(graph: Graph, plan: ArenaPlan | None = None) -> ProfileResult:
    """Profile `graph`; plan its arena unless a plan is given."""
    layers = []
    for node in graph.nodes:
        consts = graph.constants(node)
        out = graph.tensors[node.output]
        layers.append(LayerProfile(
            name=node.name, op=kernel_of(graph, node)[0], output_shape=out.shape,
            dtype=str(consts[0].dtype if consts else out.dtype),
            params=sum(t.size for t in consts),
            macs=count_macs(graph, node), ops=count_ops(graph, node),
            weight_bytes=sum(t.nbytes + (t.quant.nbytes if t.quant else 0) for t in consts),
            input_bytes=sum(graph.tensors[i].nbytes for i in node.inputs
                            if not graph.tensors[i].is_constant),
            output_bytes=out.nbytes))
    return ProfileResult(graph.name, {n: graph.tensors[n].shape for n in graph.inputs}, layers,
                         plan or plan_memory(graph), code_size_estimate(graph))
