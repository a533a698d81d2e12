"""The compare page's charts: BASE/NEW curves overlaid, items paired by id, timing samples side by side."""

from __future__ import annotations

import dataclasses
import json
import re

from bench.cli import main
from bench.compare.charts import comparison_charts
from bench.results import ArtifactRecord, RunSettings
from bench.store import Store


def _with_curve(rec, run_dir, case, losses):
    path = run_dir / "fit" / case.case / "loss.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"x": list(range(len(losses))), "x_label": "iteration", "y_label": "loss",
                                "series": {"total": losses}}))
    art = ArtifactRecord("loss_curve", "curve", str(path.relative_to(run_dir)), "0" * 64, path.stat().st_size)
    return dataclasses.replace(case, artifacts=[art])


def _runs(tmp_path, rec):
    base_dir, new_dir = tmp_path / "base", tmp_path / "new"
    base_run = dataclasses.replace(rec.run("rb"), settings=RunSettings(run_dir=str(base_dir)))
    new_run = dataclasses.replace(rec.run("rn", created="2024-05-02T00:00:00+00:00"),
                                  settings=RunSettings(run_dir=str(new_dir)))
    base = [_with_curve(rec, base_dir, rec.case("a", metrics=[rec.metric("psnr", [20.0, 21.0, 22.0],
                                                                           ids=["v0", "v1", "v2"])],
                                                timings=[rec.timing("step", [0.010, 0.011, 0.012])]), [1.0, 0.5, 0.2])]
    new = [_with_curve(rec, new_dir, rec.case("a", metrics=[rec.metric("psnr", [25.0, 23.0, 24.0],
                                                                         ids=["v2", "v0", "v1"])],
                                              timings=[rec.timing("step", [0.020, 0.021, 0.022])]), [1.0, 0.4, 0.1])]
    return base_run, base, new_run, new


def test_curves_overlaid_items_paired_timings_side_by_side(tmp_path, rec):
    base_run, base, new_run, new = _runs(tmp_path, rec)
    charts = {k: [json.loads(f) for f in v] for k, v in comparison_charts(base_run, base, new_run, new).items()}
    (curve,) = charts["curves"]
    assert [(t["name"], t["y"], t["line"]["dash"]) for t in curve["data"]] == [
        ("BASE total", [1.0, 0.5, 0.2], "dash"), ("NEW total", [1.0, 0.4, 0.1], "solid")]
    (scatter,) = charts["items"]
    points = scatter["data"][1]
    pairs = dict(zip(points["text"], zip(points["x"], points["y"], strict=True), strict=True))
    assert pairs == {"v2": (22.0, 25.0), "v0": (20.0, 23.0), "v1": (21.0, 24.0)}  # paired by id, not position
    (boxes,) = charts["timings"]
    assert [t["name"] for t in boxes["data"]] == ["BASE", "NEW"]
    assert boxes["data"][1]["x"] == [20.0, 21.0, 22.0] and set(boxes["data"][0]["y"]) == {"a · step"}


def test_compare_html_has_summary_first_then_charts(tmp_path, rec, capsys):
    base_run, base, new_run, new = _runs(tmp_path, rec)
    db = tmp_path / "c.db"
    with Store.open(db) as st:
        for run, cases in ((base_run, base), (new_run, new)):
            st.create_run(run)
            for c in cases:
                st.add_case(run.run_id, c)
    out = tmp_path / "c.html"
    assert main(["compare", "rb", "rn", "--db", str(db), "--format", "html", "--output", str(out),
                 "--no-baselines"]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.index("regression(s)") < page.index("Curves, BASE dashed") < page.index("<h2>Values")
    assert len(re.findall(r'<div class="chart" id="cfig\d+"', page)) == 3
    assert page.count("Plotly.newPlot") == 1


def test_values_table_gives_each_reason_a_full_width_line_under_its_row(rec):
    """The reason is not a squeezed last column: a line of its own spanning every column after the mark."""
    from bench.compare.diff import compare_cases
    from bench.compare.render import to_html

    base = [rec.case("a", metrics=[rec.metric("peak_memory_mb", value=33.0, hib=False)])]
    new = [rec.case("a", metrics=[rec.metric("peak_memory_mb", value=40.0, hib=False)])]
    cmp = compare_cases(rec.run("rb"), base, rec.run("rn"), new)
    (row,) = cmp.rows
    assert row.reason  # a lone value: the relative tolerance is the reason
    page = to_html(cmp)
    table = page[page.index('<table class="values">'):]
    header = re.search(r"<thead>(.*?)</thead>", table, re.S).group(1)
    n_cols = header.count("<th>")
    assert "reason" not in header and n_cols == 10
    why = re.search(r'<tr class="why"><td></td><td colspan="(\d+)">([^<]*)</td></tr>', table)
    assert why and int(why.group(1)) == n_cols - 1 and why.group(2) == row.reason
    assert table.index("peak_memory_mb") < table.index(row.reason)  # under its own row
