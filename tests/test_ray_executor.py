"""``bench3d run --executor ray`` on a real local Ray cluster (4 CPUs, started once for the module in this process):
every case stored with the same statuses and metric values as the local executor, the node each case ran on, the
files back in the run folder (or, with --shared-dir, written by the tasks into the shared folder), the memory a
case declares reserved for its task; a Ray worker killed with SIGKILL is the case's ``crashed`` status with Ray's reason
while the run goes on; Ctrl-C cancels the running tasks (their workers end) and ``--resume`` completes the run.
An unreachable ``--ray-address`` is one line with nothing written."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bench.env import cpu_model
from bench.store import Store
from tests.conftest import bench3d_cmd

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CASES = ("mode=ok", "mode=exception", "mode=segfault", "mode=nan")


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    # Ray 2.60 keeps a token in ~/.ray/auth_token that any other local cluster of this user may replace meanwhile
    # (parallel jobs on one machine); a cluster of one test module on 127.0.0.1's node needs none. Inherited by the
    # bench3d drivers the tests start.
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous


@pytest.fixture
def env(bench_env, monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")
    return bench_env


def _run(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(bench3d_cmd("run", "--no-report", "--suite", "faulty", *args), capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def _cases(db: Path, run_id: str) -> dict:
    with Store.open(db, create=False) as store:
        return {c.case: c for c in store.cases(run_id)}


@pytest.mark.slow
def test_ray_run_stores_every_case_as_the_local_executor_does(ray_address, env, capsys):
    picked = [a for c in CASES for a in ("--case", c)] + ["--set", "memory_mb=64"]  # the cases declare 64 MiB
    local = _run(*picked, "--db", "local.db", "--json")
    ray = _run(*picked, "--db", "ray.db", "--json", "--executor", "ray", "--ray-address", ray_address,
               "--shared-dir", "shared")
    assert local.returncode == ray.returncode == 1, ray.stderr  # exception, segfault and nan fail the run
    lid, rid = json.loads(local.stdout)["run_id"], json.loads(ray.stdout)["run_id"]
    lc, rc = _cases(env / "local.db", lid), _cases(env / "ray.db", rid)
    assert set(rc) == set(CASES)
    assert {k: c.status for k, c in rc.items()} == {k: c.status for k, c in lc.items()} == {
        "mode=ok": "ok", "mode=exception": "error", "mode=segfault": "crashed", "mode=nan": "nan"}
    for k in CASES:  # the deterministic metrics: equal values and items
        assert [(m.name, m.value, m.items) for m in rc[k].metrics if m.name != "peak_memory_mb"] == \
            [(m.name, m.value, m.items) for m in lc[k].metrics if m.name != "peak_memory_mb"] or k == "mode=nan"
        assert rc[k].error == lc[k].error or k == "mode=nan"
        assert rc[k].node["ray_node_id"] and rc[k].node["host"] and lc[k].node is None
        # Ray assigned what the case declared (Suite.memory_mb), and the node's machine type is recorded
        assert rc[k].node["resources"]["memory"] == 64 * 2 ** 20 and rc[k].node["resources"]["CPU"] == 1
        assert rc[k].node["cpu_model"] == cpu_model() and rc[k].node["cpu_cores"] == os.cpu_count()
    assert str(rc["mode=nan"].metrics[0].value) == str(lc["mode=nan"].metrics[0].value) == "nan"
    # --shared-dir: the tasks wrote their files there themselves, nothing was shipped to the run folder
    shared, run_dir = (env / "shared" / rid).resolve(), env / "reports" / "runs" / rid
    assert (shared / rc["mode=ok"].artifacts[0].path).read_text() == "written by process 1"
    assert rc["mode=ok"].artifacts[0].path == lc["mode=ok"].artifacts[0].path
    assert "running mode segfault" in (shared / "logs" / "faulty__mode=segfault.log").read_text()
    assert not (run_dir / "artifacts").exists() and not (run_dir / "logs").exists()
    from bench.cli import main

    capsys.readouterr()
    assert main(["report", rid, "--db", "ray.db", "--format", "html"]) == 0
    assert "written by process 1" in capsys.readouterr().out  # the report read the artifact there
    with Store.open(env / "ray.db", create=False) as store:
        assert store.get_run(rid).environment["executor"]["name"] == "ray"
        assert store.get_run(rid).artifact_dir == str(shared)


def _hang_worker(run_marker: str, deadline: float) -> dict:
    """The spec (with its pid) of the worker running faulty/mode=hang inside a Ray task of this test's run."""
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"bench.worker" not in argv or len(argv) < 4:
                continue
            try:
                spec = json.loads(Path(argv[3].decode()).read_text())
            except (OSError, ValueError):
                continue
            if spec.get("case") == "mode=hang" and run_marker in spec.get("artifact_root", ""):
                return {**spec, "pid": int(proc.name)}
        time.sleep(0.2)
    raise AssertionError("the hanging case's worker never started")


