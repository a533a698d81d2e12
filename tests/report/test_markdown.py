"""The markdown report: pipe tables per suite whose cells agree with the records."""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.report import render_report
from bench.report.model import LOG_LINES


def _tables(md: str) -> list[list[list[str]]]:
    """Every pipe table as rows of cells (header first, separator dropped); escaped pipes kept."""
    tables, cur = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in
                     line.strip()[1:-1].replace("\\|", "\x00").split("|")]
            cells = [c.replace("\x00", "|") for c in cells]
            if not set("".join(cells)) <= set(":-"):
                cur.append(cells)
        elif cur:
            tables.append(cur)
            cur = []
    if cur:
        tables.append(cur)
    return tables


def _metric_table(md: str) -> list[dict[str, str]]:
    for t in _tables(md):
        if t[0][:3] == ["case", "metric", "dir"]:
            return [dict(zip(t[0], row, strict=True)) for row in t[1:]]
    raise AssertionError("no metrics table")


def test_metric_rows_match_records(stored):
    rows = _metric_table(render_report(stored.store, "latest", "md"))
    case = stored.cases[0]
    chamfer = case.metrics[0]
    row = next(r for r in rows if r["case"] == case.case and r["metric"] == "chamfer_l2")
    assert row["dir"] == "↓" and row["value"] == f"{chamfer.value:.4g}" and row["n"] == "4"
    assert float(row["std"]) == float(f"{np.std(chamfer.items, ddof=1):.4g}")
    nc = next(r for r in rows if r["case"] == case.case and r["metric"] == "normal_consistency")
    assert nc["dir"] == "↑" and nc["std"] == "—" and nc["n"] == "1"
    nan_row = next(r for r in rows if r["case"] == "ellipsoid-chamfer")
    assert nan_row["value"] == "NaN"
    assert len(rows) == sum(len(c.metrics) for c in stored.cases)


def test_sections_failures_and_environment(stored):
    md = render_report(stored.store, "latest", "md")
    assert md.index("## Suite `mesh_fitting`") < md.index("## Suite `nerf`") < md.index("## Environment")
    assert "metric chamfer_l2 is NaN (loss diverged at iteration 57)" in md
    assert "iter 57 loss nan" in md and "case exceeded the per-case timeout of 60 s" in md
    assert "dataset 'nerf_synthetic' is not installed" in md
    timing = next(t for t in _tables(md) if t[0][:2] == ["case", "timing"])
    rows = [dict(zip(timing[0], r, strict=True)) for r in timing[1:]]
    assert {r["peak memory"] for r in rows if r["timing"] == "chamfer_10k"} == {"48 MiB"}  # 48 * 2**20 bytes
    assert {r["noisy"] != "" for r in rows} == {True, False}
    env = next(t for t in _tables(md) if t[0] == ["key", "value"])
    assert dict(env[1:])["cpu"] == stored.run.environment["cpu"]


def test_long_logs_are_cut_and_pipes_escaped(stored):
    bad = dataclasses.replace(stored.cases[3], error="shape | mismatch", log_tail="\n".join(
        f"line {i}" for i in range(40)))
    stored.store.add_case(stored.run.run_id, bad)
    md = render_report(stored.store, "latest", "md")
    assert f"line {40 - LOG_LINES}" in md and f"line {39 - LOG_LINES}\n" not in md
    assert "shape \\| mismatch" in md
    for table in _tables(md):  # every row still has the header's number of cells
        assert len({len(r) for r in table}) == 1


def test_published_figures_beside_run_values(tmp_path):
    """A run of a suite with a shipped baseline shows the published figure, marked reference-only when the
    protocol differs (the built-in NeRF scene is not the Blender lego scene at 800x800)."""
    from bench.report import render_report
    from bench.results import CaseResult, MetricRecord, RunRecord
    from bench.store import Store

    with Store.open(tmp_path / "p.db") as store:
        store.create_run(RunRecord(run_id="r", created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                   device="cpu", seed=0, suites=["nerf"]))
        store.add_case("r", CaseResult(suite="nerf", case="scene=builtin", params={"scene": "builtin"},
                                       metrics=[MetricRecord("psnr", 22.0, "dB", True)]))
        text = render_report(store, "r", "md")
    assert "### Published figures" in text
    published = text.split("### Published figures", 1)[1]
    row = next(line for line in published.splitlines() if line.startswith("| scene=builtin") and "psnr" in line)
    assert "32.54" in row and "22" in row and "reference only" in row
