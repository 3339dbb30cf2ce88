"""Int8 graphs of the zoo models for benchmarks that need no trained weights: a seeded random
initialisation, optionally magnitude-pruned, post-training-quantized on seeded random inputs.
Instruction counts, sizes and bit-exactness do not depend on accuracy, so no training is needed."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from levin import zoo
from levin.config import QuantConfig
from levin.ir.capture import capture
from levin.ir.graph import Graph
from levin.quant import ptq
from levin import reference


def prune_to_density(model: nn.Module, density: float) -> nn.Module:
    """Zero all but the largest-magnitude `density` share of each conv/linear weight tensor."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight
                keep = max(1, int(round(density * w.numel())))
                threshold = w.abs().flatten().kthvalue(w.numel() - keep + 1).values
                w.mul_((w.abs() >= threshold).to(w.dtype))
    return model


def int8_graph(name: str, density: float | None = None, seed: int = 0, n_inputs: int = 3,
               weight_bits: int = 8) -> tuple[Graph, np.ndarray]:
    """(integer graph with `weight_bits`-bit weights, `n_inputs` int8 input codes flattened NHWC)
    for zoo model `name`."""
    torch.manual_seed(seed)
    model = zoo.create(name).eval()
    if density is not None:
        prune_to_density(model, density)
    shape = zoo.spec(name).input_shape
    x = np.random.default_rng(seed).uniform(0, 1, (16,) + shape).astype(np.float32)
    graph = ptq.quantize_graph(capture(model, torch.from_numpy(x[:1])), x, QuantConfig(weight_bits=weight_bits))
    codes = reference.quantize_batch(graph, x[:n_inputs])
    return graph, codes.reshape(n_inputs, -1).astype(np.int8)


def weight_density(graph: Graph) -> float:
    """Nonzero share of the conv/linear weights of an integer graph."""
    ws = [graph.tensors[n.inputs[1]].data for n in graph.nodes
          if len(n.inputs) > 1 and graph.tensors[n.inputs[1]].is_constant
          and graph.tensors[n.inputs[1]].data.dtype == np.int8]
    return float(sum(np.count_nonzero(w) for w in ws) / max(1, sum(w.size for w in ws)))
