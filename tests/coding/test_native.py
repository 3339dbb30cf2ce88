"""The C rANS coder (levin/runtime/c/levin_rans.c) agrees with the Python coder byte for byte,
and builds as strict, freestanding C99."""

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import native, rans
from levin.coding.entropy_model import EntropyModelConfig, fit_model
from levin.coding.rans import RansConfig
from levin.errors import LevinFormatError
from tests.coding.streams import laplace_int8, python_encode, symbol_streams

pytestmark = pytest.mark.skipif(native.library() is None, reason="C coder unavailable (no compiler, or LEVIN_NATIVE=0)")
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def python_decode(data, model, count, config, lookup="table"):
    native.enabled = False
    try:
        return rans.decode(data, model, count, config, lookup=lookup)
    finally:
        native.enabled = True


@settings(derandomize=True, max_examples=80, deadline=None)
@given(symbol_streams(max_alphabet=1000), st.integers(8, 15), st.integers(1, 16),
       st.sampled_from(["table", "search"]))
def test_c_and_python_write_and_read_the_same_bytes(stream, precision, n_states, lookup):
    symbols, k = stream
    if np.unique(symbols).size > 1 << precision:
        precision = 15
    model = fit_model(symbols, k, EntropyModelConfig(precision))
    config = RansConfig(n_states)
    data = rans.encode(symbols, model, config)
    assert data == python_encode(symbols, model, config)
    out = rans.decode(data, model, symbols.size, config, lookup=lookup)
    np.testing.assert_array_equal(out, symbols)
    np.testing.assert_array_equal(out, python_decode(data, model, symbols.size, config, lookup))


@pytest.mark.parametrize("n_states", [1, 3, 16])
def test_channel_at_a_time_decoding_carries_states_over(n_states):
    symbols = laplace_int8(5, 5000, 4.0)
    model = fit_model(symbols, 256)
    data = rans.encode(symbols, model, RansConfig(n_states))
    dec = rans.RansDecoder(data, model, symbols.size, RansConfig(n_states))
    parts = [dec.take(k) for k in (1, 0, 37, 500, 1000, 3462)]
    assert dec.finish() == len(data)
    np.testing.assert_array_equal(np.concatenate(parts), symbols)


def test_c_errors_are_format_errors_like_python():
    symbols = laplace_int8(6, 3000, 3.0)
    model = fit_model(symbols, 256)
    data = rans.encode(symbols, model)
    for cut in (len(data) - 1, len(data) // 2, 5):
        with pytest.raises(LevinFormatError, match="truncated|cannot fit"):
            rans.decode(data[:cut], model, symbols.size)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x10
    with pytest.raises(LevinFormatError):
        rans.decode(bytes(bad), model, symbols.size)


def _cc() -> str:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    return cc


def test_builds_freestanding_with_strict_warnings(tmp_path):
    """No libc: only <stdint.h> and <stddef.h>, which a freestanding compiler provides."""
    src = native.include_dir() / "levin_rans.c"
    cmd = [_cc(), *STRICT, "-ffreestanding", "-fno-builtin", "-O2", "-c", str(src), "-o", str(tmp_path / "r.o")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nm = shutil.which("nm")
    if nm:
        undefined = subprocess.run([nm, "-u", str(tmp_path / "r.o")], capture_output=True, text=True).stdout
        assert undefined.split() == [], f"the C coder calls out to: {undefined}"


def test_cross_compiles_for_cortex_m(tmp_path):
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    src = native.include_dir() / "levin_rans.c"
    cmd = [cc, *STRICT, "-mcpu=cortex-m4", "-mthumb", "-Os", "-c", str(src), "-o", str(tmp_path / "r.o")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_status_strings_match_the_header():
    header = (native.include_dir() / "levin_rans.h").read_text()
    for code, name in [(2, "TRUNCATED"), (3, "STATE"), (4, "FINAL")]:
        assert f"LEVIN_RANS_ERR_{name} = {code}" in header
