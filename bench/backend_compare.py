"""Backend vs backend within one run (``bench3d run --backend torch,pytorch3d``).

Cases named ``case@backend`` are paired by their base name; per pair the metric values are shown side by
side with their differences from the reference backend (the first one of the run, unless given), and the
timing medians with the time ratio ``median(backend) / median(reference)`` (> 1: slower than the reference).
Metrics whose convention fingerprints differ between backends are shown but never differenced. A metric
for which the suite declares a :class:`~bench.suite.BackendTolerance` is checked against it: each other
backend's value is ``within`` or outside ``abs + rel * |ref|`` of the reference's; ``failures`` lists the
metrics outside their tolerance and the pairs not ok on every backend (``compare --backends
--fail-on-regression`` exits 1 on any). A case the suite lists in ``backend_known_differences`` keeps its
outside-tolerance metrics in ``known`` with the suite's reason instead (a pair not ok is still a failure).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.compare.diff import memory_kind_reason
from bench.errors import UsageError
from bench.results import CaseResult

SEPARATOR = "@"


def split_backend(case_name: str) -> tuple[str, str | None]:
    """``"x@torch"`` -> ("x", "torch"); a name without a backend suffix -> (name, None)."""
    base, sep, backend = case_name.rpartition(SEPARATOR)
    return (base, backend) if sep and base and backend else (case_name, None)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _backend_order(run_backend: str, cases: list[CaseResult]) -> list[str]:
    order = [b.strip() for b in str(run_backend or "").split(",") if b.strip()]
    for c in cases:
        b = split_backend(c.case)[1]
        if b is not None and b not in order:
            order.append(b)
    return [b for b in order if any(split_backend(c.case)[1] == b for c in cases)]


def _metrics(by_backend: dict[str, CaseResult], backends: list[str], ref: str,
             tolerances: Mapping[str, Any]) -> list[dict[str, Any]]:
    names: list[str] = []
    for b in backends:
        names += [m.name for m in by_backend[b].metrics if m.name not in names] if b in by_backend else []
    rows = []
    for name in names:
        recs = {b: next((m for m in by_backend[b].metrics if m.name == name), None) for b in by_backend}
        recs = {b: m for b, m in recs.items() if m is not None}
        first = next(iter(recs.values()))
        values = {b: m.value for b, m in recs.items()}
        comparable = len({repr(sorted(m.fingerprint.items())) for m in recs.values()}) == 1
        # why a backend's value is not compared with the reference's, where a memory measure differs (issue 22)
        why = {b: memory_kind_reason(recs[ref].fingerprint, m.fingerprint) for b, m in recs.items()
               if b != ref and ref in recs}
        diff, rel = {}, {}
        r = values.get(ref)
        for b, v in values.items():
            if b != ref and comparable and _finite(r) and _finite(v):
                diff[b] = v - r
                rel[b] = (v - r) / abs(r) if r != 0 else (0.0 if v == r else math.inf)
        tol = tolerances.get(name)
        within = {b: tol.within(values[b], r) for b in diff} if tol is not None else {}
        rows.append({"name": name, "unit": first.unit, "higher_is_better": first.higher_is_better,
                     "values": values, "diff": diff, "rel_diff": rel, "comparable": comparable,
                     "incomparable": {b: w for b, w in why.items() if w},
                     "tolerance": None if tol is None else {"abs": tol.abs, "rel": tol.rel, "why": tol.why},
                     "within": within})
    return rows


def _timings(by_backend: dict[str, CaseResult], backends: list[str], ref: str) -> list[dict[str, Any]]:
    names: list[str] = []
    for b in backends:
        names += [t.name for t in by_backend[b].timings if t.name not in names] if b in by_backend else []
    rows = []
    for name in names:
        recs = {b: next((t for t in by_backend[b].timings if t.name == name), None) for b in by_backend}
        recs = {b: t for b, t in recs.items() if t is not None}
        median = {b: t.median for b, t in recs.items()}
        r = median.get(ref)
        ratio = {b: m / r for b, m in median.items() if b != ref and _finite(r) and r > 0 and _finite(m)}
        rows.append({"name": name, "median": median, "iqr": {b: t.iqr for b, t in recs.items()},
                     "n": {b: t.n for b, t in recs.items()}, "noisy": {b: t.noisy for b, t in recs.items()},
                     "peak_memory_bytes": {b: t.peak_memory_bytes for b, t in recs.items()},
                     "memory_kind": {b: t.memory_kind for b, t in recs.items()}, "ratio": ratio})
    return rows


def compare_cases(cases: list[CaseResult], run_backend: str = "", reference: str | None = None,
                  tolerances: Mapping[str, Mapping[str, Any]] | None = None,
                  known: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """The comparison of a run's ``case@backend`` results (see :func:`backend_comparison`); ``tolerances``:
    suite (or "suite/case", which wins for that case) -> metric -> :class:`~bench.suite.BackendTolerance`;
    ``known``: suite -> case -> why the case is
    not expected to agree."""
    tolerances, known = tolerances or {}, known or {}
    backends = _backend_order(run_backend, cases)
    if not backends:
        raise UsageError("no cross-backend cases in this run (none named CASE@BACKEND); "
                         "run with --backend torch,pytorch3d")
    ref = reference or backends[0]
    if ref not in backends:
        raise UsageError(f"reference backend {ref!r} has no cases in this run; expected one of: {', '.join(backends)}")
    groups: dict[tuple[str, str], dict[str, CaseResult]] = {}
    unpaired = []
    for c in cases:
        base, b = split_backend(c.case)
        if b is None:
            unpaired.append(f"{c.suite}/{c.case}")
        else:
            groups.setdefault((c.suite, base), {})[b] = c
    out_cases, failures, known_out = [], [], []
    for (suite, base), by_backend in groups.items():
        ok = {b: c for b, c in by_backend.items() if c.status == "ok"}
        tols = {**tolerances.get(suite, {}), **tolerances.get(f"{suite}/{base}", {})}  # a case's own win
        metrics = _metrics(ok, backends, ref, tols) if ok else []
        failures += [f"{suite}/{base}@{b}: {by_backend[b].status if b in by_backend else 'missing'}"
                     for b in backends if b not in ok]
        outside = [f"{suite}/{base} {m['name']}@{b}: {m['values'][b]!r} vs {m['values'][ref]!r} on {ref}, "
                   f"outside {m['tolerance']['abs']:g} + {m['tolerance']['rel']:g} * |ref|"
                   for m in metrics for b, ok_b in m["within"].items() if not ok_b]
        # not comparable: different fingerprints, or a value on one backend only; a metric finite on no backend
        # (not recorded on either: weights not given, a threshold never reached) is no disagreement
        outside += [f"{suite}/{base} {m['name']}@{b}: not comparable with {ref} (not finite or fingerprints)"
                    for m in metrics if m["tolerance"] is not None and ref in m["values"]
                    and any(_finite(v) for v in m["values"].values()) for b in m["values"]
                    if b != ref and b not in m["within"]]
        why = known.get(suite, {}).get(base)
        if why is None:
            failures += outside
        else:
            known_out += [f"{line} (known: {why})" for line in outside]
        out_cases.append({
            "suite": suite, "case": base,
            "status": {b: by_backend[b].status for b in backends if b in by_backend},
            "backend_versions": {b: by_backend[b].backend for b in backends if b in by_backend},
            "errors": {b: c.error for b, c in by_backend.items() if c.status != "ok"},
            "known_difference": why,
            "metrics": metrics,
            "timings": _timings(ok, backends, ref) if ok else [],
        })
    return {"backends": backends, "reference": ref, "cases": out_cases, "unpaired": unpaired, "failures": failures,
            "known": known_out}


def declared_tolerances(suite_names: list[str]) -> dict[str, Mapping[str, Any]]:
    """suite -> its declared ``backend_tolerances``, and "suite/case" -> its ``backend_case_tolerances[case]``
    (suites that are not registered here: none)."""
    from bench.suite import Registry

    reg, out = Registry(), {}
    for name in suite_names:
        if name in reg.names():
            suite = reg.get(name)
            out[name] = suite.backend_tolerances
            out.update({f"{name}/{case}": t for case, t in suite.backend_case_tolerances.items()})
    return out


def declared_known_differences(suite_names: list[str]) -> dict[str, Mapping[str, str]]:
    """suite -> its declared ``backend_known_differences`` (case -> why)."""
    from bench.suite import Registry

    reg = Registry()
    return {n: reg.get(n).backend_known_differences for n in suite_names if n in reg.names()}


def backend_comparison(store: Any, run_id: str, reference: str | None = None) -> dict[str, Any]:
    """Pair a stored run's ``case@backend`` results by base name across backends.

    Returns ``{"run_id", "backends", "reference", "cases": [{suite, case, status, backend_versions, errors,
    metrics: [{name, unit, higher_is_better, values, diff, rel_diff, comparable, incomparable, tolerance,
    within}], timings:
    [{name, median, iqr, n, noisy, peak_memory_bytes, memory_kind, ratio}], known_difference}], "unpaired", "failures",
    "known"}``; per-backend values are dicts keyed by backend; tolerances are the suites' declared
    ``backend_tolerances``, known differences their ``backend_known_differences``.
    """
    run = store.get_run(run_id)
    cases = store.cases(run_id)
    suites = sorted({c.suite for c in cases})
    result = compare_cases(cases, run.backend, reference, declared_tolerances(suites),
                           declared_known_differences(suites))
    return {"run_id": run_id, **result}


def _fmt(x: Any) -> str:
    from bench.report.model import fmt_value

    return fmt_value(x) if x is None or isinstance(x, float | int) else str(x)


def _pct(x: float | None) -> str:
    return "—" if x is None else ("inf" if math.isinf(x) else f"{x * 100:+.3g}%")


def backend_comparison_markdown(comparison: dict[str, Any]) -> str:
    """Markdown tables (metrics side by side with differences; timings with time ratios) of a comparison."""
    import pandas as pd

    from bench.report.model import fmt_bytes, fmt_seconds

    backends, ref = comparison["backends"], comparison["reference"]
    others = [b for b in backends if b != ref]

    def table(rows: list[dict[str, str]]) -> str:
        cells = [{k: str(v).replace("|", "\\|") for k, v in r.items()} for r in rows]
        return pd.DataFrame(cells).to_markdown(index=False, disable_numparse=True)

    out = [f"# Backend comparison: run {comparison.get('run_id', '')}".rstrip(), "",
           f"Reference backend: `{ref}`; differences are `backend - {ref}`, time ratio is "
           f"`median(backend) / median({ref})` (> 1: slower than {ref}).", ""]
    metric_rows, timing_rows, not_ok = [], [], []
    kinds: set[str] = set()
    for c in comparison["cases"]:
        label = f"{c['suite']}/{c['case']}"
        for b, status in c["status"].items():
            if status != "ok":
                reason = (c["errors"].get(b) or "no reason recorded").strip().splitlines()[0]
                not_ok.append(f"- **{label}@{b}**: `{status}`: {reason}")
        for m in c["metrics"]:
            row = {"case": label, "metric": m["name"]}
            row.update({b: _fmt(m["values"].get(b)) for b in backends})
            for b in others:
                row[f"Δ {b}"] = _fmt(m["diff"].get(b)) if m["comparable"] else (
                    m.get("incomparable", {}).get(b) or "fingerprints differ")
                row[f"Δ% {b}"] = _pct(m["rel_diff"].get(b)) if m["comparable"] else "—"
            tol = m.get("tolerance")
            row["tolerance"] = "—" if tol is None else f"{tol['abs']:g} + {tol['rel']:g}·|ref|"
            no = "NO (known)" if c.get("known_difference") else "NO"
            row["agrees"] = "—" if tol is None else ", ".join(
                ("—" if b not in m["within"] else "yes" if m["within"][b] else no) for b in others)
            metric_rows.append(row)
        for t in c["timings"]:
            row = {"case": label, "timing": t["name"]}
            row.update({b: fmt_seconds(t["median"].get(b)) for b in backends})
            row.update({f"ratio {b}": (f"{t['ratio'][b]:.3g}x" if b in t["ratio"] else "—") for b in others})
            row.update({f"peak {b}": fmt_bytes(t["peak_memory_bytes"].get(b)) for b in backends})
            kinds.update(k for k in t.get("memory_kind", {}).values() if k)
            timing_rows.append(row)
    if metric_rows:
        out += ["## Metrics", "", table(metric_rows), ""]
    if timing_rows:
        out += ["## Timings (median)", "", table(timing_rows), ""]
        if kinds:
            out += [f"Peaks: the timed work's peak memory, measured as {', '.join(sorted(kinds))} "
                    "(`bench3d compare --help` says what each measure is).", ""]
    if not_ok:
        out += ["## Not compared", "", *not_ok, ""]
    if comparison.get("failures"):
        out += ["## Outside tolerance or not ok", "", *[f"- {f}" for f in comparison["failures"]], ""]
    if comparison.get("known"):
        out += ["## Outside tolerance, known differences (not failures)", "",
                *[f"- {f}" for f in comparison["known"]], ""]
    if comparison.get("unpaired"):
        out += ["Cases without a backend suffix (not compared): " + ", ".join(comparison["unpaired"]), ""]
    return "\n".join(out)


__all__ = ["backend_comparison", "backend_comparison_markdown", "compare_cases", "split_backend"]
