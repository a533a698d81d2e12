"""``bench3d run``: validate the request, run the cases with visible progress, store, report."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from bench.errors import StoreError, UsageError, unknown_name
from bench.results import CaseResult, RunRecord
from bench.runner import RunOptions, execute, make_run_record, resolve_device, run_status
from bench.suite import Case, Registry, Suite

STATUS_STYLE = {"ok": "green", "skipped": "yellow"}


def check_writable(folder: Path) -> Path:
    """Create ``folder`` if needed and prove it is writable, or raise a one-line error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".bench3d-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"output folder {str(folder)!r} is not writable: {exc.strerror or exc}") from exc
    return folder


def select_cases(suites: list[Suite], profile: str, case_names: list[str] | None) -> list[Case]:
    cases = []
    for s in suites:
        if profile not in s.profiles:
            raise unknown_name(f"profile of suite {s.name!r}", profile, s.profiles)
        cases.extend(s.cases(profile))
    if case_names:
        by_name = {c.name: c for c in cases} | {f"{c.suite}/{c.name}": c for c in cases}
        missing = [n for n in case_names if n not in by_name]
        if missing:
            raise unknown_name("case", missing[0], sorted({c.name for c in cases}))
        wanted = {by_name[n].key for n in case_names}
        cases = [c for c in cases if c.key in wanted]
    return cases


def parse_overrides(items: list[str] | None) -> dict:
    """``["k=v", ...]`` -> {k: v}, with v parsed as JSON when it is valid JSON, else kept as a string."""
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def apply_overrides(cases: list[Case], overrides: dict) -> list[Case]:
    if not overrides:
        return cases
    return [Case(c.suite, c.name, {**c.params, **overrides}) for c in cases]


def parse_backends(value: str) -> list[str]:
    """``"torch,pytorch3d"`` -> ["torch", "pytorch3d"], each checked against the known backends."""
    from bench import backends

    names = [b.strip() for b in str(value).split(",")]
    if not all(names):
        raise UsageError(f"--backend {value!r}: expected a backend or a comma list of them, e.g. torch,pytorch3d")
    for name in names:
        if name not in backends.CHOICES:
            raise unknown_name("backend", name, backends.CHOICES)
    if len(set(names)) != len(names):
        raise UsageError(f"--backend {value!r}: a backend is named twice")
    return names


def resolve_backends(names: list[str]) -> dict[str, str]:
    """What each requested backend resolves to here ("torch 0.1.0"), or why it is unavailable."""
    from bench import backends
    from bench.errors import NotAvailable

    out = {}
    for name in names:
        try:
            out[name] = backends.describe(backends.load(name))
        except NotAvailable as exc:
            out[name] = f"unavailable: {exc}"
    return out


def expand_backends(cases: list[Case], names: list[str]) -> list[Case]:
    """With several backends, every case once per backend: named ``case@backend``, ``params["backend"]`` set."""
    if len(names) < 2:
        return cases
    return [Case(c.suite, f"{c.name}@{b}", {**c.params, "backend": b}) for c in cases for b in names]


def _summary(result: CaseResult, limit: int = 3) -> str:
    vals = ", ".join(f"{m.name}={m.value:.4g}" for m in result.metrics[:limit] if m.value is not None)
    return vals if result.status == "ok" else (result.error or "")[:160]


def _progress(total: int, quiet: bool):
    """A rich progress bar of the processes on stderr plus one line per stored case."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=True, disable=quiet)
    task = bar.add_task("starting", total=total)
    started = False

    def update(event: str, case: Case, result: CaseResult | None) -> None:
        nonlocal started
        if event == "start":  # a process starts: the one before it has finished
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=f"{case.suite}/{case.name}")
            return
        style = STATUS_STYLE.get(result.status, "red")
        console.print(f"[{style}]{result.status:>7}[/] {case.suite}/{case.name} "
                      f"({result.duration_s or 0:.1f} s) {_summary(result)}", highlight=False)

    return bar, update


def _repeat(args: argparse.Namespace, run: RunRecord | None = None) -> int:
    """Processes per case: ``--repeat``, else the resumed ``run``'s, else 1."""
    n = getattr(args, "repeat", None)
    if run is not None:
        n = _as_run(n, int(run.environment.get("repeat", 1)), "--repeat", run)
    if n is None:
        return 1
    if n < 1:
        raise UsageError(f"--repeat {n}: expected a number of processes per case >= 1")
    return int(n)


