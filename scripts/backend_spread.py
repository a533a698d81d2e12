"""Spread of one backend's result under rounding-level input changes, against another backend's value.

A training case that agrees with the other backend bit for bit for a few steps and then drifts apart may be
no further apart than the same backend lands from itself when an input changes only by rounding. This script
measures that spread: it runs the cases with one float field of their configuration scaled by ``1 + step``
for each relative step (``--set FIELD=value``), reads every metric with a declared backend tolerance, and
prints per case and metric the minimum, maximum and range over the runs, and where a given other run's value
(e.g. PyTorch3D's) lies; the other run's own case on the measured backend (the unperturbed input) counts as one
more point unless ``--no-base``. If the other value lies inside the spread, a bound of the range (rounded up) covers
the pair; if it does not, the disagreement is real and needs a cause (docs/backends.md, "Every suite on both
backends").

    PYTHONPATH=. python scripts/backend_spread.py --suite meshrcnn --case mode=voxmesh --case mode=sphere \\
        --field lr --steps 1e-6,-1e-6,1e-5 --backend torch --out /tmp/spread \\
        --other 20261205-230711-c0d1 --other-db /tmp/both/bench3d.db
    PYTHONPATH=. python scripts/backend_spread.py --suite single_view --case decoder=point --field lr \\
        --runs RUN1,RUN2,RUN3 --db /tmp/spread/bench3d.db --other RUN --other-db DB   # tabulate only

Runs go one after another, ``--threads 1`` by default. Markdown on stdout; ``--json FILE`` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backend_compare import split_backend  # noqa: E402
from bench.results import CaseResult  # noqa: E402
from bench.store import Store  # noqa: E402
from bench.suite import Registry, find_case  # noqa: E402


def base_value(suite: str, case: str, profile: str, field: str) -> float:
    """The value of the float ``field`` of ``case`` at ``profile``, as the suite resolves it."""
    value = find_case(Registry().get(suite), profile, case).params.get(field)
    if not isinstance(value, float):
        raise SystemExit(f"--field {field}: {suite}/{case} has {field}={value!r}, expected a float field")
    return value


def run_perturbed(args: argparse.Namespace, case: str, value: float) -> str:
    """One ``bench3d run`` of ``case`` with ``--set FIELD=value``; its run id."""
    cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", args.suite, "--case", case, "--profile", args.profile,
           "--backend", args.backend, "--threads", str(args.threads), "--set", f"{args.field}={value!r}",
           "--db", args.db, "--out", args.out, "--no-report", "--json", "--timeout", str(args.timeout)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if not proc.stdout.strip():
        raise SystemExit(f"bench3d run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    run_id = json.loads(proc.stdout)["run_id"]
    print(f"{case} {args.field}={value!r}: run {run_id}", file=sys.stderr, flush=True)
    return run_id


def case_results(db: str, run_ids: list[str], backend: str | None,
                 suite: str) -> dict[str, list[tuple[str, CaseResult]]]:
    """case name (backend suffix dropped) -> [(run id, result)] of ``suite``'s ok cases on ``backend`` (None: any)."""
    out: dict[str, list[tuple[str, CaseResult]]] = {}
    with Store.open(db, create=False) as store:
        for run_id in run_ids:
            rid = store.resolve(run_id)
            for c in store.cases(rid):
                name, suffix = split_backend(c.case)
                on = suffix or (c.backend or "").split(" ")[0]  # stored as "torch 0.1.0" without the suffix
                if c.suite == suite and c.status == "ok" and (backend is None or on == backend):
                    out.setdefault(name, []).append((rid, c))
    return out


def metric_names(suite: str, case: str, every: bool) -> list[str]:
    """The metrics with a declared backend tolerance for ``case`` (``every``: all the suite's metrics)."""
    s = Registry().get(suite)
    if every:
        return [m.name for m in s.metrics]
    declared = {**s.backend_tolerances, **s.backend_case_tolerances.get(case, {})}
    return [m.name for m in s.metrics if m.name in declared]


def metric_value(c: CaseResult, name: str) -> float | None:
    """The finite value of metric ``name`` of ``c``, else None."""
    for m in c.metrics:
        if m.name == name and m.value is not None and math.isfinite(m.value):
            return float(m.value)
    return None


def spread_rows(runs: list[CaseResult], other: CaseResult | None, names: list[str]) -> list[dict]:
    """Per metric: n, min, max, range of ``runs``, the other value, where it lies, and its largest gap to a run."""
    rows = []
    for name in names:
        vals = [v for v in (metric_value(c, name) for c in runs) if v is not None]
        if not vals:
            continue
        lo, hi = min(vals), max(vals)
        o = metric_value(other, name) if other is not None else None
        where = ("" if o is None else "inside" if lo <= o <= hi else
                 f"above by {o - hi:.4g}" if o > hi else f"below by {lo - o:.4g}")
        rows.append({"metric": name, "n": len(vals), "min": lo, "max": hi, "range": hi - lo,
                     "rel_range": (hi - lo) / abs(hi) if hi else None, "other": o, "where": where,
                     "max_gap": None if o is None else max(abs(o - v) for v in vals)})
    return rows


