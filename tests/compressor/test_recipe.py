"""Recipes: every shipped recipe and the --help example parse; bad recipes fail with the place named."""

import subprocess
import sys

import pytest

from levin.compressor import recipe as recipes
from levin.config import PruneConfig, ShareConfig, TrainConfig
from levin.errors import LevinError


@pytest.mark.parametrize("name", recipes.preset_names())
def test_every_shipped_recipe_parses_and_round_trips(name):
    r = recipes.load(name)
    assert r.steps, name
    again = recipes.Recipe.from_dict(r.to_dict())
    assert again == r


def test_repository_recipes_folder_holds_the_deep_compression_recipes():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "recipes"
    names = {p.stem for p in folder.glob("*.yaml")}
    assert {"deep-compression-lenet300", "deep-compression-lenet5"} <= names
    r = recipes.load(folder / "deep-compression-lenet5.yaml")
    assert [s.kind for s in r.steps] == ["prune", "share"]
    assert r.steps[0].config == PruneConfig(sparsity=0.925, scope="global", schedule="agp", end=0.6,
                                            frequency=100)
    assert r.steps[1].config.conv_bits == 8 and r.steps[1].config.linear_bits == 5


def test_help_example_recipe_parses():
    out = subprocess.run([sys.executable, "-m", "levin.cli.main", "compress", "--help"],
                         capture_output=True, text=True, check=True).stdout
    example = out[out.index("name: prune-share-code"):]
    r = recipes.parse(example, "help example")
    assert [s.kind for s in r.steps] == ["prune", "share"]
    assert r.distill == {"alpha": 0.5, "temperature": 4}
    assert r.steps[1].config == ShareConfig(conv_bits=8, linear_bits=5)
    assert r.quantize.per_channel is False


def test_finetune_settings_layer_preset_recipe_step():
    r = recipes.parse("""
finetune: {lr: 0.01, epochs: 5}
distill: {alpha: 0.3}
steps:
  - prune: {sparsity: 0.5}
    finetune: {epochs: 2}
  - finetune: {}
""")
    base = TrainConfig(epochs=30, batch_size=32, lr=0.1)
    first, second = (r.train_config(base, s) for s in r.steps)
    assert (first.epochs, first.lr, first.batch_size, first.distill_alpha) == (2, 0.01, 32, 0.3)
    assert second.epochs == 5 and r.steps[1].kind == "finetune" and r.steps[1].config is None


@pytest.mark.parametrize("text, message", [
    ("steps: [{prune: {sparsity: 1.5}}]", "step 1: prune: PruneConfig: sparsity must be in [0, 1)"),
    ("steps: [{prune: {sparsty: 0.5}}]", "unknown field(s) sparsty"),
    ("steps: [{quantise: {}}]", "step 1: a step names one pass of"),
    ("steps: [{prune: {}, share: {}}]", "a step names one pass"),
    ("steps: [{share: {bits: 9}}]", "bits must be in 1..8"),
    ("steps: [{prune: {}, finetune: {epoch: 3}}]", "step 1: finetune: TrainConfig: unknown field(s) epoch"),
    ("stepz: []", "unknown key(s) stepz"),
    ("distill: {temperature: 2}", "distill needs 'alpha'"),
    ("quantize: {weight_bits: 12}", "quantize: QuantConfig: weight_bits"),
    ("steps: {prune: {}}", "'steps' must be a list"),
    ("- just\n- a list", "a recipe is a mapping"),
    ("steps: [prune", "not valid YAML"),
    ("steps: [{share: {}}, {finetune: {}}, {prune: {sparsity: 0.5}}]", "step 3: prune after share (step 1)"),
    ("steps: [{mdl: {}}, {channels: {}}]", "step 2: channels after mdl (step 1)"),
])
def test_bad_recipes_name_the_problem(text, message):
    with pytest.raises(LevinError, match=None) as err:
        recipes.parse(text, "r.yaml")
    assert message in str(err.value) and str(err.value).startswith("r.yaml")


def test_missing_recipe_file_lists_presets(tmp_path):
    with pytest.raises(LevinError, match="presets: .*deep-compression-lenet5"):
        recipes.load(tmp_path / "nope.yaml")
