"""Writing files whole or not at all: an interrupt, a full disk or an error never leaves a
half-written model, C file or report behind (write a sibling temporary, then rename over); and
reading a model file whole, an OS error as one line."""

from __future__ import annotations

import os
from pathlib import Path

from levin.errors import LevinError


def write_atomic(path: str | os.PathLike, data: bytes | str) -> int:
    """Write `data` (str as UTF-8) to `path` atomically; return its size in bytes.

    Raises:
        LevinError: the folder is missing or not writable, or `path` is a directory.
    """
    path = Path(path)
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LevinError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(blob)


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of `path`; LevinError (one line: the path and why) if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise LevinError(f"cannot read {path}: {exc.strerror or exc}") from None
