"""Timings made with different torch threads or a different ``--cpu-memory`` are never compared: `compare` marks them
incomparable with the settings that differ; metrics are still compared. Runs stored without ``cpu_memory`` ran the
default (``process``)."""

from __future__ import annotations

import pytest

from bench.compare import diff
from bench.results import CaseResult, MetricRecord, RunRecord, RunSettings, TimingRecord


def _run(run_id: str, threads: int | None = None, **env) -> RunRecord:
    """A run; ``threads``: its --threads (recorded as the environment's torch_threads), None: torch's default."""
    if threads is not None:
        env["torch_threads"] = threads
    return RunRecord(run_id=run_id, created_at="2024-05-01T00:00:00+00:00", profile="smoke", device="cpu", seed=0,
                     status="ok", suites=["fit"], git_commit="a" * 40, machine="m1", environment=env,
                     settings=RunSettings(threads=threads))


def _case(seconds: float) -> CaseResult:
    samples = [seconds * (1 + 0.01 * i) for i in range(9)]
    t = TimingRecord(name="step", samples=samples, median=samples[4], iqr=samples[6] - samples[2],
                     mean=sum(samples) / 9, min=samples[0], n=9)
    m = MetricRecord(name="loss", value=1.0, unit="", higher_is_better=False)
    return CaseResult(suite="fit", case="c", device="cpu", metrics=[m], timings=[t])


def _rows(base_env: dict, new_env: dict) -> tuple[dict, list[str]]:
    cmp = diff.compare_cases(_run("b", **base_env), [_case(1.0)], _run("n", **new_env), [_case(2.0)])
    return {r.kind: r for r in cmp.rows}, cmp.notes


@pytest.mark.parametrize("base_env, new_env, reason", [
    ({"threads": 1}, {"threads": 2}, "torch threads 1 != 2"),
    ({"threads": 1}, {"torch_threads": 2}, "torch threads 1 != 2"),  # --threads 1 vs torch's default of 2
    ({"cpu_memory": "process"}, {"cpu_memory": "exact"}, "--cpu-memory process != exact"),
    ({}, {"cpu_memory": "exact"}, "--cpu-memory process != exact"),  # stored before the setting: the default
])
def test_timings_of_different_run_settings_are_incomparable(base_env, new_env, reason):
    rows, notes = _rows(base_env, new_env)
    assert rows["timing"].mark == diff.INCOMPARABLE and reason in rows["timing"].reason
    assert not rows["timing"].is_regression
    assert rows["metric"].mark != diff.INCOMPARABLE
    assert any(reason in n for n in notes)


@pytest.mark.parametrize("base_env, new_env", [
    ({"threads": 2, "cpu_memory": "process"}, {"threads": 2, "cpu_memory": "process"}),
    ({}, {"cpu_memory": "process"}),
    ({"threads": 2}, {}),  # a thread count not recorded is unknown, not different
    ({"torch_threads": 2}, {"torch_threads": 16}),  # two defaults: the machine type (CPUs) tells them apart
])
def test_the_same_settings_compare_timings(base_env, new_env):
    rows, notes = _rows(base_env, new_env)
    timing = rows["timing"]
    assert timing.mark != diff.INCOMPARABLE and timing.verdict.change == pytest.approx(2.0)  # 2x slower, compared
    assert not any("run settings differ" in n for n in notes)
