"""Model references: a checkpoint's metadata never chooses code to import, and metadata of the
wrong type is one clear error, never a traceback."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from levin import zoo
from levin.cli.main import main
from levin.errors import CheckpointError, LevinError
from levin.models import load_graph, load_model
from levin.train import checkpoint

MODEL_FILE = """
import pathlib, torch
pathlib.Path({marker!r}).write_text("imported")
class Net(torch.nn.Module):
    input_shape = (1, 8, 8)
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)
    def forward(self, x):
        return self.fc(x.flatten(1))
def net():
    return Net()
"""


@pytest.fixture
def user_model(tmp_path):
    """(file.py:factory reference, marker path written when the file is imported)."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "mine.py").write_text(MODEL_FILE.format(marker=str(marker)))
    return f"{tmp_path / 'mine.py'}:net", marker


def _raw_checkpoint(path, meta_json: str, tensors=None) -> None:
    save_file(tensors or {"model.x": torch.zeros(1)}, str(path), metadata={"levin": meta_json})


@pytest.mark.parametrize("relative", [False, True])
def test_checkpoint_naming_a_file_is_refused_without_importing_it(tmp_path, user_model, monkeypatch, relative):
    ref, marker = user_model
    if relative:
        monkeypatch.chdir(tmp_path)
        ref = "mine.py:net"
    torch.manual_seed(0)
    trained = torch.nn.Linear(64, 10)
    ckpt = tmp_path / "run" / "model.safetensors"
    module = load_model(ref).module
    module.fc.load_state_dict(trained.state_dict())
    checkpoint.save(ckpt, {"model": ref, "input_shape": [1, 8, 8]}, module)
    marker.unlink()
    with pytest.raises(CheckpointError, match=r"never imports.*--model .*mine\.py:net --weights"):
        load_model(str(ckpt.parent))
    assert not marker.exists()                       # the refusal ran none of the file's code
    loaded = load_model(ref, weights=ckpt.parent)    # the definition comes from the user
    assert torch.equal(loaded.module.fc.weight, trained.weight)
    assert loaded.input_shape == (1, 8, 8) and loaded.meta["model"] == ref


def test_zoo_checkpoint_still_loads_alone(tmp_path):
    module = zoo.spec("digits_cnn").factory()
    checkpoint.save(tmp_path / "model.safetensors", {"model": "digits_cnn", "input_shape": [1, 8, 8]}, module)
    loaded = load_model(str(tmp_path))
    assert loaded.name == "digits_cnn" and loaded.input_shape == (1, 8, 8)
    with pytest.raises(LevinError, match="--weights goes with a model definition"):
        load_model(str(tmp_path), weights=tmp_path)


@pytest.mark.parametrize("meta, message", [
    ('"digits_cnn"', "metadata is a JSON str"),
    ("[1, 2]", "metadata is a JSON list"),
    ("7", "metadata is a JSON int"),
    ("{}", "'model' is NoneType"),
    ('{"model": ["digits_cnn"]}', "'model' is list"),
    ('{"model": 3}', "'model' is int"),
    ('{"model": "digits_cnn", "input_shape": "abc"}', "input_shape 'abc'"),
    ('{"model": "digits_cnn", "input_shape": [1, -8, 8]}', "positive integers"),
    ('{"model": "digits_cnn", "input_shape": [1, 100000, 100000]}', "more than levin takes"),
    ('{"model": "digits_cnn", "num_classes": "ten"}', "num_classes 'ten'"),
    ('{"model": "SELF"}', "not a zoo model"),
    ("[" * 100000 + "]" * 100000, "not a levin checkpoint"),
])
def test_bad_metadata_is_one_clear_error(tmp_path, meta, message):
    path = tmp_path / "model.safetensors"
    _raw_checkpoint(path, meta.replace("SELF", str(path)))
    with pytest.raises(CheckpointError, match=message):
        load_model(str(path))


def test_cli_bad_checkpoint_and_shape_exit_2(tmp_path, user_model, capsys):
    ref, _ = user_model
    path = tmp_path / "model.safetensors"
    _raw_checkpoint(path, json.dumps({"model": ref}))
    assert main(["profile", "--model", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass the definition yourself" in err[0]
    assert main(["profile", "--model", "lenet5", "--input-shape", "1,100000,100000"]) == 2
    assert "more than levin takes" in capsys.readouterr().err
    assert main(["profile", "--model", "lenet5", "--input-shape", "abc"]) == 2


def test_factory_that_raises_is_one_line(tmp_path):
    (tmp_path / "bad.py").write_text("def net():\n    raise RuntimeError('boom')\n")
    with pytest.raises(LevinError, match=r"your model factory net\(\) raised RuntimeError: boom "
                                         r"\(at .*bad.py:2\); the error is in your code"):
        load_model(f"{tmp_path / 'bad.py'}:net")
    (tmp_path / "broken.py").write_text("import numpy\nx = 1 / 0\n")
    with pytest.raises(LevinError, match=r"importing it raised ZeroDivisionError: .* \(at .*broken.py:2\)"):
        load_model(f"{tmp_path / 'broken.py'}:net")


def test_load_graph_with_weights(tmp_path, user_model):
    ref, _ = user_model
    checkpoint.save(tmp_path / "model.safetensors", {"model": ref}, load_model(ref).module)
    graph = load_graph(ref, weights=tmp_path)
    assert graph.tensors[graph.inputs[0]].shape[1:3] == (8, 8)
