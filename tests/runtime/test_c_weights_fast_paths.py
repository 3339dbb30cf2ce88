"""The readers' fast paths (levin_weights.c) against hostile values, under AddressSanitizer and
UBSan (the harness and fixtures of test_c_weights_hostile.py): 8-bit packed symbols mapped four
a word must still report a symbol past int8 wherever it sits in the word or the tail; packed
positions read 32 bits at a time and consumed in place (levin_weights_next_sparse_dot) must
reject more set bits than values, at every channel boundary offset."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from levin.config.code import WeightCodecConfig
from tests.runtime.test_c_weights_hostile import (_copy, descriptor, fuzz_input, fuzzer,  # noqa: F401
                                                  run_inputs, sanitizers)


def _pack8(n_channels: int = 3, per: int = 13) -> tuple[dict, dict]:
    """A packed tensor of 8-bit fields, offset -127 (values -127..127): symbol 255 would be 128."""
    data = np.random.default_rng(2).integers(-127, 128, (n_channels, per)).astype(np.int8)
    data[0, 0], data[1, 1] = -127, 127
    with warnings.catch_warnings():   # "larger than raw": 8-bit fields on purpose
        warnings.simplefilter("ignore")
        w, arrays = descriptor(data, WeightCodecConfig(coders=("pack",), sparse="never", codebook="never"))
    assert w["bits"] == 8 and w["offset"] == -127 and w["codebook"] is None
    return w, arrays


def test_a_packed_symbol_past_int8_is_corrupt_in_every_lane(fuzzer, tmp_path):
    w, arrays = _pack8()
    inputs = {"good": fuzz_input(w, arrays, verify=False)}
    for at in range(w["size"]):   # word lanes 0..3 of each channel and the channels' tails
        w2, a2 = _copy((w, arrays))
        a2[w2["data"]][at] = 255
        inputs[f"at{at}"] = fuzz_input(w2, a2, verify=False)
    got = run_inputs(fuzzer, inputs, tmp_path)
    assert got.pop("good")[0] == "ok"
    assert all(read == "corrupt" for read, _ in got.values()), {k: v for k, v in got.items() if v[0] != "corrupt"}


@pytest.mark.parametrize("per", [5, 8, 31, 33, 70])
def test_packed_positions_with_too_many_bits_are_corrupt(fuzzer, per, tmp_path):
    data = np.random.default_rng(per).integers(-20, 21, (6, per)).astype(np.int8)
    data[np.random.default_rng(per + 1).random(data.shape) < 0.7] = 0
    w, arrays = descriptor(data, WeightCodecConfig(coders=("raw",), sparse="always", codebook="never"), "packed")
    inputs = {"good": fuzz_input(w, arrays, verify=False)}
    bits = arrays[w["pos_data"]]
    for k in range(bits.size * 8):
        if k < w["size"] and not (bits[k // 8] >> (k % 8)) & 1:   # one more nonzero than values
            w2, a2 = _copy((w, arrays))
            a2[w2["pos_data"]][k // 8] |= 1 << (k % 8)
            inputs[f"bit{k}"] = fuzz_input(w2, a2, verify=False)
    got = run_inputs(fuzzer, inputs, tmp_path)
    assert got.pop("good")[0] == "ok"
    assert got and all(read == "corrupt" for read, _ in got.values())
