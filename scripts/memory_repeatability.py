"""Repeatability of the CPU peak-memory measures across fresh processes (issue 22).

Each repeat is a new Python process that builds one ``kernels`` workload on one backend, makes the warm-up
call(s) and measures one warm call with :class:`bench.timing.PeakMemory` exactly as :func:`bench.timing.measure`
does (kind ``rss_anon_peak``), and the RSS growth of the first (cold) call, which is what the old kind ``rss_delta``
recorded (before the file subtraction; the cold call's ``rss_anon_peak`` is kept in ``--json``). The
table gives, per kernel and backend, the figures of every process, their median and their spread
(max/min): ``compare`` judges a ``rss_anon_peak`` peak only if this spread stays inside what it can tell apart
(bench.compare.diff). Processes run one after another. ``--cpu-memory exact`` makes each process call
:func:`bench.timing.exact_malloc` first, as ``bench3d run --cpu-memory exact`` does (kind ``rss_anon_exact``).

    OMP_NUM_THREADS=2 PYTHONPATH=. python scripts/memory_repeatability.py --repeats 5 --threads 2 \\
        --backend torch,pytorch3d --kernel chamfer_10k,sample_points_10k,mesh_fit_step
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402

CHILD = """
import json, sys, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from bench import backends, timing
if {exact}:
    assert timing.exact_malloc(), "no glibc mallopt here"
from suites.kernels.workloads import build
w = build(backends.load({backend!r}), {kernel!r}, "cpu", {{}})
with timing.PeakMemory("cpu") as cold:
    w.step()
with timing.PeakMemory("cpu") as warm:
    w.step()
print(json.dumps({{"anon": warm.peak_bytes, "kind": warm.kind, "cold_anon": cold.peak_bytes,
                  "cold_rss": cold.rss_growth_bytes}}))
"""


def one(backend: str, kernel: str, threads: int, exact: bool = False) -> dict:
    """The figures of one fresh process (bytes)."""
    code = CHILD.format(root=str(ROOT), threads=threads, backend=backend, kernel=kernel, exact=exact)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="torch,pytorch3d")
    ap.add_argument("--kernel", default="chamfer_10k,sample_points_10k,mesh_fit_step")
    ap.add_argument("--cpu-memory", choices=("process", "exact"), default="process",
                    help="exact: glibc hands freed large blocks back at once (bench.timing.exact_malloc)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    rows = []
    kind = timing.EXACT_KIND if args.cpu_memory == "exact" else timing.ANON_KIND
    print(f"| kernel | backend | warm call, {kind} (MiB) per process | median | max/min "
          "| first call's RSS growth (old rss_delta), median |")
    print("|---|---|---|---|---|---|")
    for kernel in args.kernel.split(","):
        for backend in args.backend.split(","):
            runs = [one(backend, kernel, args.threads, args.cpu_memory == "exact") for _ in range(args.repeats)]
            mib = [r["anon"] / 2**20 for r in runs]
            spread = max(mib) / min(mib) if min(mib) > 0 else float("inf")
            cold_rss = [r["cold_rss"] / 2**20 for r in runs if r["cold_rss"] is not None]
            rows.append({"kernel": kernel, "backend": backend, "mib": mib, "kinds": sorted({r["kind"] for r in runs}),
                         "cold_mib": [r["cold_anon"] / 2**20 for r in runs], "cold_rss_mib": cold_rss})
            old = f"{statistics.median(cold_rss):.2f}" if cold_rss else "—"
            print(f"| {kernel} | {backend} | {', '.join(f'{v:.2f}' for v in mib)} | {statistics.median(mib):.2f} "
                  f"| {spread:.2f} | {old} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
