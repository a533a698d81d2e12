"""The HTML report is one self-contained file: no external resources, artifacts inlined faithfully."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from bench.errors import UsageError
from bench.report import render_report, write_report
from bench.results import ArtifactRecord


class _Collect(HTMLParser):
    """Every URL-bearing attribute, <img> sources and the JSON figure blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.imgs: list[tuple[str, str]] = []
        self.figures: dict[str, str] = {}
        self._fig: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href", "action", "data", "poster"):
            if a.get(key) is not None:
                self.urls.append((tag, key, a[key]))
        if tag == "img":
            self.imgs.append((a.get("alt", ""), a["src"]))
        if tag == "script" and a.get("type") == "application/json":
            self._fig = a["id"]

    def handle_data(self, data):
        if self._fig is not None:
            self.figures[self._fig] = self.figures.get(self._fig, "") + data

    def handle_endtag(self, tag):
        if tag == "script":
            self._fig = None


def _parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def test_self_contained(stored):
    html = render_report(stored.store, "latest", "html", artifact_root=stored.out)
    p = _parse(html)
    for tag, key, url in p.urls:
        assert url.startswith(("#", "data:")), f"<{tag} {key}={url[:60]!r}> is not self-contained"
    assert not re.search(r"<link\b", html) and "@import" not in html
    assert html.count(get_plotlyjs()[:200]) == 1  # plotly.js inlined exactly once


def test_images_are_the_artifact_bytes(stored):
    p = _parse(render_report(stored.store, "latest", "html", artifact_root=stored.out))
    images = [a for c in stored.cases for a in c.artifacts if a.kind == "image"]
    assert len(p.imgs) == len(images) == 3
    for (alt, src), rec in zip(p.imgs, images, strict=True):
        assert alt == rec.name and src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == (stored.out / rec.path).read_bytes()


def test_curves_and_timing_charts_carry_the_data(stored):
    p = _parse(render_report(stored.store, "latest", "html", artifact_root=stored.out))
    figs = [json.loads(text) for text in p.figures.values()]
    curves = [a for c in stored.cases for a in c.artifacts if a.kind == "curve"]
    line_figs = [f for f in figs if f["data"][0]["type"] == "scatter"]
    box_figs = [f for f in figs if f["data"][0]["type"] == "box"]
    assert len(line_figs) == len(curves) and len(box_figs) == 1  # only mesh_fitting has timings
    for fig, rec in zip(line_figs, curves, strict=True):
        curve = json.loads((stored.out / rec.path).read_text())
        assert {t["name"]: t["y"] for t in fig["data"]} == curve["series"]
        assert all(t["x"] == curve["x"] for t in fig["data"])
    timings = [t for c in stored.cases for t in c.timings]
    assert [b["x"] for b in box_figs[0]["data"]] == [[s * 1e3 for s in t.samples] for t in timings]
    # every chart div has its data block
    html = render_report(stored.store, "latest", "html", artifact_root=stored.out)
    assert sorted(re.findall(r'<div class="chart" id="(fig\d+)"', html)) == sorted(k[:-5] for k in p.figures)


def test_missing_changed_and_outside_artifacts(stored, tmp_path):
    case = stored.cases[0]
    image = next(a for a in case.artifacts if a.kind == "image")
    curve = next(a for a in case.artifacts if a.kind == "curve")
    (stored.out / curve.path).unlink()
    (stored.out / image.path).write_bytes((stored.out / image.path).read_bytes() + b"\0")
    other_curve = next(a for a in stored.cases[1].artifacts if a.kind == "curve")
    (stored.out / other_curve.path).write_text('{"x": [1, 2], "series": {"loss": [1]}}')
    outside = ArtifactRecord("secret", "text", "../../etc/passwd", "0" * 64, 10)
    stored.store.add_case(stored.run.run_id, dataclasses.replace(case, artifacts=[*case.artifacts, outside]))
    html = render_report(stored.store, "latest", "html", artifact_root=stored.out)
    assert f"missing ({(stored.out / curve.path).resolve()})" in html
    assert "changed since the run (sha256 differs)" in html
    assert "changed since the run (sha256 differs); unreadable curve (series &#39;loss&#39; has 1 values for 2" in html
    assert "points outside the artifact folder" in html and "<summary>secret</summary>" not in html
    no_root = render_report(stored.store, "latest", "html")
    assert no_root.count("missing (no artifact folder given)") == sum(len(c.artifacts) for c in stored.cases) + 1
    assert _parse(no_root).imgs == []


def test_text_is_escaped(stored):
    evil = dataclasses.replace(stored.cases[3], error="<script>alert(1)</script>", log_tail="a </script> b")
    stored.store.add_case(stored.run.run_id, evil)
    html = render_report(stored.store, "latest", "html", artifact_root=stored.out)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_write_report(stored, tmp_path):
    out = write_report(stored.store, "latest", "html", tmp_path / "a" / "b" / "report.html", artifact_root=stored.out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert out.stat().st_mode & 0o644 == 0o644  # readable by others, unlike a bare temp file
    md = write_report(stored.store, "latest", "md", tmp_path / "report.md")
    assert md.read_text(encoding="utf-8") == render_report(stored.store, "latest", "md")
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    with pytest.raises(UsageError, match=f"cannot write report to {re.escape(str(blocker))}"):
        write_report(stored.store, "latest", "json", blocker / "r.json")
    with pytest.raises(UsageError, match="is a folder"):
        write_report(stored.store, "latest", "json", tmp_path)
    assert blocker.read_text() == "keep"
    assert not [p for p in Path(tmp_path).rglob("*.tmp")]
