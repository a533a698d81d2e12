"""A runner killed with SIGKILL leaves no worker, no worker's child and no temp folder behind; the database it
was writing stays intact and ``--resume`` completes the run (issue 15, item 1)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.config import param
from bench.runner import CASE_DIR_PREFIX, sweep_case_dirs
from bench.store import Store
from bench.suite import MetricSpec, Profile, Suite
from bench.worker import LIVENESS_FD_ENV, RUNNER_PID_ENV
from tests.conftest import bench3d_cmd

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")]


@dataclass(frozen=True)
class SpawnConfig:
    pid_file: str = param("", "where the case writes the pid of the child it starts")


class SpawnSuite(Suite):
    """Test-only: a case that starts a child process of its own (as a data loader would) and hangs."""

    name = "spawn"
    description = "test-only: a case with a child process"
    Config = SpawnConfig
    profiles = {"smoke": Profile()}
    metrics = (MetricSpec("value", "", True),)

    def run(self, case, ctx):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        Path(case.config.pid_file).write_text(str(child.pid))
        time.sleep(3600)


def _alive(pid: int) -> bool:
    """Alive and not a zombie (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _workers_under(tmp: Path) -> dict[int, str]:
    """Live ``bench.worker`` processes whose spec lies under ``tmp``: pid -> the case of their spec."""
    out = {}
    for d in Path("/proc").iterdir():
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0") if d.name.isdigit() else []
        except OSError:
            continue
        if b"bench.worker" in argv and _alive(int(d.name)):
            spec = Path(argv[-2 if argv[-1] == b"" else -1].decode())
            if spec.is_relative_to(tmp):
                try:
                    out[int(d.name)] = json.loads(spec.read_text())["case"]
                except (OSError, ValueError, KeyError):
                    out[int(d.name)] = "?"
    return out


def _case_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(f"{CASE_DIR_PREFIX}*"))


