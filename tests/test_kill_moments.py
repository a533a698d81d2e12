"""SIGKILL of the runner at ten moments of a run (issue 15's acceptance): no worker survives it, no temp folder
is left, the database passes SQLite's integrity check with an earlier run's rows unchanged, the killed run is
marked ``interrupted`` at the next open, and ``--resume`` completes it.

The run: cases ``mode=ok`` (sleeping 2 s inside the case) and ``mode=exception``, ``--repeat 2`` (a second round
of processes for the ok case), with reports. Each moment is an event seen by polling the processes, files and database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store import Store
from tests.conftest import bench3d_cmd
from tests.test_orphans import _alive, _case_dirs, _wait_for, _workers_under

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")]

RUN = ("run", "--suite", "faulty", "--case", "mode=ok", "--case", "mode=exception", "--set", "seconds=2",
       "--repeat", "2", "--timeout", "300")
FINAL = {"mode=ok": "ok", "mode=exception": "error"}


def _query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return con.execute(sql).fetchall()
    except sqlite3.Error:  # not created yet
        return []
    finally:
        con.close()


def _new_run(db: Path, baseline: str) -> str | None:
    rows = _query(db, f"SELECT run_id FROM runs WHERE run_id != '{baseline}'")
    return rows[0][0] if rows else None


def _stored(db: Path, run_id: str | None) -> int:
    return len(_query(db, f"SELECT \"case\" FROM cases WHERE run_id = '{run_id}'")) if run_id else 0


def _worker(tmp: Path, case: str) -> bool:
    return case in _workers_under(tmp).values()


def _moments(env: Path, db: Path, base: str):
    """Name -> predicate that turns true at that moment of the run (polled every 20 ms)."""
    tmp, logs = env / "tmp", env / "reports" / "runs"
    run = lambda: _new_run(db, base)  # noqa: E731
    return {
        "at start": lambda: True,
        "run row written": lambda: run() is not None,
        "first worker importing": lambda: _worker(tmp, "mode=ok"),
        "mid case": lambda: _worker(tmp, "mode=ok") and any(
            "running mode ok" in p.read_text() for p in logs.glob("*/logs/*mode=ok.log")),
        "after the error was stored": lambda: _stored(db, run()) >= 1,
        "second round's worker": lambda: any(logs.glob("*/logs/*.repeat1.log")) and _worker(tmp, "mode=ok"),
        "after both cases were stored": lambda: _stored(db, run()) >= 2,
        "writing reports (run finished)": lambda: bool(run()) and _query(
            db, f"SELECT status FROM runs WHERE run_id = '{run()}'")[0][0] != "running",
    }


MOMENTS = ["at start", "run row written", "first worker importing", "mid case", "after the error was stored",
           "second round's worker", "after both cases were stored", "writing reports (run finished)",
           "resume, mid case", "resume, before its first case"]


@pytest.fixture(scope="module")
def baseline_db(tmp_path_factory) -> tuple[Path, str, list[str]]:
    """A database holding one finished run: its rows must survive every kill unchanged."""
    root = tmp_path_factory.mktemp("kill-base")
    env = {**os.environ, "BENCH3D_EXTRA_SUITES": "faulty=faulty_suite:FaultySuite", "BENCH3D_MACHINE": "test-machine",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                          str(Path(__file__).resolve().parent / "fixtures"),
                                          os.environ.get("PYTHONPATH", "")])}
    env.pop("BENCH3D_DB", None)
    res = subprocess.run(bench3d_cmd("run", "--no-report", "--suite", "faulty", "--case", "mode=ok", "--json"),
                         capture_output=True, text=True, cwd=root, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    run_id = json.loads(res.stdout)["run_id"]
    db = root / "reports" / "bench3d.db"
    return db, run_id, _rows_of(db, run_id)


def _rows_of(db: Path, run_id: str) -> list[str]:
    with Store.open(db, create=False) as s:
        return [json.dumps(c.to_dict(), sort_keys=True, default=str) for c in s.cases(run_id)] + [
            json.dumps(s.get_run(run_id).settings.to_dict(), sort_keys=True)]


def _kill_and_check(proc: subprocess.Popen, env: Path) -> None:
    """SIGKILL the runner; no worker or temp folder may outlive it by more than 10 s."""
    proc.kill()
    proc.communicate(timeout=30)
    tmp = env / "tmp"
    assert _wait_for(lambda: not _workers_under(tmp), 10), f"workers outlived the runner: {_workers_under(tmp)}"
    assert _wait_for(lambda: not _case_dirs(tmp), 10), f"left behind: {_case_dirs(tmp)}"


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_at_a_moment_of_the_run(moment, baseline_db, orphan_env):
    bench_env = orphan_env
    tmp = bench_env / "tmp"
    base_db, base_id, base_rows = baseline_db
    db = bench_env / "reports" / "bench3d.db"
    db.parent.mkdir(parents=True)
    shutil.copy(base_db, db)
    moments = _moments(bench_env, db, base_id)

    proc = subprocess.Popen(bench3d_cmd(*RUN), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    try:
        if moment.startswith("resume"):  # the run is killed mid case, then its resume is killed
            assert _wait_for(moments["mid case"], 180, 0.02), "the case never started"
            _kill_and_check(proc, bench_env)
            run_id = _new_run(db, base_id)
            proc = subprocess.Popen(bench3d_cmd("run", "--resume", run_id, "--timeout", "300"),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
            taken = f"SELECT json_extract(settings, '$.runner.pid') FROM runs WHERE run_id = '{run_id}'"
            seen = (lambda: _worker(tmp, "mode=ok")) if moment == "resume, mid case" else (
                lambda: _query(db, taken) == [(proc.pid,)])  # the resume has taken the run over
            assert _wait_for(seen, 180, 0.02), f"the moment {moment!r} was never seen"
        else:
            assert _wait_for(moments[moment], 180, 0.02), f"the moment {moment!r} was never seen"
        _kill_and_check(proc, bench_env)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for pid in _workers_under(tmp):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    assert _query(db, "PRAGMA integrity_check") == [("ok",)]
    assert _rows_of(db, base_id) == base_rows  # the earlier run, untouched
    run_id = _new_run(db, base_id)
    if run_id is None:  # killed before the run was created: nothing to resume, nothing half-written
        assert moment == "at start"
        return
    with Store.open(db, create=False) as store:  # the next open marks a run of a dead runner
        assert store.get_run(run_id).status in ("interrupted", "failed")  # failed: it had finished
    res = subprocess.run(bench3d_cmd("run", "--no-report", "--resume", run_id, "--timeout", "300"),
                         capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert res.returncode == 1, res.stderr  # mode=exception fails: a finished, failed run
    with Store.open(db, create=False) as store:
        assert {c.case: c.status for c in store.cases(run_id)} == FINAL
        assert store.get_run(run_id).status == "failed"
    assert not _workers_under(tmp) and not _case_dirs(tmp)
