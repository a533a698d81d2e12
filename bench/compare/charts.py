"""Charts of a run-versus-run comparison: BASE and NEW curves overlaid, per-item scatter of paired metrics,
timing distributions side by side. Generic over suites: only curve artifacts, item ids and raw samples are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from bench.report import artifacts, axes
from bench.results import CaseResult, RunRecord

MAX_FIGURES = 24  # per kind; more are listed as left out
_LAYOUT = {"template": "none", "height": 380, "margin": {"l": 60, "r": 20, "t": axes.TITLE_TOP, "b": 100},
           "font": {"family": "system-ui, sans-serif", "size": 12},
           "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"}}
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
SIDES = (("BASE", "dash"), ("NEW", "solid"))


def _json(fig: go.Figure) -> str:
    return fig.to_json(validate=True).replace("</", "<\\/")


def _title(text: str) -> dict[str, Any]:
    return axes.title(text)


def _paired(base: list[CaseResult], new: list[CaseResult]) -> list[tuple[CaseResult, CaseResult]]:
    """Cases of the same suite and name that are ok in both runs, in NEW's order."""
    by_key = {(c.suite, c.case): c for c in base if c.status == "ok"}
    return [(by_key[(c.suite, c.case)], c) for c in new if c.status == "ok" and (c.suite, c.case) in by_key]


def _curves(run: RunRecord, case: CaseResult) -> dict[str, dict[str, Any]]:
    root = Path(run.artifact_dir) if run.artifact_dir else None
    out = {}
    for rec in case.artifacts:
        if rec.kind == "curve":
            view = artifacts.load(root, rec)
            if view.curve is not None:
                out[rec.name] = view.curve
    return out


def curve_overlays(base_run: RunRecord, new_run: RunRecord, pairs: list[tuple[CaseResult, CaseResult]]) -> list[str]:
    """One figure per curve artifact both runs have for a case: each series BASE dashed, NEW solid."""
    figs = []
    for b, n in pairs:
        cb, cn = _curves(base_run, b), _curves(new_run, n)
        for name in [k for k in cn if k in cb]:
            fig = go.Figure(layout={**_LAYOUT, "title": _title(f"{n.case}: {name}"),
                                    "xaxis": {"title": {"text": cn[name]["x_label"]}},
                                    "yaxis": {"title": {"text": cn[name]["y_label"]}}})
            values = []
            for i, series in enumerate(dict.fromkeys([*cn[name]["series"], *cb[name]["series"]])):
                for (side, dash), curve in zip(SIDES, (cb[name], cn[name]), strict=True):
                    ys = curve["series"].get(series)
                    if ys is None:
                        continue
                    values += ys
                    fig.add_trace(go.Scatter(x=curve["x"], y=ys, mode="lines", name=f"{side} {series}",
                                             line={"dash": dash, "color": _COLOURS[i % len(_COLOURS)]}))
            fig.update_yaxes(**axes.log_or_linear(values))
            figs.append(_json(fig))
    return figs


def item_scatters(pairs: list[tuple[CaseResult, CaseResult]]) -> list[str]:
    """Per metric with item ids in both runs: NEW item value against BASE's for the same id, and y = x."""
    figs = []
    for b, n in pairs:
        base_metrics = {m.name: m for m in b.metrics}
        for m in n.metrics:
            bm = base_metrics.get(m.name)
            if bm is None or not (m.items and m.item_ids and bm.items and bm.item_ids):
                continue
            base_items = dict(zip(bm.item_ids, bm.items, strict=False))
            ids = [i for i in m.item_ids if i in base_items]
            if len(ids) < 2:
                continue
            new_items = dict(zip(m.item_ids, m.items, strict=False))
            x, y = [base_items[i] for i in ids], [new_items[i] for i in ids]
            finite = [v for v in x + y if v is not None]
            lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
            better = {True: " (above the line: better)", False: " (below the line: better)"}.get(
                m.higher_is_better, "")
            fig = go.Figure(layout={**_LAYOUT, "title": _title(f"{n.case}: {m.name} per item"),
                                    "showlegend": False, "xaxis": {"title": {"text": f"BASE {m.unit}".strip()}},
                                    "yaxis": {"title": {"text": f"NEW {m.unit}{better}".strip()}}})
            fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "#888"},
                                     hoverinfo="skip", name="y = x"))
            fig.add_trace(go.Scatter(x=x, y=y, mode="markers", text=ids, name=m.name,
                                     hovertemplate="%{text}: BASE %{x:.4g}, NEW %{y:.4g}<extra></extra>"))
            figs.append(_json(fig))
    return figs


def timing_boxes(pairs: list[tuple[CaseResult, CaseResult]]) -> list[str]:
    """Per suite: every timing both runs measured, BASE and NEW samples as boxes side by side (ms, log axis)."""
    by_suite: dict[str, list[tuple[str, list[float], list[float]]]] = {}
    for b, n in pairs:
        base_t = {t.name: t for t in b.timings}
        for t in n.timings:
            if t.name in base_t and t.samples and base_t[t.name].samples:
                by_suite.setdefault(n.suite, []).append(
                    (f"{n.case} · {t.name}", [s * 1e3 for s in base_t[t.name].samples if s is not None],
                     [s * 1e3 for s in t.samples if s is not None]))
    figs = []
    for suite, rows in by_suite.items():
        fig = go.Figure(layout={**_LAYOUT, "title": _title(f"{suite}: timing samples, BASE vs NEW"),
                                "boxmode": "group", "height": 160 + 56 * len(rows),
                                "margin": {**_LAYOUT["margin"], "b": 60, "r": 40},
                                "legend": {"orientation": "v", "x": 1.0, "xanchor": "right", "y": -0.05,
                                           "yanchor": "top"},
                                "yaxis": {"automargin": True, "autorange": "reversed"}})
        ms = []
        for (side, _), idx, colour in zip(SIDES, (1, 2), ("#9aa5b1", "#1f77b4"), strict=True):
            xs = [v for r in rows for v in r[idx]]
            ms += xs
            fig.add_trace(go.Box(x=xs, y=[r[0] for r in rows for _ in r[idx]], name=side, orientation="h",
                                 marker={"color": colour, "size": 3}, boxpoints="all", jitter=0.3, pointpos=0))
        fig.update_xaxes(title={"text": "ms per call"}, type="log", **axes.log_ticks(ms))
        figs.append(_json(fig))
    return figs


def comparison_charts(base_run: RunRecord, base: list[CaseResult], new_run: RunRecord, new: list[CaseResult],
                      suites: list[str] | None = None) -> dict[str, list[str]]:
    """{"curves": [...], "items": [...], "timings": [...]}: plotly figure JSON for the compare page."""
    pairs = [(b, n) for b, n in _paired(base, new) if not suites or n.suite in suites]
    return {"curves": curve_overlays(base_run, new_run, pairs)[:MAX_FIGURES],
            "items": item_scatters(pairs)[:MAX_FIGURES], "timings": timing_boxes(pairs)[:MAX_FIGURES]}


__all__ = ["comparison_charts", "curve_overlays", "item_scatters", "timing_boxes"]
