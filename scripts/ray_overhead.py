"""Overhead of ``--executor ray`` against the local executor, and the wall time of a parallel run, on this machine.

Runs the test-only faulty suite's four quick cases (ok, exception, nan, skip: each a fresh worker process, most of
whose time is Python + torch start-up) three ways, one after the other in one session, each into its own SQLite
file: the local executor (serial), the Ray executor on a local 1-CPU cluster (serial: the per-case overhead), and on
a local 4-CPU cluster (4-way parallel). The clusters are started here beforehand, so Ray's start-up is not counted;
the driver's connection to the cluster is. Prints one JSON object; state ``os.cpu_count()`` with the figures.

    PYTHONPATH=. python scripts/ray_overhead.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("mode=ok", "mode=exception", "mode=nan", "mode=skip")


def _bench(folder: Path, *extra: str) -> float:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "BENCH3D_EXTRA_SUITES": "faulty=faulty_suite:FaultySuite",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "fixtures")])}
    cmd = [sys.executable, "-m", "bench.cli", "run", "--no-report", "--suite", "faulty",
           *[a for c in CASES for a in ("--case", c)], "--out", str(folder), *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
    wall = time.perf_counter() - t0
    if res.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr.strip().splitlines()[-1:]}")
    return wall


def _ray_wall(folder: Path, cpus: int) -> float:
    code = (f"import ray, sys; ray.init(num_cpus={cpus}, include_dashboard=False, log_to_driver=False); "
            "print(ray.get_runtime_context().gcs_address, flush=True); sys.stdin.read()")
    # no auth token: ~/.ray/auth_token may be replaced by another local cluster of this user meanwhile
    head = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    try:
        address = head.stdout.readline().strip()
        return _bench(folder, "--db", f"ray{cpus}.db", "--executor", "ray", "--ray-address", address)
    finally:
        head.stdin.close()
        head.wait(timeout=120)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        local = _bench(folder, "--db", "local.db")
        ray1 = _ray_wall(folder, 1)
        ray4 = _ray_wall(folder, 4)
    n = len(CASES)
    print(json.dumps({"cpus": os.cpu_count(), "cases": n, "local_serial_s": round(local, 1),
                      "ray_1cpu_serial_s": round(ray1, 1), "ray_4cpu_parallel_s": round(ray4, 1),
                      "ray_overhead_per_case_s": round((ray1 - local) / n, 2),
                      "ray_serial_over_local": round(ray1 / local, 2),
                      "ray_4way_over_ray_serial": round(ray4 / ray1, 2),
                      "ray_4way_over_local_serial": round(ray4 / local, 2)}, indent=1))


if __name__ == "__main__":
    main()
