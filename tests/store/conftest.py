"""Fixtures for the results-store tests: a realistic run written to a fresh SQLite file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench.store import Store
from bench.store.sample import sample_cases, sample_run


def as_json(record: object) -> str:
    """Canonical text of a record; NaN == NaN here, unlike dataclass equality."""
    return json.dumps(dataclasses.asdict(record), sort_keys=True, allow_nan=True)


@pytest.fixture(name="as_json")
def as_json_fixture():
    """The :func:`as_json` helper (a fixture: test modules must not import from conftest)."""
    return as_json


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "results" / "bench.db"


@pytest.fixture
def store(db_path: Path):
    s = Store.open(db_path)
    yield s
    s.close()


@pytest.fixture
def filled(store: Store, tmp_path: Path):
    """(store, run, cases) with the sample run and all its cases stored."""
    run = sample_run()
    cases = sample_cases(tmp_path / "out")
    store.create_run(run)
    for c in cases:
        store.add_case(run.run_id, c)
    return store, run, cases
