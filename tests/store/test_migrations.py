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
    con.execute("ALTER TABLE timings DROP COLUMN calibration_s")  # added in v2
    _drop_v3_columns(con)
    con.commit()
    con.close()


def _drop_v3_columns(con):
    con.execute("ALTER TABLE timing_samples DROP COLUMN calibration")
    con.execute("ALTER TABLE timings DROP COLUMN processes")
    con.execute("ALTER TABLE timings DROP COLUMN process_sizes")


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
        assert s.schema_version() == SCHEMA_VERSION == 3
        run = s.get_run(sample_run().run_id)
        assert run.source == "run"  # the default the step fills in
        assert [as_json(c) for c in s.cases(run.run_id)] == [as_json(c) for c in sample_cases(tmp_path / "o2")]
    assert "source" in _columns(path, "runs")
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall() == [("3",)]
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


def test_v1_database_gains_the_calibration_column(tmp_path):
    """A v1 store (no timings.calibration_s) opens, migrates to v2, keeps its rows and reads None."""
    import sqlite3

    from bench.results import CaseResult, RunRecord
    from bench.store import SCHEMA_VERSION, Store
    from bench.timing import TimingResult

    path = tmp_path / "v1.db"
    with Store.open(path) as store:
        store.create_run(RunRecord(run_id="r", created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                   device="cpu", seed=0))
        store.add_case("r", CaseResult(suite="s", case="c",
                                       timings=[TimingResult.from_samples([1.0, 2.0]).to_record("t")]))
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE timings DROP COLUMN calibration_s")
    _drop_v3_columns(con)
    con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    con.commit()
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        (case,) = store.cases("r")
        assert case.timings[0].samples == [1.0, 2.0] and case.timings[0].calibration_s is None


def test_v2_database_gains_per_sample_calibration_and_processes(tmp_path):
    """A v2 store keeps its samples and their run-level calibration; the new columns read as absent / 1."""
    from bench.results import CaseResult, RunRecord
    from bench.timing import TimingResult

    path = tmp_path / "v2.db"
    rec = TimingResult.from_samples([1.0, 2.0, 3.0], calibration_s=1e-3, calibration=[1e-3, 1.1e-3, 0.9e-3],
                                    processes=2, process_sizes=[1, 2]).to_record("t")
    with Store.open(path) as store:
        store.create_run(RunRecord(run_id="r", created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                   device="cpu", seed=0))
        store.add_case("r", CaseResult(suite="s", case="c", timings=[rec]))
        (case,) = store.cases("r")
        assert case.timings[0].calibration == [1e-3, 1.1e-3, 0.9e-3] and case.timings[0].processes == 2
        assert case.timings[0].process_sizes == [1, 2]
    con = sqlite3.connect(path)
    _drop_v3_columns(con)
    con.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    con.commit()
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        (t,) = store.cases("r")[0].timings
        assert (t.samples, t.calibration_s, t.calibration, t.processes, t.process_sizes) == (
            [1.0, 2.0, 3.0], 1e-3, None, 1, None)
    assert "calibration" in _columns(path, "timing_samples") and "processes" in _columns(path, "timings")