def _run_id(db: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        try:
            row = sqlite3.connect(db).execute("SELECT run_id FROM runs").fetchone()
        except sqlite3.Error:
            row = None
        if row:
            return row[0]
        time.sleep(0.2)
    raise AssertionError("the run was never created")


def _start(ray_address: str, db: str, *cases: str) -> subprocess.Popen:
    return subprocess.Popen(bench3d_cmd("run", "--no-report", "--suite", "faulty", *[a for c in cases for a in
                                        ("--case", c)], "--timeout", "300", "--db", db, "--executor", "ray",
                                        "--ray-address", ray_address),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


@pytest.mark.slow
def test_a_killed_ray_worker_is_a_crashed_case_and_the_run_goes_on(ray_address, env):
    proc = _start(ray_address, "kill.db", "mode=hang", "mode=ok")
    deadline = time.monotonic() + 300
    run_id = _run_id(env / "kill.db", deadline)
    spec = _hang_worker(run_id, deadline)
    os.kill(spec["runner_pid"], signal.SIGKILL)  # the Ray worker process that runs the task
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    cases = _cases(env / "kill.db", run_id)
    assert cases["mode=ok"].status == "ok"
    assert cases["mode=hang"].status == "crashed"
    assert "Ray task ended without a result" in cases["mode=hang"].error
    deadline = time.monotonic() + 30  # the case's worker died with its Ray worker (PR_SET_PDEATHSIG)
    while Path(f"/proc/{spec['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{spec['pid']}").exists()


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_resume_completes_the_run(ray_address, env):
    proc = _start(ray_address, "int.db", "mode=hang", "mode=ok")
    deadline = time.monotonic() + 300
    run_id = _run_id(env / "int.db", deadline)
    spec = _hang_worker(run_id, deadline)
    while time.monotonic() < deadline:  # the ok case stored first (tasks run in parallel): resume runs only the hang
        with sqlite3.connect(env / "int.db") as con:
            if con.execute("SELECT count(*) FROM cases WHERE status = 'ok'").fetchone()[0]:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"bench3d run --resume {run_id}" in err
    with Store.open(env / "int.db", create=False) as store:
        assert store.get_run(run_id).status == "interrupted"
    deadline = time.monotonic() + 60  # the cancelled task's worker process is gone
    while Path(f"/proc/{spec['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{spec['pid']}").exists()
    res = subprocess.run(bench3d_cmd("run", "--no-report", "--resume", run_id, "--timeout", "3", "--db", "int.db",
                                     "--executor", "ray", "--ray-address", ray_address),
                         capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert res.returncode == 1, res.stderr  # mode=hang times out now: a finished, failed run
    assert {k: c.status for k, c in _cases(env / "int.db", run_id).items()} == {"mode=ok": "ok",
                                                                               "mode=hang": "timeout"}


def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(env):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _run("--case", "mode=ok", "--db", "x.db", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
               timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}: no Ray cluster reachable" in res.stderr
    assert not (env / "x.db").exists() and not (env / "reports" / "runs").exists()


def _run_ok_nan(ray_address: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(bench3d_cmd("run", "--suite", "faulty", "--case", "mode=ok", "--case", "mode=nan",
                                      "--executor", "ray", "--ray-address", ray_address, "--json", *args),
                          capture_output=True, text=True, timeout=400, env=os.environ.copy())


@pytest.mark.slow
def test_a_task_no_node_can_start_is_recorded_after_the_queue_timeout(ray_address, env):
    start = time.monotonic()
    res = _run_ok_nan(ray_address, "--db", "q.db", "--memory", "1T", "--queue-timeout", "3", "--no-report")
    assert res.returncode == 1, res.stderr
    assert time.monotonic() - start < 120  # the run ended; it did not wait for a node with 1 TiB
    run_id = json.loads(res.stdout)["run_id"]
    with Store.open(env / "q.db", create=False) as store:
        cases = {c.case: c for c in store.cases(run_id)}
        assert store.get_run(run_id).environment["executor"]["queue_timeout"] == 3
    assert set(cases) == {"mode=ok", "mode=nan"}
    for c in cases.values():
        assert c.status == "timeout"
        assert c.error.startswith("no node of the Ray cluster started the task in 3 s (--queue-timeout)")
        assert c.error.endswith("it asked for 1 CPU, 0 GPU, 1048576 MiB memory")
