"""What every pass config shares: validation with one-line errors, and dict round trips.

Configs are frozen dataclasses. YAML and JSON give lists where a config holds tuples and plain
dicts for mappings; `__post_init__` normalises both, so `from_dict(c.to_dict()) == c`.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, Iterable

from levin.errors import LevinError


class ConfigMixin:
    """to_dict / from_dict / with_ and a `_check` helper for frozen config dataclasses."""

    def _check(self, checks: Iterable[tuple[bool, str]]) -> None:
        for ok, message in checks:
            if not ok:
                raise LevinError(f"{type(self).__name__}: {message}")

    def _normalise(self) -> None:
        """Lists become tuples, mappings become plain dicts (a copy, so callers cannot alias)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
            elif isinstance(value, dict):
                object.__setattr__(self, f.name, dict(value))

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else copy.deepcopy(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LevinError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            expected = _describe_mismatch(value, hints[name])
            if expected:
                raise LevinError(f"{cls.__name__}: {name}: expected {expected}, got {value!r} "
                                 f"({type(value).__name__})")
        return cls(**data)

    def with_(self, **changes: Any):
        """A copy with the given fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _describe_mismatch(value: Any, hint: Any) -> str | None:
    """None when `value` (as YAML or JSON gives it) fits the annotation `hint`; otherwise what was
    expected, in words. Lists stand for tuples, dicts for mappings and nested configs."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        misses = [_describe_mismatch(value, a) for a in args]
        return None if None in misses else " or ".join(m for m in misses)
    if hint is type(None):
        return None if value is None else "null"
    if hint in (int, float):
        ok = isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
        return None if ok else _NAMES[hint]
    if hint in (bool, str):
        return None if isinstance(value, hint) else _NAMES[hint]
    if origin in (tuple, list):
        inner = args[0] if args else Any
        if not isinstance(value, (tuple, list)):   # one value for a list of them ("coders: rans")
            return None if _describe_mismatch(value, inner) is None else "a list"
        bad = next((m for m in (_describe_mismatch(v, inner) for v in value) if m), None)
        return None if bad is None else f"a list of {bad.removeprefix('a ').removeprefix('an ')}s"
    if hint is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
        if not isinstance(value, Mapping):
            return "a mapping"
        if len(args) == 2:
            bad = next((m for m in (_describe_mismatch(v, args[1]) for v in value.values()) if m), None)
            return None if bad is None else f"a mapping of {bad.removeprefix('a ').removeprefix('an ')}s"
        return None
    if dataclasses.is_dataclass(hint):
        return None if isinstance(value, (hint, Mapping)) else "a mapping"
    return None
