"""Case identity end to end, on real runs through the CLI: typed ``--set``, honest case names, configurations
and dataset versions that make cases incomparable, and missing standard datasets that skip."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import bench3d_cmd

SPIN = ["--suite", "spin", "--case", "kernel=python", "--set", "min_run_time=0.05", "--set", "cpu_samples=3"]
VOLUMES_TINY = ["--suite", "volumes", "--threads", "1", "--set", "iterations=2", "--set", "num_views=10",
                "--set", "image_size=16", "--set", "grid_size=8", "--set", "n_pts_per_ray=8",
                "--set", "batch_size=2", "--set", "mesh=teapot"]


@pytest.fixture
def cli(bench_env, monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "spin=spin_suite:SpinSuite")
    monkeypatch.setenv("BENCH3D_DATA", str(bench_env / "data"))
    db = str(bench_env / "r.db")

    def call(*args: str) -> subprocess.CompletedProcess:
        extra = ["--db", db] if args[0] in ("run", "compare") else []
        return subprocess.run(bench3d_cmd(*args, *extra), capture_output=True, text=True, timeout=300)

    def run(*args: str) -> dict:
        proc = call("run", *args, "--json", "--no-report")
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    def compare(base: str, new: str, *args: str) -> dict:
        proc = call("compare", base, new, "--json", "--no-baselines", *args)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    return call, run, compare


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_a_misspelt_or_mistyped_set_is_refused(cli):
    call, _, _ = cli
    line = _one_line_error(call("run", "--suite", "volumes", "--set", "min_samplez=1"))
    assert "unknown --set key" in line and "'min_samplez'" in line and "n_pts_per_ray" in line
    line = _one_line_error(call("run", "--suite", "volumes", "--set", "n_pts_per_rays=1"))
    assert "Did you mean 'n_pts_per_ray'" in line
    line = _one_line_error(call("run", "--suite", "volumes", "--set", "iterations=many"))
    assert 'iterations="many" is not a valid value; iterations is int' in line


def test_setting_a_grid_field_never_runs_under_another_name(cli):
    call, run, _ = cli
    line = _one_line_error(call("run", "--suite", "mesh_fitting", "--case", "target=torus,loss=full",
                                "--set", "loss=chamfer"))
    assert "--set loss=chamfer changes this case's grid value" in line
    out = run("--suite", "spin", "--set", "kernel=numpy", "--set", "min_run_time=0.05", "--set", "cpu_samples=3")
    assert [c["case"] for c in out["cases"]] == ["kernel=numpy"]


def test_different_configurations_are_incomparable_unless_ignored(cli):
    _, run, compare = cli
    a = run(*SPIN, "--set", "work=2000")["run_id"]
    b = run(*SPIN, "--set", "work=3000")["run_id"]
    rows = compare(a, b)["rows"]
    assert [(r["mark"], r["name"]) for r in rows] == [("incomparable", "conventions")], rows
    assert "config work 2000 != 3000" in rows[0]["reason"]
    ab = compare(a, b, "--ignore-params", "work")
    assert {r["mark"] for r in ab["rows"]} != {"incomparable"}
    assert any("--ignore-params work" in n and "work 2000 != 3000" in n for n in ab["notes"]), ab["notes"]
    same = run(*SPIN, "--set", "work=2000")["run_id"]
    assert all(r["mark"] != "incomparable" for r in compare(a, same)["rows"])


NERF_TINY = ["--suite", "nerf", "--threads", "1", "--set", "iterations=2", "--set", "n_harmonic_functions=2",
             "--set", "n_hidden=8", "--set", "n_rays_per_image=16", "--set", "n_pts_per_ray=8", "--set", "batch_size=2",
             "--set", "eval_every=1", "--set", "curve_views=1", "--set", "test_views=2"]


@pytest.mark.slow
def test_dataset_versions_are_recorded_and_compared(cli, bench_env):
    """A generated dataset is recorded with its checksum (the same from the cache); a standard scene whose
    files changed between two runs makes them incomparable."""
    from bench.compare.baselines import _lookup
    from bench.store import Store
    from tests.methods.test_views import write_blender

    _, run, compare = cli
    a = run(*VOLUMES_TINY)
    again = run(*VOLUMES_TINY)  # from the cache: the same checksum
    with Store.open(str(bench_env / "r.db"), create=False) as store:
        (ca,), (cb,) = store.cases(a["run_id"]), store.cases(again["run_id"])
    assert set(ca.datasets) == {"multiview"} and ca.datasets["multiview"].startswith("v1 sha256:")
    assert ca.datasets == cb.datasets
    assert _lookup(ca, {}, "dataset") == (True, "multiview")  # what the baseline status matches on

    scene = bench_env / "data" / "nerf-synthetic" / "toy"
    write_blender(scene)
    first = run(*NERF_TINY, "--set", "scene=toy")
    assert first["cases"][0]["status"] == "ok", first
    meta = scene / "transforms_test.json"
    meta.write_text(meta.read_text().replace('"camera_angle_x": 0.9', '"camera_angle_x": 0.8'))
    second = run(*NERF_TINY, "--set", "scene=toy")
    rows = compare(first["run_id"], second["run_id"])["rows"]
    assert rows[0]["mark"] == "incomparable" and "dataset nerf-synthetic version v1 sha256:" in rows[0]["reason"]


def test_a_missing_standard_dataset_skips_with_where_to_get_it(cli):
    _, run, _ = cli
    out = run("--suite", "nerf", "--set", "scene=lego", "--set", "iterations=2")
    (case,) = out["cases"]
    assert case["case"] == "scene=lego" and case["status"] == "skipped", case
    assert "nerf-synthetic/lego" in case["error"] and "published at" in case["error"]
