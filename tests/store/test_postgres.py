"""The results store on a real PostgreSQL server (started by tests/conftest.py's ``pg_server``, no mock): bad input
refused in one line with nothing written, migrations, lock retries, concurrent schema creation, and every command
of the CLI on a ``postgresql://`` URL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from bench.errors import StoreError
from bench.store import SCHEMA_VERSION, Store
from bench.store.sample import sample_cases, sample_run
from bench.store.store import StoreBusy
from tests.conftest import bench3d_cmd


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def _tables(url: str) -> set[str]:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        eng.dispose()


def test_a_plain_postgresql_url_creates_the_schema_with_psycopg3(pg_url):
    with Store.open(pg_url) as store:
        assert store.engine.dialect.name == "postgresql" and store.engine.dialect.driver == "psycopg"
        assert store.schema_version() == SCHEMA_VERSION
    assert {"runs", "cases", "metrics", "metric_items", "timings", "timing_samples", "artifacts", "meta"} <= \
        _tables(pg_url)


def test_wrong_password_is_one_line_without_the_password(pg_server):
    url = pg_server.new_database()
    bad = url.replace(":bench-test-pw@", ":wrong-pw@")
    with pytest.raises(StoreError) as info:
        Store.open(bad)
    text = str(info.value)
    assert "\n" not in text and "password authentication failed" in text and "wrong-pw" not in text
    assert _tables(url) == set()  # nothing written


def test_unreachable_server_is_one_line(pg_server):
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError) as info:
        Store.open(f"postgresql://bench:pw@127.0.0.1:{port}/bench")
    assert "\n" not in str(info.value) and f"127.0.0.1:{port}/bench" in str(info.value)
    assert "pw@" not in str(info.value)


def test_a_database_of_a_newer_schema_is_refused_and_left_unchanged(pg_url):
    with Store.open(pg_url) as s:
        s.create_run(sample_run())
    eng = _engine(pg_url)
    with eng.begin() as conn:
        conn.exec_driver_sql(f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer") as info:
        Store.open(pg_url)
    assert "\n" not in str(info.value)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM meta").scalars().all() == [str(SCHEMA_VERSION + 1)]
        assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 1
    eng.dispose()


def test_a_v4_database_is_migrated_in_place(pg_url, tmp_path, as_json):
    """The v4 -> v5 -> v6 steps' raw SQL runs on PostgreSQL: the columns appear and older rows read as before."""
    run = sample_run()
    with Store.open(pg_url) as s:
        s.create_run(run)
        s.add_case(run.run_id, sample_cases(tmp_path / "out")[0])
    eng = _engine(pg_url)
    with eng.begin() as conn:
        for table, column in (("runs", "settings"), ("cases", "config_hash"), ("cases", "config_free"),
                              ("timings", "items_per_call"), ("timings", "item_unit"), ("timings", "phase")):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.exec_driver_sql("ALTER TABLE cases DROP COLUMN node")  # v6
        conn.exec_driver_sql("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    eng.dispose()
    with Store.open(pg_url) as s:
        assert s.schema_version() == SCHEMA_VERSION
        back = s.cases(run.run_id)[0]
        assert back.config_hash is None and back.node is None and back.metrics and back.timings[0].phase is None


def test_a_row_lock_held_by_another_writer_is_retried_then_store_busy(pg_url, monkeypatch):
    """A real lock: another transaction holds the run's row (SELECT ... FOR UPDATE); finishing the run waits for it
    (lock_timeout per attempt, retried with backoff) and succeeds once it is released, or is StoreBusy."""
    monkeypatch.setenv("BENCH3D_BUSY_TIMEOUT", "0.2")
    run = sample_run()
    with Store.open(pg_url, lock_wait=60) as store:
        store.create_run(run)
        eng = _engine(pg_url)
        holder = eng.connect()
        tx = holder.begin()
        holder.exec_driver_sql("SELECT * FROM runs WHERE run_id = %s FOR UPDATE", (run.run_id,))
        release = threading.Timer(1.5, tx.rollback)
        release.start()
        try:
            store.finish_run(run.run_id, "ok", "2024-05-01T13:00:00+00:00")
        finally:
            release.join()
        assert store.get_run(run.run_id).status == "ok"
        tx = holder.begin()
        holder.exec_driver_sql("SELECT * FROM runs WHERE run_id = %s FOR UPDATE", (run.run_id,))
        with pytest.raises(StoreBusy, match="stayed locked"):
            store.finish_run(run.run_id, "failed", None, wait=1.0)
        tx.rollback()
        holder.close()
        eng.dispose()
        assert store.get_run(run.run_id).status == "ok"  # the busy write changed nothing


_OPEN = """
import sys, time
from pathlib import Path
from bench.store import Store
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
Store.open(sys.argv[1]).close()
"""


def test_four_processes_creating_the_schema_at_once_all_succeed(pg_url, tmp_path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, pg_url, str(go)], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    with Store.open(pg_url) as s:
        assert s.schema_version() == SCHEMA_VERSION


@pytest.mark.slow
def test_the_commands_take_a_postgresql_url(pg_url, bench_env, monkeypatch):
    """run, report and history on a PostgreSQL database (the faulty fixture suite's ok case); compare, dashboard and
    nightly read through the same Store.open."""
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(bench3d_cmd(*args), capture_output=True, text=True, timeout=300)

    r = cli("run", "--suite", "faulty", "--case", "mode=ok", "--db", pg_url, "--out", str(bench_env / "out"),
            "--json", "--no-report")
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    rep = cli("report", run_id, "--db", pg_url, "--format", "json")
    assert rep.returncode == 0, rep.stderr
    assert "mode=ok" in rep.stdout
    hist = cli("history", "--suite", "faulty", "--db", pg_url, "--json")
    assert hist.returncode == 0, hist.stderr
    with Store.open(pg_url) as s:
        (case,) = s.cases(run_id)
        assert case.status == "ok" and case.metrics[0].value == 1.0 and case.metrics[0].items == [0.5, 1.5]
