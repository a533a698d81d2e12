"""The markdown report: pandas tables per suite (metrics, timings), failures with logs, environment."""

from __future__ import annotations

import pandas as pd

from bench.report import pivot
from bench.report.model import ReportView, fmt_bytes, fmt_env, fmt_seconds, fmt_value, log_tail, run_summary


def _cell(x: object) -> str:
    """Table cells stay on one line and cannot close the table early."""
    return str(x).replace("\n", " ").replace("|", "\\|")


def fmt_throughput(t) -> str:
    """``"1.23e+04 rays/s"`` at the median for a timing with a throughput, else empty."""
    return f"{t.throughput:.4g} {t.item_unit}/s" if t.throughput else ""


def _table(rows: list[dict[str, object]]) -> str:
    df = pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in rows])
    return df.to_markdown(index=False, disable_numparse=True)


def render(view: ReportView) -> str:
    out = [f"# bench3d report: run {view.run.run_id}", ""]
    out += [_table([{"": k, "value": v} for k, v in run_summary(view)]), ""]
    for s in view.suites:
        out += [f"## Suite `{s.name}`", ""]
        pv = pivot.build(s)
        if pv.rows:
            out += ["### Results", "", "↑ higher is better, ↓ lower is better; **bold**: the best case of a column; "
                    "value ± sample standard deviation over the items (n), or [interval] (successes/trials).", ""]
            out += [_pivot_table(pv), ""]
        if pv.unavailable:
            out += ["### Unavailable metrics", ""]
            out += [_table([{"metric": u.metric, "unit": u.unit or "no unit", "cases": ", ".join(u.cases),
                             "reason": u.reason} for u in pv.unavailable]), ""]
        if s.metrics:
            out += ["### Metrics (one row per case and metric)", "",
                    "↑ higher is better, ↓ lower is better; std over the per-item values "
                    "(a value without items from several processes, `--repeat`: the first process's value, std "
                    "over the processes).", ""]
            out += [_table([{"case": m.case, "metric": m.name, "dir": m.direction, "value": fmt_value(m.value),
                             "std": fmt_value(m.spread),
                             "n": m.n if m.processes == 1 else f"{m.n} ({m.processes} processes)",
                             "unit": m.unit} for m in s.metrics]), ""]
        if s.timings:
            out += ["### Timings", ""]
            out += [_table([{"case": case, "timing": t.name, "phase": t.phase or "", "median": fmt_seconds(t.median),
                             "throughput": fmt_throughput(t),
                             "IQR": fmt_seconds(t.iqr),
                             "n": t.n if t.processes == 1 else f"{t.n} ({t.processes} processes)",
                             "min": fmt_seconds(t.min),
                             "noisy": "yes (IQR > 10% of median)" if t.noisy else "",
                             "peak memory": fmt_bytes(t.peak_memory_bytes), "method": t.method}
                            for case, t in s.timings]), ""]
        if s.published:
            out += ["### Published figures", "", "Run values beside published ones; 'reference only' where the "
                    "protocol differs (the reason says how).", ""]
            out += [_table([{"case": r["case"], "metric": r["metric"], "published": fmt_value(r["published"]),
                             "run": fmt_value(r["run"]), "status": r["status"],
                             "source": r["citation"] + (f" — {r['where']}" if r.get("where") else ""),
                             "entry": r["entry"], "reason": r["reason"]} for r in s.published]), ""]
        if s.failures:
            out += ["### Failures", ""]
            for c in s.failures:
                out += [f"- **{c.case}**: `{c.status}`: {_cell(c.error or 'no reason recorded')}"]
                tail = log_tail(c.log_tail)
                if tail:
                    out += ["", "  ```text", *[f"  {ln}" for ln in tail.splitlines()], "  ```"]
            out += [""]
        if s.skipped:
            out += ["### Skipped", ""]
            out += [f"- **{c.case}**: {_cell(c.error or 'no reason recorded')}" for c in s.skipped] + [""]
    out += ["## Environment", ""]
    env = view.run.environment
    out += [_table([{"key": k, "value": fmt_env(v)} for k, v in env.items()]) if env else "(not recorded)", ""]
    return "\n".join(out)


def _pivot_table(pv: pivot.Pivot) -> str:
    """The case x metric pivot; the header names direction and unit, best cells in bold."""
    rows = []
    for case, cells in pv.rows:
        row: dict[str, object] = {"case": case}
        row.update(zip(pv.params, pv.param_values[case], strict=True))
        for col, cell in zip(pv.columns, cells, strict=True):
            text = cell.text + (f" ({cell.n_text})" if cell.n_text else "")
            row[f"{col.header} [{col.unit or 'no unit'}]"] = f"**{text}**" if cell.best else text
        rows.append(row)
    return _table(rows)
