"""Resolve what a user means by "a model": a zoo name, `path/to/file.py:factory`, or a checkpoint
(`load_model`, an nn.Module); `load_graph` also takes model files that carry their own graph
(.onnx, .tflite: float or int8) and imports them into the graph IR.

>>> loaded = load_model("lenet5")
>>> loaded.name, loaded.input_shape
('lenet5', (1, 28, 28))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from levin import zoo
from levin.errors import CheckpointError, LevinError
from levin.train import checkpoint
from levin.train.loop import FINAL
from levin.usercode import call_users, is_reference, load_function


MAX_RANK = 4                  # one sample: (C,), (C, L), (C, H, W) or a 4-D tensor
MAX_INPUT_ELEMENTS = 1 << 24  # 16M values per sample (64 MB as float32)


@dataclass
class LoadedModel:
    module: nn.Module
    name: str                                 # zoo name or "file.py:factory"; how to rebuild it
    input_shape: tuple[int, ...] | None       # one sample, channels first; None if unknown
    num_classes: int | None
    meta: dict[str, Any] = field(default_factory=dict)   # a checkpoint's metadata, if any


def _from_factory(ref: str) -> LoadedModel:
    file, factory = load_function(ref, "model")
    model = call_users(file, f"your model factory {ref.rpartition(':')[2]}()", factory)
    if not isinstance(model, nn.Module):
        raise LevinError(f"{ref} returned {type(model).__name__}, not a torch.nn.Module")
    shape = getattr(model, "input_shape", None)
    return LoadedModel(model, ref, check_input_shape(shape, f"{ref}: input_shape") if shape else None, None)


def _checkpoint_file(path: Path) -> Path:
    file = path / FINAL if path.is_dir() else path
    if not file.is_file():
        raise LevinError(f"{path}: no {FINAL} here; train one with `levin train ... --out {path}`")
    return file


def check_input_shape(shape: Any, what: str) -> tuple[int, ...]:
    """`shape` (one sample, channels first) as a tuple, or a LevinError saying what is wrong with it.
    The bounds keep a typo from asking for a 40 GB tensor before anything else runs."""
    ok = (isinstance(shape, (list, tuple)) and 1 <= len(shape) <= MAX_RANK
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape))
    if not ok:
        raise LevinError(f"{what} {shape!r}: expected 1 to {MAX_RANK} positive integers like 1,28,28")
    elements = math.prod(shape)
    if elements > MAX_INPUT_ELEMENTS:
        raise LevinError(f"{what} {'x'.join(map(str, shape))}: {elements:,} elements per sample, more than "
                         f"levin takes ({MAX_INPUT_ELEMENTS:,}; microcontroller inputs are far smaller)")
    return tuple(shape)


def _meta_shape(meta: dict[str, Any], file: Path) -> tuple[int, ...] | None:
    shape = meta.get("input_shape")
    if shape is None:
        return None
    try:
        return check_input_shape(shape, "metadata input_shape")
    except LevinError as exc:
        raise CheckpointError(f"{file}: {exc}") from None


def _meta_classes(meta: dict[str, Any], file: Path) -> int | None:
    n = meta.get("num_classes")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise CheckpointError(f"{file}: metadata num_classes {n!r} is not a positive integer")
    return n


def _with_weights(base: LoadedModel, path: Path) -> LoadedModel:
    """`base` (built from code the user named) with the trained weights of checkpoint `path`."""
    file = _checkpoint_file(path)
    meta = checkpoint.read_meta(file)
    shape = _meta_shape(meta, file) or base.input_shape
    classes = _meta_classes(meta, file)
    checkpoint.load(file, base.module)
    return LoadedModel(base.module, base.name, shape, base.num_classes if classes is None else classes, meta)


def _from_checkpoint(path: Path) -> LoadedModel:
    """A checkpoint of a zoo model. Its metadata never chooses code to run: a checkpoint of a model
    defined in a file of the user's is loaded with the definition the user passes (`weights=`)."""
    file = _checkpoint_file(path)
    meta = checkpoint.read_meta(file)
    name = meta.get("model")
    if not isinstance(name, str):
        raise CheckpointError(f"{file}: checkpoint does not say which model it holds (metadata "
                              f"'model' is {type(name).__name__}, expected a zoo name)")
    if name not in zoo.names():
        hint = (f"--model {name} --weights {path}" if is_reference(name)
                else "--model path/to/file.py:factory --weights " + str(path))
        raise CheckpointError(f"{file}: holds weights of {name!r}, not a zoo model; levin never imports "
                              f"code a checkpoint names: pass the definition yourself: {hint}")
    spec = zoo.spec(name)
    return _with_weights(LoadedModel(spec.factory(), spec.name, spec.input_shape, spec.num_classes), path)


