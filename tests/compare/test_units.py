"""A unit added as a label (issue 21) keeps old stored results comparable; a change of meaning does not."""

from __future__ import annotations

from bench.compare.diff import compare_cases
from bench.metrics import camera_center_error, chamfer_distance
from bench.metrics.catalog import CATALOG
from bench.metrics.units import LABEL_ONLY, SQUARED_LENGTH, newer_unit, same_unit


def test_same_unit_by_meaning():
    assert same_unit("", SQUARED_LENGTH) and same_unit("units", "") and same_unit(None, "a.u.")
    assert same_unit("dB", "dB") and same_unit(None, "")
    assert not same_unit("", "%")  # a fraction against a percentage: the numbers differ by 100
    assert not same_unit("units", "units²") and not same_unit("mm", "m")
    assert newer_unit(["", "units²", ""]) == "units²" and newer_unit(["", None]) == ""


def test_implementations_give_the_catalog_units():
    import torch

    x = torch.zeros(1, 4, 3)
    assert chamfer_distance(x, x + 1).unit == CATALOG["chamfer_l2"].unit == SQUARED_LENGTH
    eye = torch.eye(3)[None]
    res = camera_center_error(eye, torch.zeros(1, 3), eye, torch.ones(1, 3))
    assert res.unit == CATALOG["camera_center_error"].unit and res.unit in LABEL_ONLY
    assert abs(res.value - 3 ** 0.5) < 1e-6


def test_a_run_stored_before_the_unit_compares_with_one_after(rng, rec):
    run, case, metric = rec.run, rec.case, rec.metric
    items = rng.normal(0.02, 0.001, 8)
    base = [case("old", metrics=[metric("chamfer_l2", items, hib=False, unit="")]),
            case("pct", metrics=[metric("iou", items, unit="")])]
    new = [case("old", metrics=[metric("chamfer_l2", items * 2, hib=False, unit=SQUARED_LENGTH)]),
           case("pct", metrics=[metric("iou", items * 100, unit="%")])]
    rows = {r.case: r for r in compare_cases(run("r1"), base, run("r2"), new).rows if r.kind == "metric"}
    assert rows["old"].mark == "worse" and rows["old"].unit == SQUARED_LENGTH
    assert rows["pct"].mark == "incomparable" and rows["pct"].reason == "unit '' != '%'"
