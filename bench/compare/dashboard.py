"""``bench3d dashboard``: a static site from the store: index + one page per suite with trend charts,
the regression list with commit ranges, the latest run's tables and links to run reports.

plotly.js is written once as ``DIR/plotly.min.js`` and shared by every page (no network needed).
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from bench.compare import baselines as bl
from bench.compare import history, stats
from bench.compare.render import baseline_cells, env
from bench.errors import StoreError, UsageError
from bench.report import axes
from bench.report.model import fmt_seconds, fmt_value

_LAYOUT = {
    "template": "none",
    "height": 320,
    "margin": {"l": 60, "r": 20, "t": axes.TITLE_TOP, "b": 60},
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": -0.25},
}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _commit_label(p: history.Point) -> str:
    return (p.commit or "")[:8] or p.run_id


def trend_figure(title: str, series: list[history.Series], links: dict[str, str] | None = None) -> str:
    """One chart: x = commits in the order of their runs, per (case, machine) the value (a timing's median)
    as a line with its IQR as a band, change points as red crosses; a point's customdata holds
    [run id, commit, report link] for the hover and the click handler of the page."""
    links = links or {}
    timing = series[0].kind == "timing"
    points = sorted((p for s in series for p in s.points), key=lambda p: p.created_at)
    order = list(dict.fromkeys(_commit_label(p) for p in points))
    ys = [v for s in series for p in s.points for v in (p.value, p.q1, p.q3) if v is not None]
    yaxis = {"title": {"text": "median s per call" if timing else (series[0].unit or "value")},
             **({"type": "log", **axes.log_ticks(ys)} if timing else axes.log_or_linear(ys, decades=3))}
    fig = go.Figure(layout={**_LAYOUT, "title": axes.title(title), "yaxis": yaxis,
                            "xaxis": {"type": "category", "categoryorder": "array", "categoryarray": order,
                                      "automargin": True, "tickangle": -30},
                            "height": 360 + 18 * len(series),
                            "legend": {"orientation": "h", "y": -0.18, "yanchor": "top"}})
    for i, s in enumerate(series):
        colour = _PALETTE[i % len(_PALETTE)]
        band = [p for p in s.points if p.q1 is not None and p.q3 is not None]
        if band:
            fig.add_trace(go.Scatter(
                x=[_commit_label(p) for p in band] + [_commit_label(p) for p in reversed(band)],
                y=[p.q3 for p in band] + [p.q1 for p in reversed(band)], fill="toself", mode="lines",
                line={"width": 0, "color": colour}, opacity=0.18, hoverinfo="skip", showlegend=False,
                name=f"IQR {s.case}"))
        fig.add_trace(go.Scatter(
            x=[_commit_label(p) for p in s.points], y=[p.value for p in s.points], mode="lines+markers",
            name=f"{s.case} @ {s.machine}", line={"color": colour},
            customdata=[[p.run_id, p.commit or "?", links.get(p.run_id, "")] for p in s.points],
            hovertemplate="%{y:.4g}<br>commit %{customdata[1]}<br>run %{customdata[0]}<extra>%{fullData.name}</extra>"))
        if s.changes:
            fig.add_trace(go.Scatter(
                x=[_commit_label(c.after) for c in s.changes], y=[c.after.value for c in s.changes], mode="markers",
                showlegend=False, name="change point",
                text=[f"{c.mark} {c.relative:+.1%} {c.commit_range()}" for c in s.changes],
                customdata=[[c.after.run_id, c.after.commit or "?", links.get(c.after.run_id, "")] for c in s.changes],
                hovertemplate="change point: %{text}<extra></extra>",
                marker={"symbol": "x", "size": 14, "color": "#b3261e"}))
    return fig.to_json(validate=True).replace("</", "<\\/")


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _regression_rows(found: list[tuple[history.Series, history.ChangePoint]]) -> list[dict[str, str]]:
    out = []
    for s, c in found:
        fmt = fmt_seconds if s.kind == "timing" else fmt_value
        out.append(
            {
                "suite": s.suite,
                "case": s.case,
                "what": f"{s.kind} {s.name}",
                "machine": s.machine,
                "change": f"{fmt(c.level_before)} → {fmt(c.level_after)} ({c.relative:+.1%}, {c.sigmas:.1f}σ)",
                "commits": c.commit_range(),
                "between": f"{c.before.created_at[:19]} .. {c.after.created_at[:19]}",
                "runs": f"{c.before.run_id} .. {c.after.run_id}",
            }
        )
    return out


def _latest_tables(store: Any, run_id: str, suite: str) -> dict[str, list[dict[str, str]]]:
    metrics, timings, failures = [], [], []
    for c in store.cases(run_id):
        if c.suite != suite:
            continue
        if c.status != "ok":
            failures.append({"case": c.case, "status": c.status, "error": (c.error or "")[:200]})
        for m in c.metrics:
            arrow = {True: "↑", False: "↓"}.get(m.higher_is_better, "")
            metrics.append(
                {
                    "case": c.case,
                    "metric": f"{m.name}{arrow}",
                    "value": fmt_value(m.value),
                    "unit": m.unit,
                    "n": str(len(m.items) if m.items else 1),
                }
            )
        for t in c.timings:
            timings.append(
                {
                    "case": c.case,
                    "timing": t.name,
                    "median": fmt_seconds(t.median),
                    "iqr": fmt_seconds(t.iqr),
                    "n": str(t.n),
                    "method": t.method,
                }
            )
    return {"metrics": metrics, "timings": timings, "failures": failures}


def _write_reports(store: Any, out: Path, runs: list[Any]) -> dict[str, str]:
    from bench.report import write_report

    links = {}
    for r in runs:
        root = r.artifact_dir
        try:
            write_report(
                store,
                r.run_id,
                "html",
                out / "runs" / r.run_id / "report.html",
                artifact_root=Path(root) if root else None,
                plotly_src="../../plotly.min.js",
            )
            links[r.run_id] = f"runs/{r.run_id}/report.html"
        except (StoreError, UsageError, OSError):  # a broken report never stops the dashboard
            continue
    return links


def write_dashboard(
    store: Any,
    out_dir: str | Path,
    *,
    machine: str | None = None,
    reports: int = 5,
    factor: float = stats.DEFAULT_FACTOR,
    baselines: list[bl.Baseline] | None = None,
) -> Path:
    """Write the site under ``out_dir`` and return the index path. ``reports``: latest runs given a report."""
    history.check_factor(factor)
    if isinstance(reports, bool) or not isinstance(reports, int) or reports < 0:
        raise UsageError(f"--reports {reports}: expected a count >= 0")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the dashboard")
    try:
        out.mkdir(parents=True, exist_ok=True)
        from plotly.offline import get_plotlyjs

        (out / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the dashboard to {out}: {exc.strerror or exc}") from None
    runs = [r for r in store.list_runs() if machine is None or r.machine == machine]
    if not runs:
        raise UsageError(f"no runs stored in {store.where}" + (f" for machine {machine!r}" if machine else ""))
    links = _write_reports(store, out, runs[: max(0, reports)])
    all_series = history.collect(store, machine=machine, factor=factor)
    by_suite: dict[str, list[history.Series]] = defaultdict(list)
    for s in all_series:
        by_suite[s.suite].append(s)
    suites = sorted(by_suite)
    base_rows = bl.rows_for_cases(store.cases(runs[0].run_id), bl.load_dir() if baselines is None else baselines)
    tpl = env()
    css = tpl.loader.get_source(tpl, "style.css")[0]
    run_rows = [
        {
            "id": r.run_id,
            "date": r.created_at[:19],
            "commit": (r.git_commit or "?")[:12],
            "machine": r.machine or "",
            "profile": r.profile,
            "status": r.status,
            "suites": ", ".join(r.suites),
            "link": links.get(r.run_id, ""),
        }
        for r in runs[:50]
    ]
    nav = [(name, f"suite-{_slug(name)}.html") for name in suites]
    (out / "index.html").write_text(
        tpl.get_template("dashboard_index.html.j2").render(
            css=css,
            nav=nav,
            runs=run_rows,
            regressions=_regression_rows(history.regressions(all_series)),
            baselines=[baseline_cells(r) for r in base_rows],
            latest=runs[0].run_id,
            where=html.escape(store.where),
            n_series=len(all_series),
        ),
        encoding="utf-8",
    )
    for name in suites:
        groups: dict[tuple[str, str], list[history.Series]] = defaultdict(list)
        for s in by_suite[name]:
            groups[(s.kind, s.name)].append(s)
        figures = [trend_figure(f"{name}: {kind} {metric}", ss, links) for (kind, metric), ss in sorted(groups.items())]
        latest = next((r for r in runs if name in r.suites), runs[0])
        (out / f"suite-{_slug(name)}.html").write_text(
            tpl.get_template("dashboard_suite.html.j2").render(
                css=css,
                nav=nav,
                suite=name,
                figures=figures,
                latest=latest.run_id,
                link=links.get(latest.run_id, ""),
                tables=_latest_tables(store, latest.run_id, name),
                regressions=_regression_rows(history.regressions(by_suite[name])),
            ),
            encoding="utf-8",
        )
    (out / "dashboard.json").write_text(
        json.dumps({"suites": suites, "runs": [r["id"] for r in run_rows], "series": len(all_series)}), encoding="utf-8"
    )
    return out / "index.html"
