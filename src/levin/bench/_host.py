"""Host timing of an exported model: compile it with the host C compiler (-O2) into a timer
program, check its output, and report the best of several timed batches."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from string import Template

import numpy as np

from levin.targets.cortexm import FirmwareError, ToolMissing

TIMER = Path(__file__).resolve().parent / "host_timer.c.in"
HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")


def time_inference(export, x: np.ndarray, out_dir: Path, batches: int = 5,
                   target_s: float = 0.05) -> tuple[float, bytes]:
    """(best ns per inference over `batches` batches of ~target_s each, output bytes)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        raise ToolMissing("no host C compiler (cc/gcc) for host timing")
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "host_timer.c"
    src.write_text(Template(TIMER.read_text()).substitute(
        name=export.name, NAME=export.name.upper(), in_size=f"{export.input_size}u", out_size=f"{export.output_size}u",
        call=export.call("input", "output", "arena", "sizeof arena"), input=", ".join(map(str, np.asarray(x, dtype=np.int8).tolist()))))
    exe = out_dir / "host_timer"
    cmd = [cc, *HOST_CFLAGS, f"-I{export.out_dir}", str(src), *map(str, export.sources), "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise FirmwareError(f"host build failed: {done.stderr.strip()[:1000]}")

    def once(runs: int) -> tuple[float, bytes]:
        r = subprocess.run([str(exe), str(runs)], capture_output=True, text=True, timeout=600)
        if r.returncode:
            raise FirmwareError(f"host timer exited with status {r.returncode}")
        lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
        return float(lines["ns"]), bytes.fromhex(lines["out"])

    ns, out = once(1)
    runs = max(1, int(target_s * 1e9 / max(ns, 1.0)))
    best = min(once(runs)[0] for _ in range(batches))
    return best, out
