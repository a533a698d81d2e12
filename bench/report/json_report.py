"""The JSON report: one object, strict JSON, stable key order.

Non-finite floats are written as the strings "NaN", "Infinity" and "-Infinity" (strict JSON has
no such numbers; Python's ``float()`` reads these strings back).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from bench.report.model import ReportView
from bench.results import CaseResult

REPORT_SCHEMA = "bench3d.report/1"


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def case_object(c: CaseResult) -> dict[str, Any]:
    """A case as the CLI's ``--json`` shape, plus a ``details`` object with everything stored."""
    return {
        "suite": c.suite,
        "case": c.case,
        "status": c.status,
        "metrics": {m.name: m.value for m in c.metrics if m.unavailable is None},
        "unavailable": {m.name: m.unavailable for m in c.metrics if m.unavailable is not None},
        "timings": {t.name: {"median": t.median, "iqr": t.iqr, "n": t.n, "mean": t.mean, "min": t.min}
                    for t in c.timings},
        "error": c.error,
        "details": {
            "params": c.params, "started_at": c.started_at, "finished_at": c.finished_at,
            "duration_s": c.duration_s, "seed": c.seed, "device": c.device, "backend": c.backend,
            "datasets": c.datasets, "config_hash": c.config_hash, "config_free": c.config_free,
            "log_tail": c.log_tail,
            "metrics": [dataclasses.asdict(m) for m in c.metrics],
            "timings": [dataclasses.asdict(t) for t in c.timings],
            "artifacts": [dataclasses.asdict(a) for a in c.artifacts],
        },
    }


def render(view: ReportView) -> str:
    obj = {
        "schema": REPORT_SCHEMA,
        "run": dataclasses.asdict(view.run),
        "summary": dict(sorted(view.counts.items())),
        "cases": [case_object(c) for c in view.cases],
        "published": [r for s in view.suites for r in s.published],
    }
    return json.dumps(_clean(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
