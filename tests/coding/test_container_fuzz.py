"""Bounded fuzzing of the .lvn reader (the long run: python -m levin.coding.fuzz --seconds 600)."""

import time

from levin.coding import fuzz
from tests.golden.make_golden import HERE


def test_mutated_files_only_ever_raise_format_errors():
    files = fuzz.sample_files() + [p.read_bytes() for p in sorted(HERE.glob("*.lvn"))]
    start = time.perf_counter()
    stats = fuzz.run(seed=0, seconds=8.0, files=files, case_seconds=2.0)  # raises FuzzFinding
    assert time.perf_counter() - start < 12
    assert stats.cases > 1000
    assert stats.cases - stats.decoded > 0.5 * stats.cases
    # The CRC repair lets mutations reach the parsers behind the CRC checks, not only the framing.
    reached = [k for k in stats.errors if k.startswith(("graph section", "tensor section"))]
    assert sum(stats.errors[k] for k in reached) > 100


def test_the_fuzz_command_runs(capsys):
    assert fuzz.main(["--seconds", "0.5", "--seed", "3"]) == 0
    assert "nothing else" in capsys.readouterr().out