def load_model(ref: str, weights: str | Path | None = None) -> LoadedModel:
    """Build the model `ref` names: a zoo name, `file.py:factory`, or a checkpoint file/dir of a
    zoo model. `weights`: a checkpoint whose trained weights go into the model `ref` builds (how a
    checkpoint of your own model definition is loaded: the checkpoint never names code to run)."""
    if is_graph_file(ref):
        raise LevinError(f"{ref} is a model file, not code levin can train: `levin quantize --model "
                         f"{ref}` or `levin convert {ref} --data ...` quantize it (a float model), "
                         f"`levin convert` codes it (int8); `levin profile --model {ref}` profiles it")
    if is_reference(ref):
        base = _from_factory(ref)
    else:
        path = Path(ref)
        if path.suffix == ".safetensors" or path.is_dir():
            if weights is not None:
                raise LevinError(f"--weights goes with a model definition (zoo name or file.py:factory), "
                                 f"not with the checkpoint {ref}")
            return _from_checkpoint(path)
        try:
            spec = zoo.spec(ref)
        except LevinError:
            raise LevinError(f"unknown model {ref!r}: not a zoo model ({', '.join(zoo.names())}), "
                             f"a path/to/file.py:factory, or a checkpoint directory") from None
        base = LoadedModel(spec.factory(), spec.name, spec.input_shape, spec.num_classes)
    return _with_weights(base, Path(weights)) if weights is not None else base


GRAPH_FILES = (".onnx", ".tflite")   # model files imported as they are, not built from code


def is_graph_file(ref: str | Path) -> bool:
    """True if `ref` names a model file that carries its own graph and weights (.onnx, .tflite)."""
    return str(ref).endswith(GRAPH_FILES)


def channels_first(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """One sample of a graph input (N, H, W, C for rank 4) in levin's channels-first order."""
    sample = tuple(input_shape[1:])
    return (sample[2], sample[0], sample[1]) if len(sample) == 3 else sample


def load_float_model_file(ref: str):
    """(LoadedModel, float Graph) of a float .onnx / .tflite: the module is the graph's
    `GraphModule` (channels-first in and out, as a torch model), for commands that quantize it.
    An int8 model file is refused: it is quantized already."""
    from levin.quant.graphmodule import GraphModule

    graph = load_graph(ref)
    if not graph.tensors[graph.inputs[0]].is_float:
        raise LevinError(f"{ref} is an int8 model already: `levin convert {ref}` codes it "
                         f"(--kmeans / --prune shrink it), `levin export` makes its C")
    shape = channels_first(graph.tensors[graph.inputs[0]].shape)
    return LoadedModel(GraphModule(graph).eval(), str(ref), shape, None, {"file": str(ref)}), graph


def load_for_compression(ref: str, weights: str | Path | None = None) -> LoadedModel:
    """`load_model`, and a float .onnx / .tflite as its graph's module, which the compressor
    trains as a `levin.quant.trainable.TrainableGraph`."""
    if not is_graph_file(ref):
        return load_model(ref, weights)
    if weights is not None:
        raise LevinError(f"--weights goes with a model definition; {ref} carries its own weights")
    return load_float_model_file(ref)[0]


def load_graph(ref: str, input_shape: tuple[int, ...] | None = None, weights: str | Path | None = None):
    """Load the model `ref` names (`weights` as in `load_model`) and capture it into a
    `levin.ir.Graph` on a batch-1 input. A `.onnx` or `.tflite` file is imported as it is (its
    own shapes): a float model (float ONNX, float or dynamic-range .tflite) as a float graph to
    quantize, an int8 one (QDQ ONNX, full-integer .tflite) as its integer graph."""
    if is_graph_file(ref):
        if weights is not None or input_shape is not None:
            kind = "an ONNX" if str(ref).endswith(".onnx") else "a .tflite"
            raise LevinError(f"{ref}: {kind} model carries its weights and input shape; drop "
                             f"--weights / --input-shape")
        if str(ref).endswith(".onnx"):
            from levin.ir import onnx

            return onnx.load(ref)
        from levin.ir import tflite_float

        return tflite_float.load_any(ref)
    import torch

    from levin.ir.capture import capture

    loaded = load_model(ref, weights)
    shape = input_shape or loaded.input_shape
    if shape is None:
        raise LevinError(f"model {ref} does not say its input shape; pass --input-shape C,H,W "
                         f"(or give the module an `input_shape` attribute)")
    return capture(loaded.module, torch.zeros(1, *shape), name=loaded.name)
