"""The run API: a typed run request and one function that runs it and returns the stored run.

``bench3d run``, ``bench3d nightly`` and outside scripts all go through :func:`run`::

    from bench.api import RunRequest, run
    outcome = run(RunRequest(suites=["kernels"], overrides={"min_samples": 3}))
    print(outcome.run.run_id, outcome.status, outcome.reports["html"])
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.errors import Interrupted, StoreError, UsageError, unknown_name
from bench.liveness import runner_gone, this_runner
from bench.results import CaseResult, RunRecord, RunSettings
from bench.suite import Case, Registry, Suite
from bench.timing import CPU_MEMORY_MODES

DEFAULT_OUT = Path("reports")
DB_ENV = "BENCH3D_DB"


def default_db(out_dir: str | Path = DEFAULT_OUT) -> str:
    """The results database when none is given: ``$BENCH3D_DB``, else ``OUT/bench3d.db``."""
    return os.environ.get(DB_ENV) or str(Path(out_dir) / "bench3d.db")


@dataclass
class RunRequest:
    """What to run and how; every field has the CLI's default.

    Attributes:
        suites: suite names (empty: all registered).
        cases: case names (``NAME`` or ``SUITE/NAME``) to keep (empty: all).
        overrides: config field -> value for every selected case (``--set``), checked per suite.
        resume: a stored run id to complete instead (its settings are reused; a different one is an error).
        executor: "local" (one worker process at a time on this machine) or "ray" (each case process a task on
            the Ray cluster at ``ray_address``; None: a local Ray instance); see bench.ray_executor.
        memory, queue_timeout: the Ray executor's ``--memory`` and ``--queue-timeout`` (bench.ray_executor).
        shared_dir: a folder every node sees at the same path; cases write their logs and artifacts into
            ``shared_dir/<run id>`` and the Ray executor ships no files back.
    """

    suites: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    profile: str = "smoke"
    device: str = "auto"
    backend: str = "auto"
    seed: int = 0
    timeout: float = 900.0
    threads: int | None = None
    cpu_memory: str | None = None  # --cpu-memory (None: process, or the resumed run's)
    repeat: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    data_root: Path | None = None
    out: Path = DEFAULT_OUT
    db: str | None = None
    reports: bool = True
    resume: str | None = None
    argv: list[str] = field(default_factory=list)
    executor: str = "local"
    ray_address: str | None = None
    memory: str | None = None  # --memory (ray): a case's memory when its suite declares none, e.g. "4G"
    queue_timeout: float | None = None  # --queue-timeout (ray)
    shared_dir: Path | None = None  # --shared-dir: cases write logs/artifacts into SHARED_DIR/<run_id>


@dataclass
class RunOutcome:
    """The stored run, its cases, its status ("ok" or "failed") and the report paths by format."""

    run: RunRecord
    status: str
    results: list[CaseResult]
    reports: dict[str, str]

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else 1


ProgressFn = Callable[[str, Case, CaseResult | None], None]


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` (``--set``) -> {k: v}, v parsed as JSON when it is valid JSON, else a string."""
    from bench.config import parse_value

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(raw)
    return out


def format_overrides(overrides: Mapping[str, Any]) -> list[str]:
    """{k: v} -> ``["k=v", ...]`` (JSON values), as the run settings store them."""
    import json

    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


def check_overrides(suites: Sequence[Suite], overrides: Mapping[str, Any]) -> None:
    """Every ``--set`` key must be a config field of at least one selected suite (and valid there)."""
    from bench.config import fields_of

    for key in overrides:
        owners = [s for s in suites if key in {f.name for f in fields_of(s.Config)}]
        if not owners:
            names = sorted({f.name for s in suites for f in fields_of(s.Config)})
            where = ", ".join(s.name for s in suites)
            raise unknown_name(f"--set key for suite(s) {where}", key, names)


def select_cases(suites: Sequence[Suite], profile: str, case_names: Sequence[str] | None,
                 overrides: Mapping[str, Any] | None = None) -> list[Case]:
    """The cases of ``suites`` at ``profile`` with ``overrides`` applied, filtered by ``case_names``."""
    overrides = dict(overrides or {})
    check_overrides(suites, overrides)
    from bench.config import fields_of

    cases = []
    for s in suites:
        mine = {k: v for k, v in overrides.items() if k in {f.name for f in fields_of(s.Config)}}
        cases.extend(s.cases(profile, mine))
    if not case_names:
        return cases
    by_name = {c.name: c for c in cases} | {f"{c.suite}/{c.name}": c for c in cases}
    for n in case_names:
        if n not in by_name:
            _explain_missing_case(suites, profile, n, overrides, cases)
    wanted = {by_name[n].key for n in case_names}
    return [c for c in cases if c.key in wanted]


