"""Fixtures of the comparison tests: factories of synthetic runs, cases, metrics and timings (no suite runs)."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest

from bench.results import CaseResult, MetricRecord, RunRecord, TimingRecord


def timing(name: str, samples, method: str = "perf_counter", processes: int = 1) -> TimingRecord:
    """A timing record of ``samples``; with ``processes`` > 1, as ``--repeat`` pools them: split evenly."""
    s = np.asarray(samples, dtype=float)
    sizes = None
    if processes > 1:
        sizes = [len(part) for part in np.array_split(s, processes)]
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return TimingRecord(
        name=name,
        samples=s.tolist(),
        median=float(med),
        iqr=float(q3 - q1),
        mean=float(s.mean()),
        min=float(s.min()),
        n=s.size,
        method=method,
        process_sizes=sizes,
    )


def run(
    run_id: str,
    *,
    commit: str = "a" * 40,
    created: str = "2024-05-01T00:00:00+00:00",
    machine: str = "m1",
    suites=("fit",),
    profile: str = "smoke",
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        created_at=created,
        profile=profile,
        device="cpu",
        seed=0,
        status="ok",
        suites=list(suites),
        git_commit=commit,
        machine=machine,
    )


def case(
    name: str,
    *,
    suite: str = "fit",
    status: str = "ok",
    metrics=(),
    timings=(),
    params=None,
    datasets=None,
    device: str = "cpu",
    error: str | None = None,
) -> CaseResult:
    return CaseResult(
        suite=suite,
        case=name,
        params=dict(params or {}),
        status=status,
        device=device,
        datasets=dict(datasets or {}),
        metrics=list(metrics),
        timings=list(timings),
        error=error,
    )


def metric(name: str, items=None, *, value=None, ids=None, hib=True, fp=None, unit: str = "") -> MetricRecord:
    if items is not None:
        items = [float(x) for x in items]
        value = float(np.mean(items)) if value is None else value
        ids = ids if ids is not None else [f"i{k}" for k in range(len(items))]
    return MetricRecord(
        name=name, value=value, unit=unit, higher_is_better=hib, items=items, item_ids=ids, fingerprint=dict(fp or {})
    )


@pytest.fixture
def rec():
    """``rec.run``, ``rec.case``, ``rec.metric``, ``rec.timing``: record factories."""
    return types.SimpleNamespace(run=run, case=case, metric=metric, timing=timing)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def load_script():
    """``load_script(name)``: the module of ``scripts/<name>.py`` (scripts are not a package)."""
    def load(name: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load
