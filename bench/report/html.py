"""The HTML report: one self-contained file (inline CSS, plotly.js inlined once, images as data URIs)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go

from bench.report import artifacts, axes, model, pivot
from bench.report.model import ReportView

_LAYOUT = {"template": "none", "height": 360, "margin": {"l": 60, "r": 20, "t": axes.TITLE_TOP, "b": 90},
           "font": {"family": "system-ui, sans-serif", "size": 12},
           "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"}}


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
    """A line per series of a curve artifact; a log y axis (readable ticks) when it spans decades."""
    fig = go.Figure(layout={**_LAYOUT, "title": axes.title(title),
                            "xaxis": {"title": {"text": curve["x_label"]}},
                            "yaxis": {"title": {"text": curve["y_label"]},
                                      **axes.log_or_linear(v for ys in curve["series"].values() for v in ys)}})
    for name, ys in curve["series"].items():
        fig.add_trace(go.Scatter(x=curve["x"], y=ys, mode="lines", name=str(name)))
    return _figure_json(fig)


def timing_figure(suite: model.SuiteView) -> str | None:
    """Horizontal box plot of every timing's raw samples in a suite (milliseconds, log axis), one row each."""
    traces = [go.Box(x=[s * 1e3 for s in t.samples if s is not None], name=f"{case} · {t.name}", boxpoints="all",
                     jitter=0.4, pointpos=0, marker={"size": 3}, orientation="h")
              for case, t in suite.timings if t.samples]
    if not traces:
        return None
    ms = [v for tr in traces for v in tr.x]
    fig = go.Figure(traces, layout={**_LAYOUT, "title": axes.title(f"{suite.name}: timing samples"),
                                    "height": 94 + 26 * len(traces), "showlegend": False,
                                    "xaxis": {"title": {"text": "ms per call"}, "type": "log", **axes.log_ticks(ms)},
                                    "yaxis": {"automargin": True, "autorange": "reversed"}})
    return _figure_json(fig)


def render(view: ReportView, artifact_root: Path | None, plotly_src: str | None = None) -> str:
    """The report page; ``plotly_src``: a URL of plotly.js to load (a site sharing one copy) instead of
    inlining it."""
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
            images = [a for a in arts if a.data_uri]
            cases.append({"case": c, "artifacts": arts, "charts": charts, "images": images})
        suites.append({"view": s, "cases": cases, "timing_chart": add(timing_figure(s)), "pivot": pivot.build(s)})
    return _env().get_template("report.html.j2").render(
        run=view.run, summary=model.run_summary(view), suites=suites, figures=figures,
        plotly_js="" if plotly_src else _plotly_js(), plotly_src=plotly_src,
        json_env=json.dumps(view.run.environment, indent=2, default=str),
    )
