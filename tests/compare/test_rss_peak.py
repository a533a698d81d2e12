"""Issue 15, item 8: a CPU RSS peak (fingerprint kind ``rss_delta``, the harness's ``peak_memory_mb`` on CPU)
varies up to 2.5x between identical runs, so ``compare`` shows it but never marks it worse or better (in either
argument order), and ``history`` gives its steps no direction; CUDA's ``cuda_max_allocated`` stays judged."""

from __future__ import annotations

import numpy as np

from bench.compare import diff, history, stats
from bench.results import CaseResult, MetricRecord, RunRecord, TimingRecord

RSS = {"kind": "rss_delta", "scope": "largest phase"}
CUDA = {"kind": "cuda_max_allocated", "scope": "largest phase"}
LOW = [100.0, 101.0, 102.0, 100.5, 101.5]  # MiB per process, --repeat 5
HIGH = [250.0, 251.0, 249.0, 250.5, 252.0]  # 2.5x: what the issue measured between identical runs


def _run(run_id: str, created: str = "2024-05-01T00:00:00+00:00", commit: str = "a" * 40) -> RunRecord:
    return RunRecord(run_id=run_id, created_at=created, profile="smoke", device="cpu", seed=0, status="ok",
                     suites=["fit"], git_commit=commit, machine="m1")


def _peak(values: list[float], fingerprint: dict) -> MetricRecord:
    return MetricRecord(name="peak_memory_mb", value=values[0], unit="MiB", higher_is_better=False,
                        fingerprint=dict(fingerprint), process_values=list(values))


def _case(*metrics: MetricRecord, timings: tuple[TimingRecord, ...] = ()) -> CaseResult:
    return CaseResult(suite="fit", case="c", device="cpu", metrics=list(metrics), timings=list(timings))


def _row(base: MetricRecord, new: MetricRecord) -> diff.Row:
    cmp = diff.compare_cases(_run("b"), [_case(base)], _run("n"), [_case(new)])
    (row,) = [r for r in cmp.rows if r.name == "peak_memory_mb"]
    return row


def test_cpu_rss_peak_is_shown_never_judged_in_either_order():
    for base, new in ((LOW, HIGH), (HIGH, LOW)):
        row = _row(_peak(base, RSS), _peak(new, RSS))
        assert row.mark == stats.CHANGED and row.reason == diff.RSS_REASON
        assert not row.is_regression and row.gates is None
        d = row.to_dict()
        assert (d["base"], d["new"]) == (np.median(base), np.median(new))  # the values are shown


def test_cpu_rss_peak_without_process_values_is_not_judged_either():
    base, new = _peak(LOW, RSS), _peak(HIGH, RSS)
    base.process_values = new.process_values = None  # one process: a plain difference beyond the tolerance
    row = _row(base, new)
    assert row.mark == stats.CHANGED and row.reason == diff.RSS_REASON


def test_identical_cpu_rss_peaks_are_unchanged():
    row = _row(_peak(LOW, RSS), _peak(LOW, RSS))
    assert row.mark == stats.UNCHANGED and row.reason == diff.RSS_REASON


def test_cuda_peak_stays_judged():
    assert _row(_peak(LOW, CUDA), _peak(HIGH, CUDA)).mark == stats.WORSE
    assert _row(_peak(HIGH, CUDA), _peak(LOW, CUDA)).mark == stats.BETTER


def test_other_metrics_of_the_case_stay_judged():
    loss_b = MetricRecord(name="loss", value=1.0, higher_is_better=False)
    loss_n = MetricRecord(name="loss", value=2.0, higher_is_better=False)
    cmp = diff.compare_cases(_run("b"), [_case(_peak(LOW, RSS), loss_b)], _run("n"), [_case(_peak(HIGH, RSS), loss_n)])
    marks = {r.name: r.mark for r in cmp.rows}
    assert marks == {"peak_memory_mb": stats.CHANGED, "loss": stats.WORSE}


def test_a_timing_with_an_rss_peak_is_judged_on_its_time():
    """A timing row compares seconds, not its peak memory (which reports show beside it, never compared)."""
    rng = np.random.default_rng(7)

    def timing(scale: float) -> TimingRecord:
        s = rng.normal(1.0, 0.01, 50) * scale
        return TimingRecord(name="step", samples=s.tolist(), median=float(np.median(s)), iqr=0.01, mean=float(s.mean()),
                            min=float(s.min()), n=s.size, peak_memory_bytes=10**8, memory_kind="rss_delta",
                            process_sizes=[10] * 5)

    cmp = diff.compare_cases(_run("b"), [_case(timings=(timing(1.0),))], _run("n"), [_case(timings=(timing(1.5),))],
                             diff.Settings(normalise=False))
    (row,) = cmp.rows
    assert row.mark == stats.WORSE and row.reason != diff.RSS_REASON


class _Store:
    """What history.collect reads of a store: runs newest first, and each run's cases."""

    def __init__(self, values: list[float], fingerprint: dict) -> None:
        self.runs = [_run(f"r{i}", f"2024-05-{i + 1:02d}T00:00:00+00:00", f"{i:040x}") for i in range(len(values))]
        self._cases = {r.run_id: [_case(MetricRecord("peak_memory_mb", v, "MiB", False, fingerprint=dict(fingerprint)))]
                       for r, v in zip(self.runs, values, strict=True)}

    def list_runs(self, suite=None):
        return list(reversed(self.runs))

    def cases(self, run_id):
        return self._cases[run_id]


def test_history_gives_a_cpu_rss_step_no_direction():
    step = [100.0, 101.0, 100.5, 101.5, 100.0, 250.0, 251.0, 250.5, 249.5, 250.0]
    (rss,) = history.collect(_Store(step, RSS))
    assert rss.changes and all(c.mark == stats.CHANGED for c in rss.changes)
    assert history.regressions([rss]) == []
    (cuda,) = history.collect(_Store(step, CUDA))
    assert [c.mark for c in cuda.changes] == [stats.WORSE]
