"""levin's IR ops, one module each, and the registry every layer asks (see `registry`).

    from levin import ops
    ops.get("Conv2d").macs(graph, node)

Importing this package registers the built-in ops below; an op defined elsewhere registers itself
with `ops.register(Op(...))` (docs/adding-an-op.md).
"""

from levin.ops.registry import OPS, CBinding, Op, get, names, register, unregister

# The built-in op set, in the order `names()` lists it.
from levin.ops import conv2d, linear, relu, lut, pool, add, concat, reshape, pad, softmax, activations, binary, reduce, layout, resize, conv_transpose  # noqa: E402,F401,I001

__all__ = ["OPS", "CBinding", "Op", "get", "names", "register", "unregister"]
