"""Stateful accumulation of per-item metrics: ``update`` over chunks, ``compute`` once, ``reset``.

The functional core returns per-item values; accumulating chunks and computing at the end gives
exactly the result of one call on the whole batch (the tests check this for every metric).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench.metrics.fingerprint import MetricResult


def mean(values: list[float]) -> float:
    """Mean of per-item values; +inf if any is +inf (e.g. PSNR of identical images), NaN if empty."""
    if not values:
        return math.nan
    return math.fsum(values) / len(values) if all(math.isfinite(v) for v in values) else sum(values) / len(values)


def from_items(name: str, items: list[float], fingerprint: dict[str, Any], *, unit: str = "",
               higher_is_better: bool | None = None, extra: dict[str, Any] | None = None) -> MetricResult:
    """A :class:`MetricResult` whose value is the mean of ``items``."""
    return MetricResult(name=name, value=mean(items), items=list(items), fingerprint=fingerprint, unit=unit,
                        higher_is_better=higher_is_better, extra=dict(extra or {}))


class ItemMetric:
    """Accumulates a per-item functional metric over chunks.

    ``fn(*args, **kwargs)`` must return a :class:`MetricResult` (or a dict of them, as
    ``compare_meshes`` does) with per-item values; ``compute`` returns the same kind over all items.
    Subclasses set ``fn = staticmethod(metric_function)``. Per-item extras (keys ending in
    ``_items``) are concatenated and their means recomputed; other extras are kept only if equal.
    """

    fn: Callable[..., Any]

    def __init__(self, fn: Callable[..., Any] | None = None, **kwargs: Any):
        if fn is not None:
            self.fn = fn
        if getattr(self, "fn", None) is None:
            raise TypeError("ItemMetric needs a functional metric `fn`")
        self.kwargs = kwargs
        self.reset()

    def reset(self) -> None:
        self._parts: list[Any] = []

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """Score one chunk and keep its per-item values; returns the chunk's own result."""
        res = self.fn(*args, **{**self.kwargs, **kwargs})
        self._parts.append(res)
        return res

    def compute(self) -> Any:
        """The result over every item seen since the last reset."""
        if not self._parts:
            raise RuntimeError(f"{type(self).__name__}.compute() called before update()")
        first = self._parts[0]
        if isinstance(first, dict):
            return {k: _merge([p[k] for p in self._parts]) for k in first}
        return _merge(self._parts)


def _merge(parts: list[MetricResult]) -> MetricResult:
    first = parts[0]
    items: list[float] = []
    extra: dict[str, Any] = {}
    for p in parts:
        if p.items is None:
            raise TypeError(f"{p.name} has no per-item values and cannot be accumulated by ItemMetric")
        if p.fingerprint != first.fingerprint:
            raise ValueError(f"{p.name}: chunks were scored with different conventions")
        items.extend(p.items)
        for k, v in p.extra.items():
            if k.endswith("_items"):
                extra.setdefault(k, []).extend(v)
    for k, v in list(extra.items()):
        extra[k[: -len("_items")]] = mean(v)
    for k, v in first.extra.items():
        if not k.endswith("_items") and k not in extra and all(p.extra.get(k) == v for p in parts):
            extra[k] = v
    return from_items(first.name, items, first.fingerprint, unit=first.unit,
                      higher_is_better=first.higher_is_better, extra=extra)
