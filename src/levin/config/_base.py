"""What every pass config shares: validation with one-line errors, and dict round trips.

Configs are frozen dataclasses. YAML and JSON give lists where a config holds tuples and plain
dicts for mappings; `__post_init__` normalises both, so `from_dict(c.to_dict()) == c`.
"""

from __future__ import annotations

import copy
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
        return cls(**data)

    def with_(self, **changes: Any):
        """A copy with the given fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
