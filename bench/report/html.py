"""The HTML report: one self-contained file (inline CSS, plotly.js inlined once, images as data URIs)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go

from bench.report import artifacts, model
from bench.report.model import ReportView

_LAYOUT = {"template": "none", "height": 320, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
           "font": {"family": "system-ui, sans-serif", "size": 12}, "legend": {"orientation": "h"}}


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("bench.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(value=model.fmt_value, seconds=model.fmt_seconds, nbytes=model.fmt_bytes, env=model.fmt_env,
                       tail=model.log_tail)
    return env


@functools.cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _figure_json(fig: go.Figure) -> str:
    # Inside <script type="application/json">: "</" must not appear literally.
    return fig.to_json(validate=True).replace("</", "<\\/")


def curve_figure(title: str, curve: dict[str, Any]) -> str:
    fig = go.Figure(layout={**_LAYOUT, "title": {"text": title},
                            "xaxis": {"title": {"text": curve["x_label"]}},
                            "yaxis": {"title": {"text": curve["y_label"]}, "type": _axis_type(curve["series"])}})
    for name, ys in curve["series"].items():
        fig.add_trace(go.Scatter(x=curve["x"], y=ys, mode="lines", name=str(name)))
    return _figure_json(fig)


def _axis_type(series: dict[str, list[Any]]) -> str:
    """Log scale for positive curves spanning more than two decades (typical losses)."""
    vals = [v for ys in series.values() for v in ys if isinstance(v, int | float)]
    return "log" if vals and min(vals) > 0 and max(vals) / min(vals) > 100 else "linear"


def timing_figure(suite: model.SuiteView) -> str | None:
    """Box plot of every timing's raw samples in a suite (milliseconds, log axis)."""
    traces = [go.Box(y=[s * 1e3 for s in t.samples if s is not None], name=f"{case} · {t.name}", boxpoints="all",
                     jitter=0.4, pointpos=0, marker={"size": 3})
              for case, t in suite.timings if t.samples]
    if not traces:
        return None
    fig = go.Figure(traces, layout={**_LAYOUT, "title": {"text": f"{suite.name}: timing samples"},
                                    "showlegend": False, "yaxis": {"title": {"text": "ms per call"}, "type": "log"}})
    return _figure_json(fig)


def render(view: ReportView, artifact_root: Path | None) -> str:
    figures: list[str] = []

    def add(fig_json: str | None) -> str | None:
        if fig_json is None:
            return None
        figures.append(fig_json)
        return f"fig{len(figures) - 1}"

    suites = []
    for s in view.suites:
        cases = []
        for c in s.cases:
            arts = [artifacts.load(artifact_root, a) for a in c.artifacts]
            charts = [add(curve_figure(f"{c.case}: {a.record.name}", a.curve)) for a in arts if a.curve]
            cases.append({"case": c, "artifacts": arts, "charts": charts})
        suites.append({"view": s, "cases": cases, "timing_chart": add(timing_figure(s))})
    return _env().get_template("report.html.j2").render(
        run=view.run, summary=model.run_summary(view), suites=suites, figures=figures, plotly_js=_plotly_js(),
        json_env=json.dumps(view.run.environment, indent=2, default=str),
    )
