"""Generated C, compiled with gcc, against the numpy oracle, bit for bit: every zoo model and every
weight format, on real images (digits embedded; MNIST/CIFAR-10 from shared data) and random codes.

The zoo models get random weights (non-trivial BatchNorm), 70% magnitude pruning (so "sparse"
decodes real gap streams) and PTQ calibrated on the inputs. One compile per (model, format),
all inputs through one harness call. The big models' full format matrix is marked slow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from levin import zoo
from levin.config import QuantConfig
from levin.ir.capture import capture
from levin.quant import ptq
from levin.targets import build
from levin import codegen, reference
from levin.train import data
from tests.conftest import shared_data
from tests.ir.conftest import randomize_batchnorm

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")

FORMATS = ("int8", "packed", "codebook", "rans", "sparse", "auto")
DATASET = {"digits_cnn": ("digits", None), "lenet5": ("mnist", "mnist"), "lenet300": ("mnist", "mnist"),
           "resnet8": ("cifar10", "cifar10"), "dscnn": (None, None)}
FAST = [("digits_cnn", f) for f in FORMATS] + [
    ("resnet8", "int8"), ("resnet8", "sparse"), ("dscnn", "rans"), ("dscnn", "codebook"),
    ("lenet5", "sparse"), ("lenet300", "packed")]
SLOW = [(m, f) for m in DATASET for f in FORMATS if (m, f) not in FAST]


def _real_images(name: str, n: int) -> np.ndarray | None:
    dataset, folder = DATASET[name]
    if dataset is None:
        return None  # no speech data loader: random inputs only
    ds = data.load(dataset, shared_data(folder) if folder else None)
    return ds.x_test[:n].astype(np.float32)


def _prune(model: torch.nn.Module, sparsity: float) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                w = m.weight
                w[w.abs() < w.abs().flatten().quantile(sparsity)] = 0.0


_graphs: dict[str, tuple] = {}


def integer_model(name: str):
    """(integer graph, int8 inputs NHWC) of zoo model `name`, built once per test session."""
    if name not in _graphs:
        torch.manual_seed(0)
        model = randomize_batchnorm(zoo.create(name)).eval()
        _prune(model, 0.7)
        shape = zoo.spec(name).input_shape
        x = _real_images(name, 8)
        if x is None:
            x = np.random.default_rng(0).uniform(-1, 1, (8,) + shape).astype(np.float32)
        g = capture(model, torch.from_numpy(x[:1]))
        ig = ptq.build_integer_graph(g, ptq.prepare(g, x, QuantConfig()))
        real = reference.quantize_batch(ig, x)
        rand = np.random.default_rng(1).integers(-128, 128, (4,) + real.shape[1:]).astype(np.int8)
        _graphs[name] = (ig, np.concatenate([real, rand]))
    return _graphs[name]


def check_bit_exact(graph, inputs: np.ndarray, out_dir, weight_format: str,
                    prefer: str = "flash") -> codegen.ExportResult:
    # prefer="flash" by default: "auto" then exercises every decoder the smallest coding needs
    result = codegen.export_c(graph, out_dir, weight_format, prefer=prefer)
    exe = build.build_harness(result)
    got, _ = build.run_harness(exe, inputs, result.output_size)
    want = reference.run(graph, inputs)[graph.outputs[0]]
    diff = build.compare(got, want.reshape(got.shape))
    assert diff is None, f"{graph.name} / {weight_format}: {diff}"
    return result


@pytest.mark.parametrize("name,weight_format", FAST)
def test_zoo_model_bit_exact(name, weight_format, tmp_path):
    graph, inputs = integer_model(name)
    result = check_bit_exact(graph, inputs, tmp_path, weight_format)
    chains = set(result.chains.values())
    if weight_format == "int8":
        assert chains == {"raw"} and result.scratch_bytes == 0
    if weight_format == "sparse":  # 70% zeros: every weight tensor goes sparse, decoded to scratch
        assert all(c.startswith("sparse:") for c in chains) and result.scratch_bytes > 0
    if weight_format == "codebook":
        assert all("codebook" in c for c in chains)


@pytest.mark.slow
@pytest.mark.parametrize("name,weight_format", SLOW)
def test_zoo_model_bit_exact_full_matrix(name, weight_format, tmp_path):
    graph, inputs = integer_model(name)
    check_bit_exact(graph, inputs, tmp_path, weight_format)


def test_compressed_formats_are_smaller_in_flash(tmp_path):
    graph, _ = integer_model("digits_cnn")
    raw = codegen.export_c(graph, tmp_path / "raw", "int8").weight_bytes
    for fmt in ("codebook", "rans", "sparse"):
        assert codegen.export_c(graph, tmp_path / fmt, fmt).weight_bytes < raw, fmt


def test_mismatch_report_names_first_elements():
    msg = build.compare(np.array([[1, 2, 3]], np.int8), np.array([[1, 5, 3]], np.int8))
    assert msg.startswith("1 of 3 elements differ") and "at (0, 1): C 2, reference 5" in msg
    assert build.compare(np.zeros(3, np.int8), np.zeros(3, np.int8)) is None
