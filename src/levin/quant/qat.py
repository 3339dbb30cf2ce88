"""Quantization-aware training: fine-tune the fake-quantized graph, then convert as PTQ does.

Read me first. QAT starts where PTQ ends: the float model is captured (BatchNorm folded), PTQ
calibration gives a `QuantPlan`, and a `GraphModule` fake-quantizes the graph with that plan.
Training it with levin's loop (Adam, cosine learning rate, weight decay 0) updates the folded
weights with the straight-through estimator and, with `learn_scales`, every activation and
weight scale (LSQ). `export_plan` reads the result back into a `QuantPlan`, and
`ptq.build_integer_graph` turns that into the integer graph: the same conversion as PTQ, so a
QAT graph obeys every convention of a PTQ one.

Folding BN before QAT (rather than simulating the fold, as in Jacob et al. 2018) trains the
weights the integer graph actually holds; for a fine-tune of a few epochs from a trained model
the frozen statistics cost nothing measurable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from levin.config.quant import QuantConfig
from levin.config.train import TrainConfig
from levin.ir.graph import Graph
from levin.quant.graphmodule import GraphModule
from levin.quant.plan import QuantPlan
from levin.train.data import Dataset
from levin.train.loop import train


@dataclass
class QATResult:
    module: GraphModule          # the fine-tuned fake-quant module (float32)
    plan: QuantPlan              # its learned parameters and weights
    history: list[dict[str, float]]
    wall_s: float


def qat_train_config(config: QuantConfig) -> TrainConfig:
    """The TrainConfig QAT fine-tunes with."""
    return TrainConfig(epochs=config.qat_epochs, batch_size=config.qat_batch_size, optimizer="adam",
                       lr=config.qat_lr, weight_decay=0.0, shift=config.qat_shift,
                       seed=config.calibration_seed)


def quantization_aware_training(graph: Graph, plan: QuantPlan, data: Dataset, config: QuantConfig,
                                *, progress: bool = False) -> QATResult:
    """Fine-tune `graph` fake-quantized with `plan` on `data` for `config.qat_epochs` epochs."""
    torch.manual_seed(config.calibration_seed)
    module = GraphModule(graph, plan)
    if not config.learn_scales:
        for q in list(module.act_q.values()) + list(module.weight_q.values()):
            q.rel.requires_grad_(False)
    result = train(module, data, qat_train_config(config), model_name="qat", progress=progress)
    module.eval()
    return QATResult(module, module.export_plan(), result.history, result.wall_s)
