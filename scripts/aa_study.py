"""Measure the false-alarm rate and the power of ``bench3d compare`` on this machine.

Runs of a cheap suite (``tests/fixtures/spin_suite.py``) in a chain: base 0, slow15 0, slow03 0,
base 1, ... where slow15/slow03 do 15%/3% more of the timed work (``--set slowdown=...``).
Trial i compares base i with base i+1 (A/A), with slow15 i and with slow03 i. Prints per-metric
counts of each mark; ``--json`` writes them to a file.

    PYTHONPATH=. python scripts/aa_study.py --trials 20 --db /tmp/aa.db
    PYTHONPATH=. python scripts/aa_study.py --analyze-only --db /tmp/aa.db --alpha 0.05   # re-score stored runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare.diff import Settings, compare_runs  # noqa: E402
from bench.store import Store  # noqa: E402

KINDS = {"aa": 0.0, "slow15": 0.15, "slow03": 0.03}
MADE = {"slow15": 0.15, "slow03": 0.03}


def make_run(db: str, out: str, slowdown: float, extra: list[str]) -> str:
    env = {
        **os.environ,
        "BENCH3D_EXTRA_SUITES": "spin=spin_suite:SpinSuite",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "fixtures"), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "--suite",
        "spin",
        "--db",
        db,
        "--out",
        out,
        "--no-report",
        "--json",
        "--set",
        f"slowdown={slowdown}",
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)["run_id"]


def analyze(db: str, trials: list[dict[str, str]], settings: Settings) -> dict:
    counts: dict[str, dict[str, dict[str, int]]] = {k: defaultdict(lambda: defaultdict(int)) for k in KINDS}
    ratios: dict[str, list[float]] = defaultdict(list)
    with Store.open(db, create=False) as store:
        for t in trials:
            for kind in KINDS:
                cmp = compare_runs(store, t["base"], t[kind], settings)
                for r in cmp.rows:
                    key = f"{r.kind}:{r.name}" + (f"[{r.case}]" if r.kind == "timing" else "")
                    c = counts[kind][key]
                    c["n"] += 1
                    c[r.mark] += 1
                    if r.kind == "timing" and r.verdict and r.verdict.change:
                        ratios[f"{kind}:{key}"].append(r.verdict.change)
                        c["beyond_factor"] += int(r.verdict.change > settings.factor)
    out = {
        "settings": settings.__dict__,
        "trials": len(trials),
        "counts": {k: {m: dict(v) for m, v in d.items()} for k, d in counts.items()},
        "ratios": {k: {"min": min(v), "median": sorted(v)[len(v) // 2], "max": max(v)} for k, v in ratios.items()},
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--db", default="/tmp/bench3d-aa/aa.db")
    ap.add_argument("--factor", type=float, default=1.10)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--analyze-only", action="store_true", help="re-score the trials recorded next to --db")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per case (default 1)")
    args = ap.parse_args()
    out = str(Path(args.db).parent)
    Path(out).mkdir(parents=True, exist_ok=True)
    log = Path(args.db).with_suffix(".trials.json")
    trials = json.loads(log.read_text()) if log.exists() else []
    if not args.analyze_only:
        extra = ["--threads", str(args.threads)]
        if not trials:
            trials.append({"base": make_run(args.db, out, 0.0, extra)})
        while len(trials) <= args.trials:
            t = trials[-1]
            for kind, slow in MADE.items():
                t.setdefault(kind, make_run(args.db, out, slow, extra))
            t["aa"] = make_run(args.db, out, 0.0, extra)
            trials.append({"base": t["aa"]})
            log.write_text(json.dumps(trials, indent=1))
            print(f"trial {len(trials) - 1}/{args.trials} done", file=sys.stderr, flush=True)
    result = analyze(args.db, [t for t in trials if "aa" in t][: args.trials], Settings(args.factor, args.alpha))
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
