"""levin's graph IR: `Graph`, `Node`, `Tensor` (NHWC; see `levin.ir.graph`) over the op set of
`levin.ops`, capture from PyTorch and TFLite, and a numpy float reference interpreter."""

from levin.ir.graph import Graph, Node, QuantParams, Tensor
from levin.ops import OPS

__all__ = ["Graph", "Node", "QuantParams", "Tensor", "OPS"]
