"""``bench3d run``: the CLI front end of :func:`bench.api.run`, with visible progress."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.api import RunOutcome, RunRequest, parse_overrides, run, run_json
from bench.paths import out_dir
from bench.results import CaseResult
from bench.suite import Case

STATUS_STYLE = {"ok": "green", "skipped": "yellow"}


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


def add_case_options(p: argparse.ArgumentParser) -> None:
    """The options that choose and configure cases, shared by ``run`` and ``nightly``."""
    p.add_argument("--suite", action="append", metavar="NAME", help="suite to run (repeatable; default: all)")
    p.add_argument("--case", action="append", metavar="NAME", help="only these cases (repeatable)")
    p.add_argument("--profile", default="smoke", help="smoke (CPU, <1 min/suite), standard (1 GPU) or full")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda or cuda:N")
    p.add_argument("--backend", default="auto",
                   help="3D backend: auto (pytorch3d if importable), torch, pytorch3d, or a comma list "
                        "(torch,pytorch3d) that runs every case once per backend, named CASE@BACKEND")
    p.add_argument("--seed", type=int, default=0, help="seed for torch, numpy and random (default 0)")
    p.add_argument("--timeout", type=float, default=900.0, help="per-case timeout in seconds (default 900)")
    p.add_argument("--threads", type=int, help="torch CPU threads per case (default: torch's default, all cores)")
    p.add_argument("--cpu-memory", choices=("process", "exact"), default=None,
                   help="CPU peak memory: process (default; the process's resident memory, glibc's allocator as "
                        "it is) or exact (glibc unmaps every freed block of 64 KiB or more, so a peak is the memory "
                        "live at that moment and repeats between processes; the work runs slower and its timings "
                        "are never compared with a process run's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="set a configuration field for every selected case (JSON values), e.g. --set iterations=50; "
                        "checked against the suite's fields (bench3d list --suite S); setting a grid field runs "
                        "and names the cases with that value")
    p.add_argument("--data-root", type=Path, help="dataset root (default: $BENCH3D_DATA)")


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """The :class:`~bench.api.RunRequest` of ``bench3d run``'s options."""
    return RunRequest(suites=list(args.suite or []), cases=list(args.case or []), profile=args.profile,
                      device=args.device, backend=args.backend, seed=args.seed, timeout=args.timeout,
                      threads=args.threads, cpu_memory=getattr(args, "cpu_memory", None),
                      repeat=args.repeat, overrides=parse_overrides(args.overrides),
                      data_root=args.data_root, out=out_dir(args), db=args.db,
                      reports=not getattr(args, "no_report", False), resume=getattr(args, "resume", None),
                      argv=sys.argv[1:], executor=getattr(args, "executor", None) or "local",
                      ray_address=getattr(args, "ray_address", None), memory=getattr(args, "memory", None),
                      queue_timeout=getattr(args, "queue_timeout", None),
                      shared_dir=getattr(args, "shared_dir", None))


class _LiveProgress:
    """Polls the workers' progress file (``bench.progress``) and shows the latest line: in the progress bar's
    description on a terminal, else as a line on stderr every ``every_s`` seconds while a case runs."""

    def __init__(self, folder: Path, every_s: float = 30.0):
        from bench.progress import PROGRESS_ENV

        self.path = folder / "progress.json"
        self.every_s, self.case, self.bar, self.task = every_s, "", None, None
        self._stop = threading.Event()
        self._previous_env = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = str(self.path)  # workers inherit it
        self._thread = threading.Thread(target=self._poll, name="bench3d-progress", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        from bench.progress import describe, read

        last_print = time.monotonic()
        while not self._stop.wait(0.5):
            rec = read(self.path)
            if rec is None or f"{rec.get('suite')}/{rec.get('case')}" != self.case:
                continue
            line = f"{rec.get('case')}: {describe(rec)}"
            if self.bar is not None and not self.bar.disable:
                self.bar.update(self.task, description=line)
            elif time.monotonic() - last_print >= self.every_s:
                print(f"  ... {line}", file=sys.stderr, flush=True)
                last_print = time.monotonic()

    def close(self) -> None:
        from bench.progress import PROGRESS_ENV

        self._stop.set()
        self._thread.join(timeout=2)
        if self._previous_env is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._previous_env


def cmd_run(args: argparse.Namespace) -> int:
    req = request_from_args(args)
    state: dict = {}
    folder = tempfile.TemporaryDirectory(prefix="bench3d-progress-")
    live = _LiveProgress(Path(folder.name))

    def on_plan(run_rec, cases, suites) -> None:
        print(f"run {run_rec.run_id}: {len(cases)} case(s) of {', '.join(s.name for s in suites)} at profile "
              f"{run_rec.profile} on {run_rec.device}", file=sys.stderr)
        bar, update = _progress(len(cases) * run_rec.settings.repeat, quiet=not sys.stderr.isatty())
        bar.start()
        state["bar"], state["update"] = bar, update
        live.bar, live.task = bar, bar.task_ids[0]

    def progress(event: str, case: Case, result: CaseResult | None) -> None:
        if event == "start":
            live.case = f"{case.suite}/{case.name}"
        state["update"](event, case, result)

    try:
        outcome: RunOutcome = run(req, progress=progress, on_plan=on_plan)
    finally:
        live.close()
        folder.cleanup()
        if "bar" in state:
            state["bar"].stop()
    if args.json:
        print(json.dumps(run_json(outcome), indent=2))
    else:
        for fmt, path in outcome.reports.items():
            print(f"{fmt} report: {path}")
    return outcome.exit_code


__all__ = ["add_case_options", "cmd_run", "request_from_args"]
