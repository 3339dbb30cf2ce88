"""`compress(..., task=...)`: an anomaly detector pruned with retraining against its reconstruction
loss, scored by MSE on the normal validation frames and by AUC on the test split; top-k; refusals."""

import numpy as np
import pytest
import torch
from torch import nn

from levin.compressor import compress, parse
from levin.compressor.summary import render, summary_dict
from levin.data.splits import with_validation
from levin.data.synthetic import machine_sounds
from levin.errors import LevinError
from levin.train.data import Dataset

PRUNE = """
finetune: {epochs: 4, batch_size: 32, optimizer: adam, lr: 0.003, weight_decay: 0}
steps:
  - prune: {sparsity: 0.5, schedule: agp}
"""


@pytest.fixture(scope="module")
def sounds():
    raw = machine_sounds(train=400, test_normal=60, test_anomalous=60, mels=64, frames=1)
    mean, std = raw.x_train.mean(), raw.x_train.std()
    norm = lambda a: ((a - mean) / std).astype(np.float32)
    return with_validation(Dataset(raw.name, norm(raw.x_train), raw.y_train, norm(raw.x_test), raw.y_test,
                                   raw.classes))


@pytest.fixture(scope="module")
def detector(sounds):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(),
                          nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 64))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x = torch.from_numpy(sounds.x_train)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), x).backward()
        opt.step()
    return model.eval()


def test_anomaly_detector_is_pruned_against_its_reconstruction_loss(sounds, detector):
    r = compress(detector, sounds, recipe=parse(PRUNE), progress=False, task="anomaly")
    assert (r.task, r.metric, r.higher_is_better) == ("anomaly", "AUC", True)
    # Validation frames are all normal (held out of training): AUC is undefined there, so the
    # steps are scored by what the detector is trained for.
    assert r.step_metric == "MSE" and r.steps[0].scored_on == "validation"
    assert r.baseline_accuracy > 0.85                       # test AUC of the float detector
    assert 0 < r.steps[0].accuracy < 5 * r.baseline_validation_accuracy   # retrained, not wrecked
    assert r.steps[0].density == pytest.approx(0.5, abs=0.02)
    assert r.integer_accuracy > r.baseline_accuracy - 0.1   # int8 of the pruned model keeps ranking
    summary = summary_dict(r, parse(PRUNE))
    assert (summary["metric"], summary["steps_metric"]) == ("AUC", "MSE")
    text = render(r, "ad")
    assert "validation MSE" in text and "test AUC" in text


def test_reconstruction_and_top_k(sounds, detector):
    r = compress(detector, sounds, recipe=parse("steps: []"), progress=False, task="reconstruction")
    assert r.metric == r.step_metric == "MSE" and not r.higher_is_better
    assert r.integer_accuracy < 2 * r.baseline_accuracy
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Linear(64, 5))              # 5 outputs, labels 0/1: top-3 is defined
    c = compress(classifier, sounds, recipe=parse("steps: []"), progress=False, top_k=3)
    assert c.metric == "top-3 accuracy" and c.baseline_accuracy >= 0.6


@pytest.mark.parametrize("recipe, kwargs, message", [
    ("steps:\n  - mdl: {}\n    finetune: {epochs: 1}", {"task": "anomaly"}, "an mdl step trains for top-1"),
    ("steps: []\nquantize: {qat_epochs: 1}", {"task": "reconstruction"}, "quantization-aware training"),
    ("steps: []", {"task": "anomaly", "top_k": 2}, "top-k is a classification metric"),
    ("steps: []", {"task": "denoise"}, "is not one of"),
])
def test_a_task_the_recipe_cannot_serve_is_refused_first(sounds, detector, recipe, kwargs, message):
    with pytest.raises(LevinError, match=message):
        compress(detector, sounds, recipe=parse(recipe), progress=False, **kwargs)


def test_a_model_the_freeze_cannot_capture_is_refused_before_the_steps(sounds):
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(64), nn.Linear(64, 64))   # nothing to fold the BatchNorm into
    with pytest.raises(LevinError, match="BatchNorm"):
        compress(model, sounds, recipe=parse(PRUNE), progress=False, task="reconstruction")
