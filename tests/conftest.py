"""Shared fixtures. Real data comes from ../shared/data (override: LEVIN_TEST_DATA)."""

import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(os.environ.get("LEVIN_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def _fixed_threads():
    # Training on CPU is bit-reproducible for a fixed thread count; tests compare runs exactly.
    # One thread: the test models are small, and a second thread spins when the other core is busy.
    torch.set_num_threads(1)


def shared_data(subdir: str) -> Path:
    """../shared/data/<subdir>, or skip the test with the reason."""
    path = SHARED_DATA / subdir
    if not path.is_dir():
        pytest.skip(f"shared data {path} is absent (set LEVIN_TEST_DATA to the data folder)")
    return path


def require_cortex_m() -> None:
    """Skip the test, with the reason, without the Cortex-M cross toolchain and qemu."""
    from levin.targets import cortexm

    try:
        cortexm.require_toolchain()
        cortexm.require_qemu()
    except cortexm.ToolMissing as exc:
        pytest.skip(f"needs the Cortex-M toolchain and qemu: {exc}")
