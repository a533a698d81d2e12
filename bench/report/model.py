"""What every report format shows, computed once from the store: per-suite rows and their formatting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.results import FAILED_STATUSES, CaseResult, MetricRecord, RunRecord, TimingRecord

LOG_LINES = 12  # lines of a failed case's log shown in reports


@dataclass
class MetricRow:
    """One metric of one case, with the spread and count of its per-item values."""

    case: str
    name: str
    direction: str  # "↑" higher is better, "↓" lower is better, "" unknown
    value: float | None
    spread: float | None  # sample standard deviation of the finite items (ddof=1), else of the process values
    n: int  # number of items behind the value (1 when only the aggregate was given)
    unit: str
    processes: int = 1  # worker processes that recorded a value without items (--repeat); value is the first's


@dataclass
class SuiteView:
    name: str
    cases: list[CaseResult] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    timings: list[tuple[str, TimingRecord]] = field(default_factory=list)
    failures: list[CaseResult] = field(default_factory=list)
    skipped: list[CaseResult] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)  # run values beside published figures


@dataclass
class ReportView:
    run: RunRecord
    cases: list[CaseResult]
    suites: list[SuiteView]
    counts: dict[str, int]


def direction(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else ("↑" if higher_is_better else "↓")


def metric_row(case: str, m: MetricRecord) -> MetricRow:
    per_process = not m.items and m.process_values is not None
    values = m.process_values if per_process else m.items
    items = np.asarray([v for v in (values or []) if v is not None], dtype=float)
    finite = items[np.isfinite(items)]
    spread = float(np.std(finite, ddof=1)) if finite.size >= 2 else None
    return MetricRow(case=case, name=m.name, direction=direction(m.higher_is_better), value=m.value,
                     spread=spread, n=len(m.items) if m.items else 1, unit=m.unit,
                     processes=len(m.process_values) if per_process else 1)


def build(run: RunRecord, cases: list[CaseResult]) -> ReportView:
    """Group a run's cases by suite (in the run's suite order, then first appearance)."""
    order = list(dict.fromkeys([*run.suites, *(c.suite for c in cases)]))
    views = {name: SuiteView(name) for name in order}
    counts: dict[str, int] = {}
    for c in cases:
        v = views[c.suite]
        v.cases.append(c)
        counts[c.status] = counts.get(c.status, 0) + 1
        v.metrics.extend(metric_row(c.case, m) for m in c.metrics if m.unavailable is None)
        v.timings.extend((c.case, t) for t in c.timings)
        if c.status in FAILED_STATUSES:
            v.failures.append(c)
        elif c.status == "skipped":
            v.skipped.append(c)
    for row in published_rows(cases):
        if row["suite"] in views:
            views[row["suite"]].published.append(row)
    return ReportView(run=run, cases=cases, suites=[v for v in views.values() if v.cases], counts=counts)


def published_rows(cases: list[CaseResult]) -> list[dict[str, Any]]:
    """Each run value beside its figure in the shipped ``baselines/*.yaml``, with a status.

    A baseline whose protocol differs from the run's is shown as "reference only", never as a pass or fail.
    """
    from bench.compare import baselines

    if baselines.default_dir() is None:  # tables not installed: a note in the report, never a failed run
        return [{"suite": c.suite, "case": "", "metric": "", "published": None, "run": None, "status": "note",
                 "reason": baselines.missing_note(), "entry": "", "citation": ""} for c in cases[:1]]
    try:
        tables = baselines.load_dir(known_metrics=False)
    except baselines.BaselineError as exc:  # a broken baseline file must not cost the run its report
        return [{"suite": c.suite, "case": "", "metric": "", "published": None, "run": None, "status": "error",
                 "reason": str(exc), "entry": "", "citation": ""} for c in cases[:1]]
    return baselines.rows_for_cases(cases, tables)


# --- formatting -----------------------------------------------------------------------------
def fmt_value(x: float | None, digits: int = 4) -> str:
    """A compact number: 4 significant digits; NaN and infinities spelled out; None as a dash."""
    if x is None:
        return "—"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def fmt_seconds(x: float | None) -> str:
    """A duration in the unit that keeps 3-4 significant digits readable (ns .. s)."""
    if x is None or not math.isfinite(x):
        return fmt_value(x)
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(x) >= scale:
            return f"{x / scale:.4g} {unit}"
    return f"{x / 1e-9:.4g} ns" if x else "0 s"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.4g} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.4g} GiB"  # pragma: no cover


def fmt_env(value: Any) -> str:
    """An environment value as one line."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt_env(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt_env(v) for v in value)
    return str(value)


def log_tail(text: str | None, lines: int = LOG_LINES) -> str:
    """The last ``lines`` non-empty lines of a log."""
    kept = [ln for ln in (text or "").splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def run_summary(view: ReportView) -> list[tuple[str, str]]:
    """(label, text) pairs describing the run, shared by markdown and HTML."""
    r = view.run
    commit = "—" if not r.git_commit else r.git_commit[:12] + (" (dirty)" if r.git_dirty else "")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(view.counts.items())) or "no cases stored"
    return [("run", r.run_id), ("status", r.status), ("profile", r.profile), ("device", r.device),
            ("backend", _backend_text(r)), ("seed", str(r.seed)), ("git commit", commit), ("machine", r.machine or "—"),
            ("started", r.created_at), ("finished", r.finished_at or "—"), ("cases", counts)]


def _backend_text(run: Any) -> str:
    """The backend asked for and, where it was resolved at run time, what it resolved to."""
    resolved = (run.environment or {}).get("backend_resolved") or {}
    if not resolved:
        return run.backend
    return ", ".join(f"{name} → {what}" if name != what.split()[0] else what for name, what in resolved.items())
