"""The case x metric pivot: one column per metric, intervals and counts folded into one cell, best case marked,
declared metrics that no case recorded listed with the reason from the logs."""

from __future__ import annotations

from bench.report import markdown, model, pivot, render_report
from bench.results import CaseResult, MetricRecord


def _case(name: str, metrics: list[MetricRecord], log: str = "", suite: str = "pose") -> CaseResult:
    return CaseResult(suite=suite, case=name, params={"scene": "cow", "lr": float(len(name))}, status="ok",
                      metrics=metrics, log_tail=log)


def _success(ok: list[int], low: float, high: float) -> list[MetricRecord]:
    items = [100.0 * o for o in ok]
    return [MetricRecord("success_rate", sum(items) / len(items), "%", True, items, [str(i) for i in range(len(ok))]),
            MetricRecord("success_rate_low", low, "%", True), MetricRecord("success_rate_high", high, "%", True)]


def _view(cases: list[CaseResult]) -> model.SuiteView:
    return next(s for s in model.build(_run(), cases).suites)


def _run():
    from bench.store.sample import sample_run

    return sample_run()


def test_success_rate_is_one_cell_with_interval_and_counts():
    cases = [_case("a", _success([1, 1, 1, 0], 30.06, 95.44)), _case("bb", _success([0, 0, 1, 0], 4.56, 69.94))]
    pv = pivot.build(_view(cases))
    assert [c.name for c in pv.columns] == ["success_rate"]  # _low and _high folded into it
    col = pv.columns[0]
    assert col.unit == "%" and col.direction == "↑" and col.interval
    (case_a, cells_a), (_, cells_b) = pv.rows
    assert case_a == "a" and cells_a[0].text == "75 % [30.1, 95.4] (3/4)"
    assert cells_b[0].text == "25 % [4.56, 69.9] (1/4)"
    assert cells_a[0].best and not cells_b[0].best  # higher is better
    assert pv.params == ["lr"]  # the parameter that differs between the cases, not the shared scene


def test_value_spread_n_and_lower_is_better():
    m1 = MetricRecord("rot_err", 2.0, "deg", False, [1.0, 2.0, 3.0])
    m2 = MetricRecord("rot_err", 5.0, "deg", False, [5.0, 5.0])
    pv = pivot.build(_view([_case("x", [m1]), _case("y", [m2])]))
    (_, [x]), (_, [y]) = pv.rows
    assert x.text == "2 ± 1" and x.n_text == "n 3" and x.best  # std of 1, 2, 3 (ddof 1) is 1
    assert y.text == "5 ± 0" and not y.best


def test_metric_missing_in_one_case_and_declared_unavailable_with_reason():
    reason = "lpips not recorded: LPIPS(alex) unavailable: backbone weights /w/alex.pth not found"
    psnr = MetricRecord("psnr", 20.0, "dB", True, [19.0, 21.0])
    cases = [_case("a", [psnr], log=f"step 10\n{reason}\ndone", suite="nerf"),
             _case("b", [psnr, MetricRecord("final_loss", 0.1, "", False)], suite="nerf")]
    pv = pivot.build(_view(cases))
    lp = next(u for u in pv.unavailable if u.metric == "lpips")
    assert lp.reason == reason and lp.cases == ["a", "b"]
    assert "psnr" not in {u.metric for u in pv.unavailable}  # recorded: not unavailable
    (_, cells_a), _ = pv.rows
    loss = [c.name for c in pv.columns].index("final_loss")
    assert cells_a[loss].missing and cells_a[loss].text == "—"
    assert not any(c.best for c in cells_a)  # equal psnr in both cases: nothing is marked best


def test_reports_show_the_pivot_first(stored):
    html = render_report(stored.store, "latest", "html", artifact_root=stored.out)
    suite = html.split('id="suite-mesh_fitting"')[1]
    assert suite.index("<h3>Results</h3>") < suite.index("<summary>Metrics, one row per case")
    assert "chamfer_l2 ↓<br><span class=\"unit\">" in suite
    md = markdown.render(model.build(stored.run, stored.cases))
    assert "### Results" in md and md.index("### Results") < md.index("### Metrics (one row")


def test_initial_value_and_rounding_level_differences_are_never_marked_best():
    """mesh_fitting declares chamfer_l2_init as its initial value (MetricSpec.initial): the start is not an
    outcome, so it gets no best mark even though it differs between targets; the fitted chamfer_l2 does.
    A column whose values differ only by rounding gets no mark either."""
    def case(name, init, fit, edge):
        return _case(name, [MetricRecord("chamfer_l2_init", init, "units²", False),
                            MetricRecord("chamfer_l2", fit, "units²", False),
                            MetricRecord("mean_edge_length", edge, "units", False)], suite="mesh_fitting")

    pv = pivot.build(_view([case("target=torus", 0.30, 0.004, 0.05), case("target=ellipsoid", 0.10, 0.002,
                                                                             0.05 * (1 + 1e-9))]))
    names = [c.name for c in pv.columns]
    cols = {c.name: c for c in pv.columns}
    assert not cols["chamfer_l2_init"].ranked and cols["chamfer_l2"].ranked
    (_, torus), (_, ellipsoid) = pv.rows
    i, f, e = names.index("chamfer_l2_init"), names.index("chamfer_l2"), names.index("mean_edge_length")
    assert not torus[i].best and not ellipsoid[i].best  # 0.10 < 0.30, but it is the start: not ranked
    assert ellipsoid[f].best and not torus[f].best  # the outcome is ranked (lower is better)
    assert not torus[e].best and not ellipsoid[e].best  # equal up to rounding
