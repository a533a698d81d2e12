"""ctx.unavailable: a declared metric that cannot be computed carries its reason to the store, the report's
pivot and the compare table (not only to the case log)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bench.compare.diff import compare_cases
from bench.config import param
from bench.context import Context
from bench.report import model, pivot
from bench.report.json_report import case_object
from bench.results import CaseResult, MetricRecord
from bench.store import Store
from bench.suite import MetricSpec, Profile, Suite

WHY = "LPIPS(alex) unavailable: backbone weights alex.pth not found; pass --set lpips_weights=PATH"


@dataclass(frozen=True)
class UConfig:
    c: int = param(1, "a grid field")


class U(Suite):
    name = "u"
    Config = UConfig
    grid = {"c": [1]}
    profiles = {"smoke": Profile()}
    metrics = (MetricSpec.of("psnr"),)


def test_ctx_unavailable_records_the_reason_and_survives_the_store(tmp_path, rec, capsys):
    (case,) = U().cases("smoke", {})
    ctx = Context(U(), case, device="cpu", seed=3, profile="smoke", artifact_root=tmp_path / "artifacts")
    got = ctx.unavailable("psnr", WHY)
    assert got.value is None and got.unavailable == WHY and got.unit == "dB"
    assert f"psnr not recorded: {WHY}" in capsys.readouterr().err  # still in the case log for a human
    with pytest.raises(ValueError, match="not declared by suite 'u'"):
        ctx.unavailable("lpips", WHY)
    with pytest.raises(ValueError, match="give the reason"):
        ctx.unavailable("psnr", " ")
    assert MetricRecord("psnr", 3.0, fingerprint={"unavailable": "x"}).unavailable is None  # a value wins
    with Store.open(tmp_path / "u.db") as st:
        st.create_run(rec.run("r1"))
        st.add_case("r1", rec.case("a", metrics=[got]))
        (back,) = st.cases("r1")
    assert back.metrics[0].unavailable == WHY
    obj = case_object(back)  # the JSON report (and run --json): no value under the name, the reason beside
    assert "psnr" not in obj["metrics"] and obj["unavailable"] == {"psnr": WHY}


def test_pivot_and_compare_show_the_recorded_reason(rec):
    gone = MetricRecord("lpips", None, "", False, fingerprint={"unavailable": WHY})
    psnr = MetricRecord("psnr", 20.0, "dB", True, [19.0, 21.0])
    cases = [CaseResult(suite="nerf", case="a", status="ok", metrics=[psnr, gone], log_tail="nothing said here")]
    from bench.store.sample import sample_run

    view = next(iter(model.build(sample_run(), cases).suites))
    pv = pivot.build(view)
    assert [c.name for c in pv.columns] == ["psnr"]  # no empty lpips column
    lp = next(u for u in pv.unavailable if u.metric == "lpips")
    assert lp.reason == WHY and lp.cases == ["a"]
    base = [rec.case("a", metrics=[rec.metric("lpips", [0.2, 0.3], hib=False)])]
    new = [rec.case("a", metrics=[gone])]
    (row,) = [r for r in compare_cases(rec.run("r1"), base, rec.run("r2"), new).rows if r.name == "lpips"]
    assert (row.mark, row.reason) == ("missing", f"unavailable in new run: {WHY}")
