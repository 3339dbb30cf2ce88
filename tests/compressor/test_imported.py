"""Compressing an imported float model (ONNX, float .tflite): its convs and linears become torch
layers the steps prune and share (`TrainableGraph`), the trained weights go back into its graph,
and the graph is quantized and coded as any model is."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")

from levin import zoo  # noqa: E402
from levin.cli.main import main  # noqa: E402
from levin.compressor import compress, parse  # noqa: E402
from levin.errors import LevinError  # noqa: E402
from levin.ir import onnx as onnx_import  # noqa: E402
from levin.prune.masks import select_layers  # noqa: E402
from levin.quant.graphmodule import GraphModule  # noqa: E402
from levin.quant.trainable import TrainableGraph  # noqa: E402
from levin.train.data import load  # noqa: E402
from levin.train.loop import train  # noqa: E402
from levin.config import TrainConfig  # noqa: E402
from tests.conftest import shared_data  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load("digits")


@pytest.fixture(scope="module")
def imported(digits, tmp_path_factory):
    """digits_cnn trained for two epochs, exported to ONNX and imported as a float graph."""
    torch.manual_seed(0)
    model = train(zoo.create("digits_cnn"), digits, TrainConfig(epochs=2, batch_size=64), progress=False).model
    path = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    torch.onnx.export(model.eval(), (torch.zeros(1, 1, 8, 8),), str(path), opset_version=13, dynamo=False)
    return onnx_import.load(path)


def test_layers_are_torch_layers_and_write_back_exactly(imported):
    module = TrainableGraph(imported)
    layers = select_layers(module)
    assert len(layers) == sum(n.op in ("Conv2d", "Linear") for n in imported.nodes) >= 3
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(module(x), GraphModule(imported)(x))
    with torch.no_grad():
        next(iter(layers.values())).weight.mul_(0.5)          # a change the graph must receive
    assert torch.allclose(GraphModule(module.to_graph())(x), module(x), atol=1e-6)
    assert not torch.allclose(module(x), GraphModule(imported)(x))


def test_onnx_model_is_pruned_fine_tuned_and_frozen(imported, digits):
    recipe = parse("finetune: {epochs: 1, batch_size: 64}\nsteps:\n  - prune: {sparsity: 0.6, schedule: one_shot}")
    r = compress(imported, digits, recipe=recipe, progress=False)
    assert r.steps[0].density == pytest.approx(0.4, abs=0.02)
    weights = [r.graph.tensors[n.inputs[1]].data for n in r.graph.nodes if n.op in ("Conv2d", "Linear")]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)
    assert zeros >= 0.58                                       # the pruned zeros reached the int8 graph
    assert r.integer_accuracy > r.baseline_accuracy - 0.05


def test_steps_that_change_shapes_are_refused_first(imported, digits):
    with pytest.raises(LevinError, match="imported model"):
        compress(imported, digits, recipe=parse("steps:\n  - channels: {ratio: 0.5}"), progress=False)


def test_cli_compresses_the_float_anomaly_tflite(tmp_path, capsys):
    ad01 = shared_data("models/mlperf_tiny") / "anomaly_detection/ad01_fp32.tflite"
    rng = np.random.default_rng(0)
    x = rng.normal(-40, 10, size=(300, 640)).astype(np.float32)
    x[250:] += rng.normal(0, 30, size=(50, 640)).astype(np.float32)   # anomalies: noisier frames
    np.savez(tmp_path / "frames.npz", x_train=x[:200], x_test=x[200:],
             y_test=np.r_[np.zeros(50, np.int64), np.ones(50, np.int64)])
    (tmp_path / "r.yaml").write_text("finetune: {epochs: 1, batch_size: 50, optimizer: adam, lr: 0.0001, "
                                     "weight_decay: 0}\nsteps:\n  - prune: {sparsity: 0.5, schedule: one_shot}\n")
    assert main(["compress", "--model", str(ad01), "--data", str(tmp_path / "frames.npz"), "--task", "anomaly",
                 "--recipe", str(tmp_path / "r.yaml"), "-o", str(tmp_path / "run"), "--no-report",
                 "--quiet", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["metric"] == "AUC" and summary["runtime"]["bit_exact"]
    assert summary["steps"][0]["density"] == pytest.approx(0.5, abs=0.01)
    assert summary["lvn_bytes"] < 200_000
