"""The static dashboard: files, links, trend charts (and, in headless Chromium, that plotly drew them)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.compare.dashboard import write_dashboard
from bench.report.browser import dump_dom, find_chromium, screenshot
from bench.store import Store


@pytest.fixture
def site(tmp_path, rec, rng):
    """A store of 10 runs of two suites with a 40% slowdown from run 6 on; the dashboard written from it."""
    db = tmp_path / "d.db"
    with Store.open(db) as st:
        for i in range(10):
            rid = f"run{i:02d}"
            st.create_run(
                rec.run(
                    rid,
                    commit=f"{i:02d}" + "f" * 38,
                    created=f"2024-06-{i + 1:02d}T03:00:00+00:00",
                    suites=["fit", "render"],
                )
            )
            slow = 1.4 if i >= 6 else 1.0
            for name in ("a", "b"):
                st.add_case(
                    rid,
                    rec.case(
                        name,
                        metrics=[rec.metric("score", rng.normal(30, 1, 8))],
                        timings=[rec.timing("step", 0.01 * slow * rng.lognormal(0, 0.02, 15))],
                    ),
                )
            st.add_case(rid, rec.case("r", suite="render", metrics=[rec.metric("psnr", value=25.0, unit="dB")]))
        index = write_dashboard(st, tmp_path / "site", reports=2, baselines=[])
    return index


def test_dashboard_files_links_and_regressions(site):
    out = site.parent
    names = sorted(p.name for p in out.iterdir())
    assert names == ["dashboard.json", "index.html", "plotly.min.js", "runs", "suite-fit.html", "suite-render.html"]
    index = site.read_text()
    assert 'href="runs/run09/report.html"' in index and 'href="runs/run08/report.html"' in index
    assert "runs/run07/report.html" not in index  # only the 2 latest runs get a report
    assert (out / "runs" / "run09" / "report.html").stat().st_size > 1000
    assert "05ffffffffff..06ffffffffff" in index  # the regression's commit range
    page = (out / "suite-fit.html").read_text()
    assert '<script src="plotly.min.js"></script>' in page and "https://" not in page.split("<main>")[0]
    assert len(re.findall(r'<div class="chart"', page)) == 2  # metric score + timing step
    table = page.split("<h2>Trends")[0]
    assert table.count("05ffffffffff..06ffffffffff") == 2  # both cases regressed at the same commit


def test_dashboard_cli_errors(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    db = tmp_path / "e.db"
    Store.open(db).close()
    assert main(["dashboard", "--db", str(db), "--site", str(tmp_path / "s")]) == 2
    assert "no runs stored" in capsys.readouterr().err


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="headless chromium not installed (apt-get install chromium)")
def test_dashboard_renders_in_chromium(site, tmp_path):
    page = site.parent / "suite-fit.html"
    png = screenshot(page, tmp_path / "suite.png", width=1280, height=1400)
    img = np.asarray(Image.open(png).convert("RGB"), dtype=float)
    assert img.shape == (1400, 1280, 3) and img.std() > 10
    # plotly's default trace colours (blue, orange) and the red change-point crosses are on the page
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(img - rgb).sum(-1) < 30).sum() > 50, rgb
    dom = dump_dom(page)
    assert dom.count('class="plot-container plotly"') == 2
    assert dom.count('class="scatterlayer mlayer"') >= 2
    index_png = screenshot(site, tmp_path / "index.png", width=1280, height=900)
    assert np.asarray(Image.open(index_png).convert("L")).std() > 10


def _figures(page: str) -> list[dict]:
    import json

    return [json.loads(m) for m in re.findall(r'<script type="application/json" id="fig\d+-data">(.*?)</script>', page,
                                              re.S)]


def test_trends_are_by_commit_with_iqr_band_and_links(site):
    out = site.parent
    figs = _figures((out / "suite-fit.html").read_text())
    step = next(f for f in figs if "timing step" in f["layout"]["title"]["text"])
    commits = [f"{i:02d}" + "f" * 6 for i in range(10)]
    assert step["layout"]["xaxis"]["type"] == "category" and step["layout"]["xaxis"]["categoryarray"] == commits
    lines = [t for t in step["data"] if t.get("mode") == "lines+markers"]
    bands = [t for t in step["data"] if t.get("fill") == "toself"]
    assert len(lines) == len(bands) == 2  # cases a and b, each with its IQR band
    a = lines[0]
    assert a["x"] == commits and [cd[0] for cd in a["customdata"]] == [f"run{i:02d}" for i in range(10)]
    assert a["customdata"][9][2] == "runs/run09/report.html" and a["customdata"][0][2] == ""  # only runs with reports
    band = bands[0]["y"]
    assert all(hi >= med >= lo for hi, med, lo in zip(band[:10], a["y"], reversed(band[10:]), strict=True))
    assert any(t.get("name") == "change point" for t in step["data"])  # the 40% slowdown marked
    ticks = step["layout"]["yaxis"]["ticktext"]
    assert ticks and all(re.fullmatch(r"[0-9.e-]+", t) for t in ticks)  # explicit labels, no lone digits


def test_site_reports_share_one_plotly(site):
    out = site.parent
    report = (out / "runs" / "run09" / "report.html").read_text()
    assert '<script src="../../plotly.min.js"></script>' in report
    bundle = (out / "plotly.min.js").stat().st_size
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total - bundle < 3 * 2**20 and bundle > 2**20  # everything but the one bundle is small