def _as_run(given: int | None, stored: int | None, flag: str, run: RunRecord) -> int | None:
    """A setting for ``--resume``: the resumed run's unless given; a different value would mix two
    settings in one run."""
    if given is None:
        return stored
    if stored is not None and given != stored:
        def show(v: object) -> str:
            return " ".join(map(str, v)) if isinstance(v, list) else str(v)

        raise UsageError(f"{flag} {show(given)}: run {run.run_id} was made with {flag} {show(stored)}; resume it "
                         f"with the same value or leave {flag} out")
    return given


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (a CI job's timeout, ``kill``) exits like Ctrl-C does, through the runner's clean-up, which
    kills the running case's worker; the default action would leave it running as an orphan."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave the default
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.store import Store

    out_dir = check_writable(args.out)
    store = Store.open(args.db or os.environ.get("BENCH3D_DB") or str(out_dir / "bench3d.db"), create=True)
    try:
        registry = Registry()
        if args.resume:
            run = store.get_run(store.resolve(args.resume))
            if run.source != "run":
                raise UsageError(f"--resume {args.resume}: run {run.run_id} was stored by `bench3d {run.source}`, "
                                 f"not by `bench3d run`; there is nothing to resume")
            suites = registry.select(run.suites)
            opts = RunOptions(profile=run.profile, device=run.device, seed=run.seed, timeout=args.timeout,
                              backend=run.backend, out_dir=out_dir, data_root=args.data_root,
                              threads=_as_run(args.threads, run.environment.get("torch_threads"), "--threads", run),
                              repeat=_repeat(args, run), argv=sys.argv[1:])
            done = store.done_cases(run.run_id)
            cases = expand_backends(select_cases(suites, run.profile, args.case), parse_backends(run.backend))
            planned = run.environment.get("planned_cases")
            if planned and not args.case:  # the cases the run was started with, not every case of its suites
                cases = [c for c in cases if f"{c.suite}/{c.name}" in set(planned)]
            cases = [c for c in cases if c.key not in done]
            overrides = _as_run(args.overrides, run.environment.get("overrides"), "--set", run)
            cases = apply_overrides(cases, parse_overrides(overrides))
            run_dir = Path(run.environment.get("bench3d_run_dir") or out_dir / "runs" / run.run_id)
        else:
            suites = registry.select(args.suite)
            cases = apply_overrides(select_cases(suites, args.profile, args.case), parse_overrides(args.overrides))
            cases = expand_backends(cases, parse_backends(args.backend))
            device = resolve_device(args.device)
            opts = RunOptions(profile=args.profile, device=device, seed=args.seed, timeout=args.timeout,
                              backend=args.backend, out_dir=out_dir, data_root=args.data_root, threads=args.threads,
                              repeat=_repeat(args), argv=sys.argv[1:])
            if args.threads is not None and args.threads < 1:
                raise UsageError(f"--threads {args.threads}: expected a positive number of threads")
            run = make_run_record(opts, suites, device)
            run.environment["backend_resolved"] = resolve_backends(parse_backends(args.backend))
            if args.threads:
                run.environment["torch_threads"] = args.threads
            if opts.repeat > 1:
                run.environment["repeat"] = opts.repeat
            if args.overrides:
                run.environment["overrides"] = list(args.overrides)
            run.environment["planned_cases"] = [f"{c.suite}/{c.name}" for c in cases]  # what --resume completes
            run_dir = check_writable(out_dir / "runs" / run.run_id)
            run.environment["bench3d_run_dir"] = str(run_dir.resolve())
            store.create_run(run)

        print(f"run {run.run_id}: {len(cases)} case(s) of {', '.join(s.name for s in suites)} at profile "
              f"{run.profile} on {run.device}", file=sys.stderr)
        bar, update = _progress(len(cases) * opts.repeat, quiet=not sys.stderr.isatty())
        with bar, _terminate_as_exit():
            execute(store, run, cases, opts, run_dir, progress=update)
        all_results = store.cases(run.run_id)
        status = run_status(all_results)
        store.finish_run(run.run_id, status, datetime.now(timezone.utc).isoformat())
        paths = {} if args.no_report else _write_reports(store, run.run_id, run_dir)
        if args.json:
            print(json.dumps(run_json(run.run_id, status, all_results, paths), indent=2))
        else:
            for fmt, path in paths.items():
                print(f"{fmt} report: {path}")
        return 0 if status == "ok" else 1
    finally:
        store.close()


def _write_reports(store, run_id: str, run_dir: Path) -> dict[str, str]:
    from bench.report import write_report

    paths = {}
    for fmt, name in (("md", "report.md"), ("html", "report.html"), ("json", "report.json")):
        try:
            paths[fmt] = str(write_report(store, run_id, fmt, run_dir / name, artifact_root=run_dir))
        except (OSError, StoreError) as exc:  # a report failure never loses the stored run
            print(f"warning: could not write the {fmt} report: {exc}", file=sys.stderr)
    return paths


def run_json(run_id: str, status: str, results: list[CaseResult], reports: dict[str, str]) -> dict:
    """The ``--json`` contract of ``bench3d run``."""
    return {
        "run_id": run_id,
        "status": status,
        "reports": reports,
        "cases": [
            {"suite": r.suite, "case": r.case, "status": r.status,
             "metrics": {m.name: m.value for m in r.metrics},
             "timings": {t.name: {"median": t.median, "iqr": t.iqr, "n": t.n} for t in r.timings},
             "error": r.error}
            for r in results
        ],
    }


__all__ = ["cmd_run", "run_json", "select_cases", "check_writable", "parse_backends", "expand_backends"]
