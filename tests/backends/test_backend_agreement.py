"""Suite cases on both backends agree within the suites' declared tolerances (``compare --backends``).

Runs the kernels suite's Chamfer, sampling and mesh-fitting-iteration cases at smoke with
``--backend torch,pytorch3d`` and gates on ``bench3d compare RUN --backends --fail-on-regression``: a metric
outside its declared :class:`~bench.suite.BackendTolerance`, or a case not ok on both, fails the test.
The whole-run table (all smoke suites) is in docs/backends.md with the command that makes it.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import bench3d_cmd, require_pytorch3d

pytestmark = [pytest.mark.pytorch3d, pytest.mark.slow]

CASES = ("kernel=chamfer_10k", "kernel=sample_points_10k", "kernel=mesh_fit_step")


def test_kernels_agree_within_declared_tolerances(bench_env):
    require_pytorch3d()
    from bench.suite import Registry

    cases = [a for c in CASES for a in ("--case", c)]
    run = subprocess.run(bench3d_cmd("run", "--suite", "kernels", *cases, "--profile", "smoke", "--backend",
                                     "torch,pytorch3d", "--threads", "2", "--json", "--no-report"),
                         capture_output=True, text=True, env=os.environ.copy(), timeout=900)
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    cmp = subprocess.run(bench3d_cmd("compare", run_id, "--backends", "--json", "--fail-on-regression"),
                         capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    out = json.loads(cmp.stdout)
    assert cmp.returncode == 0 and out["failures"] == [], out["failures"]
    declared = Registry().get("kernels").backend_tolerances
    checked = {m["name"] for c in out["cases"] for m in c["metrics"] if m["within"]}
    assert len(out["cases"]) == 3 and all(set(c["status"].values()) == {"ok"} for c in out["cases"])
    # every metric these cases record that the suite declares a tolerance for was checked, and held
    assert checked == {"chamfer", "grad_norm", "sample_mean_radius", "sample_max_radius", "fit_loss",
                       "fit_grad_norm"} <= set(declared)
    assert all(all(m["within"].values()) for c in out["cases"] for m in c["metrics"] if m["within"])
