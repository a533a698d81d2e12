"""Metric results and their convention fingerprints.

Every metric returns a :class:`MetricResult` whose ``fingerprint`` is a JSON-able dict naming
the implementation, the convention version and every parameter that changes the number.
Two results are comparable only when their fingerprints agree (:func:`check_comparable`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UsageError

# Bump when a convention of bench3d's own implementations changes the numbers they produce.
CONVENTION_VERSION = "1"

# Keys of a fingerprint that do not make two results incomparable unless ``strict=True``.
_SOFT_KEYS = ("libraries",)


class IncomparableError(UsageError):
    """Two metric results follow different conventions; comparing them would mislead."""


@dataclass(frozen=True)
class MetricResult:
    """One metric: the aggregate, its per-item values and its convention.

    Attributes:
        name: the metric's name as reported (e.g. ``"PSNR"``, ``"F1@0.1"``).
        value: the aggregate (the mean of ``items`` unless the metric says otherwise).
        items: per-item values (per image, shape, pose, sample) or None for set-level metrics (FID).
        fingerprint: JSON-able convention record (see :func:`make_fingerprint`).
        unit: unit of ``value`` ("dB", "%", "deg", "" ...).
        higher_is_better: direction, for reports and regression checks.
        extra: secondary values (precision/recall, std, counts); JSON-able.
    """

    name: str
    value: float
    items: list[float] | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    unit: str = ""
    higher_is_better: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]  # holds dicts; equality only



def _jsonable(value: Any) -> Any:
    """Canonical JSON form: tuples become lists, numpy/torch scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"fingerprint value {value!r} of type {type(value).__name__} is not JSON-able")


def make_fingerprint(metric: str, implementation: str, *, libraries: Mapping[str, str] | None = None,
                     **params: Any) -> dict[str, Any]:
    """A fingerprint dict: metric, implementation, convention version, library versions, parameters."""
    return {
        "metric": metric,
        "implementation": implementation,
        "version": CONVENTION_VERSION,
        "libraries": _jsonable(dict(libraries or {})),
        "params": _jsonable(params),
    }


def library_version(name: str) -> str:
    """Installed version of a distribution, or "absent"."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def fingerprint_id(fp: Mapping[str, Any], *, strict: bool = False) -> str:
    """Short stable hash of the comparable part of a fingerprint (for grouping stored results)."""
    body = {k: v for k, v in fp.items() if strict or k not in _SOFT_KEYS}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out if out or not prefix else {prefix: {}}
    return {prefix: d}


def fingerprint_diff(a: Mapping[str, Any], b: Mapping[str, Any], *, strict: bool = True) -> list[str]:
    """Human-readable differences between two fingerprints, one line per differing key.

    With ``strict=False`` library versions (``libraries.*``) are ignored.
    """
    fa, fb = _flatten(dict(a)), _flatten(dict(b))
    lines = []
    for key in sorted(set(fa) | set(fb)):
        if not strict and key.split(".", 1)[0] in _SOFT_KEYS:
            continue
        va, vb = fa.get(key, "<missing>"), fb.get(key, "<missing>")
        if va != vb:
            lines.append(f"{key}: {va!r} != {vb!r}")
    return lines


def _fingerprint_of(x: Any) -> Mapping[str, Any]:
    fp = getattr(x, "fingerprint", x)
    if not isinstance(fp, Mapping):
        raise TypeError(f"expected a MetricResult or a fingerprint dict, got {type(x).__name__}")
    return fp


def check_comparable(a: Any, b: Any, *, strict: bool = False) -> None:
    """Raise :class:`IncomparableError` unless ``a`` and ``b`` (results or fingerprints) share a convention.

    Library versions are only compared with ``strict=True``: an upgrade of torchmetrics does not
    change a pinned convention, a different data_range does.
    """
    diff = fingerprint_diff(_fingerprint_of(a), _fingerprint_of(b), strict=strict)
    if diff:
        name = _fingerprint_of(a).get("metric", "metric")
        raise IncomparableError(f"{name} results follow different conventions: " + "; ".join(diff))
