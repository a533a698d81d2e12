"""History of every metric and timing per machine, with change points and their commit ranges.

A series is one (suite, case, metric or timing, machine, convention) over the stored runs, oldest
first (timings by their median). Change points come from ``ruptures`` (PELT, L1 cost: a single odd run
never pays for two breaks) with a penalty scaled by a robust noise estimate, and a step between the
segments' medians must also exceed ``min_sigmas`` times that noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bench.compare import stats
from bench.compare.diff import is_cpu_rss
from bench.errors import UsageError
from bench.metrics.fingerprint import fingerprint_id
from bench.metrics.units import newer_unit

PENALTY = 3.0  # times sigma log(n), in the L1 cost's units
MIN_SIGMAS = 3.0  # a step smaller than this many noise sigmas is not reported
MIN_SIZE = 2  # runs on each side of a change point (one odd run is not a step)


@dataclass
class Point:
    run_id: str
    created_at: str
    commit: str | None
    value: float
    # first and third quartile of what the value summarises (a timing's samples, a metric's items); None
    # when there is nothing to spread (one sample, an aggregate without items)
    q1: float | None = None
    q3: float | None = None


@dataclass
class ChangePoint:
    """A step between ``before`` (last run of the old level) and ``after`` (first run of the new one)."""

    index: int
    before: Point
    after: Point
    level_before: float
    level_after: float
    relative: float  # level_after / level_before - 1
    sigmas: float  # step size in noise sigmas
    mark: str  # worse | better | changed-not-significant (metric without a direction)

    def commit_range(self) -> str:
        short = lambda c: (c or "?")[:12]  # noqa: E731
        return f"{short(self.before.commit)}..{short(self.after.commit)}"


@dataclass
class Series:
    suite: str
    case: str
    kind: str  # metric | timing
    name: str
    machine: str
    unit: str
    higher_is_better: bool | None
    convention: str = ""  # fingerprint id of the metric's convention
    points: list[Point] = field(default_factory=list)
    changes: list[ChangePoint] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.case}/{self.kind}:{self.name}@{self.machine}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for c, obj in zip(d["changes"], self.changes, strict=True):
            c["commit_range"] = obj.commit_range()
        return d


def noise_sigma(y: np.ndarray) -> float:
    """Robust noise of a series: MAD of first differences / (0.6745 sqrt 2); a step is one outlier among them."""
    if y.size < 3:
        return 0.0
    d = np.diff(y)
    return float(np.median(np.abs(d - np.median(d))) / (0.6745 * math.sqrt(2.0)))


def change_points(
    y: np.ndarray,
    *,
    penalty: float = PENALTY,
    min_sigmas: float = MIN_SIGMAS,
    min_size: int = MIN_SIZE,
    min_relative: float = 0.0,
) -> list[tuple[int, float, float, float]]:
    """Indices where a new level starts, with (index, median before, median after, step in sigmas).

    Args:
        y: the series, shape (n,), oldest first.
        min_relative: also require ``|level_after / level_before - 1| >= min_relative``.
    """
    import ruptures as rpt

    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2 * min_size:
        return []
    sigma = noise_sigma(y)
    floor = 1e-9 * max(float(np.median(np.abs(y))), 1e-12)
    sigma = max(sigma, floor)  # constant segments: any real step is "beyond the noise"
    bkps = (
        rpt.Pelt(model="l1", min_size=min_size, jump=1).fit(y.reshape(-1, 1)).predict(pen=penalty * sigma * math.log(n))
    )
    bounds = [0, *bkps]
    out = []
    for k in range(1, len(bounds) - 1):
        a, i, b = bounds[k - 1], bounds[k], bounds[k + 1]
        lb, la = float(np.median(y[a:i])), float(np.median(y[i:b]))
        step = abs(la - lb) / sigma
        rel = abs(la / lb - 1.0) if lb != 0 else math.inf
        if step >= min_sigmas and rel >= min_relative:
            out.append((i, lb, la, step))
    return out


def _detect(s: Series, factor: float) -> None:
    vals = np.asarray([p.value for p in s.points], dtype=float)
    if not np.all(np.isfinite(vals)) or (s.kind == "timing" and np.any(vals <= 0)):
        keep = np.isfinite(vals) & ((vals > 0) if s.kind == "timing" else True)
        s.points = [p for p, k in zip(s.points, keep, strict=True) if k]
        vals = vals[keep]
    # Timings are multiplicative: detect on log, and a step must exceed the compare factor too.
    y = np.log(vals) if s.kind == "timing" else vals
    min_rel = (factor - 1.0) if s.kind == "timing" else 0.0
    for i, lb, la, sig in change_points(y, min_relative=0.0):
        before, after = (math.exp(lb), math.exp(la)) if s.kind == "timing" else (lb, la)
        rel = after / before - 1.0 if before != 0 else math.inf
        if abs(rel) < min_rel:
            continue
        hib = False if s.kind == "timing" else s.higher_is_better
        mark = stats.CHANGED if hib is None else (stats.BETTER if (after > before) == hib else stats.WORSE)
        s.changes.append(ChangePoint(i, s.points[i - 1], s.points[i], before, after, rel, sig, mark))


def check_factor(factor: Any, option: str = "--factor") -> float:
    """A timing change-point ratio: a finite number > 1 (as ``compare --factor``); UsageError otherwise."""
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 1 < factor < math.inf:
        raise UsageError(f"{option} {factor}: expected a finite ratio > 1 (e.g. 1.10 for 10%)")
    return float(factor)


def collect(
    store: Any,
    *,
    suite: str | None = None,
    metric: str | None = None,
    machine: str | None = None,
    case: str | None = None,
    factor: float = stats.DEFAULT_FACTOR,
) -> list[Series]:
    """Every series of the store (filtered), oldest run first, with its change points."""
    check_factor(factor)
    series: dict[tuple, Series] = {}
    for run in reversed(store.list_runs(suite=suite)):
        mach = run.machine or "unknown"
        if machine is not None and mach != machine:
            continue
        for c in store.cases(run.run_id):
            if c.status != "ok" or (suite and c.suite != suite) or (case and c.case != case):
                continue
            for m in c.metrics:
                if m.value is None or (metric and m.name != metric):
                    continue
                conv = fingerprint_id(m.fingerprint) if m.fingerprint else ""
                key = (c.suite, c.case, "metric", m.name, mach, conv)
                # A CPU RSS-based peak is not reproducible (diff.RSS_REASON, ANON_REASON): its steps have no direction.
                hib = None if is_cpu_rss(m.fingerprint) else m.higher_is_better
                s = series.setdefault(key, Series(c.suite, c.case, "metric", m.name, mach, m.unit, hib, conv))
                s.unit = newer_unit([s.unit, m.unit])  # a unit added later (bench.metrics.units) labels the series
                s.points.append(Point(run.run_id, run.created_at, run.git_commit, float(m.value), *_quartiles(m.items)))
            for t in c.timings:
                if metric and t.name != metric:
                    continue
                key = (c.suite, c.case, "timing", t.name, mach, t.method)
                s = series.setdefault(key, Series(c.suite, c.case, "timing", t.name, mach, t.unit, False, t.method))
                s.points.append(Point(run.run_id, run.created_at, run.git_commit, float(t.median),
                                      *_quartiles(t.samples)))
    out = list(series.values())
    for s in out:
        _detect(s, factor)
    return out


def _quartiles(values: list[float | None] | None) -> tuple[float | None, float | None]:
    """(q1, q3) of the finite values (numpy's linear interpolation), or (None, None) for fewer than two."""
    finite = [v for v in (values or []) if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return None, None
    q1, q3 = np.percentile(finite, [25, 75])
    return float(q1), float(q3)


def regressions(series: list[Series]) -> list[tuple[Series, ChangePoint]]:
    """Change points in the worse direction, newest first."""
    found = [(s, c) for s in series for c in s.changes if c.mark == stats.WORSE]
    return sorted(found, key=lambda sc: sc[1].after.created_at, reverse=True)
