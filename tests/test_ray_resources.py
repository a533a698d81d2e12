"""Issue 20: what a Ray task asks the cluster for (CPUs, a GPU for cuda runs, the memory a suite declares for a case or
``--memory``), ``--queue-timeout`` (a task no node starts is recorded with the reason and the run goes on) and
``--shared-dir`` (tasks write logs and artifacts straight into a shared folder; nothing shipped). Here the checks
without Ray; the runs on a real local Ray cluster are in tests/test_ray_executor.py (one cluster for the module)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.errors import UsageError
from bench.ray_executor import RayOptions, _resources, parse_memory

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
