"""One shared tester for bench.metrics: reference agreement, batched == accumulated, ideal value,
fingerprint sanity and bad-input errors. Every metric test file goes through it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from bench.metrics.fingerprint import MetricResult


def _split(x: Any, bounds: list[tuple[int, int]]) -> list[Any]:
    return [x[a:b] for a, b in bounds]


@dataclass
class MetricTester:
    """Checks one functional metric and (optionally) its accumulating class.

    Attributes:
        fn: the functional metric, called as ``fn(*inputs, **kwargs)``.
        reference: independent implementation returning per-item values (array of shape (N,)).
        inputs: batched inputs; the first dimension of each is the item axis.
        kwargs: keyword arguments for ``fn`` (and the class).
        accumulator: the stateful class (``ItemMetric`` subclass), or None.
        rtol, atol: tolerance against the reference.
        per_item_inputs: indices of ``inputs`` that are split into chunks (default: all).
    """

    fn: Callable[..., Any]
    reference: Callable[..., Sequence[float]]
    inputs: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    accumulator: type | None = None
    rtol: float = 1e-6
    atol: float = 1e-8
    per_item_inputs: tuple[int, ...] | None = None

    def run(self) -> MetricResult:
        """Every generic check at once; returns the batched result for metric-specific asserts."""
        res = self.check_reference()
        self.check_fingerprint(res)
        if self.accumulator is not None:
            self.check_accumulated(res)
        return res

    def check_reference(self) -> MetricResult:
        res = self.fn(*self.inputs, **self.kwargs)
        assert isinstance(res, MetricResult), type(res)
        ref = np.asarray(self.reference(*self.inputs, **self.kwargs), dtype=np.float64)
        assert res.items is not None and len(res.items) == len(ref), (res.items, ref)
        np.testing.assert_allclose(res.items, ref, rtol=self.rtol, atol=self.atol, err_msg=f"{res.name} items")
        np.testing.assert_allclose(res.value, ref.mean(), rtol=self.rtol, atol=self.atol, err_msg=f"{res.name} value")
        return res

    def check_fingerprint(self, res: MetricResult) -> None:
        fp = res.fingerprint
        assert {"metric", "implementation", "version", "params"} <= set(fp), fp
        assert json.loads(json.dumps(fp)) == fp, "fingerprint is not JSON round-trippable"

    def check_accumulated(self, batched: MetricResult | dict[str, MetricResult], chunks: int = 3) -> None:
        """Updating the class over uneven chunks gives exactly the one-call result."""
        idx = self.per_item_inputs if self.per_item_inputs is not None else tuple(range(len(self.inputs)))
        n = len(self.inputs[idx[0]])
        cuts = sorted({0, n, *np.linspace(0, n, chunks + 1).astype(int)[1:-1].tolist(), 1})
        bounds = [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
        assert len(bounds) >= 2, "need at least two chunks to test accumulation"
        metric = self.accumulator(**self.kwargs)
        for k, (a, b) in enumerate(bounds):
            args = [x[a:b] if i in idx else x for i, x in enumerate(self.inputs)]
            metric.update(*args)
            if k == 0:  # reset really forgets
                metric.reset()
                metric.update(*args)
        acc = metric.compute()
        pairs = batched.items() if isinstance(batched, dict) else [(batched.name, batched)]
        for name, b in pairs:
            a = acc[name] if isinstance(acc, dict) else acc
            np.testing.assert_allclose(a.items, b.items, rtol=1e-12, atol=1e-12, err_msg=name)
            assert a.value == pytest.approx(b.value, rel=1e-12, abs=1e-12) or (
                math.isinf(a.value) and a.value == b.value), name
            assert a.fingerprint == b.fingerprint


def assert_ideal(res: MetricResult, ideal: float, tol: float = 1e-9) -> None:
    """Identical inputs give the metric's ideal value on every item."""
    assert res.items is None or all(
        (math.isinf(ideal) and v == ideal) or abs(v - ideal) <= tol for v in res.items), res.items
    assert (math.isinf(ideal) and res.value == ideal) or abs(res.value - ideal) <= tol, res.value


def assert_bad_input(fn: Callable[..., Any], *args: Any, match: str, exc: type = ValueError, **kwargs: Any) -> None:
    """Bad input raises ``exc`` with a one-line message matching ``match`` (names the argument)."""
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value), str(info.value)
