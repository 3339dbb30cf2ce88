"""The C runtime on Cortex-M4 (qemu) and the host, per zoo model and weight format: flash, RAM,
instructions per inference, host time, bit-exactness. See levin/bench/runtime.py for what each
column measures.

Run: .venv/bin/python benchmarks/runtime.py [options of `levin bench runtime`]
     (writes benchmarks/results/runtime.json)
Your own models: `levin bench runtime model.lvn kws.tflite --json FILE` (the build `levin export`
makes; the same measurement as `levin profile model.lvn --device D`, levin.targets.device_numbers).
"""

from __future__ import annotations

import sys
from pathlib import Path

from levin.bench import runtime

RESULTS = Path(__file__).resolve().parent / "results" / "runtime.json"

if __name__ == "__main__":
    sys.exit(runtime.main(sys.argv[1:], str(RESULTS)))
