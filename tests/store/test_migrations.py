"""Schema migrations: a faked version-0 database is upgraded in one transaction."""

from __future__ import annotations

import sqlite3

import pytest

from bench.errors import StoreError
from bench.store import SCHEMA_VERSION, Store, migrations
from bench.store.sample import sample_cases, sample_run


def _make_v0(path, tmp_path):
    """A store as the pre-release layout left it: no meta table, no runs.source column."""
    with Store.open(path) as s:
        s.create_run(sample_run())
        for c in sample_cases(tmp_path / "out"):
            s.add_case(sample_run().run_id, c)
    con = sqlite3.connect(path)
    con.execute("DROP TABLE meta")
    con.execute("ALTER TABLE runs DROP COLUMN source")
    con.commit()
    con.close()


def _columns(path, table):
    con = sqlite3.connect(path)
    try:
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    finally:
        con.close()


def test_v0_database_is_migrated(tmp_path, as_json):
    path = tmp_path / "old.db"
    _make_v0(path, tmp_path)
    assert "source" not in _columns(path, "runs")
    with Store.open(path) as s:
        assert s.schema_version() == SCHEMA_VERSION == 1
        run = s.get_run(sample_run().run_id)
        assert run.source == "run"  # the default the step fills in
        assert [as_json(c) for c in s.cases(run.run_id)] == [as_json(c) for c in sample_cases(tmp_path / "o2")]
    assert "source" in _columns(path, "runs")
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall() == [("1",)]
    con.close()


def test_failing_step_rolls_back_everything(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _make_v0(path, tmp_path)

    real_step = migrations.STEPS[0]

    def broken(conn):
        real_step(conn)  # the real step runs (adds the column, creates meta) ...
        raise RuntimeError("disk on fire")  # ... then the migration fails

    monkeypatch.setattr(migrations, "STEPS", {0: broken})
    with pytest.raises(StoreError, match="from schema version 0 to 1 failed .*disk on fire.*left unchanged"):
        Store.open(path)
    assert "source" not in _columns(path, "runs")
    con = sqlite3.connect(path)
    assert "meta" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()


def test_missing_step_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _make_v0(path, tmp_path)
    monkeypatch.setattr(migrations, "STEPS", {})
    with pytest.raises(StoreError, match="no migration from results schema version 0 to 1"):
        Store.open(path)