def _explain_missing_case(suites: Sequence[Suite], profile: str, name: str, overrides: Mapping[str, Any],
                          cases: Sequence[Case]) -> None:
    """Raise the one-line error for a ``--case`` that is not among the cases (``--set`` may be why)."""
    plain = {c.name for s in suites for c in s.cases(profile)} | {f"{c.suite}/{c.name}" for s in suites
                                                                 for c in s.cases(profile)}
    if name in plain and overrides:
        grid = {k for s in suites for k in {**s.grid, **s.profile(profile).grid}}
        clash = [f"{k}={overrides[k]}" for k in overrides if k in grid]
        raise UsageError(f"--case {name}: --set {', '.join(clash)} changes this case's grid value, so it would "
                         f"not run what its name says; select the case by its new name or leave that --set out")
    raise unknown_name("case", name, sorted({c.name for c in cases}))


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


def resolve_backends(names: Sequence[str]) -> dict[str, str]:
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


def expand_backends(cases: Sequence[Case], names: Sequence[str]) -> list[Case]:
    """With several backends, every case once per backend, named ``case@backend``."""
    if len(names) < 2:
        return list(cases)
    return [Case(c.suite, f"{c.name}@{b}", c.config, b) for c in cases for b in names]


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


def _same(given: Any, stored: Any, flag: str, run: RunRecord) -> Any:
    """A setting for ``--resume``: the resumed run's unless given; a different value would mix two settings."""
    if given is None or given == [] or given == {}:
        return stored
    if stored is not None and given != stored:
        def show(v: object) -> str:
            return " ".join(map(str, v)) if isinstance(v, list) else str(v)

        raise UsageError(f"{flag} {show(given)}: run {run.run_id} was made with {flag} {show(stored)}; resume it "
                         f"with the same value or leave {flag} out")
    return given


# Bounds of the run's numeric options. Seeds: numpy's legacy seed takes 0 .. 2**32 - 1 (torch and random take
# more, and the store's integers 64 bits), so every seed means the same to all three and to the database.
SEED_LIMIT = 2**32
MAX_TIMEOUT_S = 7 * 24 * 3600.0  # a week per case: beyond it a finite timeout is no timeout
MAX_THREADS = 4096
MAX_REPEAT = 1000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_numbers(req: RunRequest) -> None:
    """The run's numeric options: integers where counts are meant, finite and in range; UsageError (one line,
    naming the option) otherwise, before anything is planned or stored."""
    if not _is_int(req.seed) or not 0 <= req.seed < SEED_LIMIT:
        raise UsageError(f"--seed {req.seed}: expected an integer from 0 to {SEED_LIMIT - 1} (numpy's seed range)")
    if req.threads is not None and (not _is_int(req.threads) or not 1 <= req.threads <= MAX_THREADS):
        raise UsageError(f"--threads {req.threads}: expected a positive number of threads (at most {MAX_THREADS})")
    if req.cpu_memory is not None and req.cpu_memory not in CPU_MEMORY_MODES:
        raise UsageError(f"--cpu-memory {req.cpu_memory!r}: expected one of {', '.join(CPU_MEMORY_MODES)}")
    if req.repeat is not None and (not _is_int(req.repeat) or not 1 <= req.repeat <= MAX_REPEAT):
        raise UsageError(f"--repeat {req.repeat}: expected a number of processes per case >= 1 "
                         f"(at most {MAX_REPEAT})")
    timeout = req.timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise UsageError(f"--timeout {timeout}: expected a positive, finite number of seconds "
                         f"(at most {MAX_TIMEOUT_S:g}, a week)")


EXECUTORS = ("local", "ray")


