"""Run a .tflite model in the peers levin is checked against: TFLite Micro and ai-edge-litert.

Both are optional (levin's `dev` extra); a missing one raises LevinError saying what to install.
Bytes that are no well-formed .tflite raise LevinFormatError before either sees them.
- TFLite Micro (`tflite_micro.runtime`): the reference kernels levin's integer semantics follow.
  Its RecordingMicroAllocator reports the arena it used, printed to the C stderr; `tflm_arena`
  captures that text (file descriptor 2) and parses it.
- ai-edge-litert: desktop TFLite. The reference kernels (`BUILTIN_REF`) are the comparable ones:
  the default resolver delegates int8 ops to XNNPACK, whose requantization rounds differently.
  Note that desktop TFLite's reference FULLY_CONNECTED rounds once (levin's `single_round`),
  unlike its CONV_2D and TFLite Micro, which round twice.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from levin.errors import LevinError


def _tflm():
    try:
        from tflite_micro import runtime
    except ImportError:
        raise LevinError("TFLite Micro is not installed: pip install tflite-micro") from None
    return runtime


def _checked(model: bytes) -> bytes:
    """`model`, after levin's reader has walked its flatbuffer: neither peer verifies the bytes
    it is given, so a truncated or corrupt file would crash the process instead of raising."""
    from levin.ir import tflite_read

    model = bytes(model)
    tflite_read.read(model, "model")
    return model


def tflm_interpreter(model: bytes, arena_size: int | None = None):
    """A TFLite Micro interpreter on `model` (arena: 10x the model bytes unless given)."""
    return _tflm().Interpreter.from_bytes(_checked(model), arena_size=arena_size)


def run_tflm(model: bytes, inputs: np.ndarray, interpreter=None) -> np.ndarray:
    """Outputs of TFLite Micro on each sample of `inputs` (batch of single-input samples)."""
    it = interpreter or tflm_interpreter(model)
    outs = []
    for x in inputs:
        it.set_input(np.ascontiguousarray(x[None]), 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)))
    return np.concatenate(outs)


def litert_interpreter(model: bytes, resolver: str = "BUILTIN_REF"):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise LevinError("ai-edge-litert is not installed: pip install ai-edge-litert") from None
    it = Interpreter(model_content=_checked(model), experimental_op_resolver_type=getattr(OpResolverType, resolver))
    it.allocate_tensors()
    return it


def run_litert(model: bytes, inputs: np.ndarray, resolver: str = "BUILTIN_REF") -> np.ndarray:
    """Outputs of ai-edge-litert (desktop TFLite) with the given op resolver on each sample."""
    it = litert_interpreter(model, resolver)
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    outs = []
    for x in inputs:
        it.set_tensor(i, np.ascontiguousarray(x[None]))
        it.invoke()
        outs.append(it.get_tensor(o).copy())
    return np.concatenate(outs)


@dataclass(frozen=True)
class TflmArena:
    """TFLite Micro's arena use after one inference, as its RecordingMicroAllocator reports it.
    `head` is the non-persistent part (activations and scratch, planned by its greedy planner);
    `tail` the persistent part (interpreter structs, quantization data, kernel op data) whose
    size depends on the host's pointer width; `total` = head + tail."""

    total: int
    head: int
    tail: int


def tflm_arena(model: bytes, sample: np.ndarray) -> TflmArena:
    """Run one inference of `model` on `sample` in TFLite Micro and return its arena use."""
    it = tflm_interpreter(model)
    it.set_input(np.ascontiguousarray(sample[None]), 0)
    it.invoke()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            it.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    found = {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
    if set(found) != {"total", "head", "tail"}:
        raise LevinError(f"TFLite Micro did not report its arena use (got: {text[:200]!r})")
    return TflmArena(found["total"], found["head"], found["tail"])
