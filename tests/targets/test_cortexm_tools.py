"""Without the cross toolchain or qemu, the Cortex-M path says what to install (runs everywhere)."""

import pytest

from levin.targets import cortexm


def test_missing_tools_name_the_debian_packages(monkeypatch):
    monkeypatch.setattr(cortexm.shutil, "which", lambda name: None)
    with pytest.raises(cortexm.ToolMissing, match="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"):
        cortexm.require_toolchain()
    with pytest.raises(cortexm.ToolMissing, match="qemu-system-arm not found"):
        cortexm.require_qemu()
