"""Shared helpers for the coding tests: skewed symbol streams drawn from a seed."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def skewed_symbols(seed: int, alphabet: int, length: int, skew: float) -> np.ndarray:
    """Return `length` symbols in 0..alphabet-1 with Zipf-like probabilities p(s) ~ (s+1)^-skew."""
    rng = np.random.default_rng(seed)
    p = (np.arange(alphabet) + 1.0) ** -skew
    p = rng.permutation(p / p.sum())
    return rng.choice(alphabet, size=length, p=p).astype(np.int64)


def laplace_int8(seed: int, length: int, scale: float) -> np.ndarray:
    """Return int8-range weights of a Laplacian, shifted to symbols 0..255 (zero is 128)."""
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.laplace(0, scale, length)), -128, 127).astype(np.int64) + 128


@st.composite
def symbol_streams(draw, max_alphabet: int = 300, max_length: int = 3000):
    """Draw (symbols, alphabet size) with random alphabet, skew and length (0 included)."""
    alphabet = draw(st.integers(1, max_alphabet))
    length = draw(st.one_of(st.integers(0, 20), st.integers(0, max_length)))
    skew = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return skewed_symbols(seed, alphabet, length, skew), alphabet


def python_encode(symbols, model, config) -> bytes:
    """levin.coding.rans's pure-Python encoder, with the C coder switched off for the call: the
    independent side the C decoder (host or Cortex-M) is checked against."""
    from levin.coding import native, rans

    native.enabled = False
    try:
        return rans.encode(symbols, model, config)
    finally:
        native.enabled = True
