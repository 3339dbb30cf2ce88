"""The snapped float model -> levin's integer Graph (codebooks kept exact) -> .lvn bytes.

PTQ calibrates the int8 activations as usual; the weight scales of the snapped layers are then
replaced by the per-tensor scales `snap` chose, so each integer weight tensor holds exactly the
codes of its layer's component means (checked here: a mismatch would silently break the
codebook, and with it the agreement between the predicted and the coded size).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from levin.config.quant import QuantConfig
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.ir.graph import Graph
from levin.mdl.snap import SnappedLayer
from levin.quant import ptq
from levin.train.data import Dataset


def integer_graph(model: nn.Module, data: Dataset, snapped: dict[str, SnappedLayer],
                  calibration_size: int = 1000, name: str | None = None) -> Graph:
    """Capture the snapped `model` and quantize it; snapped layers keep their exact codebooks.

    Raises:
        LevinError: a snapped layer is not a weighted node of the captured graph, or its integer
            weights do not reproduce the snapped codes.
    """
    float_graph = capture(model, torch.from_numpy(data.x_train[:1]), name=name or type(model).__name__)
    calib = ptq.calibration_set(data.x_train, calibration_size)
    plan = ptq.prepare(float_graph, calib, QuantConfig(per_channel=False))
    for layer, s in snapped.items():
        if layer not in plan.weight_scales:
            raise LevinError(f"snapped layer {layer!r} is not a weighted node of the captured graph")
        plan.weight_scales[layer] = np.array([s.scale], dtype=np.float32)
    graph = ptq.build_integer_graph(float_graph, plan)
    for layer, s in snapped.items():
        node = next(n for n in graph.nodes if n.name == layer)
        got = np.unique(graph.tensors[node.inputs[1]].data)
        want = np.unique(s.codes)
        if not np.array_equal(got, want):
            raise LevinError(f"{layer}: integer weights hold {got.size} values, the snapped codebook "
                             f"{want.size}; the weights were changed after snapping")
    return graph
