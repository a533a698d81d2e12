"""Schema migrations: a faked version-0 database is upgraded in one transaction."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from bench.errors import StoreError
from bench.results import CaseResult
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
    con.execute("ALTER TABLE timings DROP COLUMN process_sizes")
    _drop_v4_columns(con)


def _drop_v4_columns(con):
    con.execute("ALTER TABLE metrics DROP COLUMN process_values")
    _drop_v5_columns(con)


V5_COLUMNS = (("runs", "settings"), ("cases", "config_hash"), ("cases", "config_free"),
              ("timings", "items_per_call"), ("timings", "item_unit"), ("timings", "phase"))


def _drop_v5_columns(con):
    for table, column in V5_COLUMNS:
        con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    _drop_v6_columns(con)


def _drop_v6_columns(con):
    con.execute("ALTER TABLE cases DROP COLUMN node")


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
        assert s.schema_version() == SCHEMA_VERSION == 6
        run = s.get_run(sample_run().run_id)
        assert run.source == "run"  # the default the step fills in
        expected = sample_cases(tmp_path / "o2")
        for m in (m for c in expected for m in c.metrics):
            m.process_values = None  # a column of v4: what the migration cannot restore
        for c in expected:  # columns of v5: an old case's configuration is unknown
            c.config_hash, c.config_free = None, []
            for t in c.timings:
                t.items_per_call = t.item_unit = t.phase = None
        assert [as_json(c) for c in s.cases(run.run_id)] == [as_json(c) for c in expected]
    assert "source" in _columns(path, "runs")
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall() == [(str(SCHEMA_VERSION),)]
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


def _store_one_timing(path, rec):
    """A store holding run "r" with one case whose only timing is ``rec``."""
    from bench.results import CaseResult, RunRecord

    with Store.open(path) as store:
        store.create_run(RunRecord(run_id="r", created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                   device="cpu", seed=0))
        store.add_case("r", CaseResult(suite="s", case="c", timings=[rec]))
        return store.cases("r")[0].timings[0]


def _set_version(path, version, *drop_sql):
    """Make ``path`` look like a store written at ``version``: drop the later columns, record the version."""
    con = sqlite3.connect(path)
    for sql in drop_sql:
        con.execute(sql)
    _drop_v3_columns(con)
    con.execute(f"UPDATE meta SET value='{version}' WHERE key='schema_version'")
    con.commit()
    con.close()


def test_v1_database_gains_the_calibration_column(tmp_path):
    """A v1 store (no timings.calibration_s) opens, migrates, keeps its rows and reads None."""
    from bench.timing import TimingResult

    path = tmp_path / "v1.db"
    _store_one_timing(path, TimingResult.from_samples([1.0, 2.0]).to_record("t"))
    _set_version(path, 1, "ALTER TABLE timings DROP COLUMN calibration_s")
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        (case,) = store.cases("r")
        assert case.timings[0].samples == [1.0, 2.0] and case.timings[0].calibration_s is None


def test_v2_database_gains_per_sample_calibration_and_process_sizes(tmp_path):
    """A v2 store keeps its samples and their run-level calibration; the new columns read as absent."""
    from bench.timing import TimingResult

    path = tmp_path / "v2.db"
    rec = TimingResult.from_samples([1.0, 2.0, 3.0], calibration_s=1e-3, calibration=[1e-3, 1.1e-3, 0.9e-3],
                                    process_sizes=[1, 2]).to_record("t")
    stored = _store_one_timing(path, rec)
    assert stored.calibration == [1e-3, 1.1e-3, 0.9e-3] and stored.process_sizes == [1, 2]
    assert stored.processes == 2
    _set_version(path, 2)
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        (t,) = store.cases("r")[0].timings
        assert (t.samples, t.calibration_s, t.calibration, t.processes, t.process_sizes) == (
            [1.0, 2.0, 3.0], 1e-3, None, 1, None)
    assert "calibration" in _columns(path, "timing_samples") and "process_sizes" in _columns(path, "timings")


def test_v3_database_gains_per_process_metric_values(tmp_path):
    """A v3 store keeps its metrics; their per-process values read as absent. A v4 store keeps them,
    NaN and infinities included."""
    from bench.results import CaseResult, MetricRecord, RunRecord

    path = tmp_path / "v3.db"
    values = [2.0, float("nan"), float("inf"), None]
    with Store.open(path) as store:
        store.create_run(RunRecord(run_id="r", created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                   device="cpu", seed=0))
        store.add_case("r", CaseResult(suite="s", case="c", metrics=[
            MetricRecord("peak_memory_mb", 2.0, "MiB", False, process_values=values),
            MetricRecord("psnr", 20.0, "dB", True, items=[19.0, 21.0])]))
        (mem, psnr) = store.cases("r")[0].metrics
    assert mem.process_values[0] == 2.0 and np.isnan(mem.process_values[1])
    assert mem.process_values[2:] == [float("inf"), None] and psnr.process_values is None
    con = sqlite3.connect(path)
    _drop_v4_columns(con)
    con.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    con.commit()
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        (mem, psnr) = store.cases("r")[0].metrics
        assert (mem.value, mem.process_values, psnr.items) == (2.0, None, [19.0, 21.0])
    assert "process_values" in _columns(path, "metrics")


def test_v4_database_gains_settings_config_identity_and_throughput(tmp_path):
    """A v4 run keeps its settings in the environment: they are read back as its RunSettings (so --resume
    works); its cases' configurations read as unknown, and compare pairs them by name as before."""
    from bench.compare.diff import compare_cases
    from bench.results import CaseResult, MetricRecord, RunRecord, RunSettings

    path = tmp_path / "v4.db"
    env = {"torch_threads": 1, "repeat": 3, "overrides": ["iterations=2"], "planned_cases": ["s/c"],
           "bench3d_run_dir": "/somewhere/runs/r"}
    with Store.open(path) as store:
        for rid, it in (("r", 2), ("q", 40)):
            store.create_run(RunRecord(run_id=rid, created_at="2026-01-01T00:00:00+00:00", profile="smoke",
                                       device="cpu", seed=0, environment=env,
                                       settings=RunSettings(repeat=9)))
            store.add_case(rid, CaseResult(suite="s", case="c", params={"iterations": it}, config_hash=str(it),
                                           metrics=[MetricRecord("psnr", 20.0, "dB", True)]))
    con = sqlite3.connect(path)
    _drop_v5_columns(con)
    con.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    con.commit()
    con.close()
    with Store.open(path) as store:
        run = store.get_run("r")
        assert run.settings == RunSettings(profile="smoke", device="cpu", seed=0, backend="auto", threads=1,
                                           repeat=3, overrides=["iterations=2"], planned_cases=["s/c"],
                                           run_dir="/somewhere/runs/r")
        (case,) = store.cases("r")
        assert case.config_hash is None and case.params == {"iterations": 2}
        cmp = compare_cases(run, store.cases("r"), store.get_run("q"), store.cases("q"))
    assert [r.mark for r in cmp.rows] == ["unchanged"]  # configuration unknown: compared by name, as before
    assert any("unknown configuration" in n for n in cmp.notes)
    assert all(c in _columns(path, t) for t, c in V5_COLUMNS)


def test_v5_database_gains_the_case_node(tmp_path):
    """v6: ``cases.node`` (where a case ran, --executor ray); older cases read as run on the run's machine."""
    path = tmp_path / "v5.db"
    with Store.open(path) as store:
        store.create_run(sample_run())
        store.add_case(sample_run().run_id, CaseResult(suite="s", case="c", node={"host": "n1"}))
    con = sqlite3.connect(path)
    _drop_v6_columns(con)
    con.execute("UPDATE meta SET value='5' WHERE key='schema_version'")
    con.commit()
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        (case,) = store.cases(sample_run().run_id)
        assert case.node is None
        store.add_case(sample_run().run_id, CaseResult(suite="s", case="d", node={"host": "n2", "gpus": [0]}))
        assert store.cases(sample_run().run_id)[1].node == {"host": "n2", "gpus": [0]}
    assert "node" in _columns(path, "cases")
