"""levin vs TFLite Micro on the MLPerf Tiny models: `python benchmarks/vs_tflm.py [--images N]`
(same as `levin bench vs_tflm --json benchmarks/results/vs_tflm.json`)."""

import sys
from pathlib import Path

from levin.bench import vs_tflm

RESULTS = Path(__file__).resolve().parent / "results" / "vs_tflm.json"

if __name__ == "__main__":
    sys.exit(vs_tflm.main(sys.argv[1:], str(RESULTS)))
