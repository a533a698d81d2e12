"""Comparison reports: markdown, self-contained HTML and JSON of a :class:`~bench.compare.diff.Comparison`
(and of published-baseline rows)."""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2

from bench.compare import diff
from bench.report.model import fmt_seconds, fmt_value

FORMATS = ("md", "html", "json")
_ICONS = {
    diff.NEW_FAILURE: "✖",
    "worse": "▼",
    "better": "▲",
    diff.FIXED: "✔",
    diff.INCOMPARABLE: "≠",
    "changed-not-significant": "~",
    diff.MISSING: "∅",
    diff.STILL_FAILING: "✖",
    "unchanged": "=",
}


# worse/better by a difference that no gate counts (no samples, or a test on per-process values)
_HOLLOW = {"worse": "▽", "better": "△"}


def marks_summary(cmp: diff.Comparison) -> list[str]:
    """"8 worse (7 not gating)", "3 changed-not-significant", ...: each mark's count, in mark order."""
    quiet = cmp.not_gating()
    return [f"{n} {m}" + (f" ({quiet[m]} not gating)" if m in quiet else "") for m, n in cmp.counts().items()]


def fmt_change(row: diff.Row) -> str:
    v = row.verdict
    if v is None or v.change is None:
        return ""
    if row.kind == "timing":
        ci = f" [{v.ci[0]:.3f}, {v.ci[1]:.3f}]" if v.ci else ""
        return f"×{v.change:.3f}{ci}"
    return f"{v.change:+.4g}"


def fmt_val(row: diff.Row, x: float | None) -> str:
    return fmt_seconds(x) if row.kind == "timing" else fmt_value(x)


def row_cells(row: diff.Row) -> dict[str, str]:
    v = row.verdict
    p = "" if v is None or v.p_value is None else f"{v.p_value:.2g}"
    arrow = {True: "↑", False: "↓"}.get(row.higher_is_better, "")
    return {
        "icon": _HOLLOW[row.mark] if row.gates is False else _ICONS.get(row.mark, ""),
        "mark": row.mark,
        "suite": row.suite,
        "case": row.case,
        "what": f"{row.name}{arrow}" if row.kind != "case" else row.name,
        "kind": row.kind,
        "base": "" if v is None else fmt_val(row, v.base),
        "new": "" if v is None else fmt_val(row, v.new),
        "change": fmt_change(row),
        "p": p,
        "test": "" if v is None else v.test,
        "n": "" if v is None else f"{v.n_base}/{v.n_new}",
        "reason": row.reason,
    }


def baseline_cells(r: dict[str, Any]) -> dict[str, str]:
    tol = ", ".join(f"{k} {v:g}" for k, v in r["tolerance"].items())
    return {
        "suite": r["suite"],
        "case": r["case"],
        "metric": r["metric"],
        "published_as": r["published_as"],
        "run": fmt_value(r["run"]),
        "published": fmt_value(r["published"]),
        "status": r["status"],
        "reason": r["reason"],
        "source": f"{r['baseline']} ({r['citation']})",
        "tolerance": tol,
    }


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _sorted_rows(cmp: diff.Comparison) -> list[diff.Row]:
    order = {m: i for i, m in enumerate(diff.MARK_ORDER)}
    return sorted(cmp.rows, key=lambda r: (order.get(r.mark, 99), r.gates is False))  # gating rows first


def to_markdown(cmp: diff.Comparison, *, all_rows: bool = False) -> str:
    """Summary, the regressions, every non-unchanged row (all rows with ``all_rows``), baselines."""
    s = cmp.settings
    out = [
        f"# bench3d compare: {cmp.base.run_id} → {cmp.new.run_id}",
        "",
        f"- base: {cmp.base.run_id} ({(cmp.base.git_commit or '?')[:12]}, {cmp.base.created_at}, "
        f"machine {cmp.base.machine})",
        f"- new: {cmp.new.run_id} ({(cmp.new.git_commit or '?')[:12]}, {cmp.new.created_at}, "
        f"machine {cmp.new.machine})",
        f"- suites: {', '.join(cmp.suites)}; factor {s.factor:g}, alpha {s.alpha:g}, tolerance {s.tolerance:g}",
        "- marks: " + (", ".join(marks_summary(cmp)) or "nothing compared"),
        f"- **{len(cmp.regressions)} regression(s)**",
        "",
    ]
    out += [f"> {note}" for note in cmp.notes]
    rows = [r for r in _sorted_rows(cmp) if all_rows or r.mark != "unchanged"]
    header = ["", "mark", "suite", "case", "what", "base", "new", "change", "p", "test", "n", "reason"]
    out += ["", "## Differences" if not all_rows else "## All values", ""]
    if rows:
        out.append(
            _md_table(header, [list(row_cells(r).values())[:2] + [row_cells(r)[k] for k in header[2:]] for r in rows])
        )
    else:
        out.append("Every compared value is unchanged.")
    if cmp.baseline_rows:
        out += ["", "## Published baselines (new run)", "", baselines_markdown(cmp.baseline_rows)]
    return "\n".join(out) + "\n"


def baselines_markdown(rows: list[dict[str, Any]]) -> str:
    header = ["suite", "case", "metric", "published_as", "run", "published", "status", "tolerance", "reason", "source"]
    return _md_table(header, [[baseline_cells(r)[k] for k in header] for r in rows])


def to_json(cmp: diff.Comparison) -> str:
    return json.dumps(
        {
            "base": cmp.base.run_id,
            "new": cmp.new.run_id,
            "suites": cmp.suites,
            "settings": cmp.settings.__dict__,
            "notes": cmp.notes,
            "counts": cmp.counts(),
            "not_gating": cmp.not_gating(),
            "regressions": len(cmp.regressions),
            "rows": [r.to_dict() for r in cmp.rows],
            "baselines": cmp.baseline_rows,
        },
        indent=2,
        default=str,
    )


@functools.cache
def env() -> jinja2.Environment:
    e = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.compare", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    e.filters.update(value=fmt_value, seconds=fmt_seconds)
    return e


def to_html(cmp: diff.Comparison, charts: dict[str, list[str]] | None = None) -> str:
    """The compare page: marks summary, then the charts of ``charts`` (:func:`bench.compare.charts.
    comparison_charts`; plotly.js inlined once when there are any), then every row."""
    charts = charts or {}
    figures = [f for kind in ("curves", "items", "timings") for f in charts.get(kind, [])]
    plotly_js = ""
    if figures:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
    return (
        env()
        .get_template("compare.html.j2")
        .render(
            cmp=cmp,
            charts={kind: charts.get(kind, []) for kind in ("curves", "items", "timings")},
            plotly_js=plotly_js,
            rows=[row_cells(r) for r in _sorted_rows(cmp)],
            counts=cmp.counts(),
            not_gating=cmp.not_gating(),
            baselines=[baseline_cells(r) for r in cmp.baseline_rows],
            css=env().loader.get_source(env(), "style.css")[0],
        )
    )


def render(cmp: diff.Comparison, fmt: str, charts: dict[str, list[str]] | None = None) -> str:
    if fmt == "html":
        return to_html(cmp, charts)
    return {"md": to_markdown, "json": to_json}[fmt](cmp)