def _wait_for(predicate, seconds: float, step: float = 0.05):
    """Poll ``predicate`` until it returns something true or the deadline passes; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(bench3d_cmd("run", "--no-report", *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())


def _kill_when_running(proc: subprocess.Popen, tmp: Path, case: str) -> tuple[list[int], float]:
    """SIGKILL the runner once a worker of ``case`` runs; (the worker pids seen, seconds until none lives)."""
    workers = _wait_for(lambda: {p: c for p, c in _workers_under(tmp).items() if c == case}, 120)
    assert workers, f"the worker of {case} never started; runner said: {proc.stderr and proc.poll()}"
    time.sleep(0.5)  # well inside the case
    proc.kill()
    proc.wait(timeout=30)
    t0 = time.monotonic()
    left = _wait_for(lambda: not _workers_under(tmp) and not any(_alive(w) for w in workers), 10)
    return list(workers), (time.monotonic() - t0) if left else float("inf")


def _cleanup(proc: subprocess.Popen, pids) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_sigkill_of_the_runner_mid_case_kills_the_worker_and_removes_its_temp_folder(orphan_env):
    tmp = orphan_env / "tmp"
    proc = _start("--suite", "faulty", "--case", "mode=hang", "--timeout", "60")
    workers: list[int] = []
    try:
        workers, took = _kill_when_running(proc, tmp, "mode=hang")
        print(f"worker gone {took:.3f} s after the runner's SIGKILL")
        assert took < 10, f"worker(s) {[w for w in workers if _alive(w)]} outlived the runner by 10 s"
        assert _wait_for(lambda: not _case_dirs(tmp), 5), f"left behind: {_case_dirs(tmp)}"
    finally:
        _cleanup(proc, workers)


def test_the_workers_own_children_die_with_the_runner(orphan_env):
    tmp, pid_file = orphan_env / "tmp", orphan_env / "child.pid"
    proc = _start("--suite", "spawn", "--set", f"pid_file={json.dumps(str(pid_file))}", "--timeout", "60")
    workers: list[int] = []
    child = None
    try:
        assert _wait_for(pid_file.exists, 120), "the case never started its child"
        child = int(_wait_for(lambda: pid_file.read_text().strip(), 5))
        workers, took = _kill_when_running(proc, tmp, "default")
        assert took < 10
        assert _wait_for(lambda: not _alive(child), 10), f"the case's child {child} outlived the runner"
        assert _wait_for(lambda: not _case_dirs(tmp), 5), f"left behind: {_case_dirs(tmp)}"
    finally:
        _cleanup(proc, workers + ([child] if child else []))


def test_sigkill_between_cases_keeps_the_database_intact_and_resume_completes(orphan_env):
    tmp, db = orphan_env / "tmp", orphan_env / "reports" / "bench3d.db"
    proc = _start("--suite", "faulty", "--case", "mode=ok", "--case", "mode=hang", "--timeout", "60")
    workers: list[int] = []
    try:
        workers, took = _kill_when_running(proc, tmp, "mode=hang")  # the first case is stored by then
        assert took < 10
    finally:
        _cleanup(proc, workers)
    assert _wait_for(lambda: not _case_dirs(tmp), 5)
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (run_id,) = con.execute("SELECT run_id FROM runs").fetchone()
        stored = con.execute("SELECT \"case\", status FROM cases WHERE run_id = ?", (run_id,)).fetchall()
    finally:
        con.close()
    assert stored == [("mode=ok", "ok")]
    # mode=hang hangs again on resume: a short timeout makes it a `timeout`; what matters is that it runs.
    res = subprocess.run(bench3d_cmd("run", "--no-report", "--resume", run_id, "--timeout", "2"),
                         capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert res.returncode == 1, res.stderr
    with Store.open(db, create=False) as store:
        cases = {c.case: c.status for c in store.cases(run_id)}
        assert cases == {"mode=ok": "ok", "mode=hang": "timeout"}
        assert store.get_run(run_id).status == "failed"
    assert not _workers_under(tmp) and not _case_dirs(tmp)


def test_a_worker_whose_runner_is_already_gone_exits_at_start(orphan_env):
    """The parent can die before the worker arms its parent-death signal: the worker checks its parent."""
    folder = orphan_env / "tmp" / f"{CASE_DIR_PREFIX}1-manual"
    folder.mkdir()
    spec = folder / "spec.json"
    spec.write_text(json.dumps({"suite": "faulty", "case": "mode=hang", "params": {"mode": "hang"},
                                "runner_pid": os.getpid() + 10**6, "result_path": str(folder / "result.json")}))
    res = subprocess.run([sys.executable, "-m", "bench.worker", str(spec)], capture_output=True,
                         env=os.environ.copy(), timeout=60, start_new_session=True)
    assert res.returncode == -signal.SIGKILL and not folder.exists()  # its own process group killed


def test_the_next_runner_sweeps_temp_folders_of_dead_runners(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{CASE_DIR_PREFIX}{dead.pid}-abc"
    live = tmp_path / f"{CASE_DIR_PREFIX}{os.getppid()}-def"  # a live pid: its runner may still use it
    other = tmp_path / "bench3d-cased-1-x"
    for d in (stale, live, other):
        (d / "artifacts").mkdir(parents=True)
        (d / "spec.json").write_text("{}")
    assert sweep_case_dirs(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


class _Handover:
    """A worker started the way a runner starts it (this test is its runner): watching before its folder exists.
    ``folder`` is the case folder to create, ``runner_dies()`` closes the write end of the liveness pipe."""

    def __init__(self, env: Path, tag: str):
        self.folder = env / "tmp" / f"{CASE_DIR_PREFIX}{os.getpid()}-{tag}"
        live_r, self._live_w = os.pipe()
        environ = {**os.environ, RUNNER_PID_ENV: str(os.getpid()), LIVENESS_FD_ENV: str(live_r)}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.worker", str(self.folder / "spec.json")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     pass_fds=(live_r,), env=environ, start_new_session=True)
        os.close(live_r)

    def runner_dies(self) -> None:
        if self._live_w is not None:
            os.close(self._live_w)
            self._live_w = None

    def __enter__(self) -> _Handover:
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner_dies()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def test_a_runner_dying_during_the_hand_over_leaves_no_folder(orphan_env):
    """The runner creates the case's folder after starting the worker; killed after creating it (here: the
    liveness pipe closes before the spec is complete), the worker removes the folder and ends."""
    with _Handover(orphan_env, "handover") as h:
        h.folder.mkdir()
        (h.folder / "spec.json").write_text('{"suite": "faul')  # the runner died while writing it
        h.runner_dies()
        assert h.proc.wait(timeout=60) == -signal.SIGKILL
        assert not h.folder.exists()


def test_a_worker_given_no_whole_spec_removes_its_folder(orphan_env):
    """Its stdin closed (the runner's go) without a readable spec: nothing to run; the folder goes."""
    with _Handover(orphan_env, "nospec") as h:
        h.folder.mkdir()
        h.proc.stdin.close()
        assert h.proc.wait(timeout=60) == -signal.SIGKILL
        assert not h.folder.exists()


def test_a_worker_handed_its_spec_runs_the_case(orphan_env):
    with _Handover(orphan_env, "go") as h:
        h.folder.mkdir()
        (h.folder / "spec.json").write_text(json.dumps({
            "suite": "faulty", "case": "mode=ok", "params": {"mode": "ok", "seconds": 0}, "runner_pid": os.getpid(),
            "profile": "smoke", "device": "cpu", "seed": 0,
            "result_path": str(h.folder / "result.json"), "artifact_root": str(h.folder / "artifacts")}))
        h.proc.stdin.close()
        out = h.proc.stdout.read()
        assert h.proc.wait(timeout=120) == 0, out
        assert json.loads((h.folder / "result.json").read_text())["status"] == "ok"
