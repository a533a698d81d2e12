"""Plotly axis and title settings shared by the run report, the compare page and the dashboard."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

TITLE_TOP = 60  # px of top margin that hold the mode bar (about 26 px) above a title placed by :func:`title`


def title(text: str) -> dict[str, Any]:
    """A chart title at the left, its baseline just above the plot area (paper y = 1), so it sits under
    plotly's mode bar, which is drawn at the container's top right: a long title is never covered by the
    toolbar. The layout needs a top margin of at least ``TITLE_TOP`` px."""
    return {"text": text, "x": 0.01, "xanchor": "left", "y": 1.0, "yref": "paper", "yanchor": "bottom",
            "pad": {"b": 10}}


def _label(v: float) -> str:
    """A tick label: 3 significant digits, no exponent between 1e-3 and 1e5."""
    if 1e-3 <= abs(v) < 1e3:
        return f"{v:.3g}"
    if 1e3 <= abs(v) < 1e7:
        return f"{v:,.0f}"
    return f"{v:.2g}"


def log_ticks(values: Iterable[Any]) -> dict[str, Any]:
    """Explicit tick values and labels for a log axis over the positive finite ``values``.

    Ticks at 1, 2, 5 x 10^k inside the data's range (all of 1..9 x 10^k where that gives fewer than three),
    so a narrow range never reads "2 / 1000 / 9 8 7" as plotly's own minor digits do. Empty when there is
    nothing to place.
    """
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v) and v > 0]
    if not vals:
        return {}
    lo, hi = min(vals) / 1.05, max(vals) * 1.05
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [m * 10.0**k for k in range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)
                 for m in mantissas if lo <= m * 10.0**k <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:  # less than one step of 1..9 inside: the ends of the data
        ticks = sorted({float(f"{min(vals):.2g}"), float(f"{max(vals):.2g}")})
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [_label(t) for t in ticks]}


def log_or_linear(values: Iterable[Any], decades: float = 2.0) -> dict[str, Any]:
    """``{"type": "log", ticks...}`` for positive values spanning more than ``decades`` decades, else linear."""
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if vals and min(vals) > 0 and max(vals) / min(vals) > 10.0**decades:
        return {"type": "log", **log_ticks(vals)}
    return {"type": "linear"}
