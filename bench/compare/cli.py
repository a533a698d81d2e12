"""Sub-commands ``compare``, ``history``, ``dashboard`` and ``nightly`` of ``bench3d``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench.compare import baselines as bl
from bench.compare import diff, render, stats
from bench.errors import UsageError
from bench.paths import add_location_options

_EPILOG_STATS = (
    "Timings: worse/better only when the ratio of medians is beyond --factor AND a two-sided Welch t-test on "
    "the log of each process's median gives p < --alpha; that needs runs made with --repeat N (N >= 2) on both "
    "sides, since one process's level moves by several percent from the next's. With one process in either "
    "run, a Mann-Whitney U test on the raw samples is shown but a change is only changed-not-significant. "
    "CPU timings are compared speed-normalised (--raw-timings: not); a verdict the raw timings contradict in "
    "direction, at a speed sensitivity the runs hardly showed, is only changed-not-significant. "
    "Quality metrics: Wilcoxon signed-rank test on the items both runs "
    "scored (same item ids), Mann-Whitney U when the items differ, and a relative --tolerance when a metric has "
    "no per-item values. A metric without items that varies between the processes of --repeat runs (peak "
    "memory, seconds to a threshold) gets an exact permutation test on its per-process values (needs --repeat 5 "
    "or more to reach alpha 0.01): marked, but never gating; a CPU peak (memory kind rss_delta: RSS growth; "
    "rss_anon_peak: the work's own memory on a warm call; rss_anon_exact: the same under run --cpu-memory exact, "
    "live memory only) is not reproducible enough between identical runs and "
    "is shown, never judged; peaks of different memory kinds are incomparable. "
    "Different metric fingerprints, dataset versions, devices or backends (and machine types, "
    "for timings: CPU model and count, GPU, host class; and the runs' torch threads and --cpu-memory) are "
    "listed as incomparable with the reason."
)


def _db(args: argparse.Namespace) -> str:
    from bench.paths import check_out_is_folder, resolve_db

    check_out_is_folder(args)
    return resolve_db(args)


def _open(args: argparse.Namespace):
    from bench.store import Store

    return Store.open(_db(args), create=False)


def _check_options(args: argparse.Namespace) -> None:
    """The numeric options of compare, history, dashboard and nightly, finite and in range, checked before
    anything is read, run or written; UsageError (one line naming the option) otherwise."""
    from bench.compare.history import check_factor

    if hasattr(args, "alpha"):  # compare, nightly: the comparison's settings check themselves
        diff.Settings(args.factor, args.alpha, args.tolerance)
    elif hasattr(args, "factor"):
        check_factor(args.factor)
    if getattr(args, "reports", None) is not None and args.reports < 0:
        raise UsageError(f"--reports {args.reports}: expected a count >= 0")


def _add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--factor",
        type=float,
        default=stats.DEFAULT_FACTOR,
        help=f"timing ratio that counts as a change (default {stats.DEFAULT_FACTOR})",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=stats.DEFAULT_ALPHA,
        help=f"significance level of every test (default {stats.DEFAULT_ALPHA})",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=stats.DEFAULT_TOLERANCE,
        help=f"relative tolerance for metrics without per-item values (default {stats.DEFAULT_TOLERANCE})",
    )
    p.add_argument(
        "--ignore-params",
        metavar="A,B",
        type=lambda v: tuple(x.strip() for x in v.split(",") if x.strip()),
        default=(),
        help="configuration fields whose difference is deliberate (an A/B of one parameter): cases differing "
        "only there are compared, and the report names the difference (others stay incomparable)",
    )
    p.add_argument(
        "--raw-timings",
        action="store_true",
        help="compare timings as measured, without dividing out each run's machine speed (reference kernel)",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the four sub-commands; each routes itself with ``set_defaults(handler=...)``."""
    from bench.cli_run import add_case_options

    p = sub.add_parser(
        "compare",
        help="compare two runs (or a run with a published baseline file)",
        description="Compare NEW with BASE: every case, metric and timing gets a mark (worse, better, "
        "changed-not-significant, unchanged, new failure, fixed, still failing, "
        "incomparable, missing). BASE may also be a baselines/*.yaml file: then NEW's values "
        "are shown beside the published figures. " + _EPILOG_STATS,
    )
    p.add_argument("base", metavar="BASE", help="run id, unique prefix, 'latest', git commit, or a baseline YAML file")
    p.add_argument("new", metavar="NEW", nargs="?", default="latest", help="run reference (default: latest)")
    p.add_argument("--suite", action="append", metavar="NAME", help="only these suites (repeatable)")
    p.add_argument("--format", choices=render.FORMATS, default="md", help="output format (default md)")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--all", action="store_true", help="markdown: list unchanged values too")
    p.add_argument("--no-baselines", action="store_true", help="do not show the shipped published baselines")
    p.add_argument("--backends", action="store_true",
                   help="compare the backends within run BASE (a run made with --backend torch,pytorch3d): "
                        "per case, metrics side by side (checked against the suites' declared backend "
                        "tolerances) and the speed ratio of timing medians")
    p.add_argument("--reference", metavar="BACKEND",
                   help="with --backends: the backend others are differenced and timed against (default: the "
                        "run's first), e.g. pytorch3d for built-in/PyTorch3D time ratios")
    p.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when any significant regression or new failure is found (for CI gates); with --backends: "
             "when a metric is outside its suite's backend tolerance or a case is not ok on every backend",
    )
    p.add_argument("--allow-machine-mismatch", action="store_true",
                   help="also compare timings of cases that ran on different machine types (CPU model and count, "
                        "GPU, $BENCH3D_HOST_CLASS): labelled in the reason, never failing a gate; metrics are "
                        "compared either way")
    add_location_options(p, output_file=True)
    _add_settings(p)
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser(
        "history",
        help="series of each metric/timing over commits, with change points",
        description="Per (suite, case, metric or timing, machine) the values over the stored runs "
        "(timings by median), change points found by ruptures (PELT) with a penalty scaled by "
        "the series' noise, and for each the commit range: last commit before .. first after.",
    )
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--case", help="only this case")
    p.add_argument("--metric", help="only this metric or timing name")
    p.add_argument("--machine", help="only runs of this machine id")
    p.add_argument("--all", action="store_true", help="list every series, not only those with change points")
    p.add_argument("--json", action="store_true", help="print one JSON object with every series and point")
    p.add_argument(
        "--factor",
        type=float,
        default=stats.DEFAULT_FACTOR,
        help="a timing change point must also exceed this ratio (default 1.10)",
    )
    add_location_options(p)
    p.set_defaults(handler=cmd_history)

    p = sub.add_parser(
        "dashboard",
        help="write a static dashboard site (index + a page per suite)",
        description="Write index.html, one page per suite with plotly trend charts (plotly.min.js "
        "written once into DIR, no network needed), the regression list with commit ranges, "
        "the latest run's tables, and HTML reports of the latest runs under DIR/runs/.",
    )
    p.add_argument("--site", type=Path, metavar="DIR", help="folder to write the site into (default: OUT/dashboard)")
    p.add_argument("--machine", help="only runs of this machine id")
    p.add_argument("--reports", type=int, default=5, help="write reports for this many latest runs (default 5)")
    p.add_argument("--factor", type=float, default=stats.DEFAULT_FACTOR, help="timing change-point ratio (1.10)")
    add_location_options(p)
    p.set_defaults(handler=cmd_dashboard)

    p = sub.add_parser(
        "nightly",
        help="run a profile, compare with the previous run and baselines, publish",
        description="Run a profile (default smoke) and store it; compare with the previous run of the "
        "same machine and profile and with the published baselines; re-run cases with a "
        "timing regression once to confirm it; write the dashboard; exit 1 on a confirmed "
        "regression or a new failure (the first run of a machine exits 1 only if cases "
        "failed). " + _EPILOG_STATS,
    )
    add_case_options(p)
    p.add_argument("--repeat", type=int, default=5, metavar="N",
                   help="processes per case whose timing samples are pooled and tested on process medians "
                        "(default 5: one process's timings drift by a few percent from the next's on a shared "
                        "machine; 5 found 20/20 injected 15%% slowdowns where 3 found 17/20; with 1, timings are "
                        "shown but never judged worse)")
    p.add_argument("--machine", help="machine id to record (default: $BENCH3D_MACHINE or host+CPU+GPU hash)")
    p.add_argument("--dashboard", type=Path, metavar="DIR", help="write the dashboard into DIR")
    p.add_argument("--reports", type=int, default=5, help="dashboard: reports for this many latest runs")
    p.add_argument("--baselines", type=Path, metavar="DIR", help="folder of baseline YAML files (default: shipped)")
    p.add_argument(
        "--no-confirm",
        dest="confirm",
        action="store_false",
        help="do not re-run cases with a timing regression to confirm it",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--db", help="results database (default: $BENCH3D_DB or OUT/bench3d.db)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder for runs (default: $BENCH3D_OUT or reports)")
    _add_settings(p)
    p.set_defaults(handler=cmd_nightly)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}", file=sys.stderr)


