"""One output-folder/database rule for every command, and output that ends quietly when the reader goes away."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import Store
from bench.store.sample import sample_cases, sample_run
from tests.conftest import bench3d_cmd


def _store_sample(out: Path, run_id: str | None = None) -> str:
    """The sample run stored in OUT/bench3d.db, as `bench3d run --out OUT` would store it."""
    run = sample_run()
    if run_id:
        run = dataclasses.replace(run, run_id=run_id, created_at=run.created_at.replace("12:", "13:", 1))
    with Store.open(out / "bench3d.db") as store:
        store.create_run(run)
        for c in sample_cases(out):
            store.add_case(run.run_id, c)
    return run.run_id


def closed_reader(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command whose stdout pipe is closed by the reader before anything is written (`| head -0`)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    proc.stdout.close()
    err = proc.stderr.read()
    return subprocess.CompletedProcess(args, proc.wait(timeout=120), "", err)


def test_report_into_a_closed_pipe_ends_quietly(bench_env):
    _store_sample(bench_env / "out")
    done = closed_reader(bench3d_cmd("report", "latest", "--out", str(bench_env / "out")))
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 128 + signal.SIGPIPE


def test_report_compare_history_dashboard_follow_run_out(bench_env, capsys, monkeypatch):
    out = bench_env / "elsewhere"
    base = _store_sample(out)
    run_id = _store_sample(out, "20240501T130000-second")
    assert main(["report", "latest", "--out", str(out), "--format", "json"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["compare", base, run_id, "--out", str(out)]) == 0
    assert f"{base} → {run_id}" in capsys.readouterr().out
    assert main(["history", "--out", str(out), "--all"]) == 0
    assert "series" in capsys.readouterr().out
    assert main(["dashboard", "--out", str(out), "--reports", "0"]) == 0
    assert (out / "dashboard" / "index.html").is_file()
    # the environment variable is the same rule as --out
    monkeypatch.setenv("BENCH3D_OUT", str(out))
    assert main(["report", "latest", "--format", "json"]) == 0
    assert run_id in capsys.readouterr().out
    # without either, the default folder has no database: one line naming it
    monkeypatch.delenv("BENCH3D_OUT")
    assert main(["report", "latest"]) == 2
    assert "reports/bench3d.db" in capsys.readouterr().err.replace(os.sep, "/")


def test_report_out_naming_a_file_points_to_output(bench_env, capsys):
    out = bench_env / "o"
    _store_sample(out)
    assert main(["report", "latest", "--out", str(bench_env / "r.html")]) == 2
    assert "--output" in capsys.readouterr().err
    target = bench_env / "r.html"
    assert main(["report", "latest", "--out", str(out), "--format", "html", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("env_db", [False, True])
def test_run_and_report_share_the_database_rule(bench_env, monkeypatch, env_db):
    from bench.api import default_db
    from bench.paths import resolve_db

    class A:
        out, db = bench_env / "x", None

    if env_db:
        monkeypatch.setenv("BENCH3D_DB", str(bench_env / "env.db"))
    assert resolve_db(A()) == default_db(bench_env / "x")  # what `run --out x` stores into
    assert resolve_db(A()) == (str(bench_env / "env.db") if env_db else str(bench_env / "x" / "bench3d.db"))
