"""scripts/backend_spread.py: the spread table of one backend's runs and where another run's value lies."""

import math

import pytest

from bench.results import CaseResult, MetricRecord, RunRecord
from bench.store import Store


@pytest.fixture(scope="module")
def spread(load_script):
    return load_script("backend_spread")


def _case(name, backend, **metrics):
    return CaseResult(suite="s", case=name, backend=backend,
                      metrics=[MetricRecord(name=k, value=v) for k, v in metrics.items()])


def test_spread_rows_min_max_and_where_the_other_lies(spread):
    runs = [_case("x", "torch", a=1.0, b=5.0), _case("x", "torch", a=3.0, b=5.0), _case("x", "torch", a=2.0, b=5.0)]
    rows = {r["metric"]: r for r in spread.spread_rows(runs, _case("x", "pytorch3d", a=2.5, b=4.0), ["a", "b", "c"])}
    assert set(rows) == {"a", "b"}  # no value of c: no row
    a, b = rows["a"], rows["b"]
    assert (a["n"], a["min"], a["max"], a["range"]) == (3, 1.0, 3.0, 2.0)
    assert a["rel_range"] == pytest.approx(2 / 3)
    assert a["where"] == "inside" and a["max_gap"] == 1.5  # |2.5 - 1|
    assert b["range"] == 0.0 and b["where"] == "below by 1" and b["max_gap"] == 1.0
    above = spread.spread_rows(runs, _case("x", "pytorch3d", a=3.25), ["a"])[0]
    assert above["where"] == "above by 0.25"
    alone = spread.spread_rows(runs, None, ["a"])[0]
    assert alone["other"] is None and alone["where"] == "" and alone["max_gap"] is None


def test_metric_value_skips_missing_and_not_finite(spread):
    c = _case("x", "torch", a=math.nan, b=2.0)
    c.metrics.append(MetricRecord(name="n", value=None))
    assert spread.metric_value(c, "a") is None and spread.metric_value(c, "n") is None
    assert spread.metric_value(c, "b") == 2.0 and spread.metric_value(c, "zz") is None


def test_case_results_by_backend_suffix_or_stored_backend(spread, tmp_path):
    db = str(tmp_path / "b.db")
    with Store.open(db) as store:
        for rid in ("r1", "r2"):
            store.create_run(RunRecord(run_id=rid, created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                       device="cpu", seed=0))
        store.add_case("r1", _case("m=1@torch", "torch 0.1.0", a=1.0))
        store.add_case("r1", _case("m=1@pytorch3d", "pytorch3d 0.7.9", a=9.0))
        store.add_case("r2", _case("m=1", "torch 0.1.0", a=2.0))  # a single-backend run: no suffix
        failed = _case("m=2", "torch 0.1.0", a=7.0)
        failed.status = "error"
        store.add_case("r2", failed)
        elsewhere = _case("m=1", "torch 0.1.0", a=5.0)
        elsewhere.suite = "other"  # the same case name in another suite (nerf and volumes: scene=builtin)
        store.add_case("r2", elsewhere)
    mine = spread.case_results(db, ["r1", "r2"], "torch", "s")
    assert list(mine) == ["m=1"] and [c.metrics[0].value for _, c in mine["m=1"]] == [1.0, 2.0]
    other = spread.case_results(db, ["r1"], "pytorch3d", "s")
    assert [c.metrics[0].value for _, c in other["m=1"]] == [9.0]


def test_base_value_reads_the_profile_and_wants_a_float(spread):
    # meshrcnn's smoke profile sets lr 0.002 (the suite's default is 0.001)
    assert spread.base_value("meshrcnn", "mode=voxmesh", "smoke", "lr") == 0.002
    with pytest.raises(SystemExit, match="expected a float field"):
        spread.base_value("meshrcnn", "mode=voxmesh", "smoke", "iterations")


def test_per_run_table_has_a_row_per_run_and_no_category_twins(spread):
    a = _case("x", "torch 0.1.0", chamfer_l2=0.5, chamfer_l2_category_mean=0.5)
    a.params = {"lr": 0.002000002}
    b = _case("x", "pytorch3d 0.7.9", chamfer_l2=0.625)
    b.params = {"lr": 0.002}
    md = spread.per_run_markdown([("r1", a)], b, ["chamfer_l2", "chamfer_l2_category_mean"], "lr", "p3d (r0)")
    lines = md.splitlines()
    assert lines[0] == "| run | lr | backend | chamfer_l2 |"
    assert lines[2] == "| r1 | 0.002000002 | torch | 0.5 |" and lines[3] == "| p3d (r0) | 0.002 | pytorch3d | 0.625 |"
    assert len(lines) == 4
