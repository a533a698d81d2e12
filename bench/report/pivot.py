"""The case x metric pivot of one suite in a run: what a reader scans first ("which case is best on what").

Generic over suites and metrics: a column per metric recorded by any case (in the suite's declaration order
where the suite is installed), a row per case. A metric ``X`` recorded together with ``X_low`` and ``X_high``
is one column whose cells carry the interval ("75 % [30, 95] (3/4)"); a metric whose items are all 0/1 (or
0/100 for a percentage) shows the count of successes. Declared metrics that no case recorded become
"unavailable" rows with the reason found in the cases' logs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from bench.report.model import MetricRow, SuiteView, fmt_value
from bench.results import CaseResult, MetricRecord

INTERVAL_SUFFIXES = ("_low", "_high")
MAX_PARAM_COLUMNS = 3
SAME_REL = 1e-6  # values closer than this (relative) are the same value up to rounding: no best mark
UNAVAILABLE_WORDS = ("unavailable", "not recorded", "not available", "not computed", "cannot be computed")


@dataclass
class Column:
    name: str
    unit: str
    direction: str  # "↑", "↓" or ""
    description: str = ""
    interval: bool = False  # cells carry X_low / X_high
    ranked: bool = True  # False for a declared initial value (MetricSpec.initial): no best mark

    @property
    def header(self) -> str:
        return f"{self.name} {self.direction}".strip()


@dataclass
class Cell:
    text: str  # "0.1234 ± 0.01"
    n_text: str  # "n 8" (or "3/4" counts are already in text)
    value: float | None
    title: str  # tooltip: the spread's meaning, processes, ...
    best: bool = False
    missing: bool = False


@dataclass
class Unavailable:
    metric: str
    unit: str
    cases: list[str]
    reason: str


@dataclass
class Pivot:
    columns: list[Column] = field(default_factory=list)
    rows: list[tuple[str, list[Cell]]] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # parameters that differ between the rows' cases
    param_values: dict[str, list[str]] = field(default_factory=dict)  # case -> their values
    case_titles: dict[str, str] = field(default_factory=dict)  # case -> every differing parameter, for a tooltip
    unavailable: list[Unavailable] = field(default_factory=list)


def _declared(suite: str) -> list[Any]:
    """The suite's declared MetricSpecs (empty when the suite is not installed here)."""
    from bench.errors import BenchError
    from bench.suite import HARNESS_METRICS, Registry

    try:
        return [*Registry().get(suite).metrics, *HARNESS_METRICS]
    except (BenchError, Exception):  # noqa: BLE001  (a report never fails for a suite it cannot load)
        return []


def fmt_unit_value(x: float | None, unit: str) -> str:
    """A value with a unit glued on where the unit reads as part of the number (%, x)."""
    text = fmt_value(x, 3 if unit == "%" else 4)
    if x is None or not math.isfinite(x):
        return text
    return f"{text} %" if unit == "%" else (f"×{text}" if unit == "x" else text)


def success_count(m: MetricRecord) -> tuple[int, int] | None:
    """(successes, trials) when every item is a 0/1 outcome (0/100 for a percentage), else None."""
    if not m.items or len(m.items) < 1:
        return None
    top = 100.0 if m.unit == "%" else 1.0
    vals = [v for v in m.items if v is not None]
    if len(vals) != len(m.items) or any(v not in (0.0, top) for v in vals):
        return None
    return sum(1 for v in vals if v == top), len(vals)


def _cell(row: MetricRow, rec: MetricRecord, low: MetricRecord | None, high: MetricRecord | None) -> Cell:
    unit = row.unit
    text = fmt_unit_value(row.value, unit)
    title = f"{row.name}: value"
    counts = success_count(rec)
    if low is not None and high is not None:
        lo, hi = fmt_value(low.value, 3), fmt_value(high.value, 3)
        text += f" [{lo}, {hi}]"
        title += f", interval [{lo}, {hi}] from {low.name} / {high.name}"
    if counts is not None:
        text += f" ({counts[0]}/{counts[1]})"
        title += f", {counts[0]} of {counts[1]} items succeeded"
        return Cell(text, "", row.value, title)
    if row.spread is not None and (low is None or high is None):
        text += f" ± {fmt_value(row.spread, 2)}"
        title += ", ± sample standard deviation over " + ("processes" if row.processes > 1 else "items")
    n_text = f"n {row.n}" if row.processes == 1 else f"{row.processes} proc"
    return Cell(text, n_text, row.value, title + f", n = {row.n}")


