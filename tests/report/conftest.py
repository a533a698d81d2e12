"""Fixtures for the report tests: the sample run stored, with its artifact files on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.results import CaseResult, RunRecord
from bench.store import Store
from bench.store.sample import sample_cases, sample_run


@dataclass
class Stored:
    store: Store
    run: RunRecord
    cases: list[CaseResult]
    out: Path  # the run's output folder: artifact paths are relative to it


@pytest.fixture
def stored(tmp_path: Path):
    out = tmp_path / "out"
    run = sample_run()
    cases = sample_cases(out)
    store = Store.open(tmp_path / "bench.db")
    store.create_run(run)
    for c in cases:
        store.add_case(run.run_id, c)
    yield Stored(store, run, cases, out)
    store.close()
