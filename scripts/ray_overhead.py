"""Overhead of ``--executor ray`` against the local executor, and the wall time of a parallel run, on this machine.

Runs a real suite (``kernels`` at smoke, its five kernels shrunk by ``--set`` so each case is mostly the worker's
start-up) three ways, one after the other in one session, each into its own SQLite file, ``--trials`` times in
turn: the local executor (serial), the Ray executor on a local 1-CPU cluster (serial: the per-case overhead), and on
a local 4-CPU cluster (4-way parallel). All with ``--threads 1``. The clusters are started beforehand, so Ray's
start-up is not counted; the driver's connection to the cluster is. Besides the wall times, each run's overhead
outside its cases (wall time minus the sum of the stored case durations) is given. Prints one JSON object; state
``os.cpu_count()`` (and the real cores) with the figures.

    PYTHONPATH=. python scripts/ray_overhead.py [--trials 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Small sizes: a 32-pixel silhouette of an ico_sphere(2), 1000-point clouds, three timed calls after none untimed.
SMALL = ("warmup=0", "min_run_time=0.05", "min_samples=3", "image_size=32", "faces_per_pixel=10", "level=2",
         "points=1000")
ENV = {"RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}  # no token: another local cluster may replace it


def _bench(folder: Path, db: str, *extra: str) -> dict:
    """One ``bench3d run --suite kernels`` (small sizes): its wall time and the sum of its cases' durations."""
    cmd = [sys.executable, "-m", "bench.cli", "run", "--no-report", "--suite", "kernels", "--threads", "1", "--json",
           *[a for s in SMALL for a in ("--set", s)], "--out", str(folder), "--db", db, *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)},
                         cwd=folder)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr.strip().splitlines()[-1:]}")
    run_id = json.loads(res.stdout)["run_id"]
    sys.path.insert(0, str(ROOT))
    from bench.store import Store

    with Store.open(folder / db, create=False) as store:
        cases = store.cases(run_id)
    return {"wall_s": wall, "cases": len(cases), "in_cases_s": sum(c.duration_s or 0 for c in cases)}


class _Cluster:
    """A local Ray cluster of ``cpus`` CPUs, held by a child process until closed."""

    def __init__(self, cpus: int):
        code = (f"import ray, sys; ray.init(num_cpus={cpus}, include_dashboard=False, log_to_driver=False); "
                "print(ray.get_runtime_context().gcs_address, flush=True); sys.stdin.read()")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, stderr=subprocess.DEVNULL, env={**os.environ, **ENV})
        self.address = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2, help="rounds of the three runs, in turn (default 2)")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"local": [], "ray_1cpu": [], "ray_4cpu": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clusters = {"ray_1cpu": _Cluster(1), "ray_4cpu": _Cluster(4)}
        try:
            for t in range(args.trials):
                runs["local"].append(_bench(folder, f"local{t}.db"))
                for name, cluster in clusters.items():
                    runs[name].append(_bench(folder, f"{name}{t}.db", "--executor", "ray", "--ray-address",
                                             cluster.address))
        finally:
            for cluster in clusters.values():
                cluster.close()
    med = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
    outside = {k: statistics.median(r["wall_s"] - r["in_cases_s"] for r in v) for k, v in runs.items()}
    n = runs["local"][0]["cases"]
    print(json.dumps({
        "cpus": os.cpu_count(), "cases": n, "trials": args.trials,
        "wall_s": {k: [round(r["wall_s"], 1) for r in v] for k, v in runs.items()},
        "outside_cases_s": {k: round(v, 1) for k, v in outside.items()},
        "ray_serial_over_local": round(med["ray_1cpu"] / med["local"], 2),
        "ray_overhead_per_case_s": round((med["ray_1cpu"] - med["local"]) / n, 2),
        "ray_4way_over_ray_serial": round(med["ray_4cpu"] / med["ray_1cpu"], 2),
        "ray_4way_over_local_serial": round(med["ray_4cpu"] / med["local"], 2)}, indent=1))


if __name__ == "__main__":
    main()