def _mark_best(col: Column, cells: list[Cell]) -> None:
    """Bold the best finite value of a ranked column that has a direction and at least two values that differ
    by more than rounding (``SAME_REL``); an initial value (the same start for every case) is never ranked."""
    vals = [(c.value, c) for c in cells if c.value is not None and math.isfinite(c.value)]
    if not col.ranked or col.direction not in ("↑", "↓") or len(vals) < 2:
        return
    lo, hi = min(v for v, _ in vals), max(v for v, _ in vals)
    if hi - lo <= SAME_REL * max(abs(lo), abs(hi)):
        return
    best = (max if col.direction == "↑" else min)(v for v, _ in vals)
    for v, c in vals:
        c.best = v == best


def reason_from_log(metric: str, log: str | None) -> str | None:
    """The last log line that says why ``metric`` was not recorded ("lpips not recorded: ..."), or None."""
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(metric)}(?![A-Za-z0-9_])", re.IGNORECASE)
    hits = [ln.strip() for ln in (log or "").splitlines()
            if word.search(ln) and any(w in ln.lower() for w in UNAVAILABLE_WORDS)]
    return hits[-1] if hits else None


def case_reason(metric: str, case: CaseResult) -> str | None:
    """Why ``case`` has no value of ``metric``: the reason it recorded (``ctx.unavailable``), else, for runs
    stored before that channel or suites that only log it, the case log's line (:func:`reason_from_log`)."""
    for m in case.metrics:
        if m.name == metric and m.unavailable is not None:
            return m.unavailable
    return reason_from_log(metric, case.log_tail)


def _unavailable(view: SuiteView, recorded: set[str], declared: list[Any]) -> list[Unavailable]:
    ok = [c for c in view.cases if c.status == "ok"]
    out = []
    for spec in declared:
        if spec.name in recorded or not ok:
            continue
        reasons = [r for r in (case_reason(spec.name, c) for c in ok) if r]
        reason = reasons[-1] if reasons else "no case recorded it and no case log says why"
        out.append(Unavailable(spec.name, spec.unit, [c.case for c in ok], reason))
    return out


def build(view: SuiteView) -> Pivot:
    """The pivot of one suite's cases (only cases with metrics get a row)."""
    declared = _declared(view.name)
    order = {s.name: i for i, s in enumerate(declared)}
    desc = {s.name: s.description for s in declared}
    records: dict[str, dict[str, MetricRecord]] = {c.case: {m.name: m for m in c.metrics} for c in view.cases}
    rows_by: dict[tuple[str, str], MetricRow] = {(r.case, r.name): r for r in view.metrics}
    names = list(dict.fromkeys(r.name for r in view.metrics))
    recorded = set(names)
    folded = {n for n in names for s in INTERVAL_SUFFIXES if n.endswith(s) and n[: -len(s)] in recorded}
    names = sorted((n for n in names if n not in folded), key=lambda n: (order.get(n, len(order)), names.index(n)))
    first = {r.name: r for r in reversed(view.metrics)}
    initial = {s.name for s in declared if getattr(s, "initial", False)}
    columns = [Column(n, first[n].unit, first[n].direction, desc.get(n, ""),
                      interval=f"{n}_low" in recorded and f"{n}_high" in recorded, ranked=n not in initial)
               for n in names]
    pivot = Pivot(columns=columns, unavailable=_unavailable(view, recorded, declared))
    cases = [c for c in view.cases if records[c.case]]
    grid: list[list[Cell]] = []
    for c in cases:
        recs = records[c.case]
        cells = []
        for col in columns:
            row = rows_by.get((c.case, col.name))
            if row is None:
                why = case_reason(col.name, c) or "not recorded by this case"
                cells.append(Cell("—", "", None, why, missing=True))
                continue
            cells.append(_cell(row, recs[col.name], recs.get(f"{col.name}_low"), recs.get(f"{col.name}_high")))
        grid.append(cells)
    for j, col in enumerate(columns):
        _mark_best(col, [cells[j] for cells in grid])
    pivot.rows = [(c.case, cells) for c, cells in zip(cases, grid, strict=True)]
    # parameters the case names already spell ("target=torus,loss=full") are not repeated as columns
    params = [k for k in case_params(cases) if not all(f"{k}=" in c.case for c in cases)]
    pivot.params = params if len(params) <= MAX_PARAM_COLUMNS else []  # more: in the case cell's tooltip
    pivot.param_values = {c.case: [_short((c.params or {}).get(k)) for k in pivot.params] for c in cases}
    pivot.case_titles = {c.case: ", ".join(f"{k}={_short((c.params or {}).get(k))}" for k in params) for c in cases}
    return pivot


def case_params(cases: list[CaseResult]) -> list[str]:
    """Parameter names whose values differ between the cases (the ablation's axes), in first-seen order."""
    keys = list(dict.fromkeys(k for c in cases for k in (c.params or {})))
    return [k for k in keys if len({repr((c.params or {}).get(k)) for c in cases}) > 1]


def _short(value: Any) -> str:
    """A parameter value in a table cell (long values cut)."""
    text = "—" if value is None else (value if isinstance(value, str) else repr(value))
    return text if len(text) <= 40 else text[:37] + "..."