def _looks_like_file(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or os.sep in ref


def cmd_compare(args: argparse.Namespace) -> int:
    _check_options(args)
    fmt = "json" if args.json else args.format
    settings = diff.Settings(args.factor, args.alpha, args.tolerance, normalise=not args.raw_timings,
                             ignore_params=args.ignore_params, allow_machine_mismatch=args.allow_machine_mismatch)
    if args.reference and not args.backends:
        raise UsageError("--reference names a backend of a --backends comparison; add --backends")
    with _open(args) as store:
        if args.backends:
            return _compare_backends(store, args, fmt)
        if _looks_like_file(args.base):
            if not Path(args.base).is_file():
                raise UsageError(f"baseline file {args.base} does not exist")
            return _compare_baseline(store, bl.load(args.base), args, fmt)
        cmp = diff.compare_runs(store, args.base, args.new, settings, args.suite)
        if not args.no_baselines:
            cmp.baseline_rows = bl.rows_for_cases(
                [c for c in store.cases(cmp.new.run_id) if c.suite in cmp.suites], bl.load_dir()
            )
        figures = None
        if fmt == "html":
            from bench.compare.charts import comparison_charts

            figures = comparison_charts(cmp.base, store.cases(cmp.base.run_id), cmp.new,
                                        store.cases(cmp.new.run_id), cmp.suites)
    text = render.to_markdown(cmp, all_rows=args.all) if fmt == "md" else render.render(cmp, fmt, figures)
    _emit(text, args.output)
    return 1 if args.fail_on_regression and cmp.regressions else 0


def _compare_backends(store, args: argparse.Namespace, fmt: str) -> int:
    from bench.backend_compare import backend_comparison, backend_comparison_markdown

    comparison = backend_comparison(store, store.resolve(args.base), args.reference)
    if fmt == "html":
        raise UsageError("compare --backends: --format html is not supported; use md or json")
    text = json.dumps(comparison, indent=2, default=str) if fmt == "json" else backend_comparison_markdown(comparison)
    _emit(text, args.output)
    return 1 if args.fail_on_regression and comparison["failures"] else 0


def _compare_baseline(store, baseline: bl.Baseline, args: argparse.Namespace, fmt: str) -> int:
    run_id = store.resolve(args.new)
    cases = store.cases(run_id)
    if not any(c.suite == baseline.suite for c in cases):
        suites = sorted({c.suite for c in cases})
        raise UsageError(
            f"baseline {baseline.path} is for suite {baseline.suite!r}, run {run_id} holds "
            f"{', '.join(suites) or 'no cases'}"
        )
    rows = bl.rows_for_cases(cases, [baseline])
    if fmt == "json":
        text = json.dumps({"baseline": str(baseline.path), "run": run_id, "rows": rows}, indent=2)
    elif fmt == "html":
        text = (
            render.env()
            .get_template("baselines_page.html.j2")
            .render(
                run=run_id,
                baseline=baseline,
                baselines=[render.baseline_cells(r) for r in rows],
                css=render.env().loader.get_source(render.env(), "style.css")[0],
            )
        )
    else:
        head = (
            f"# {run_id} vs published {baseline.name}\n\n{baseline.source['citation']} — {baseline.source['where']}\n\n"
        )
        text = (
            head + (render.baselines_markdown(rows) if rows else "No case of the run matches a published entry.") + "\n"
        )
    _emit(text, args.output)
    return 1 if args.fail_on_regression and bl.outside_worse(rows) else 0


def cmd_history(args: argparse.Namespace) -> int:
    from bench.compare import history

    _check_options(args)
    with _open(args) as store:
        series = history.collect(
            store, suite=args.suite, metric=args.metric, machine=args.machine, case=args.case, factor=args.factor
        )
    if args.json:
        print(json.dumps({"series": [s.to_dict() for s in series]}, indent=2, default=str))
        return 0
    if not series:
        print("no stored values match")
        return 0
    shown = [s for s in series if args.all or s.changes]
    print(f"{len(series)} series, {sum(len(s.changes) for s in series)} change point(s)")
    for s in shown:
        last = s.points[-1].value if s.points else None
        print(f"{s.key}: {len(s.points)} runs, latest {last:.4g}{(' ' + s.unit) if s.unit else ''}")
        for c in s.changes:
            print(
                f"  {c.mark}: {c.level_before:.4g} -> {c.level_after:.4g} ({c.relative:+.1%}, {c.sigmas:.1f} sigma) "
                f"between {c.commit_range()} (runs {c.before.run_id} .. {c.after.run_id})"
            )
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from bench.compare.dashboard import write_dashboard
    from bench.paths import out_dir

    _check_options(args)
    with _open(args) as store:
        site = args.site or out_dir(args) / "dashboard"
        index = write_dashboard(store, site, machine=args.machine, reports=args.reports, factor=args.factor)
    print(f"dashboard: {index}")
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    from bench.compare import nightly
    from bench.paths import out_dir

    _check_options(args)
    args.out = out_dir(args)  # before the run, not after it
    res = nightly.nightly(args)
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": res.run_id,
                    "previous": res.previous,
                    "confirm_run": res.confirm_run,
                    "exit_code": res.exit_code,
                    "regressions": [r.to_dict() for r in res.regressions],
                    "unconfirmed": [r.to_dict() for r in res.unconfirmed],
                    "baselines": res.baseline_rows,
                    "dashboard": res.dashboard,
                    "compare_report": res.compare_report,
                },
                indent=2,
                default=str,
            )
        )
    else:
        print(nightly.summary(res))
    return res.exit_code
