"""``bench3d nightly``: run a profile, store it, compare with the previous run of the same machine and
with the published baselines, publish the dashboard, and exit non-zero on a confirmed regression.

A timing regression is *confirmed* by re-running only the regressed cases once more (a second run
in the store) and comparing that run with the same base: a transient load spike rarely repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.api import RunRequest, default_db, run
from bench.compare import baselines as bl
from bench.compare import diff, render


@dataclass
class NightlyResult:
    run_id: str
    run_exit: int
    previous: str | None = None
    comparison: diff.Comparison | None = None
    confirm_run: str | None = None
    unconfirmed: list[diff.Row] = field(default_factory=list)
    regressions: list[diff.Row] = field(default_factory=list)
    baseline_rows: list[dict[str, Any]] = field(default_factory=list)
    dashboard: str | None = None
    compare_report: str | None = None

    @property
    def exit_code(self) -> int:
        if self.comparison is None:
            return self.run_exit  # first run of this machine: only its own failures count
        return 1 if self.regressions else 0


def request(args: argparse.Namespace, cases: list[str] | None = None) -> RunRequest:
    """The run request of the nightly options (``cases``: only these, for a confirmation run)."""
    from bench.cli_run import request_from_args

    req = request_from_args(args)
    if cases is not None:
        req.cases = list(cases)
    return req


def _run(store: Any, req: RunRequest) -> tuple[str, int]:
    """Run through the API (report lines go to stderr) and return (new run id, exit code)."""
    with contextlib.redirect_stdout(sys.stderr):
        outcome = run(req, store=store)
    for fmt, path in outcome.reports.items():
        print(f"{fmt} report: {path}", file=sys.stderr)
    return outcome.run.run_id, outcome.exit_code


def previous_run(store: Any, run_id: str) -> str | None:
    """Newest earlier finished run on the same machine and profile, sharing a suite, that holds at least
    half of this run's cases (so a partial confirmation run is never taken as the reference)."""
    new = store.get_run(run_id)
    mine = store.done_cases(run_id)
    for r in store.list_runs():
        if r.run_id == run_id or r.created_at > new.created_at or r.status not in ("ok", "failed"):
            continue
        if r.machine != new.machine or r.profile != new.profile or not set(r.suites) & set(new.suites):
            continue
        if len(store.done_cases(r.run_id) & mine) * 2 >= len(mine):
            return r.run_id
    return None


def nightly(args: argparse.Namespace) -> NightlyResult:
    """The whole nightly sequence; see the module docstring."""
    from bench.store import Store

    if args.machine:
        os.environ["BENCH3D_MACHINE"] = args.machine
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.db or default_db(args.out)
    args.db = db
    settings = diff.Settings(args.factor, args.alpha, args.tolerance,
                             normalise=not getattr(args, "raw_timings", False),
                             ignore_params=getattr(args, "ignore_params", ()))
    base_files = bl.load_dir(args.baselines) if args.baselines else bl.load_dir()
    store = Store.open(db, create=True)
    try:
        run_id, code = _run(store, request(args))
        res = NightlyResult(run_id, code, previous=previous_run(store, run_id))
        res.baseline_rows = bl.rows_for_cases(store.cases(run_id), base_files)
        if res.previous:
            cmp = diff.compare_runs(store, res.previous, run_id, settings)
            cmp.baseline_rows = res.baseline_rows
            res.comparison = cmp
            res.regressions = list(cmp.regressions)
            slow = [r for r in res.regressions if r.kind == "timing"]
            if slow and args.confirm:
                res.confirm_run, _ = _run(store, request(args, sorted({r.case for r in slow})))
                again = diff.compare_runs(store, res.previous, res.confirm_run, settings)
                still = {(r.suite, r.case, r.name) for r in again.regressions if r.kind == "timing"}
                res.unconfirmed = [r for r in slow if (r.suite, r.case, r.name) not in still]
                res.regressions = [r for r in res.regressions if r not in res.unconfirmed]
            run_dir = Path(store.get_run(run_id).run_dir or args.out)
            path = run_dir / "compare.html"
            from bench.compare.charts import comparison_charts

            figures = comparison_charts(cmp.base, store.cases(cmp.base.run_id), cmp.new, store.cases(run_id),
                                        cmp.suites)
            path.write_text(render.to_html(cmp, figures), encoding="utf-8")
            (run_dir / "compare.md").write_text(render.to_markdown(cmp), encoding="utf-8")
            res.compare_report = str(path)
        if args.dashboard:
            from bench.compare.dashboard import write_dashboard

            res.dashboard = str(
                write_dashboard(
                    store,
                    args.dashboard,
                    machine=store.get_run(run_id).machine,
                    reports=args.reports,
                    factor=args.factor,
                    baselines=base_files,
                )
            )
        return res
    finally:
        store.close()


def summary(res: NightlyResult) -> str:
    lines = [
        f"nightly run {res.run_id}: "
        + (
            f"compared with {res.previous}"
            if res.previous
            else "no earlier run of this machine and profile to compare with"
        )
    ]
    if res.comparison is not None:
        marks = ", ".join(render.marks_summary(res.comparison))
        lines.append(f"  marks: {marks or 'nothing compared'}")
    for r in res.regressions:
        lines.append(f"  REGRESSION {r.suite}/{r.case} {r.kind} {r.name}: {r.mark} {render.fmt_change(r)} {r.reason}")
    for r in res.unconfirmed:
        lines.append(f"  not confirmed by run {res.confirm_run}: {r.suite}/{r.case} {r.name} {render.fmt_change(r)}")
    outside = bl.outside_worse(res.baseline_rows)
    lines.append(
        f"  baselines: {len(res.baseline_rows)} published figure(s) beside run values, "
        f"{len(outside)} outside tolerance (worse)"
    )
    if res.compare_report:
        lines.append(f"  compare report: {res.compare_report}")
    if res.dashboard:
        lines.append(f"  dashboard: {res.dashboard}")
    lines.append(f"  exit {res.exit_code}")
    return "\n".join(lines)
