"""The C rANS coder (`levin/runtime/c/levin_rans.c`), compiled at first use and called via ctypes.

Read me first. The C file is the decoder the microcontroller runtime compiles (freestanding C99,
no malloc); here the host builds it as a shared library so that Python encodes and decodes with
the very same code, byte for byte (tests/coding/test_native.py compares it with the pure-Python
coder in `rans.py`). Build: `$CC` (default `cc`) with `-std=c99 -Wall -Wextra -Werror -pedantic
-O2 -shared -fPIC`, into `$LEVIN_CACHE_DIR` (default `~/.cache/levin`), named by a hash of the
source and the flags, written atomically so parallel processes can race safely.

No compiler, or a failed build: one warning, and `rans.py` stays on its pure-Python loops (about
4x slower per symbol). `LEVIN_NATIVE=0` turns the C path off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

from levin import runtime

C_DIR = runtime.C_DIR
SOURCES = ("levin_rans.c",)
HEADERS = ("levin_rans.h",)
CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-shared", "-fPIC")
MAX_STATES = 16

STATUS = {0: "ok", 1: "bad argument", 2: "truncated", 3: "initial state out of range",
          4: "final states or payload end wrong", 5: "symbol outside the model",
          6: "output buffer too small", 7: "more symbols requested than left"}
OK, ERR_TRUNCATED, ERR_STATE, ERR_FINAL = 0, 2, 3, 4


class Model(ctypes.Structure):
    _fields_ = [("freq", ctypes.c_void_p), ("cum", ctypes.c_void_p), ("slots", ctypes.c_void_p),
                ("alphabet_size", ctypes.c_uint32), ("precision_bits", ctypes.c_uint32)]


class Decoder(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("pos", ctypes.c_uint32), ("end", ctypes.c_uint32),
                ("count", ctypes.c_uint32), ("done", ctypes.c_uint32), ("n_states", ctypes.c_uint32),
                ("state", ctypes.c_uint32 * MAX_STATES)]


_lib: ctypes.CDLL | None = None
_tried = False
enabled = os.environ.get("LEVIN_NATIVE", "1") != "0"  # tests switch it off to run the Python coder


def include_dir() -> Path:
    """The directory of the shipped C sources and headers (for code generation and C tests)."""
    return C_DIR


def _cache_dir() -> Path:
    return Path(os.environ.get("LEVIN_CACHE_DIR") or Path.home() / ".cache" / "levin")


def build(compiler: str | None = None) -> Path:
    """Compile the C coder into the cache (if not there yet); return the library's path.

    Raises:
        OSError: no compiler, or the build failed (the message holds the compiler's output).
    """
    cc = compiler or os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise OSError(f"C compiler {cc!r} not found")
    digest = hashlib.sha256(" ".join((cc,) + CFLAGS).encode())
    for name in SOURCES + HEADERS:
        digest.update((C_DIR / name).read_bytes())
    target = _cache_dir() / f"levin_rans-{digest.hexdigest()[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        cmd = [cc, *CFLAGS, "-I", str(C_DIR), *(str(C_DIR / s) for s in SOURCES), "-o", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise OSError(f"building the C coder failed: {' '.join(cmd)}\n{done.stderr.strip()}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    u32, vp = ctypes.c_uint32, ctypes.c_void_p
    pd, pm = ctypes.POINTER(Decoder), ctypes.POINTER(Model)
    lib.levin_rans_decoder_init.argtypes = [pd, vp, u32, u32, u32]
    lib.levin_rans_decode_u16.argtypes = [pd, pm, vp, u32]
    lib.levin_rans_decoder_finish.argtypes = [pd]
    lib.levin_rans_encode_u16.argtypes = [vp, u32, pm, u32, vp, u32, ctypes.POINTER(u32)]
    for fn in ("levin_rans_decoder_init", "levin_rans_decode_u16", "levin_rans_decoder_finish",
               "levin_rans_encode_u16"):
        getattr(lib, fn).restype = ctypes.c_int
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded C coder, building it on first use; None if disabled or it cannot be built."""
    global _lib, _tried
    if not enabled:
        return None
    if not _tried:
        _tried = True
        try:
            _lib = _bind(ctypes.CDLL(str(build())))
        except OSError as exc:
            warnings.warn(f"levin: using the pure-Python rANS coder (slower): {exc}", RuntimeWarning,
                          stacklevel=2)
    return _lib


class NativeModel:
    """A FrequencyModel's tables as the C struct wants them; keeps the arrays alive."""

    def __init__(self, model, lookup: str = "table"):
        self.freq = np.ascontiguousarray(model.freqs, dtype=np.uint16)
        self.cum = np.ascontiguousarray(model.cumulative(), dtype=np.uint16)
        self.slots = np.ascontiguousarray(model.slot_table(), dtype=np.uint16) if lookup == "table" else None
        self.struct = Model(self.freq.ctypes.data, self.cum.ctypes.data,
                            None if self.slots is None else self.slots.ctypes.data,
                            model.alphabet_size, model.precision_bits)


def encode(symbols: np.ndarray, model, n_states: int) -> bytes:
    """rANS-encode `symbols` (already checked against the model) with the C coder."""
    lib = library()
    sym = np.ascontiguousarray(symbols, dtype=np.uint16)
    cap = 2 * sym.size + 4 * n_states + 16
    out = np.empty(cap, dtype=np.uint8)
    start = ctypes.c_uint32()
    nm = NativeModel(model, lookup="search")  # the encoder needs no slot table
    status = lib.levin_rans_encode_u16(sym.ctypes.data, sym.size, ctypes.byref(nm.struct), n_states,
                                       out.ctypes.data, cap, ctypes.byref(start))
    if status != OK:
        raise ValueError(f"C rANS encoder: {STATUS.get(status, status)}")
    return out[start.value:].tobytes()
