"""levin's graph IR: `Graph`, `Node`, `Tensor` (NHWC; see `levin.ir.graph`), the op set, capture
from PyTorch and a numpy float reference interpreter."""

from levin.ir.graph import Graph, Node, QuantParams, Tensor
from levin.ir.ops import OPS

__all__ = ["Graph", "Node", "QuantParams", "Tensor", "OPS"]
