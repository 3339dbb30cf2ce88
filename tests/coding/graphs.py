"""Integer test graphs for the container tests, built without training data or runs/."""

from __future__ import annotations

import numpy as np

from levin.ir.graph import Graph, QuantParams
from levin.intmath import quantize, symmetric_scales


def quantize_graph(fg: Graph, seed: int = 0, sparsity: float = 0.0, bits: int = 8,
                   shared: int | None = None) -> Graph:
    """An int8 copy of a float graph: symmetric per-channel weights (axis 0) with `bits` bits,
    int32 biases, activations with made-up asymmetric parameters. `sparsity` zeroes that share of
    the smallest weights of each weight tensor; `shared` snaps weights to that many levels."""
    rng = np.random.default_rng(seed)
    g = Graph(fg.name)
    act = {}

    def act_quant(name: str) -> QuantParams:
        if name not in act:
            act[name] = QuantParams(np.float32(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)))
        return act[name]

    for name in fg.inputs:
        g.add_input(name, fg.tensors[name].shape, np.int8, act_quant(name))
    for node in fg.nodes:
        consts = [fg.tensors[i] for i in node.inputs if fg.tensors[i].is_constant]
        if consts:
            w = consts[0].data.astype(np.float64)
            if sparsity:
                w = np.where(np.abs(w) < np.quantile(np.abs(w), sparsity), 0.0, w)
            qmax = (1 << (bits - 1)) - 1
            flat = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
            scale = (symmetric_scales(flat) * 127 / qmax).astype(np.float32)
            q = quantize(w, scale, 0, axis=0, narrow_range=True)
            q = np.clip(q, -qmax, qmax).astype(np.int8)
            if shared:
                levels = np.unique(np.linspace(-qmax, qmax, shared).round()).astype(np.int64)
                q = levels[np.abs(q.reshape(-1, 1).astype(np.int64) - levels).argmin(1)].reshape(q.shape)
                q = q.astype(np.int8)
            g.add_constant(consts[0].name, q, QuantParams(scale, np.zeros_like(scale, dtype=np.int32), 0))
            if len(consts) > 1:
                bscale = (scale * act_quant(node.inputs[0]).scale[0]).astype(np.float32)
                b = np.round(consts[1].data / bscale).astype(np.int32)
                g.add_constant(consts[1].name, b, QuantParams(bscale, np.zeros_like(bscale, dtype=np.int32), 0))
        ins = [i for i in node.inputs]
        for i in ins:
            if i not in g.tensors:
                act_quant(i)
        g.add_node(node.op, ins, node.name, output=node.output, dtype=np.int8,
                   quant=act_quant(node.output), **node.attrs)
    for name in fg.outputs:
        g.mark_output(name)
    return g
