"""Faithful storage of floats that may be NaN or +-inf.

SQLite stores NaN as NULL, so a float column travels as (finite value or NULL, marker), where the
marker is None for finite/None values and "nan", "inf", "-inf" or "-0" (SQLite folds -0.0 into 0) otherwise.
"""

from __future__ import annotations

import math
from typing import Any

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}


def encode(value: float | None) -> tuple[float | None, str | None]:
    """Split a float into (REAL column value, ``_special`` marker)."""
    if value is None:
        return None, None
    value = float(value)
    if math.isnan(value):
        return None, "nan"
    if math.isinf(value):
        return None, "inf" if value > 0 else "-inf"
    if value == 0.0 and math.copysign(1.0, value) < 0:  # SQLite folds -0.0 into 0
        return None, "-0"
    return value, None


def decode(value: float | None, special: str | None) -> float | None:
    """Inverse of :func:`encode`."""
    if special is not None:
        if special not in _SPECIAL:
            raise ValueError(f"unknown float marker {special!r} in the results database")
        return _SPECIAL[special]
    return None if value is None else float(value)


def columns(name: str, value: float | None) -> dict[str, Any]:
    """``{name: ..., name_special: ...}`` for an insert."""
    v, s = encode(value)
    return {name: v, f"{name}_special": s}


def from_row(row: Any, name: str) -> float | None:
    """Read back the float column ``name`` of a result row (a mapping)."""
    return decode(row[name], row[f"{name}_special"])


def to_json(value: float | None) -> float | str | None:
    """A float for a JSON column: finite values and None as they are, NaN/inf/-0 as their marker string."""
    v, s = encode(value)
    return v if s is None else s


def from_json(value: float | str | None) -> float | None:
    """Inverse of :func:`to_json`."""
    return decode(None, value) if isinstance(value, str) else decode(value, None)
