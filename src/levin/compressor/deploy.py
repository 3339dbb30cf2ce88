"""After the freeze: export the C runtime, build it, run it on the test set, check it bit for bit.

The integer reference interpreter (levin.reference) is the oracle; the compiled C must
give the same int8 output codes on every test input checked. Flash is measured by compiling the
model and runtime for Cortex-M4 with arm-none-eabi-gcc -Os when it is installed, else for the
host with gcc -Os (said so in `where`).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levin import metrics
from levin.errors import LevinError, VerificationError
from levin.train.data import Dataset


@dataclass
class RuntimeCheck:
    """What building and running the exported C measured."""

    bit_exact: bool
    samples: int                          # test inputs compared with the reference
    accuracy: float                       # the C outputs' score on those inputs (the run's metric)
    flash_bytes: int                      # text + rodata + data of the model and runtime
    flash_target: str                     # what the flash was compiled for
    ram_bytes: int                        # <NAME>_ARENA_BYTES: activations + scratch
    scratch_bytes: int
    host_us_per_inference: float | None
    wall_s: float
    weight_format: str = "auto"           # of the exported C (which convs stream depends on it)
    prefer: str = "balanced"              # what "auto" chose each tensor's coding by
    weight_bytes: int = 0                 # weights, biases and tables in flash (code apart)
    int8_weight_bytes: int = 0            # ... and RAM, with every weight raw int8: what the
    int8_ram_bytes: int = 0               #     choice of codings cost or saved
    flashed: dict = field(default_factory=dict)   # weight tensor -> the coding in flash

    def to_dict(self) -> dict:
        return dict(vars(self))


def flash_bytes(export) -> tuple[int, str]:
    """text + rodata + data of every object of the export, and what it was compiled for."""
    from levin.targets import build

    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        flags, cc, size, where = (("-mcpu=cortex-m4", "-mthumb", "-Os"), "arm-none-eabi-gcc",
                                  "arm-none-eabi-size", "Cortex-M4, arm-none-eabi-gcc -Os")
    else:
        flags, cc, size, where = ("-Os",), None, "size", "host gcc -Os (no arm-none-eabi-gcc)"
    objects = build.compile_objects(export, flags, cc=cc, obj_dir=build.build_dir(export) / "obj")
    sizes = build.section_sizes(objects, size)
    return sum(s["text"] + s["data"] for s in sizes.values()), where


def _all_outputs(graph, values: dict) -> np.ndarray:
    """Every graph output of a batch, one sample's after the other's as the harness writes them."""
    return np.concatenate([values[n].reshape(len(values[n]), -1) for n in graph.outputs], axis=1)


def deploy(result, data: Dataset, out_dir: str | Path, *, weight_format: str = "auto",
           prefer: str = "balanced", samples: int | None = None) -> tuple[RuntimeCheck, object]:
    """Export `result` (a CompressResult) to C in `out_dir`, build, run and verify it.

    Args:
        weight_format, prefer: as `levin.codegen.export_c`'s.
        samples: test inputs to check (default: all of them).
    Returns:
        (RuntimeCheck, ExportResult).
    Raises:
        LevinError: no C compiler; VerificationError: the C output differs from the reference (the message
            names the first differing elements).
    """
    from levin.targets import build

    from levin import codegen, reference

    if build.compiler() is None:
        raise LevinError("no C compiler (cc/gcc) found; install gcc, or pass --no-c")
    source = result.lvn_path if result.lvn_path is not None else result.graph
    export = codegen.export_c(source, out_dir, weight_format=weight_format, prefer=prefer)
    exe = build.build_harness(export)
    x = data.x_test[:samples]
    graph = result.graph
    inputs = reference.quantize_batch(graph, x)
    started = time.perf_counter()
    got, per_inference = build.run_harness(exe, inputs, export.output_size, repeats=1)
    want = np.concatenate([_all_outputs(graph, reference.run(graph, inputs[i:i + 500]))
                           for i in range(0, len(inputs), 500)]).reshape(got.shape)
    problem = build.compare(got, want)
    if problem is not None:
        raise VerificationError(f"the C runtime differs from the integer reference: {problem}")
    flash, where = flash_bytes(export)
    scored = graph.outputs[result.output]
    start = sum(int(np.prod(graph.tensors[n].shape[1:])) for n in graph.outputs[:result.output])
    codes = got[:, start:start + int(np.prod(graph.tensors[scored].shape[1:]))].astype(np.int64)
    accuracy = metrics.score(result.task, reference.dequantize_output(graph, codes, scored),
                             x, None if data.y_test is None else data.y_test[:len(got)], result.top_k).value
    check = RuntimeCheck(True, len(got), accuracy, flash, where, export.arena_bytes, export.scratch_bytes,
                         None if per_inference is None else 1e6 * per_inference,
                         time.perf_counter() - started, weight_format, prefer, export.weight_bytes,
                         export.int8_weight_bytes, export.int8_arena_bytes, export.chains)
    return check, export
