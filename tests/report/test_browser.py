"""The HTML report in a real headless Chromium: it paints, and plotly draws every chart offline."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from bench.report import write_report
from bench.report.browser import dump_dom, find_chromium, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason="headless chromium not installed (apt-get install chromium)"),
]


def test_report_renders_in_chromium(stored, tmp_path):
    html = write_report(stored.store, "latest", "html", tmp_path / "report.html", artifact_root=stored.out)
    n_charts = len(re.findall(r'<div class="chart"', html.read_text(encoding="utf-8")))
    assert n_charts == 4

    png = screenshot(html, tmp_path / "shot.png", width=1280, height=2000)
    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape == (2000, 1280)
    assert img.std() > 10  # not a blank page
    # the page has dark text on light cards: a real share of both
    assert (img < 100).mean() > 0.005 and (img > 200).mean() > 0.5

    dom = dump_dom(html)
    assert dom.count('class="plot-container plotly"') == n_charts  # plotly ran, without any network
    assert dom.count('class="main-svg"') >= n_charts
    assert "ellipsoid-chamfer" in dom