def markdown(suite: str, case: str, rows: list[dict], run_ids: list[str], other_label: str) -> str:
    """One case's spread table."""
    def g(x: float | None) -> str:
        return "" if x is None else f"{x:.4g}"
    lines = [f"### {suite}/{case}: {len(run_ids)} runs ({', '.join(run_ids)})", "",
             f"| metric | n | min | max | range | range/max | {other_label} | where | largest gap |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['metric']} | {r['n']} | {g(r['min'])} | {g(r['max'])} | {g(r['range'])} | {g(r['rel_range'])} | "
              f"{g(r['other'])} | {r['where']} | {g(r['max_gap'])} |" for r in rows]
    return "\n".join(lines) + "\n"


def per_run_markdown(got: list[tuple[str, CaseResult]], other: CaseResult | None, names: list[str], field: str,
                     other_label: str) -> str:
    """One row per run (its ``field`` value, backend) and the other run, one column per metric (twins left out)."""
    cols = [n for n in names if not n.endswith("_category_mean")]
    lines = [f"| run | {field} | backend | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
    for rid, c in [*got, *([(other_label, other)] if other is not None else [])]:
        vals = [metric_value(c, n) for n in cols]
        lines.append(f"| {rid} | {c.params.get(field, '')} | {(c.backend or '').split(' ')[0]} | "
                     + " | ".join("" if v is None else f"{v:.4g}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", required=True)
    p.add_argument("--case", action="append", required=True, help="case name (repeatable), e.g. mode=voxmesh")
    p.add_argument("--field", required=True, help="a float field of the case's Config, e.g. lr")
    p.add_argument("--steps", default="1e-6,-1e-6,1e-5", help="relative steps: FIELD * (1 + step) (comma list)")
    p.add_argument("--profile", default="smoke")
    p.add_argument("--backend", default="torch", help="the backend whose spread is measured")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout", type=int, default=3600, help="per-case timeout of each run (s)")
    p.add_argument("--out", default="/tmp/bench3d-spread", help="folder of the runs (and their default db)")
    p.add_argument("--db", default=None, help="results database (default OUT/bench3d.db)")
    p.add_argument("--runs", default="", help="tabulate these runs (comma list) instead of running")
    p.add_argument("--other", default="", help="a run whose value is placed against the spread")
    p.add_argument("--other-db", default=None, help="its database (default --db)")
    p.add_argument("--other-backend", default="pytorch3d")
    p.add_argument("--no-base", action="store_true",
                   help="leave out the --other run's own --backend case (the unperturbed point, step 0)")
    p.add_argument("--all-metrics", action="store_true", help="every metric, not only those with a tolerance")
    p.add_argument("--exclude", default="baseline_",
                   help="leave out metrics starting with these prefixes (comma list; default: the untrained baselines)")
    p.add_argument("--per-run", action="store_true", help="also print each run's values")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    args.db = args.db or str(Path(args.out) / "bench3d.db")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.runs:
        run_ids = [r for r in args.runs.split(",") if r]
    else:
        steps = [float(s) for s in args.steps.split(",") if s]
        run_ids = [run_perturbed(args, case, base_value(args.suite, case, args.profile, args.field) * (1 + s))
                   for case in args.case for s in steps]
    mine = case_results(args.db, run_ids, args.backend, args.suite)
    others = case_results(args.other_db or args.db, [args.other], args.other_backend, args.suite) if args.other else {}
    if args.other and not args.no_base:  # the unperturbed run on the measured backend is a point of the spread
        for case, got in case_results(args.other_db or args.db, [args.other], args.backend, args.suite).items():
            mine.setdefault(case, []).extend(got)
    label = f"{args.other_backend} ({args.other})" if args.other else "other"
    report: dict[str, list[dict]] = {}
    print(f"Spread of `{args.backend}` under `{args.field}` x (1 + step), profile {args.profile}\n")
    for case in args.case:
        got = mine.get(case, [])
        if not got:
            print(f"### {args.suite}/{case}: no ok runs on {args.backend} in {', '.join(run_ids)}\n")
            continue
        other = others.get(case, [(None, None)])[0][1]
        skip = tuple(x for x in args.exclude.split(",") if x)
        names = [n for n in metric_names(args.suite, case, args.all_metrics) if not (skip and n.startswith(skip))]
        rows = spread_rows([c for _, c in got], other, names)
        report[case] = rows
        print(markdown(args.suite, case, rows, [r for r, _ in got], label))
        if args.per_run:
            print(per_run_markdown(got, other, [r["metric"] for r in rows], args.field, label))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
