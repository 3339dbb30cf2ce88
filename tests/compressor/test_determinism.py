"""Determinism, stated and tested (issue 21, item 5): the same levin, seed, data and platform give
the same .lvn bytes from the CLI and from Python, at 1 and at 2 threads (README, "Determinism").

The thread count is a real hazard: torch's oneDNN convolution gradients and MKL's sgemm split
their sums by thread, so without `levin.train.seeding.deterministic` the digits example gave
1,843 B at one thread and 1,844 B at two."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from levin.train.seeding import deterministic, region_threads

# The README's example, `levin.compress("digits_cnn", "digits", recipe="digits")`, from a fresh
# process whose caller runs torch (and OpenMP, MKL) on `threads` threads.
API = """
import sys, torch, levin
torch.set_num_threads({threads})
result = levin.compress("digits_cnn", "digits", recipe="digits", out_dir=sys.argv[1], progress=False)
assert torch.get_num_threads() == {threads}          # the caller's setting is given back
"""


def _env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def _run(argv: list[str], threads: int) -> None:
    out = subprocess.run(argv, env=_env(threads), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def api_bytes(tmp_path_factory) -> dict[int, bytes]:
    """model.lvn of the README's Python example, run at 1 and at 2 threads."""
    got = {}
    for threads in (1, 2):
        out = tmp_path_factory.mktemp(f"api{threads}")
        _run([sys.executable, "-c", API.format(threads=threads), str(out)], threads)
        got[threads] = (out / "model.lvn").read_bytes()
    return got


def test_same_bytes_at_1_and_2_threads(api_bytes):
    one, two = api_bytes[1], api_bytes[2]
    assert len(one) > 1000
    assert one == two, f"{len(one):,} B at 1 thread, {len(two):,} B at 2"


def test_cli_gives_the_api_bytes(api_bytes, tmp_path):
    _run([sys.executable, "-m", "levin.cli.main", "compress", "--model", "digits_cnn", "--recipe", "digits",
          "-o", str(tmp_path), "--no-c", "--no-report", "--quiet"], threads=2)
    cli = (tmp_path / "model.lvn").read_bytes()
    assert cli == api_bytes[1], f"CLI {len(cli):,} B, API {len(api_bytes[1]):,} B"


def _train_once(threads: int) -> dict[str, np.ndarray]:
    from levin import zoo
    from levin.train import data as datasets
    from levin.train.loop import train

    torch.set_num_threads(threads)                  # the caller's count, which train() must not use
    torch.manual_seed(0)
    model = zoo.spec("digits_cnn").factory()
    data = datasets.load("digits")
    config = zoo.spec("digits_cnn").train.with_(epochs=1)
    result = train(model, data, config, progress=False)
    return {k: v.detach().numpy().copy() for k, v in result.model.state_dict().items()}


def test_train_api_same_weights_at_1_and_2_threads():
    before = torch.get_num_threads()
    try:
        one, two = _train_once(1), _train_once(2)
    finally:
        torch.set_num_threads(before)
    assert one.keys() == two.keys()
    differ = [k for k in one if not np.array_equal(one[k], two[k])]
    assert not differ, f"weights differ at 1 and 2 threads: {differ}"


def test_region_pins_threads_seeds_and_gives_both_back():
    before = torch.get_num_threads()
    torch.manual_seed(1234)
    caller = torch.random.get_rng_state()
    try:
        torch.set_num_threads(2)
        with deterministic(7):
            assert torch.get_num_threads() == 1 and region_threads() == 1
            first = torch.rand(3)
            with deterministic(None, threads=2):        # a nested region may name its own count
                assert torch.get_num_threads() == 2
                with deterministic(None):               # ... which its own nested regions inherit
                    assert torch.get_num_threads() == 2
            assert torch.get_num_threads() == 1
        with deterministic(7):
            assert torch.equal(torch.rand(3), first)    # the same seed, the same stream
        assert torch.get_num_threads() == 2             # the caller's count,
        assert torch.equal(torch.random.get_rng_state(), caller)   # and its random stream, untouched
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("seed, threads", [(-1, None), (0, 0)])
def test_region_rejects_bad_settings(seed, threads):
    with pytest.raises(ValueError):
        with deterministic(seed, threads):
            pass
