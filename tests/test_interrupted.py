"""A run stopped by a signal, or whose runner died, is marked ``interrupted`` with the resume command, and
``--resume`` completes it (issue 15, item 7: such runs stayed ``running`` until resumed)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.liveness import runner_gone, this_runner
from bench.store import Store
from tests.conftest import bench3d_cmd
from tests.test_orphans import _alive, _workers_under

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")


def _status(db: Path) -> tuple[str, str]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT run_id, status FROM runs").fetchone()
    finally:
        con.close()


def _start_hanging_run(env: Path) -> tuple[subprocess.Popen, list[int]]:
    """A run of an ok case, then a hanging one; returned once the hanging case's worker runs."""
    proc = subprocess.Popen(bench3d_cmd("run", "--no-report", "--suite", "faulty", "--case", "mode=ok", "--case",
                                        "mode=hang", "--timeout", "120"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while not (workers := [p for p, c in _workers_under(env / "tmp").items() if c == "mode=hang"]):
        assert time.monotonic() < deadline and proc.poll() is None, "the hanging case never started"
        time.sleep(0.1)
    time.sleep(0.5)
    return proc, workers


def _resume_completes(env: Path, run_id: str) -> None:
    res = subprocess.run(bench3d_cmd("run", "--no-report", "--resume", run_id, "--timeout", "2"),
                         capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert res.returncode == 1, res.stderr  # mode=hang times out again: a failed, finished run
    with Store.open(env / "reports" / "bench3d.db", create=False) as store:
        assert {c.case: c.status for c in store.cases(run_id)} == {"mode=ok": "ok", "mode=hang": "timeout"}
        run = store.get_run(run_id)
        assert run.status == "failed" and run.finished_at
        assert run.settings.runner["pid"] != os.getpid()  # the resuming process recorded itself


@linux
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_marks_the_run_interrupted_with_the_resume_command(orphan_env, sig):
    proc, workers = _start_hanging_run(orphan_env)
    try:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    run_id, status = _status(orphan_env / "reports" / "bench3d.db")
    assert proc.returncode == 128 + sig, err
    assert status == "interrupted"
    last = err.strip().splitlines()[-1]
    assert last == (f"bench3d run: interrupted: run {run_id} stopped by {sig.name} with 2 case(s) planned; 1 case(s) "
                    f"of this run stored; `bench3d run --resume {run_id}` completes it"), err
    assert not [w for w in workers if _alive(w)]
    _resume_completes(orphan_env, run_id)


@linux
@pytest.mark.slow
def test_a_run_whose_runner_was_killed_is_marked_interrupted_at_the_next_open(orphan_env, capsys):
    proc, workers = _start_hanging_run(orphan_env)
    proc.kill()
    proc.communicate(timeout=30)
    db = orphan_env / "reports" / "bench3d.db"
    run_id, status = _status(db)
    assert status == "running"  # nothing could be written by a killed runner
    with Store.open(db, create=False) as store:
        assert store.get_run(run_id).status == "interrupted"
    err = capsys.readouterr().err
    assert f"run {run_id} was interrupted: its runner (pid {proc.pid} on {socket.gethostname()})" in err
    assert f"`bench3d run --resume {run_id}` completes it" in err
    _resume_completes(orphan_env, run_id)


@linux
@pytest.mark.slow
def test_resume_refuses_a_run_whose_runner_still_runs(orphan_env):
    proc, workers = _start_hanging_run(orphan_env)
    try:
        run_id, status = _status(orphan_env / "reports" / "bench3d.db")
        res = subprocess.run(bench3d_cmd("run", "--no-report", "--resume", run_id), capture_output=True, text=True,
                             env=os.environ.copy(), timeout=120)
        assert res.returncode == 2
        assert res.stderr.strip() == (f"bench3d run: error: --resume {run_id}: run {run_id} is still being run by "
                                      f"pid {proc.pid} on {socket.gethostname()}; wait for it or stop it first")
        assert _status(orphan_env / "reports" / "bench3d.db")[1] == "running"  # the live run is left alone
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_runner_gone_knows_a_live_process_a_dead_one_a_reused_pid_and_another_host():
    me = this_runner()
    assert me["pid"] == os.getpid() and me["host"] == socket.gethostname()
    assert not runner_gone(me)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert runner_gone({**me, "pid": dead.pid, "start_ticks": None})
    if me["start_ticks"] is not None:  # Linux: the pid of a live process that is not the runner
        assert runner_gone({**me, "start_ticks": me["start_ticks"] - 1})
    if me["boot_id"]:
        assert runner_gone({**me, "boot_id": "another-boot"})
    assert not runner_gone({**me, "pid": dead.pid, "host": me["host"] + "-elsewhere"})  # cannot know: left alone
    assert not runner_gone(None) and not runner_gone({"host": me["host"], "pid": "12"})
