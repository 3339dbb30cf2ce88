"""Build and run generated C models on the host with gcc (or $CC): the bit-exact check's other half.

`build_harness(result)` compiles the model + the runtime + a small harness (templates/harness.c.j2)
with the strict flags, in a build folder beside the package (`build_dir`: the package itself
holds only what a firmware project takes); `run_harness(binary, inputs)` feeds a batch of int8 inputs through one
process and returns the outputs (and, with `repeats`, the host time per inference);
`compile_objects` compiles without linking (for -m32 / -Os / cross checks) and `section_sizes`
reads `size` of the objects. `compare` gives the first differing elements of two outputs.

Sanitizers: `build_harness(result, sanitize=True)`, or LEVIN_C_SANITIZE=1 in the environment for
every harness (so `LEVIN_C_SANITIZE=1 pytest tests/runtime/test_c_ops.py` runs the existing C
tests under them), adds SANITIZE: AddressSanitizer and UndefinedBehaviorSanitizer, any report
fatal (the harness exits nonzero and run_harness raises with the report).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from levin.errors import LevinError
from levin.codegen.export import ExportResult, _environment

STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE = ("-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")


def sanitize_requested() -> bool:
    """True when LEVIN_C_SANITIZE is set to something other than "", "0" or "no"."""
    return os.environ.get("LEVIN_C_SANITIZE", "").strip().lower() not in ("", "0", "no", "false")


def compiler() -> str | None:
    """The host C compiler ($CC, else gcc, else cc), or None."""
    for cc in (os.environ.get("CC"), "gcc", "cc"):
        if cc and shutil.which(cc):
            return cc
    return None


def _cc(cc: str | None) -> str:
    cc = cc or compiler()
    if cc is None:
        raise LevinError("no C compiler found: install gcc or set CC")
    return cc


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise LevinError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{proc.stderr.strip()[:4000]}")


def build_dir(result: ExportResult) -> Path:
    """Where levin's own builds of an export go: `<out_dir>-build/<name>/`, beside the package."""
    out = Path(result.out_dir)
    return out.with_name(out.name + "-build") / result.name


def build_harness(result: ExportResult, opt: str = "-O2", cc: str | None = None,
                  extra: tuple[str, ...] = (), sanitize: bool | None = None) -> Path:
    """Compile the exported model with the host harness (in `build_dir`); return the executable.

    sanitize: add SANITIZE (ASan + UBSan, reports fatal); None follows LEVIN_C_SANITIZE."""
    work = build_dir(result)
    work.mkdir(parents=True, exist_ok=True)
    harness = work / "harness.c"
    harness.write_text(_environment().get_template("harness.c.j2").render(
        p=result.name, P=result.name.upper(), in_size=result.input_size, out_size=result.output_size,
        call=result.call(f"in + i * {result.input_size}", f"out + i * {result.output_size}", "arena",
                         f"{result.name.upper()}_ARENA_BYTES")))
    exe = work / "harness"
    san = SANITIZE if (sanitize_requested() if sanitize is None else sanitize) else ()
    cmd = [_cc(cc), *STRICT, opt, *san, *extra, "-I", str(result.out_dir), "-o", str(exe), str(harness),
           *(str(s) for s in result.sources)]
    _run(cmd, "building the host harness")
    return exe


def compile_objects(result: ExportResult, flags: tuple[str, ...] = ("-O2",), cc: str | None = None,
                    obj_dir: Path | None = None) -> list[Path]:
    """Compile every source of the export to an object file (no link); return the objects."""
    obj_dir = Path(obj_dir or tempfile.mkdtemp(prefix="levin-obj-"))
    obj_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in result.sources:
        obj = obj_dir / (src.stem + ".o")
        _run([_cc(cc), *STRICT, *flags, "-I", str(result.out_dir), "-c", "-o", str(obj), str(src)],
             f"compiling {src.name} with {' '.join(flags)}")
        objs.append(obj)
    return objs


def section_sizes(objects: list[Path], size_tool: str = "size") -> dict[str, dict[str, int]]:
    """Berkeley `size` of each object: {name: {"text", "data", "bss"}} (text includes rodata)."""
    if shutil.which(size_tool) is None:
        raise LevinError(f"{size_tool!r} not found (binutils)")
    proc = subprocess.run([size_tool, *map(str, objects)], capture_output=True, text=True, check=True)
    sizes = {}
    for line in proc.stdout.splitlines()[1:]:
        f = line.split()
        sizes[Path(f[5]).name] = {"text": int(f[0]), "data": int(f[1]), "bss": int(f[2])}
    return sizes


def run_harness(exe: Path, inputs: np.ndarray, output_size: int, repeats: int = 0) -> tuple[np.ndarray, float | None]:
    """Run int8 `inputs` [N, ...] through the harness; return (outputs [N, output_size], seconds
    per inference measured over N * repeats more runs, or None without repeats)."""
    x = np.ascontiguousarray(inputs, dtype=np.int8)
    n = x.shape[0]
    with tempfile.TemporaryDirectory(prefix="levin-run-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(x.tobytes())
        proc = subprocess.run([str(exe), str(fin), str(fout), str(n), str(repeats)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise LevinError(f"{exe.name} exited with {proc.returncode}: {proc.stderr.strip()}")
        out = np.frombuffer(fout.read_bytes(), np.int8).reshape(n, output_size)
    seconds = None
    for line in proc.stdout.splitlines():
        if line.startswith("seconds_per_inference"):
            seconds = float(line.split()[1])
    return out, seconds


def compare(got: np.ndarray, want: np.ndarray, limit: int = 8) -> str | None:
    """None when equal, else a description of the first `limit` differing elements."""
    got, want = np.asarray(got), np.asarray(want).reshape(np.shape(got))
    bad = np.argwhere(got != want)
    if bad.size == 0:
        return None
    rows = [f"  at {tuple(int(i) for i in idx)}: C {int(got[tuple(idx)])}, reference {int(want[tuple(idx)])}"
            for idx in bad[:limit]]
    return f"{len(bad)} of {got.size} elements differ; first:\n" + "\n".join(rows)
