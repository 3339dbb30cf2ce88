"""The recipe pipeline on the digits CNN: constraints held across steps, resume, freeze, CLI."""

import json

import numpy as np
import pytest
import torch

from levin.coding import container
from levin.compressor import compress, parse
from levin.config import TrainConfig
from levin.errors import CheckpointError
from levin.prune.nm import check_nm, input_orders
from levin.train.data import load
from levin.train.loop import train
from levin.zoo import create

FAST = TrainConfig(epochs=1, batch_size=64, lr=0.02)


@pytest.fixture(scope="module")
def data():
    return load("digits")


@pytest.fixture(scope="module")
def trained(data):
    torch.manual_seed(0)
    return train(create("digits_cnn"), data, FAST.with_(epochs=4), progress=False).model


def _weights(model):
    return {n: m.weight.detach().clone() for n, m in model.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}


RECIPE = """
finetune: {epochs: 1, batch_size: 64}
steps:
  - prune: {sparsity: 0.7, schedule: one_shot}
  - channels: {ratio: 0.25}
  - share: {bits: 3}
    finetune: {optimizer: adam, lr: 1.0e-3, weight_decay: 0}
  - finetune: {optimizer: adam, lr: 1.0e-3, weight_decay: 0}
quantize: {per_channel: false, calibration_size: 100}
"""


def test_steps_keep_zeros_channels_and_codebooks_then_freeze(trained, data, tmp_path):
    result = compress(trained, data, parse(RECIPE), tmp_path, model_name="digits_cnn",
                      train_config=FAST, progress=False)
    assert [s.kind for s in result.steps] == ["prune", "channels", "share", "finetune"]
    prune, channels, shared, last = result.steps
    assert prune.density == pytest.approx(0.3, abs=0.01)
    assert channels.params < prune.params and channels.info["removed_channels"] > 0
    for name, w in _weights(result.model).items():
        assert len(torch.unique(w[w != 0])) <= 8, name            # 3-bit codebooks survived fine-tuning
    assert last.density <= shared.density <= channels.density + 1e-9

    # The frozen graph is what the .lvn holds, and its zeros are the float model's zeros.
    lvn = (tmp_path / "model.lvn").read_bytes()
    assert len(lvn) == result.lvn_bytes
    graph = container.decode(lvn)
    zeros = sum(int((t.data == 0).sum()) for n in graph.nodes if n.op in ("Conv2d", "Linear")
                for t in [graph.tensors[n.inputs[1]]])
    float_zeros = sum(int((w == 0).sum()) for w in _weights(result.model).values())
    assert zeros >= float_zeros
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["lvn_bytes"] == len(lvn) and len(summary["layers"]) == 3
    assert sum(r["bytes"] for r in summary["layers"]) < len(lvn)
    assert summary["integer_accuracy"] == result.integer_accuracy > 0.5


def test_rerun_resumes_every_step_and_gives_the_same_file(trained, data, tmp_path):
    first = compress(trained, data, parse(RECIPE), tmp_path, model_name="digits_cnn",
                     train_config=FAST, progress=False)
    again = compress(trained, data, parse(RECIPE), tmp_path, model_name="digits_cnn",
                     train_config=FAST, progress=False)
    assert all(s.resumed for s in again.steps)
    assert (tmp_path / "model.lvn").read_bytes() == container.encode(first.graph, parse(RECIPE).code)
    assert again.lvn_bytes == first.lvn_bytes


def test_other_recipe_in_the_same_folder_is_refused(trained, data, tmp_path):
    compress(trained, data, parse("steps: [{prune: {sparsity: 0.5, schedule: one_shot}, finetune: {epochs: 0}}]"),
             tmp_path, model_name="digits_cnn", progress=False)
    with pytest.raises(CheckpointError, match="another recipe"):
        compress(trained, data, parse("steps: [{prune: {sparsity: 0.6, schedule: one_shot}, finetune: {epochs: 0}}]"),
                 tmp_path, model_name="digits_cnn", progress=False)


def test_a_run_made_before_a_config_field_existed_still_resumes(trained, data, tmp_path):
    """A step checkpoint whose stored config lacks a field added since resumes when the recipe
    leaves that field at its default, and is another recipe when it sets it."""
    import copy

    from levin.train import checkpoint
    recipe = "steps: [{prune: {sparsity: 0.5, schedule: one_shot}, finetune: {epochs: 0}}]"
    compress(trained, data, parse(recipe), tmp_path, model_name="digits_cnn", progress=False)
    step_file = next((tmp_path / "steps").iterdir()) / "model.safetensors"
    meta, model = checkpoint.read_meta(step_file), copy.deepcopy(trained)
    checkpoint.load(step_file, model)
    del meta["identity"]["steps"][0]["prune"]["frequency"]          # as if written before it existed
    checkpoint.save(step_file, meta, model)
    again = compress(trained, data, parse(recipe), tmp_path, model_name="digits_cnn", progress=False)
    assert again.steps[0].resumed
    with pytest.raises(CheckpointError, match="another recipe"):
        compress(trained, data, parse(recipe.replace("one_shot", "one_shot, frequency: 7")), tmp_path,
                 model_name="digits_cnn", progress=False)


