"""levin's int8 kernels on the four MLPerf Tiny models on Cortex-M (qemu): instructions against
CMSIS-NN's published counts, estimated cycles, flash, RAM, per layer. See levin/bench/kernels.py
for what each column measures.

Run: .venv/bin/python benchmarks/kernels.py [options of `levin bench kernels`]
     (writes benchmarks/results/kernels.json)
"""

from __future__ import annotations

import sys
from pathlib import Path

from levin.bench import kernels

RESULTS = Path(__file__).resolve().parent / "results" / "kernels.json"

if __name__ == "__main__":
    sys.exit(kernels.main(sys.argv[1:], str(RESULTS)))
