"""A small mutation-fuzzing harness: seeded cases, a time limit per case, outcomes counted.

Read me first. A fuzz target is a function of the input bytes that returns a short outcome
label ("imported", "exported", ...) or raises. A LevinError is a clean rejection (counted by
the shape of its message); any other exception, or a case that runs longer than
`case_seconds`, is a finding. Case k of seed s is generated from its own generator,
`np.random.default_rng([s, k])`, so a finding is reproduced by its seed and case number alone,
without replaying the cases before it (`case_input`). The targets: `levin.ir.tflite_fuzz`
(.tflite import), `levin.codegen.fuzz` (C export and the integer oracle); the .lvn
reader has its own older loop, `levin.coding.fuzz`.
"""

from __future__ import annotations

import argparse
import re
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from levin.errors import LevinError

Target = Callable[[bytes], str]
MakeCase = Callable[[np.random.Generator, int], bytes]


class FuzzFinding(AssertionError):
    """A target raised something other than LevinError, or took longer than its time limit."""


@dataclass
class Finding:
    seed: int
    case: int
    kind: str            # "exception" or "hang"
    detail: str          # exception type, message and the innermost frame; or the time taken
    data: bytes

    def __str__(self) -> str:
        return f"seed {self.seed} case {self.case}: {self.kind}: {self.detail}"


@dataclass
class FuzzStats:
    target: str
    seed: int
    cases: int = 0
    seconds: float = 0.0
    slowest: float = 0.0                 # seconds of the slowest case
    outcomes: dict[str, int] = field(default_factory=dict)   # labels the target returned
    errors: dict[str, int] = field(default_factory=dict)     # clean LevinErrors, by message shape
    findings: list[Finding] = field(default_factory=list)
    peak_rss_mb: float = 0.0             # of the whole process, at the end

    @property
    def clean_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def hangs(self) -> int:
        return sum(f.kind == "hang" for f in self.findings)

    @property
    def uncaught(self) -> int:
        return sum(f.kind == "exception" for f in self.findings)

    def add_error(self, e: LevinError) -> None:
        text = re.sub(r"'[^']*'|\"[^\"]*\"", "'.'", str(e))
        text = re.sub(r"^\S+: ", "", text)                  # the file or graph name in front
        key = re.sub(r"0x[0-9a-f]+|-?\d+(\.\d+)?(e-?\d+)?", "#", text)[:90]
        self.errors[key] = self.errors.get(key, 0) + 1

    def summary(self) -> str:
        head = (f"{self.target}: {self.cases} cases in {self.seconds:.1f} s (seed {self.seed}): "
                + ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
                + f", {self.clean_errors} clean errors, {self.uncaught} uncaught exceptions, "
                f"{self.hangs} hangs; slowest case {self.slowest:.2f} s, peak RSS {self.peak_rss_mb:.0f} MB")
        lines = [head, "most frequent errors (digits as #):"]
        lines += [f"  {n:7d}  {k}" for k, n in sorted(self.errors.items(), key=lambda kv: -kv[1])[:15]]
        lines += [f"FINDING {f}" for f in self.findings]
        return "\n".join(lines)


def case_rng(seed: int, case: int) -> np.random.Generator:
    return np.random.default_rng([seed, case])


def case_input(make_case: MakeCase, seed: int, case: int) -> bytes:
    """The input of case `case` under `seed`, as `run` made it."""
    return make_case(case_rng(seed, case), case)


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in a target eats it."""


def _call(target: Target, data: bytes, case_seconds: float) -> str:
    def alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, alarm) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, case_seconds)
    try:
        return target(data)
    finally:
        if old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name})"


def run(target: Target, make_case: MakeCase, *, name: str, seed: int = 0, seconds: float | None = None,
        cases: int | None = None, case_seconds: float = 1.0, keep_going: bool = False) -> FuzzStats:
    """Run `target` on fresh cases until `seconds` pass or `cases` are done.

    The first finding raises FuzzFinding (its message names seed and case), unless `keep_going`:
    then every finding is recorded in the stats and the run goes on.
    """
    stats, start = FuzzStats(name, seed), time.perf_counter()
    while (cases is None or stats.cases < cases) and (seconds is None or time.perf_counter() - start < seconds):
        case = stats.cases
        data = case_input(make_case, seed, case)
        t0 = time.perf_counter()
        finding = None
        try:
            label = _call(target, data, case_seconds)
            stats.outcomes[label] = stats.outcomes.get(label, 0) + 1
        except LevinError as e:
            stats.add_error(e)
        except _Timeout:
            finding = Finding(seed, case, "hang", f"stopped after {case_seconds} s", data)
        except Exception as e:  # the point of fuzzing: anything else is a bug
            finding = Finding(seed, case, "exception", f"{type(e).__name__}: {str(e)[:300]}{_where(e)}", data)
        took = time.perf_counter() - t0
        stats.slowest = max(stats.slowest, took)
        if finding is None and took > case_seconds:     # finished, but too slowly (uninterruptible C code)
            finding = Finding(seed, case, "hang", f"took {took:.2f} s (limit {case_seconds} s)", data)
        stats.cases += 1
        if finding is not None:
            stats.findings.append(finding)
            if not keep_going:
                stats.seconds = time.perf_counter() - start
                raise FuzzFinding(f"{name}: {finding}")
    stats.seconds = time.perf_counter() - start
    stats.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return stats


def parser(prog: str, description: str | None, files_help: str | None = None) -> argparse.ArgumentParser:
    """The command line every fuzz target shares: --seconds, --seed, --case (replay), --case-seconds,
    --save, and (with `files_help`) files to mutate and --data-dir."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    if files_help:
        p.add_argument("files", nargs="*", help=files_help)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--case", type=int, help="run only this case of --seed (replay a finding)")
    p.add_argument("--case-seconds", type=float, default=1.0, help="a case over this is a hang")
    if files_help:
        p.add_argument("--data-dir", type=Path,
                       help="shared data folder (default $LEVIN_TEST_DATA or ../shared/data)")
    p.add_argument("--save", metavar="DIR", help="write the inputs of findings here")
    return p


def main_loop(stats_fn: Callable[[], FuzzStats], save_dir: str | None = None) -> int:
    """Print a run's summary; save each finding's input to `save_dir`; exit status 1 on findings."""
    stats = stats_fn()
    print(stats.summary())
    if save_dir and stats.findings:
        from pathlib import Path

        out = Path(save_dir)
        out.mkdir(parents=True, exist_ok=True)
        for f in stats.findings:
            (out / f"{stats.target}-seed{f.seed}-case{f.case}.bin").write_bytes(f.data)
        print(f"inputs of the findings written to {out}", file=sys.stderr)
    return 1 if stats.findings else 0
