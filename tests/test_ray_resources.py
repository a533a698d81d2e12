"""Issue 20: what a Ray task asks the cluster for (CPUs, a GPU for cuda runs, the memory a suite declares for a case or
``--memory``), ``--queue-timeout`` (a task no node starts is recorded with the reason and the run goes on) and
``--shared-dir`` (tasks write logs and artifacts straight into a shared folder; nothing shipped). The option checks
run without Ray; the runs use a real local Ray cluster (the module fixture of tests/test_ray_executor.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.errors import UsageError
from bench.ray_executor import RayOptions, _resources, parse_memory
from bench.store import Store
from tests.conftest import bench3d_cmd
from tests.test_ray_executor import env, ray_address  # noqa: F401 - fixtures shared with the executor's tests

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_memory_sizes_parse_in_binary_units_and_bad_ones_are_one_line():
    assert [parse_memory(x) for x in ("512", "512M", "4G", "4GiB", "1t", "2048K", None)] == [
        512, 512, 4096, 4096, 1024 ** 2, 2, None]
    for bad in ("lots", "0", "-1G", "0.5K", "nanG"):
        with pytest.raises(UsageError, match=rf"--memory {bad}: expected a size such as 512M"):
            parse_memory(bad)
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(UsageError, match="--queue-timeout"):
            RayOptions(queue_timeout=bad)


def test_a_case_asks_for_what_its_suite_declares_else_the_default():
    from tests.fixtures.faulty_suite import FaultySuite

    suite = FaultySuite()
    declared, plain = (suite.cases("smoke", {"memory_mb": m, "mode": "ok"})[0] for m in (64, 0))
    run = SimpleNamespace(device="cpu")
    opts = SimpleNamespace(threads=None)
    suites = {"faulty": suite}
    assert _resources(declared, run, opts, RayOptions(memory_mb=4096), suites) == {
        "num_cpus": 1, "num_gpus": 0, "memory": 64 * 2 ** 20}  # the declaration wins over --memory
    assert _resources(plain, run, opts, RayOptions(memory_mb=4096), suites)["memory"] == 4096 * 2 ** 20
    assert "memory" not in _resources(plain, run, opts, RayOptions(), suites)  # none declared, no default
    cuda = _resources(plain, SimpleNamespace(device="cuda:0"), SimpleNamespace(threads=4), RayOptions(), suites)
    assert (cuda["num_cpus"], cuda["num_gpus"]) == (4, 1)


@pytest.mark.parametrize("option", [["--memory", "4G"], ["--queue-timeout", "5"]])
def test_ray_options_without_the_ray_executor_are_one_line(bench_env, option, capsys):
    from bench.cli import main

    assert main(["run", "--suite", "faulty", "--db", "x.db", *option]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and f"{option[0]} is for --executor ray" in err
    assert not (bench_env / "x.db").exists()


def _run(ray_address: str, *args: str) -> subprocess.CompletedProcess:  # noqa: F811 - the fixture's value
    return subprocess.run(bench3d_cmd("run", "--suite", "faulty", "--case", "mode=ok", "--case", "mode=nan",
                                      "--executor", "ray", "--ray-address", ray_address, "--json", *args),
                          capture_output=True, text=True, timeout=400, env=os.environ.copy())


@pytest.mark.slow
def test_declared_memory_reaches_the_task_and_shared_dir_files_stay_there(ray_address, env):  # noqa: F811
    res = _run(ray_address, "--db", "r.db", "--set", "memory_mb=64", "--shared-dir", "shared")
    assert res.returncode == 1, res.stderr  # mode=nan fails the run
    run_id = json.loads(res.stdout)["run_id"]
    with Store.open(env / "r.db", create=False) as store:
        cases = {c.case: c for c in store.cases(run_id)}
        run = store.get_run(run_id)
    from bench.env import cpu_model

    for c in cases.values():  # Ray assigned what the case declared, and the node's machine type is recorded
        assert c.node["resources"]["memory"] == 64 * 2 ** 20 and c.node["resources"]["CPU"] == 1
        assert c.node["cpu_model"] == cpu_model() and c.node["cpu_cores"] == os.cpu_count()
    shared = (env / "shared" / run_id).resolve()
    assert run.artifact_dir == str(shared)
    (art,) = cases["mode=ok"].artifacts
    assert (shared / art.path).read_text() == "written by process 1"  # written there by the task itself
    assert "running mode nan" in (shared / "logs" / "faulty__mode=nan.log").read_text()
    run_dir = env / "reports" / "runs" / run_id
    assert not (run_dir / "artifacts").exists() and not (run_dir / "logs").exists()  # nothing shipped
    assert "written by process 1" in (run_dir / "report.html").read_text()  # the report read it there


@pytest.mark.slow
def test_a_task_no_node_can_start_is_recorded_after_the_queue_timeout(ray_address, env):  # noqa: F811
    start = time.monotonic()
    res = _run(ray_address, "--db", "q.db", "--memory", "1T", "--queue-timeout", "3", "--no-report")
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


@pytest.mark.slow
def test_shared_dir_with_the_local_executor_keeps_the_files_there(bench_env, monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")
    res = subprocess.run(bench3d_cmd("run", "--suite", "faulty", "--case", "mode=ok", "--db", "l.db", "--json",
                                     "--shared-dir", "elsewhere", "--no-report"),
                         capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert res.returncode == 0, res.stderr
    run_id = json.loads(res.stdout)["run_id"]
    assert (Path("elsewhere") / run_id / "artifacts" / "faulty" / "mode=ok" / "which.txt").is_file()
    res = subprocess.run(bench3d_cmd("report", run_id, "--db", "l.db", "--format", "html"), capture_output=True,
                         text=True, timeout=120, env=os.environ.copy())
    assert res.returncode == 0 and "written by process 1" in res.stdout
