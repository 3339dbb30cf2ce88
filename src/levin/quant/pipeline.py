"""quantize(): a torch model (or a float Graph: an imported .onnx / .tflite) and its dataset in,
the integer Graph and three scores out.

float (the torch model, or the graph's `GraphModule`), fake-quant (the `GraphModule` of the final
plan, run in float64, with the requantization's double rounding mirrored) and integer reference
(`levin.reference`) scores on the test set in the task's metric (`levin.metrics`: top-k accuracy,
MSE, reconstruction MSE or anomaly AUC; the `*_accuracy` fields hold its headline value), and
how closely the fake-quant model predicts the integer one: the share of samples with the same
argmax and the largest difference of an output code, in LSB.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from levin import metrics
from levin.config.quant import QuantConfig
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.ir.graph import Graph
from levin.quant import bias_precision, mixed, ptq
from levin.quant.graphmodule import GraphModule
from levin.quant.plan import QuantPlan, is_weighted
from levin.quant.qat import quantization_aware_training
from levin import reference
from levin.train.data import Dataset


@dataclass
class Agreement:
    argmax_match: float          # share of samples where fake-quant and integer argmax agree
    max_lsb: int                 # largest |fake-quant code - integer code| over all outputs
    differing: float             # share of output codes that differ at all

    def to_dict(self) -> dict[str, Any]:
        return {"argmax_match": self.argmax_match, "max_lsb": self.max_lsb, "differing": self.differing}


@dataclass
class QuantizeResult:
    graph: Graph                 # the integer graph
    float_graph: Graph           # the captured float graph it was made from
    plan: QuantPlan
    config: QuantConfig
    float_accuracy: float
    fakequant_accuracy: float
    integer_accuracy: float
    agreement: Agreement
    weight_bits: dict[str, int]
    weight_bytes: int            # packed weight codes (b bits each), without scales and biases
    float_weight_bytes: int
    qat_wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, metrics.Score] = field(default_factory=dict)   # float, fakequant, integer

    @property
    def metric(self) -> str:
        """What the `*_accuracy` fields measure: "top-1 accuracy", "MSE", "AUC", ..."""
        return self.scores["integer"].metric if self.scores else "top-1 accuracy"

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "metric": self.metric,
                "scores": {k: s.to_dict() for k, s in self.scores.items()},
                "float_accuracy": self.float_accuracy,
                "fakequant_accuracy": self.fakequant_accuracy,
                "integer_accuracy": self.integer_accuracy, "agreement": self.agreement.to_dict(),
                "weight_bits": self.weight_bits, "weight_bytes": self.weight_bytes,
                "float_weight_bytes": self.float_weight_bytes, "qat_wall_s": self.qat_wall_s,
                **self.extra}


def integer_outputs(graph: Graph, x: np.ndarray, batch_size: int = 500, single_round: bool = False,
                    output: int = 0) -> np.ndarray:
    """int8 codes of output `output` (the first by default) of integer `graph` on float inputs
    `x` (N, C, H, W)."""
    outs = []
    for i in range(0, len(x), batch_size):
        q = reference.quantize_batch(graph, x[i:i + batch_size])
        outs.append(reference.run(graph, q, single_round=single_round)[graph.outputs[output]])
    return np.concatenate(outs)


@torch.no_grad()
def fakequant_outputs(graph: Graph, plan: QuantPlan, x: np.ndarray, batch_size: int = 500,
                      single_round: bool = False, output: int = 0) -> np.ndarray:
    """Output codes of the fake-quant model of (float `graph`, `plan`), run in float64, with
    the rounding of `integer_outputs(..., single_round)`.

    With `single_round`, conv/linear outputs are computed as the integer graph does (exact
    integer accumulators, the reference's 31-bit multipliers: `GraphModule(integer_requant=True)`),
    so that its codes equal `integer_outputs(..., single_round=True)` on any CPU for graphs of
    conv, linear, ReLU, max pooling and reshape (the other ops stay float simulations). The default
    keeps the float simulation, with the classic double rounding mirrored, so that `agreement`
    measures how well the model QAT trains predicts the integer graph."""
    module = GraphModule(graph, plan, double_round=not single_round,
                         integer_requant=single_round).double().eval()
    outs = [metrics.output_of(module(torch.from_numpy(x[i:i + batch_size]).double()), output).numpy()
            for i in range(0, len(x), batch_size)]
    y = np.concatenate(outs)
    name = graph.outputs[output]
    y = reference.nhwc(y, len(graph.tensors[name].shape))
    s, zp = plan.params(name)
    return np.sign(y / s) * np.floor(np.abs(y / s) + 0.5) + zp


def agreement(fake_codes: np.ndarray, int_codes: np.ndarray) -> Agreement:
    diff = np.abs(fake_codes.astype(np.float64) - int_codes.astype(np.float64))
    match = (fake_codes.reshape(len(fake_codes), -1).argmax(1)
             == int_codes.reshape(len(int_codes), -1).argmax(1))
    return Agreement(float(match.mean()), int(diff.max()), float((diff > 0).mean()))


def weight_sizes(graph: Graph) -> tuple[dict[str, int], int]:
    """(bits per weighted node, packed bytes of all weight codes) of an integer graph."""
    bits, total = {}, 0
    for node in graph.nodes:
        if is_weighted(node.op):
            w = graph.tensors[node.inputs[1]]
            bits[node.name] = w.quant.bits or 8
            total += (w.size * bits[node.name] + 7) // 8
    return bits, total


def float_graph_of(model: nn.Module | Graph, x: np.ndarray) -> Graph:
    """`model` captured on one sample of `x`; a Graph (an imported float model) as it is."""
    if isinstance(model, Graph):
        return model
    return capture(model, torch.from_numpy(x[:1]), name=type(model).__name__)


def quantize(model: nn.Module | Graph, data: Dataset, config: QuantConfig = QuantConfig(), *,
             progress: bool = False, test_size: int | None = None, task: str = "classification",
             top_k: int = 1, output: int = 0) -> QuantizeResult:
    """Capture `model` (a Graph: a float model already imported), quantize it (PTQ, then QAT if
    `config.qat_epochs`), measure it.

    Calibration samples come from `data.x_train` (labels are not needed); scores are on
    `test_size` test samples spread evenly over the test split (all by default: a test split
    sorted by class stays balanced), in `task`'s metric (`levin.metrics`), on the model's output
    `output` when it has several (all of them are quantized).
    """
    metrics.check_task(task, top_k)
    if task != "classification" and config.qat_epochs:
        raise LevinError(f"task {task}: QAT trains for top-1 accuracy; quantize with PTQ "
                         f"(and --max-drop, which speaks the task's metric) for this task")
    if output and config.qat_epochs:
        raise LevinError("QAT trains one output of a model; quantize a multi-output model with PTQ")
    pick = spread(len(data.x_test), test_size)
    x_test = data.x_test[pick]
    y_test = None if data.y_test is None else data.y_test[pick]
    float_graph = float_graph_of(model, data.x_train)
    calib = ptq.calibration_set(data.x_train, config.calibration_size, config.calibration_seed)
    extra: dict[str, Any] = {}
    if config.max_drop is not None:
        # Scored on the validation split when the data has one (levin.data.with_validation), else
        # on training samples; never on the test split, which is scored once, below.
        held_out = data.x_val is not None
        scoring = replace(data, x_train=data.x_val, y_train=data.y_val) if held_out else data
        chosen = choose_bits(float_graph, calib, scoring, config, task, top_k, output)
        extra["mixed"] = {"bits": chosen.bits, "validation_drop": chosen.drop,
                          "validation_size": chosen.samples, "total_weight_bits": chosen.total_bits,
                          "scored_on": "validation split" if held_out else "training samples",
                          "metric": metrics.headline(chosen.points.task, top_k)[0],
                          "max_drop": config.max_drop, "sensitivity": chosen.sensitivity.correct,
                          "sensitivity_base": chosen.sensitivity.base_correct}
        config = replace(config, layer_bits=chosen.bits, max_drop=None)
    plan = ptq.prepare(float_graph, calib, config)
    qat_wall = None
    if config.qat_epochs:
        qat = quantization_aware_training(float_graph, plan, data, config, progress=progress)
        plan, qat_wall = qat.plan, qat.wall_s
    graph = ptq.build_integer_graph(float_graph, plan)
    if config.round_biases:
        graph, extra["biases"] = round_biases(graph, data, config, task, top_k, output)
    module = GraphModule(model) if isinstance(model, Graph) else model
    fake = fakequant_outputs(float_graph, plan, x_test, output=output)
    ints = integer_outputs(graph, x_test, output=output)
    scored = graph.outputs[output]
    scores = {"float": metrics.score(task, float_outputs(module, x_test, output=output), x_test, y_test, top_k),
              "fakequant": metrics.score(task, reference.dequantize_output(graph, fake.astype(np.int64), scored),
                                        x_test, y_test, top_k),
              "integer": metrics.score(task, reference.dequantize_output(graph, ints, scored), x_test, y_test, top_k)}
    if len(graph.outputs) > 1:
        extra["scored_output"] = {"index": output, "name": scored, "outputs": list(graph.outputs)}
    bits, nbytes = weight_sizes(graph)
    float_bytes = sum(float_graph.tensors[n.inputs[1]].size * 4 for n in float_graph.nodes
                      if is_weighted(n.op))
    return QuantizeResult(
        graph, float_graph, plan, config, scores["float"].value, scores["fakequant"].value,
        scores["integer"].value, agreement(fake, ints), bits, nbytes, float_bytes, qat_wall, extra, scores)


def spread(n: int, size: int | None) -> np.ndarray:
    """Indices of `size` samples spread evenly over `n` (all of them without a size)."""
    if size is None or size >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(size, 1)).round().astype(np.int64))


@torch.no_grad()
def float_outputs(module: nn.Module, x: np.ndarray, batch_size: int = 500, output: int = 0) -> np.ndarray:
    """The float model's output `output` on `x` (N first), as numpy."""
    module.eval()
    return np.concatenate([metrics.output_of(module(torch.from_numpy(x[i:i + batch_size])), output).double().numpy()
                           for i in range(0, len(x), batch_size)])


def tuning_samples(data: Dataset, config: QuantConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """`config.validation_size` seeded samples of `data.x_train` (with their labels)."""
    idx = np.random.default_rng(config.calibration_seed + 1).permutation(len(data.x_train))
    idx = np.sort(idx[:config.validation_size])
    return data.x_train[idx], None if data.y_train is None else data.y_train[idx]


def round_biases(graph: Graph, data: Dataset, config: QuantConfig, task: str = "classification",
                 top_k: int = 1, output: int = 0) -> tuple[Graph, dict[str, Any]]:
    """`graph` with its biases rounded (`levin.quant.bias_precision`), each layer's step the
    coarsest that leaves the integer score no worse, on the validation split when the data has
    one, else on `config.validation_size` training samples (never the test split)."""
    held_out = data.x_val is not None
    x, y = (data.x_val, data.y_val) if held_out else tuning_samples(data, config)
    task = metrics.tuning_task(task, y)
    higher = metrics.headline(task, top_k)[1]
    scored = graph.outputs[output]

    def loss(g: Graph) -> float:
        out = reference.dequantize_output(g, integer_outputs(g, x, output=output), scored)
        value = metrics.score(task, out, x, y, top_k).value
        return -value if higher else value

    graph, fractions, exact, rounded = bias_precision.choose_fractions(graph, loss)
    sign = -1 if higher else 1
    return graph, {"output_steps": fractions, "scored_on": "validation split" if held_out else "training samples",
                   "samples": len(x), "exact": sign * exact, "rounded": sign * rounded}


def choose_bits(float_graph: Graph, calib: np.ndarray, data: Dataset, config: QuantConfig,
                task: str = "classification", top_k: int = 1, output: int = 0):
    """Mixed precision (`levin.quant.mixed`) from the 8-bit plan, scored in `task`'s metric on
    `config.validation_size` seeded samples of `data.x_train` (`quantize` hands it the
    validation split there when the data has one)."""
    eight = config.with_(weight_bits=8, layer_bits={})
    plan = ptq.prepare(float_graph, calib, eight)
    x, y = tuning_samples(data, config)
    return mixed.mixed_precision(float_graph, plan, x, y, config.max_drop,
                                 per_channel=config.per_channel, method=config.weight_observer,
                                 task=metrics.tuning_task(task, y), top_k=top_k, output=output)
