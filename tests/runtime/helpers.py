"""Small graphs for the integer-interpreter tests: one op on random inputs, quantized by PTQ."""

import numpy as np

from levin.config import QuantConfig
from levin.ir import interpreter
from levin.ir.graph import Graph
from levin.quant import ptq
from levin.quant.pipeline import fakequant_outputs
from levin import reference


def nchw(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def run_all(graph: Graph, x_nhwc: np.ndarray, config: QuantConfig = QuantConfig()):
    """(float outputs, integer outputs dequantized, fake-quant codes, integer codes, integer graph,
    plan) of `graph` on NHWC float inputs, calibrated on those same inputs."""
    plan = ptq.prepare(graph, nchw(x_nhwc), config)
    ig = ptq.build_integer_graph(graph, plan)
    ig.validate()
    want = np.concatenate([interpreter.run(graph, x[None])[graph.outputs[0]] for x in x_nhwc])
    codes = reference.run(ig, reference.quantize_input(ig, x_nhwc))[ig.outputs[0]]
    fake = fakequant_outputs(graph, plan, nchw(x_nhwc))
    return want, reference.dequantize_output(ig, codes), fake, codes, ig, plan


def one_op(op: str, input_shape, *, weights=None, bias=True, seed=0, **attrs) -> Graph:
    """A float graph: input of `shape` (NHWC, batch 1) -> `op` -> output."""
    rng = np.random.default_rng(seed)
    g = Graph(op)
    x = g.add_input("x", input_shape)
    inputs = [x]
    if weights is not None:
        inputs.append(g.add_constant("w", rng.normal(0, 0.3, weights).astype(np.float32)))
        if bias:
            inputs.append(g.add_constant("b", rng.normal(0, 0.2, weights[0]).astype(np.float32)))
    out = g.add_node(op, inputs, "y", **attrs)
    g.mark_output(out)
    return g
