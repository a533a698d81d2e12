"""Measure the false-alarm rate and the power of ``bench3d compare`` on this machine.

Runs of a cheap suite in a chain. With the test-only spin suite (``tests/fixtures/spin_suite.py``):
base 0, slow15 0, slow03 0, base 1, ... where slow15/slow03 do 15%/3% more of the timed work
(``BENCH3D_SPIN_SLOWDOWN=...``, a code change that leaves the configuration as it is); trial i compares
base i with base i+1 (A/A), with slow15 i and with slow03 i. With any other suite (``--suite kernels``) the chain
holds base runs only (A/A).
"Confirmed" re-scores a flagged value with the next run of the same code, as ``bench3d nightly`` does.

    PYTHONPATH=. python scripts/aa_study.py --trials 20 --db /tmp/aa/aa.db --json /tmp/aa/result.json
    PYTHONPATH=. python scripts/aa_study.py --trials 20 --repeat 3 --db /tmp/aa3r/aa.db   # as nightly runs
    PYTHONPATH=. python scripts/aa_study.py --suite kernels --trials 20 --db /tmp/aak/aa.db
    PYTHONPATH=. python scripts/aa_study.py --suite mesh_fitting,kernels,pose,volumes,nerf --repeat 3 --db /tmp/a/aa.db
    PYTHONPATH=. python scripts/aa_study.py --analyze-only --db /tmp/aa/aa.db --alpha 0.05   # re-score
    PYTHONPATH=. python scripts/aa_study.py --analyze-only --db /tmp/a/aa.db --process 0  # as plain runs
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

from bench.compare.diff import Settings, compare_cases, compare_runs  # noqa: E402
from bench.compare.samples import process_chunks  # noqa: E402
from bench.results import CaseResult, TimingRecord  # noqa: E402
from bench.store import Store  # noqa: E402
from bench.timing import TimingResult  # noqa: E402

MADE = {"slow15": 0.15, "slow03": 0.03}


def make_run(db: str, out: str, suite: str, extra: list[str], slowdown: float | None = None) -> str:
    env = {
        **os.environ,
        **({"BENCH3D_SPIN_SLOWDOWN": str(slowdown)} if slowdown is not None else {}),
        "BENCH3D_EXTRA_SUITES": "spin=spin_suite:SpinSuite",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "fixtures"), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        *(x for name in suite.split(",") for x in ("--suite", name)),
        "--db",
        db,
        "--out",
        out,
        "--no-report",
        "--json",
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if not proc.stdout.strip():
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)["run_id"]


def one_process(t: TimingRecord, k: int) -> TimingRecord:
    """``t`` as a plain one-process run would have stored it: only the samples of its process ``k``."""
    if not t.process_sizes:
        return t
    if k >= len(t.process_sizes):
        raise SystemExit(f"--process {k}: timing {t.name} pooled only {len(t.process_sizes)} processes")
    cal = process_chunks(t.calibration, t.process_sizes)[k] if t.calibration else None
    res = TimingResult.from_samples(process_chunks(t.samples, t.process_sizes)[k], method=t.method,
                                    inner_loops=t.inner_loops, calibration=cal)
    rec = res.to_record(t.name)
    rec.unit = t.unit
    return rec


def _cases(store: Store, run_id: str, process: int | None) -> list[CaseResult]:
    cases = store.cases(run_id)
    if process is not None:
        for c in cases:
            c.timings = [one_process(t, process) for t in c.timings]
    return cases


def _flags(store: Store, base: str, new: str, settings: Settings, process: int | None = None) -> dict[str, object]:
    """key -> the compared row, for every value of ``new`` against ``base``."""
    if process is None:
        cmp = compare_runs(store, base, new, settings)
    else:
        cmp = compare_cases(store.get_run(base), _cases(store, base, process),
                            store.get_run(new), _cases(store, new, process), settings)
    return {f"{r.suite}/{r.kind}:{r.name}[{r.case}]": r for r in cmp.rows}


def analyze(db: str, trials: list[dict[str, str]], settings: Settings, process: int | None = None) -> dict:
    kinds = ["aa", *(k for k in MADE if all(k in t for t in trials))]
    counts: dict[str, dict[str, dict[str, int]]] = {k: defaultdict(lambda: defaultdict(int)) for k in kinds}
    ratios: dict[str, list[float]] = defaultdict(list)
    with Store.open(db, create=False) as store:
        for i, t in enumerate(trials):
            confirm = trials[i + 1] if i + 1 < len(trials) else None  # the next runs of the same code
            for kind in kinds:
                rows = _flags(store, t["base"], t[kind], settings, process)
                again = (_flags(store, t["base"], confirm[kind], settings, process)
                         if confirm and kind in confirm else None)
                for key, r in rows.items():
                    c = counts[kind][key]
                    c["n"] += 1
                    c[r.mark] += 1
                    if r.verdict is not None and r.verdict.significant:  # by a test on samples, not a plain difference
                        c[f"significant_{r.mark}"] += 1
                    elif r.verdict is not None and not r.verdict.gate and r.mark in ("worse", "better"):
                        c[f"ungated_{r.mark}"] += 1  # tested on per-process values: shown, not gating (yet)
                    if r.is_regression and again is not None:
                        c["confirmed_worse"] += int(key in again and again[key].is_regression)
                    if r.kind == "timing" and r.verdict and r.verdict.change:
                        ratios[f"{kind}:{key}"].append(r.verdict.change)
                        c["beyond_factor"] += int(r.verdict.change > settings.factor)
    return {
        "settings": settings.__dict__,
        "trials": len(trials),
        "counts": {k: {m: dict(v) for m, v in sorted(d.items())} for k, d in counts.items()},
        "ratios": {k: {"min": min(v), "median": sorted(v)[len(v) // 2], "max": max(v)} for k, v in ratios.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--suite", default="spin",
                    help="suite(s) to run, comma-separated (slowdown trials only with 'spin' alone)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="passed to bench3d run for every run",
    )
    ap.add_argument("--db", default="/tmp/bench3d-aa/aa.db")
    ap.add_argument("--factor", type=float, default=1.10)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--analyze-only", action="store_true", help="re-score the trials recorded next to --db")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per case (default 1)")
    ap.add_argument("--repeat", type=int, default=1, help="processes per case, pooled (bench3d run --repeat)")
    ap.add_argument("--raw-timings", action="store_true", help="score timings without speed normalisation")
    ap.add_argument("--process", type=int, metavar="K",
                    help="score every timing as if only process K (0-based) of a --repeat run had run: "
                         "what plain one-process runs would have given")
    args = ap.parse_args()
    out = str(Path(args.db).parent)
    Path(out).mkdir(parents=True, exist_ok=True)
    log = Path(args.db).with_suffix(".trials.json")
    trials = json.loads(log.read_text()) if log.exists() else []
    extra = ["--threads", str(args.threads), "--repeat", str(args.repeat)]
    extra += [x for o in args.overrides for x in ("--set", o)]
    made = MADE if args.suite == "spin" else {}
    if not args.analyze_only:
        if not trials:
            trials.append(
                {"base": make_run(args.db, out, args.suite, extra, 0.0 if made else None)}
            )
        while len(trials) <= args.trials:
            t = trials[-1]
            for kind, slow in made.items():
                t.setdefault(kind, make_run(args.db, out, args.suite, extra, slow))
            t["aa"] = make_run(args.db, out, args.suite, extra, 0.0 if made else None)
            trials.append({"base": t["aa"]})
            log.write_text(json.dumps(trials, indent=1))
            print(f"trial {len(trials) - 1}/{args.trials} done", file=sys.stderr, flush=True)
    done = [t for t in trials if "aa" in t]
    # the last trial's confirmation needs the next trial's runs: score one trial more than reported if present
    settings = Settings(args.factor, args.alpha, normalise=not args.raw_timings)
    result = analyze(args.db, done[: args.trials + 1], settings, args.process)
    result["trials"] = min(len(done), args.trials + 1)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