def test_nm_step_with_distillation_keeps_the_pattern(trained, data):
    recipe = parse("""
distill: {alpha: 0.5, temperature: 2}
steps:
  - nm: {n: 2, m: 4, strict: false}
    finetune: {epochs: 1, batch_size: 64}
quantize: {calibration_size: 100}
""")
    result = compress(trained, data, recipe, None, model_name="digits_cnn", progress=False)
    fc = result.model.fc.weight.detach()
    assert check_nm(fc, 2, 4, input_orders(result.model)["fc"])   # groups as the deployed kernel reads them
    assert result.steps[0].density <= 0.51          # short last groups (conv1: 9 taps) keep 1 of 1
    assert result.lvn_path is None and result.lvn_bytes > 0


def test_input_model_is_not_changed(trained, data):
    before = _weights(trained)
    compress(trained, data, parse("steps: [{prune: {sparsity: 0.5, schedule: one_shot}, finetune: {epochs: 0}}]"),
             None, model_name="digits_cnn", progress=False)
    after = _weights(trained)
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_cli_trains_an_untrained_zoo_model_then_compresses_exports_and_reports(tmp_path, capsys, monkeypatch):
    import dataclasses

    from levin import zoo
    from levin.cli.main import main

    spec = zoo.spec("digits_cnn")                     # a shorter baseline preset keeps the test fast
    quick = dataclasses.replace(spec, train=spec.train.with_(epochs=4))
    monkeypatch.setattr(zoo, "spec", lambda name: quick if name == "digits_cnn" else spec)

    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps: [{prune: {sparsity: 0.5, schedule: one_shot}, finetune: {epochs: 1}}]\n"
                      "quantize: {calibration_size: 100}\n")
    out = tmp_path / "run"
    code = main(["compress", "--model", "digits_cnn", "--recipe", str(recipe), "--out", str(out),
                 "--quiet", "--json", str(tmp_path / "s.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "total (.lvn file)" in printed and "integer graph" in printed
    assert (out / "baseline" / "model.safetensors").exists() and (out / "model.lvn").exists()
    assert "bit-exact with the integer reference" in printed and (out / "report.html").exists()
    assert (out / "c" / "model.c").exists()
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["baseline_accuracy"] > 0.9            # the baseline was really trained
    assert summary["runtime"]["bit_exact"] and summary["runtime"]["samples"] == len(load("digits").x_test)
    assert np.isclose(summary["steps"][0]["density"], 0.5, atol=0.01)


def test_cli_bad_recipe_fails_before_work(tmp_path, capsys):
    from levin.cli.main import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [{prune: {sparsity: 2}}]\n")
    assert main(["compress", "--model", "digits_cnn", "--recipe", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "sparsity must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_mdl_step_snaps_to_a_codebook_the_freeze_keeps(trained, data, tmp_path):
    recipe = parse("""
steps:
  - prune: {sparsity: 0.6, schedule: one_shot}
    finetune: {epochs: 0}
  - mdl: {lam: 1.0, components: 8, calibration_size: 100}
    finetune: {epochs: 1, optimizer: adam, lr: 5.0e-4, batch_size: 64}
quantize: {per_channel: false, calibration_size: 100}
""")
    result = compress(trained, data, recipe, tmp_path, model_name="digits_cnn", progress=False)
    info = result.steps[1].info
    assert info["mdl_file_bytes"] > 0 and info["predicted_bytes"] > 0
    for name, w in _weights(result.model).items():
        assert len(torch.unique(w[w != 0])) <= 8, name                 # snapped to <= 8 nonzero means
    graph = result.graph
    for node in graph.nodes:
        if node.op in ("Conv2d", "Linear"):
            codes = graph.tensors[node.inputs[1]].data
            assert len(np.unique(codes[codes != 0])) <= 8, node.name   # the freeze kept the codebook


def test_an_mdl_step_that_cut_dead_units_resumes_with_the_cut_shapes(trained, data, tmp_path):
    recipe = parse("""
steps:
  - prune: {sparsity: 0.97, schedule: one_shot}
    finetune: {epochs: 0}
  - mdl: {lam: 1.0, components: 4, calibration_size: 100, remove_dead: true, finetune_epochs: 0}
    finetune: {epochs: 1, optimizer: adam, lr: 5.0e-4, batch_size: 64}
quantize: {per_channel: false, calibration_size: 100}
""")
    first = compress(trained, data, recipe, tmp_path, model_name="digits_cnn", progress=False)
    assert any(r["removed"] for r in first.steps[1].info["dead_units"])
    shapes = {n: p.shape for n, p in first.model.state_dict().items()}
    again = compress(trained, data, recipe, tmp_path, model_name="digits_cnn", progress=False)
    assert again.steps[1].resumed
    assert {n: p.shape for n, p in again.model.state_dict().items()} == shapes
    assert again.lvn_bytes == first.lvn_bytes


def test_a_baseline_at_chance_is_warned_about(capsys):
    from levin.compressor.pipeline import _warn_if_at_chance

    _warn_if_at_chance("mine", 0.11, 10)
    assert "baseline test accuracy is 11.00%, near chance for 10 classes (10.0%)" in capsys.readouterr().err
    _warn_if_at_chance("mine", 0.62, 10)
    _warn_if_at_chance("mine", 0.0, 1)
    assert capsys.readouterr().err == ""
