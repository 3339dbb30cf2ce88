"""Layout copies: Transpose and StridedSlice. TFLite: TRANSPOSE, STRIDED_SLICE. Codes and
parameters unchanged (TFLite Micro's int8 kernels move codes and check nothing; levin requires
the input's parameters on the output, `output_quant="input"`).

Both are one C kernel, `levin_strided_copy_s8` (levin_layout.c): the output, padded to rank 4 in
front, is written in order, each element read at `offset + sum(i_k * stride_k)` of the input, the
strides derived at generation time. A transpose that only reorders what a following flatten and
Linear read costs nothing: the torch frontend folds it into the Linear's weight columns (`perm`,
`levin.ir.torch_ops`), and no Transpose node is emitted.
Axes and `perm` are IR (NHWC) axes; the batch axis stays where it is and is never sliced.
"""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register


def _strides(shape) -> list[int]:
    return [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]


# -- Transpose ------------------------------------------------------------------------------------
def transpose_shape(where, inputs, a):
    x = inputs[0].shape
    perm = a["perm"]
    if perm is None:
        raise GraphError(f"{where}: attribute 'perm' is required")
    perm = tuple(int(p) for p in perm)
    if sorted(perm) != list(range(len(x))):
        raise GraphError(f"{where}: perm {a['perm']} is no permutation of the {len(x)} axes")
    if len(x) > 4:
        raise GraphError(f"{where}: input rank {len(x)}; Transpose takes rank <= 4")
    if len(x) > 1 and perm[0] != 0:
        raise GraphError(f"{where}: perm {perm} moves the batch axis 0")
    a["perm"] = perm
    return a, tuple(x[p] for p in perm)


def transpose_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    return np.ascontiguousarray(np.transpose(args[0], node.attrs["perm"]))


def transpose_prepare(ctx, node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    qparams.same_params(t_in, ctx.graph.tensors[node.output], node)
    perm, st = node.attrs["perm"], _strides(t_in.shape)
    dims = [t_in.shape[p] for p in perm]
    return _copy(ctx, node, dims, [st[p] for p in perm], 0)


def _copy(ctx, node, dims, strides, offset) -> dict:
    pad = 4 - len(dims)
    return {"params": {"dims": "{" + ", ".join(map(str, [1] * pad + list(dims))) + "}",
                       "strides": "{" + ", ".join(map(str, [0] * pad + list(strides))) + "}",
                       "offset": offset},
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output)}


def _transpose_torch(x, *, perm):
    return x.permute(*perm)


# -- StridedSlice ---------------------------------------------------------------------------------
def slice_shape(where, inputs, a):
    x = inputs[0].shape
    r = len(x)
    if r > 4:
        raise GraphError(f"{where}: input rank {r}; StridedSlice takes rank <= 4")
    got = [a[k] for k in ("begin", "end", "strides")]
    if any(v is None for v in got[:2]):
        raise GraphError(f"{where}: attributes 'begin' and 'end' are required")
    begin, end = (tuple(int(v) for v in t) for t in got[:2])
    strides = tuple(int(v) for v in got[2]) if got[2] is not None else (1,) * r
    if not len(begin) == len(end) == len(strides) == r:
        raise GraphError(f"{where}: begin, end and strides need {r} entries each")
    if any(s < 1 for s in strides):
        raise GraphError(f"{where}: strides {strides} must be >= 1")
    if any(not 0 <= b < e <= d for b, e, d in zip(begin, end, x)):
        raise GraphError(f"{where}: slice {begin}:{end} is empty or outside the input {x} "
                         f"(0 <= begin < end <= size on every axis)")
    if r > 1 and (begin[0], end[0], strides[0]) != (0, x[0], 1):
        raise GraphError(f"{where}: the batch axis 0 cannot be sliced")
    a.update(begin=begin, end=end, strides=strides)
    return a, tuple(-(-(e - b) // s) for b, e, s in zip(begin, end, strides))


def _slices(a, offset: int = 0):
    return tuple(slice(b, e, s) for b, e, s in zip(a["begin"], a["end"], a["strides"]))[offset:]


def slice_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    return np.ascontiguousarray(args[0][(slice(None),) + _slices(node.attrs, 1)])


def slice_prepare(ctx, node, k: int) -> dict:
    t_in, t_out = ctx.graph.tensors[node.inputs[0]], ctx.graph.tensors[node.output]
    qparams.same_params(t_in, t_out, node)
    a, st = node.attrs, _strides(t_in.shape)
    return _copy(ctx, node, t_out.shape, [s * k_ for s, k_ in zip(st, a["strides"])],
                 sum(b * s for b, s in zip(a["begin"], st)))


def _slice_np(x, *, begin, end, strides):
    return x[(slice(None),) + _slices(dict(begin=begin, end=end, strides=strides), 1)]


def _size(graph, node) -> int:
    return graph.tensors[node.output].size


_C = ("op_strided_copy.c.j2",)
TRANSPOSE = register(Op(
    "Transpose", (1, 1), {"perm": None}, transpose_shape, lambda x, perm: np.transpose(x, perm),
    _transpose_torch, transpose_reference, CBinding(_C[0], transpose_prepare, ("levin_layout.c",)),
    element_ops=_size, code_bytes=160, output_quant="input", requantizes=False))
STRIDED_SLICE = register(Op(
    "StridedSlice", (1, 1), {"begin": None, "end": None, "strides": None}, slice_shape, _slice_np,
    _slice_np, slice_reference, CBinding(_C[0], slice_prepare, ("levin_layout.c",)),
    element_ops=_size, code_bytes=160, output_quant="input", requantizes=False))
