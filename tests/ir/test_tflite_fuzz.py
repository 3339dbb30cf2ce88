"""Bounded fuzzing of the .tflite importer (the long run: python -m levin.ir.tflite_fuzz --seconds 600).

Whatever the bytes, `levin.ir.tflite.from_bytes` returns a Graph or raises a LevinError, within a
second: the mutants of real MLPerf Tiny models (when the shared data is there) and of a model
levin writes itself."""

import time

import pytest

pytest.importorskip("tflite")

from levin import fuzzing  # noqa: E402
from levin.ir import tflite_fuzz as F  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402


def _files():
    return F.real_files(SHARED_DATA) + F.sample_files()


def test_mutated_tflite_files_only_ever_raise_levin_errors():
    start = time.perf_counter()
    stats = F.run(seed=0, seconds=5.0, files=_files(), case_seconds=1.0)   # raises FuzzFinding
    assert time.perf_counter() - start < 9
    assert stats.cases > 500 and not stats.findings
    # The mutations reach past the flatbuffer framing: some mutants still import, and the
    # importer's own checks (after the reading) reject others.
    assert stats.outcomes.get("imported", 0) > 0.05 * stats.cases
    assert stats.clean_errors > 0.5 * stats.cases
    assert any(not k.startswith("not a") for k in stats.errors)


def test_a_finding_names_seed_and_case_and_replays():
    def picky(data: bytes) -> str:
        if data[10] % 7 == 0:
            raise KeyError("bug")
        return "ok"

    corpus = F.Corpus(F.sample_files())
    with pytest.raises(fuzzing.FuzzFinding, match=r"seed 4 case (\d+): exception: KeyError") as info:
        fuzzing.run(picky, corpus.make_case, name="t", seed=4, cases=500)
    case = int(info.value.args[0].split("case ")[1].split(":")[0])
    assert fuzzing.case_input(corpus.make_case, 4, case)[10] % 7 == 0


def test_a_slow_case_is_a_hang():
    stats = fuzzing.run(lambda d: time.sleep(0.3) or "ok", F.Corpus(F.sample_files()).make_case,
                        name="t", cases=2, case_seconds=0.1, keep_going=True)
    assert stats.hangs == 2 and stats.uncaught == 0


def test_the_fuzz_command_runs(capsys):
    assert F.main(["--seconds", "0.5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "0 uncaught exceptions, 0 hangs" in out and "peak RSS" in out


@pytest.mark.slow
def test_long_fuzz_run():
    stats = F.run(seed=1, seconds=120.0, files=_files(), keep_going=True)
    assert not stats.findings, "\n".join(map(str, stats.findings[:10]))
    assert stats.cases > 10_000
