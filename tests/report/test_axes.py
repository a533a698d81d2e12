"""Log-axis ticks: 1-2-5 steps inside the data's range, labels that read as numbers (no lone digits)."""

from __future__ import annotations

from bench.report.axes import log_or_linear, log_ticks


def test_ticks_are_1_2_5_inside_the_range_with_plain_labels():
    t = log_ticks([80.0, 5000.0, float("nan"), -1.0])
    assert t["tickvals"] == [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]
    assert t["ticktext"] == ["100", "200", "500", "1,000", "2,000", "5,000"]


def test_a_narrow_range_gets_every_digit_or_its_ends():
    t = log_ticks([1.5, 4.5])
    assert t["tickvals"] == [2.0, 3.0, 4.0] and t["ticktext"] == ["2", "3", "4"]
    assert log_ticks([0.0012, 0.0019])["ticktext"] == ["0.0012", "0.0019"]  # no step of 1..9 inside: the ends
    assert log_ticks([]) == {} and log_ticks([0.0, -2.0]) == {}


def test_log_only_for_positive_values_spanning_decades():
    assert log_or_linear([1.0, 1000.0])["type"] == "log"
    assert log_or_linear([1.0, 50.0]) == {"type": "linear"} and log_or_linear([-1.0, 1000.0]) == {"type": "linear"}


MODE_BAR_PX = 26  # plotly's mode bar: 4 px offset + 22 px buttons, drawn at the container's top right


def _title_clears_mode_bar(fig_json: str) -> None:
    """The title's baseline is the plot area's top (paper y = 1, anchored at its bottom), and the top margin
    holds the mode bar, the title's font (plotly: 1.4 x the layout font) and its pad above it."""
    import json

    layout = json.loads(fig_json)["layout"]
    t = layout["title"]
    assert (t["yref"], t["y"], t["yanchor"]) == ("paper", 1.0, "bottom"), t
    font = 1.4 * layout["font"]["size"]
    assert layout["margin"]["t"] >= MODE_BAR_PX + font + t["pad"]["b"], (layout["margin"], t)


def test_chart_titles_sit_under_the_mode_bar_in_report_compare_and_dashboard(tmp_path):
    """A long title cannot run under plotly's toolbar: checked on a report curve, a dashboard trend and
    every kind of compare chart."""
    import dataclasses
    import json as _json

    from bench.compare.charts import comparison_charts
    from bench.compare.dashboard import trend_figure
    from bench.compare.history import Point, Series
    from bench.report.html import curve_figure
    from bench.results import ArtifactRecord, RunSettings
    from tests.compare import conftest as rec

    long = "target=ellipsoid,loss=chamfer+edge,resolution=256,lr=0.01: loss_curve"
    _title_clears_mode_bar(curve_figure(long, {"x": [0, 1], "x_label": "it", "y_label": "loss",
                                               "series": {"total": [1.0, 0.5]}}))
    pts = [Point("r1", "2024-05-01", "a" * 40, 1.0), Point("r2", "2024-05-02", "b" * 40, 2.0)]
    _title_clears_mode_bar(trend_figure(long, [Series("fit", "c", "metric", "chamfer_l2", "m1", "units²", False,
                                                      points=pts)]))
    runs, cases = [], []
    for side, scale in (("b", 1.0), ("n", 1.1)):
        d = tmp_path / side
        path = d / "curve.json"
        path.parent.mkdir(parents=True)
        path.write_text(_json.dumps({"x": [0, 1], "x_label": "it", "y_label": "loss", "series": {"t": [1.0, scale]}}))
        art = ArtifactRecord("loss_curve", "curve", "curve.json", "0" * 64, path.stat().st_size)
        case = rec.case(long, metrics=[rec.metric("psnr", [20.0, 21.0 * scale])],
                        timings=[rec.timing("step", [0.01, 0.02 * scale])])
        runs.append(dataclasses.replace(rec.run(side), settings=RunSettings(run_dir=str(d))))
        cases.append([dataclasses.replace(case, artifacts=[art])])
    charts = comparison_charts(runs[0], cases[0], runs[1], cases[1])
    assert sorted(k for k, v in charts.items() if v) == ["curves", "items", "timings"]
    for figs in charts.values():
        for fig in figs:
            _title_clears_mode_bar(fig)
