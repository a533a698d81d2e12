"""Fixtures for the results-store tests: a realistic run written to a fresh SQLite file or PostgreSQL database."""

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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request, db_path: Path) -> str:
    """Where the store lives: a SQLite file, or a fresh database of the session's PostgreSQL server (tests/conftest.py;
    skipped, saying why, where the server's binaries are absent)."""
    return str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_target: str):
    s = Store.open(db_target)
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
