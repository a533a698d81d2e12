"""A write that meets a lock retries with backoff, and a run never discards a finished case: it is spooled to
the run folder first and stored when the lock frees, at the end of the run or by ``--resume`` (issue 15, item 4).

The lock is real: another connection holds ``BEGIN IMMEDIATE`` on the same SQLite file for longer than a
shortened busy timeout ($BENCH3D_BUSY_TIMEOUT), which made the store fail with "database is locked" before.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bench.store import Store
from bench.store.sample import sample_cases, sample_run
from bench.store.store import StoreBusy
from tests.conftest import bench3d_cmd

BUSY = "0.2"  # seconds SQLite waits per attempt in these tests (30 by default)


class Lock:
    """The write lock of a SQLite file, held by a connection of its own."""

    def __init__(self, path: Path):
        self.con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.con is not None:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None


@pytest.fixture
def short_busy(monkeypatch):
    monkeypatch.setenv("BENCH3D_BUSY_TIMEOUT", BUSY)


def test_a_write_that_meets_a_lock_retries_until_it_frees_and_stores_the_case(short_busy, db_path, tmp_path,
                                                                             as_json):
    with Store.open(db_path, lock_wait=60) as store:
        run = sample_run()
        store.create_run(run)
        case = sample_cases(tmp_path / "out")[0]
        lock = Lock(db_path)
        release = threading.Timer(2.0, lock.release)  # ten busy timeouts: one attempt alone would fail
        release.start()
        try:
            store.add_case(run.run_id, case)
        finally:
            release.cancel()
            lock.release()
        assert [as_json(c) for c in store.cases(run.run_id)] == [as_json(case)]


def test_a_lock_held_past_the_lock_wait_is_store_busy_and_writes_nothing(short_busy, db_path, tmp_path):
    with Store.open(db_path, lock_wait=0.5) as store:
        run = sample_run()
        store.create_run(run)
        lock = Lock(db_path)
        try:
            with pytest.raises(StoreBusy, match="locked by another writer"):
                store.add_case(run.run_id, sample_cases(tmp_path / "out")[0])
        finally:
            lock.release()
        assert store.cases(run.run_id) == []
        assert store.get_run(run.run_id).status == "running"


@pytest.fixture
def locked_run_env(bench_env, monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")
    monkeypatch.setenv("BENCH3D_BUSY_TIMEOUT", BUSY)
    monkeypatch.setenv("BENCH3D_LOCK_WAIT", "1")
    return bench_env


def _wait_for(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def _run_id(db: Path) -> str | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        row = con.execute("SELECT run_id FROM runs").fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return row[0] if row else None


def _start_locked_run(env: Path) -> tuple[subprocess.Popen, str, Lock, Path]:
    """Start a two-case run and take the store's write lock as soon as the run is created."""
    db = env / "reports" / "bench3d.db"
    proc = subprocess.Popen(bench3d_cmd("run", "--no-report", "--suite", "faulty", "--case", "mode=ok",
                                        "--case", "mode=exception", "--timeout", "120"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    run_id = _wait_for(lambda: db.exists() and _run_id(db), 120)
    assert run_id, "the run was never created"
    return proc, run_id, Lock(db), env / "reports" / "runs" / run_id / "spool"


def _spooled(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.json")) if spool.is_dir() else []


@pytest.mark.slow
def test_a_run_whose_store_stays_locked_spools_its_cases_goes_on_and_stores_them_when_it_frees(locked_run_env):
    proc, run_id, lock, spool = _start_locked_run(locked_run_env)
    try:
        # Both cases spooled: the first one's store gave up after the lock wait and the run went on.
        assert _wait_for(lambda: len(_spooled(spool)) == 2, 120), f"spooled: {_spooled(spool)}"
        lock.release()
        _, err = proc.communicate(timeout=120)
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err  # the exception case fails the run; the run finished
    assert "stored after the run's last case" in err
    with Store.open(locked_run_env / "reports" / "bench3d.db", create=False) as store:
        assert {c.case: c.status for c in store.cases(run_id)} == {"mode=ok": "ok", "mode=exception": "error"}
        assert store.get_run(run_id).status == "failed"
    assert _spooled(spool) == []


@pytest.mark.slow
def test_cases_spooled_when_the_store_never_freed_are_stored_by_resume(locked_run_env):
    proc, run_id, lock, spool = _start_locked_run(locked_run_env)
    try:
        _, err = proc.communicate(timeout=180)  # the lock is held until the run gives up
        files = _spooled(spool)
        spooled = {json.loads(p.read_text())["case"]["case"]: json.loads(p.read_text())["case"] for p in files}
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2 and f"bench3d run --resume {run_id}" in err, err
    assert set(spooled) == {"mode=ok", "mode=exception"}
    res = subprocess.run(bench3d_cmd("run", "--no-report", "--resume", run_id, "--case", "mode=ok"),
                         capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert "0 case(s)" in res.stderr, res.stderr  # stored from the spool, not run again
    with Store.open(locked_run_env / "reports" / "bench3d.db", create=False) as store:
        stored = {c.case: c for c in store.cases(run_id)}
        assert set(stored) == {"mode=ok", "mode=exception"}
        for name, case in stored.items():
            assert case.started_at == spooled[name]["started_at"] and case.status == spooled[name]["status"]
    assert _spooled(spool) == []
