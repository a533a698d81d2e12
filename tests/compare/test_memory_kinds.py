"""Issue 22: peaks of different memory measures (``rss_delta``, ``rss_anon_peak``, ``cuda_max_allocated``) are never
compared: ``compare`` marks them incomparable and names both measures, in either order; stored kinds are kept."""

from __future__ import annotations

import pytest

from bench.compare import diff, stats
from bench.results import CaseResult, MetricRecord, RunRecord

KINDS = ("rss_delta", "rss_anon_peak", "rss_anon_exact", "cuda_max_allocated")


def _run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, created_at="2024-05-01T00:00:00+00:00", profile="smoke", device="cpu", seed=0,
                     status="ok", suites=["fit"], git_commit="a" * 40, machine="m1")


def _row(kind_b: str, value_b: float, kind_n: str, value_n: float) -> diff.Row:
    def case(kind: str, value: float) -> CaseResult:
        peak = MetricRecord(name="peak_memory_mb", value=value, unit="MiB", higher_is_better=False,
                            fingerprint={"kind": kind, "scope": "largest phase"}, process_values=[value] * 3)
        return CaseResult(suite="fit", case="c", device="cpu", metrics=[peak])

    cmp = diff.compare_cases(_run("b"), [case(kind_b, value_b)], _run("n"), [case(kind_n, value_n)])
    (row,) = cmp.rows
    return row


@pytest.mark.parametrize("kb", KINDS)
@pytest.mark.parametrize("kn", KINDS)
def test_peaks_of_different_measures_are_incomparable_in_either_order(kb, kn):
    row = _row(kb, 10.0, kn, 10.0)
    if kb == kn:
        assert row.mark != diff.INCOMPARABLE
        return
    assert row.mark == diff.INCOMPARABLE and not row.is_regression
    assert row.reason.startswith("different memory measures:")
    assert f"{kb} vs {kn}" in row.reason


def test_the_reason_helper_ignores_fingerprints_that_are_not_memory_measures():
    assert diff.memory_kind_reason({"kind": "rss_delta"}, {"kind": "rss_delta"}) == ""
    assert diff.memory_kind_reason({"kind": "psnr"}, {"kind": "ssim"}) == ""
    assert diff.memory_kind_reason("rss_anon_peak", None) == "different memory measures: rss_anon_peak vs <none>; " \
                                                           "never compared"


def test_rss_delta_stays_shown_never_judged_next_to_the_new_kind():
    row = _row("rss_delta", 10.0, "rss_delta", 25.0)
    assert row.mark == stats.CHANGED and row.reason == diff.RSS_REASON


def test_backend_comparison_names_the_measures_of_peaks_it_does_not_difference():
    from bench.backend_compare import backend_comparison_markdown, compare_cases

    def case(name: str, kind: str, value: float) -> CaseResult:
        peak = MetricRecord(name="peak_memory_mb", value=value, unit="MiB", higher_is_better=False,
                            fingerprint={"kind": kind, "scope": "largest phase"})
        return CaseResult(suite="fit", case=name, status="ok", metrics=[peak])

    for ref_kind, other_kind in (("rss_anon_peak", "rss_delta"), ("rss_delta", "rss_anon_peak")):
        cmp = compare_cases([case("x@torch", other_kind, 3.0), case("x@pytorch3d", ref_kind, 1.0)],
                            reference="pytorch3d")
        (m,) = cmp["cases"][0]["metrics"]
        assert not m["comparable"] and m["diff"] == {}
        assert m["incomparable"] == {"torch": f"different memory measures: {ref_kind} vs {other_kind}; never compared"}
        assert f"different memory measures: {ref_kind} vs {other_kind}" in backend_comparison_markdown(
            {"run_id": "r", **cmp})
    same = compare_cases([case("x@torch", "rss_anon_peak", 3.0), case("x@pytorch3d", "rss_anon_peak", 1.0)],
                         reference="pytorch3d")
    (m,) = same["cases"][0]["metrics"]
    assert m["comparable"] and m["diff"] == {"torch": 2.0} and m["incomparable"] == {}


def test_two_anonymous_peaks_are_shown_never_judged():
    """rss_anon_peak varies up to 1.3x between fresh processes (diff.ANON_REASON): a 1.5x change is not judged."""
    for a, b in ((10.0, 15.0), (15.0, 10.0)):
        row = _row("rss_anon_peak", a, "rss_anon_peak", b)
        assert row.mark == stats.CHANGED and row.reason == diff.ANON_REASON and not row.is_regression
    assert _row("rss_anon_peak", 10.0, "rss_anon_peak", 10.0).mark == stats.UNCHANGED
    assert diff.is_cpu_rss({"kind": "rss_anon_peak"}) and not diff.is_cpu_rss({"kind": "cuda_max_allocated"})


def test_two_exact_peaks_are_shown_never_judged():
    """rss_anon_exact (run --cpu-memory exact) repeats to 0.5 % at tens of MiB but not at ~1 MiB: shown only."""
    row = _row("rss_anon_exact", 10.0, "rss_anon_exact", 15.0)
    assert row.mark == stats.CHANGED and row.reason == diff.EXACT_REASON and not row.is_regression