def plan(store: Any, req: RunRequest, executor: Mapping[str, Any] | None = None
         ) -> tuple[RunRecord, list[Case], list[Suite]]:
    """The run record (created in the store for a new run) and the cases still to run. ``executor``: what ran it
    when not the local runner (recorded in the new run's environment)."""
    from bench.runner import make_run_record, resolve_device

    _check_numbers(req)
    registry = Registry()
    if req.resume:
        run = store.get_run(store.resolve(req.resume))
        if run.source != "run" or run.settings is None:
            raise UsageError(f"--resume {req.resume}: run {run.run_id} was stored by `bench3d {run.source}`, "
                             f"not by `bench3d run`; there is nothing to resume")
        st = run.settings
        if run.status == "running" and st.runner and not runner_gone(st.runner):
            raise UsageError(f"--resume {req.resume}: run {run.run_id} is still being run by pid "
                             f"{st.runner.get('pid')} on {st.runner.get('host')}; wait for it or stop it first")
        st.threads = _same(req.threads, st.threads, "--threads", run)
        st.cpu_memory = _same(req.cpu_memory, st.cpu_memory, "--cpu-memory", run) or "process"
        st.repeat = _same(req.repeat, st.repeat, "--repeat", run) or 1
        st.overrides = _same(format_overrides(req.overrides), st.overrides, "--set", run)
        st.timeout = req.timeout
        st.data_root = str(req.data_root) if req.data_root else st.data_root
        if req.shared_dir and st.artifact_dir != str(_shared(req.shared_dir, run.run_id)):
            raise UsageError(f"--resume {req.resume}: --shared-dir {req.shared_dir} differs from the run's "
                             f"({st.artifact_dir or 'none: files in the run folder'}); leave it out")
        suites = registry.select(run.suites)
        cases = expand_backends(select_cases(suites, run.profile, req.cases, parse_overrides(st.overrides)),
                                parse_backends(run.backend))
        if st.planned_cases and not req.cases:  # the cases the run was started with, not every case of its suites
            planned = set(st.planned_cases)
            cases = [c for c in cases if f"{c.suite}/{c.name}" in planned]
        if st.run_dir:  # finished cases a locked store could not take (bench.runner's spool)
            from bench.runner import store_spooled

            store_spooled(store, run.run_id, Path(st.run_dir))
        st.runner = this_runner()
        store.finish_run(run.run_id, "running", None, settings=st)  # this process runs it now
        done = store.done_cases(run.run_id)
        return run, [c for c in cases if c.key not in done], suites
    suites = registry.select(req.suites)
    cases = expand_backends(select_cases(suites, req.profile, req.cases, req.overrides), parse_backends(req.backend))
    device = resolve_device(req.device)
    settings = RunSettings(profile=req.profile, device=device, seed=req.seed, backend=req.backend,
                           timeout=req.timeout, threads=req.threads, cpu_memory=req.cpu_memory or "process",
                           repeat=req.repeat or 1,
                           overrides=format_overrides(req.overrides),
                           planned_cases=[f"{c.suite}/{c.name}" for c in cases],
                           data_root=str(req.data_root) if req.data_root else None, runner=this_runner())
    run = make_run_record(settings, suites, list(req.argv))
    if executor:
        run.environment["executor"] = dict(executor)
    run.environment["backend_resolved"] = resolve_backends(parse_backends(req.backend))
    run_dir = check_writable(Path(req.out) / "runs" / run.run_id)
    settings.run_dir = str(run_dir.resolve())
    if req.shared_dir:
        settings.artifact_dir = str(check_writable(_shared(req.shared_dir, run.run_id)).resolve())
    store.create_run(run)
    return run, cases, suites


def _shared(folder: Path, run_id: str) -> Path:
    """The run's folder under ``--shared-dir``."""
    return Path(folder).resolve() / run_id


STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # besides SIGINT (KeyboardInterrupt): a CI job's timeout, `kill`, a lost terminal


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run as Ctrl-C does (:class:`Interrupted`), through the runner's clean-up,
    which kills the running case's worker, and :func:`run`, which marks the run ``interrupted``; their default
    action would end the runner at once and leave the run ``running``."""
    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name, signum)

    previous = {}
    try:
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                previous[name] = signal.signal(getattr(signal, name), stop)
    except ValueError:  # not the main thread: leave the defaults
        pass
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


def _mark_interrupted(store: Any, run_rec: RunRecord, cases: Sequence[Case], exc: KeyboardInterrupt) -> Interrupted:
    """Record the run as ``interrupted`` (a short lock wait: a stopping runner does not hang; a run left
    ``running`` is marked at the next open of the store) and the one-line message with the resume command."""
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    try:
        store.finish_run(run_rec.run_id, "interrupted", datetime.now(timezone.utc).isoformat(), wait=5.0)
        stored = len(store.done_cases(run_rec.run_id))
        done = f"{stored} case(s) of this run stored"
    except StoreError:
        done = "its status is set at the next open of the store"
    return Interrupted(f"run {run_rec.run_id} stopped by {signal.Signals(signum).name} with {len(cases)} case(s) "
                       f"planned; {done}; `bench3d run --resume {run_rec.run_id}` completes it", signum)


def run(req: RunRequest, *, progress: ProgressFn | None = None, store: Any = None,
        on_plan: Callable[[RunRecord, list[Case], list[Suite]], Any] | None = None) -> RunOutcome:
    """Plan, run and store a run (or complete ``req.resume``), write its reports, and return it.

    ``store`` is an open :class:`~bench.store.Store` to use (default: open ``req.db`` or the default database).
    ``on_plan(run, cases, suites)`` is called once before the first case (the CLI's progress display).
    """
    from bench.runner import execute, run_status
    from bench.store import Store

    if req.executor not in EXECUTORS:
        raise UsageError(f"--executor {req.executor!r}: expected one of {', '.join(EXECUTORS)}")
    for opt, value in (("--ray-address", req.ray_address), ("--memory", req.memory),
                       ("--queue-timeout", req.queue_timeout)):
        if value is not None and req.executor != "ray":
            raise UsageError(f"{opt} is for --executor ray; add --executor ray or leave {opt} out")
    out_dir = check_writable(Path(req.out))
    cluster = None
    if req.executor == "ray":  # joined before the store is opened: an unreachable cluster writes nothing
        import functools

        from bench import ray_executor

        ray_opts = ray_executor.RayOptions(ray_executor.parse_memory(req.memory), req.queue_timeout)
        cluster = {"name": "ray", **ray_executor.connect(req.ray_address), "memory_mb": ray_opts.memory_mb,
                   "queue_timeout": ray_opts.queue_timeout}
        # the same contract as bench.runner.execute
        execute = functools.partial(ray_executor.execute, ray_opts=ray_opts)  # noqa: F811
    own = store is None
    try:
        if own:
            store = Store.open(req.db or default_db(out_dir), create=True)
        return _run_planned(req, store, cluster, execute, run_status, progress, on_plan)
    finally:
        if own and store is not None:
            store.close()
        if cluster is not None:
            ray_executor.disconnect()


def _run_planned(req: RunRequest, store: Any, cluster: Mapping[str, Any] | None, execute: Callable,
                 run_status: Callable, progress: ProgressFn | None, on_plan: Callable | None) -> RunOutcome:
    """Plan, execute, finish and report a run on an open store (:func:`run`'s body)."""
    run_rec, cases, suites = plan(store, req, cluster)
    if on_plan is not None:
        on_plan(run_rec, cases, suites)
    try:
        with signals_interrupt():
            execute(store, run_rec, cases, run_rec.settings, progress=progress)
    except KeyboardInterrupt as exc:
        raise _mark_interrupted(store, run_rec, cases, exc) from None
    results = store.cases(run_rec.run_id)
    status = run_status(results)
    store.finish_run(run_rec.run_id, status, datetime.now(timezone.utc).isoformat())
    reports = write_reports(store, run_rec.run_id, Path(run_rec.run_dir), run_rec.artifact_dir) if req.reports else {}
    return RunOutcome(store.get_run(run_rec.run_id), status, results, reports)


def write_reports(store: Any, run_id: str, run_dir: Path, artifact_dir: str | None = None) -> dict[str, str]:
    """The run's md, html and json reports in ``run_dir`` (artifacts read from ``artifact_dir``, default
    ``run_dir``); a failure to write one is a warning."""
    from bench.report import write_report

    paths = {}
    for fmt, name in (("md", "report.md"), ("html", "report.html"), ("json", "report.json")):
        try:
            paths[fmt] = str(write_report(store, run_id, fmt, run_dir / name,
                                          artifact_root=Path(artifact_dir) if artifact_dir else run_dir))
        except (OSError, StoreError) as exc:  # a report failure never loses the stored run
            print(f"warning: could not write the {fmt} report: {exc}", file=sys.stderr)
    return paths


def run_json(outcome: RunOutcome) -> dict[str, Any]:
    """The ``--json`` contract of ``bench3d run``."""
    return {
        "run_id": outcome.run.run_id,
        "status": outcome.status,
        "reports": outcome.reports,
        "cases": [
            {"suite": r.suite, "case": r.case, "status": r.status,
             "metrics": {m.name: m.value for m in r.metrics if m.unavailable is None},
             "unavailable": {m.name: m.unavailable for m in r.metrics if m.unavailable is not None},
             "timings": {t.name: {"median": t.median, "iqr": t.iqr, "n": t.n} for t in r.timings},
             "error": r.error}
            for r in outcome.results
        ],
    }
