"""A two-headed model compressed: the scored head fine-tuned on the task, the other toward the
uncompressed model's outputs, both heads frozen, coded and checked bit-exact in C."""

import numpy as np
import pytest
import torch
from torch import nn

from levin.compressor import compress, parse
from levin.compressor.deploy import deploy
from levin.data.splits import with_validation
from levin.errors import LevinError
from levin.train.data import Dataset


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 64), nn.ReLU())
        self.cls = nn.Linear(64, 3)
        self.reg = nn.Linear(64, 2)

    def forward(self, x):
        h = self.body(x)
        return self.cls(h), self.reg(h)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)).astype(np.int64)
    data = with_validation(Dataset("two", x[:500], y[:500], x[500:], y[500:], ("a", "b", "c")))
    torch.manual_seed(0)
    model = TwoHeads()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    xt, yt = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    for _ in range(200):                       # head 0 classifies, head 1 regresses x[:, :2]
        opt.zero_grad()
        c, r = model(xt)
        (nn.functional.cross_entropy(c, yt) + nn.functional.mse_loss(r, xt[:, :2])).backward()
        opt.step()
    return model.eval(), data


RECIPE = """
finetune: {epochs: 3, batch_size: 32, optimizer: adam, lr: 0.002, weight_decay: 0}
steps:
  - prune: {sparsity: 0.6, schedule: agp, scope: layer}
"""


def test_both_heads_survive_pruning_and_run_bit_exact_in_c(fitted, tmp_path):
    model, data = fitted
    r = compress(model, data, recipe=parse(RECIPE), progress=False)
    assert r.graph.outputs == ["cls", "reg"] and r.baseline_accuracy > 0.85
    assert r.integer_accuracy > r.baseline_accuracy - 0.05
    # the unscored head followed the teacher: it still regresses x[:, :2]
    with torch.no_grad():
        reg = r.model(torch.from_numpy(data.x_test))[1].numpy()
    assert np.mean((reg - data.x_test[:, :2]) ** 2) < 0.1
    check, export = deploy(r, data, tmp_path / "c")
    assert check.bit_exact and check.samples == len(data.x_test) and len(export.output_sizes) == 2
    assert check.accuracy == pytest.approx(r.integer_accuracy)


def test_a_layer_pruned_away_is_warned_about(fitted, capsys):
    model, data = fitted                       # ranked globally, the small regression head goes
    compress(model, data, recipe=parse(RECIPE.replace(", scope: layer", "")), progress=False)
    assert "layer(s) reg have no nonzero weight left" in capsys.readouterr().err


def test_mdl_steps_refuse_several_outputs(fitted):
    model, data = fitted
    with pytest.raises(LevinError, match="returns 2 outputs"):
        compress(model, data, recipe=parse("steps:\n  - mdl: {}\n    finetune: {epochs: 1}"), progress=False)
