"""`path/to/file.py:function`: the user's own code (a model or a data factory), imported and
called so that whatever it raises (on import, in the function, later in what it returned) is
reported as the user's: its type, its first line and where in their file, never a levin traceback.
"""

from __future__ import annotations

import importlib.util
import traceback
from pathlib import Path
from typing import Any, Callable

from levin.errors import LevinError


def is_reference(ref: str) -> bool:
    """True for `path/to/file.py:name`."""
    path, sep, attr = ref.rpartition(":")
    return bool(sep) and path.endswith(".py") and attr.isidentifier()


def load_function(ref: str, what: str, error: type[LevinError] = LevinError) -> tuple[Path, Callable]:
    """(the file, the callable `name` in it) of `ref`; `what` ("model", "data") names the file in
    errors, raised as `error`."""
    path, _, attr = ref.rpartition(":")
    file = Path(path)
    if not file.is_file():
        raise error(f"{what} file {file} not found (expected path/to/file.py:factory)")
    spec = importlib.util.spec_from_file_location(f"levin_user_{what}_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    call_users(file, "importing it", spec.loader.exec_module, module, error=error)
    function = getattr(module, attr, None)
    if not callable(function):
        raise error(f"{file} has no function {attr!r} (expected path/to/file.py:factory)")
    return file, function


def call_users(file: Path, doing: str, call: Callable, *args, error: type[LevinError] = LevinError) -> Any:
    """call(*args), with any exception reported in one line as the user's, at its line in `file`."""
    try:
        return call(*args)
    except LevinError:
        raise
    except Exception as exc:  # the user's code: whatever it raised, one line, no traceback
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if Path(f.filename) in (file, file.resolve())]
        at = f"{file}:{frames[-1].lineno}" if frames else str(file)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise error(f"{doing} raised {type(exc).__name__}: {first} (at {at}); "
                    f"the error is in your code, not levin's") from None
