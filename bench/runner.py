"""Schedules cases, one subprocess per case (``--repeat N``: N per case, in rounds), and stores each
result as it is complete.

A segfault, out-of-memory, NaN, exception or hang in one case becomes that case's
status with its reason and the tail of its log; the run goes on. Every complete
case is committed to the store in its own transaction, so killing the runner at
any moment loses nothing already stored, and ``resume`` runs only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from bench import env as envmod
from bench import worker as worker_mod
from bench.compare.samples import pool
from bench.config import case_identity
from bench.liveness import pid_alive
from bench.results import FAILED_STATUSES, CaseResult, RunRecord, RunSettings
from bench.suite import Case, Suite

LOG_TAIL_LINES = 40


def resolve_device(device: str) -> str:
    """``auto`` -> "cuda" when a CUDA device is usable, else "cpu"; other values as given, checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from bench.errors import UsageError

        raise UsageError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__})")
    if device != "cpu" and not device.startswith("cuda"):
        from bench.errors import UsageError

        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    return device


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def make_run_record(settings: RunSettings, suites: Sequence[Suite], argv: Sequence[str] = ()) -> RunRecord:
    environment = envmod.capture()
    if settings.threads:
        environment["torch_threads"] = settings.threads
    environment["cpu_memory"] = settings.cpu_memory
    return RunRecord(
        run_id=new_run_id(), created_at=datetime.now(timezone.utc).isoformat(), profile=settings.profile,
        device=settings.device, seed=settings.seed, backend=settings.backend, argv=list(argv),
        suites=[s.name for s in suites], git_commit=environment.get("git_commit"),
        git_dirty=environment.get("git_dirty"), machine=environment.get("machine"), environment=environment,
        settings=settings,
    )


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


CASE_DIR_PREFIX = "bench3d-case-"  # + the runner's pid + "-": whose folder it is, for sweep_case_dirs
_CASE_DIR = re.compile(re.escape(CASE_DIR_PREFIX) + r"(\d+)-")


def sweep_case_dirs(tmp_root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove per-case temp folders (``bench3d-case-PID-*``) of this user whose runner PID is dead: left by a
    runner that was killed while its worker could not clean up. A live PID keeps its folders (if it is
    another process reusing the number, they are removed once it is gone). Returns what was removed."""
    root = Path(tmp_root or tempfile.gettempdir())
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for d in entries:
        m = _CASE_DIR.match(d.name)
        try:
            if not m or not d.is_dir() or d.is_symlink() or d.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        if int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def run_case_subprocess(case: Case, run: RunRecord, opts: RunSettings, run_dir: Path, repeat: int = 0) -> CaseResult:
    """Run one case in a fresh Python process and classify how it ended.

    ``repeat`` > 0 is a further process of the same case (``--repeat``): its log gets a suffix and its
    artifacts go to a scratch folder that is deleted, so only the first process's files are kept.
    """
    safe = f"{case.suite}__{case.name}".replace("/", "_").replace(",", "_")[:150]
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / (f"{safe}.log" if repeat == 0 else f"{safe}.repeat{repeat}.log")
    # The case's temp folder is created only once its worker is running and watching this runner (see
    # bench.worker.main): a runner killed at any moment leaves no folder that nobody removes.
    tmp = Path(tempfile.gettempdir()) / f"{CASE_DIR_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    spec_path, result_path = tmp / "spec.json", tmp / "result.json"
    artifacts = run_dir / "artifacts" if repeat == 0 else tmp / "artifacts"
    spec = {"suite": case.suite, "case": case.name, "params": case.params, "profile": run.profile,
            "device": run.device, "seed": run.seed,
            "backend": case.backend or opts.backend, "case_backend": case.backend,  # per case: --backend a,b
            "artifact_root": str(artifacts), "result_path": str(result_path),
            "data_root": opts.data_root, "threads": opts.threads, "cpu_memory": opts.cpu_memory,
            "repeat": repeat, "runner_pid": os.getpid()}
    # The liveness pipe: this process keeps the write end until the worker has ended; the worker watches
    # the read end and kills its process group at EOF, i.e. when this runner dies (bench.worker).
    live_r, live_w = os.pipe()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", worker_mod.RUNNER_PID_ENV: str(os.getpid()),
           worker_mod.LIVENESS_FD_ENV: str(live_r)}
    t0 = time.perf_counter()
    try:
        with open(log_path, "wb") as log:
            try:
                proc = subprocess.Popen([sys.executable, "-m", "bench.worker", str(spec_path)], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.PIPE, start_new_session=True,
                                        pass_fds=(live_r,), env=env)
            except BaseException:
                os.close(live_w)
                raise
            finally:
                os.close(live_r)
            try:
                tmp.mkdir(mode=0o700)
                spec_path.write_text(json.dumps(spec))
                proc.stdin.close()  # the worker's go: its spec is complete
                code = proc.wait(timeout=opts.timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
                timed_out = True
            except BaseException:  # Ctrl-C, SIGTERM (see bench.cli_run), a failed hand-over: no worker outlives it
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            finally:
                os.close(live_w)
        duration = time.perf_counter() - t0
        if result_path.exists() and not timed_out:
            result = CaseResult.from_dict(json.loads(result_path.read_text()))
        else:
            result = CaseResult(suite=case.suite, case=case.name, params=case.params, seed=run.seed,
                                device=run.device, duration_s=duration)
            result.config_hash, result.config_free = case_identity(case.config)
            if timed_out:
                result.status, result.error = "timeout", f"no result after the per-case timeout of {opts.timeout:g} s"
            elif code < 0:
                name = _signal_name(code)
                hint = " (the kernel's out-of-memory killer sends SIGKILL)" if name == "SIGKILL" else ""
                result.status, result.error = "crashed", f"worker killed by {name}{hint}"
            else:
                result.status, result.error = "crashed", f"worker exited with code {code} without a result"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.log_tail = _tail(log_path)
    return result


def merge_repeats(first: CaseResult, more: Sequence[CaseResult], repeat: int) -> CaseResult:
    """The case's result over ``1 + len(more)`` processes: the first process's metrics and artifacts, every
    process's samples of each timing pooled, each process's value of a metric without items kept in its
    ``process_values``, and the first failure of a later process as the case's status (a case that fails
    only sometimes is failing)."""
    out = first
    for i, r in enumerate(more, start=1):
        if r.status != "ok":
            out.status = r.status
            out.error = f"process {i + 1} of {repeat} (--repeat): {r.error or r.status}"
            out.log_tail = r.log_tail
            break
    by_name: dict[str, list] = {t.name: [t] for t in first.timings}
    for r in more:
        for t in r.timings:
            if t.name in by_name:
                by_name[t.name].append(t)
    out.timings = [pool(recs) if len(recs) > 1 else recs[0] for recs in by_name.values()]
    if out.status == "ok":
        later = [{x.name: x.value for x in r.metrics} for r in more]  # each later process's values, by name
        for m in out.metrics:
            if m.items is None:
                m.process_values = [m.value, *(values.get(m.name) for values in later)]
    out.duration_s = sum(r.duration_s or 0.0 for r in (first, *more))
    return out


ProgressFn = Callable[[str, Case, CaseResult | None], None]
SPOOL = "spool"  # <run_dir>/spool/: finished cases not yet in the store


def spool_case(run_dir: Path, run_id: str, result: CaseResult) -> Path:
    """Write a finished case to ``<run_dir>/spool/`` (atomically, synced) before it is stored, so that no
    lock or crash of the store loses it; :func:`store_spooled` or ``--resume`` stores it later."""
    folder = run_dir / SPOOL
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{result.suite}/{result.case}".encode()).hexdigest()[:12]
    safe = f"{result.suite}__{result.case}".replace("/", "_").replace(",", "_")[:100]
    path = folder / f"{safe}-{key}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump({"run_id": run_id, "case": result.to_dict()}, f, allow_nan=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def store_spooled(store, run_id: str, run_dir: Path, wait: float | None = None) -> int:
    """Store the spooled cases of ``run_id`` (each deleted once it is stored); the number stored. Raises
    StoreBusy when the store stays locked, with the cases still spooled."""
    folder = run_dir / SPOOL
    stored = 0
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or half-written by a process that died: left for a person to look at
        if data.get("run_id") != run_id:
            continue
        store.add_case(run_id, CaseResult.from_dict(data["case"]), wait=wait)
        path.unlink(missing_ok=True)
        stored += 1
    return stored


class Keeper:
    """Stores finished cases, one transaction each, spooling each first (:func:`spool_case`): a write that meets a
    lock for the store's whole lock wait leaves the case spooled, later cases try once and stay spooled, and
    :meth:`finish` stores the spool after the run's last case. Shared by the local and the Ray executor."""

    def __init__(self, store, run_id: str, run_dir: Path):
        self.store, self.run_id, self.run_dir = store, run_id, run_dir
        self.blocked = False

    def keep(self, result: CaseResult) -> None:
        from bench.store.store import StoreBusy

        spooled = spool_case(self.run_dir, self.run_id, result)
        try:
            self.store.add_case(self.run_id, result, wait=0.0 if self.blocked else None)
        except StoreBusy as exc:
            if not self.blocked:
                print(f"warning: {exc}; the case is kept in {spooled.parent} and stored after the run's last case "
                      f"(the run goes on)", file=sys.stderr)
            self.blocked = True
            return
        spooled.unlink(missing_ok=True)

    def finish(self) -> None:
        """Store what was spooled because of a lock, with the whole lock wait again (StoreBusy naming --resume)."""
        from bench.store.store import StoreBusy

        if not self.blocked:
            return
        try:
            store_spooled(self.store, self.run_id, self.run_dir)
        except StoreBusy as exc:
            raise StoreBusy(f"{exc}; the run's finished cases are kept in {self.run_dir / SPOOL}: "
                            f"`bench3d run --resume {self.run_id}` stores them") from None


def execute(store, run: RunRecord, cases: Sequence[Case], opts: RunSettings,
            progress: ProgressFn | None = None) -> list[CaseResult]:
    """Run ``cases`` and store each result as soon as it is complete.

    With ``opts.repeat`` N > 1 the processes go in rounds: round 1 runs every case once (its metrics
    and artifacts), rounds 2..N run every case that is still ok once more, and a case is stored after
    its last round. A case's processes are thus spread over the whole run rather than run back to back:
    on a shared machine a disturbance lasts seconds to minutes, and processes started seconds apart
    share it, so their spread would under-state how much the level moves between runs (measured in
    docs/nightly.md). Killing the runner loses the cases not yet stored; ``--resume`` runs them again.

    ``progress`` gets ("start", case, None) before every process and ("done", case, result) when a case is
    stored.
    """
    sweep_case_dirs()
    rounds = max(1, opts.repeat)
    run_dir = Path(opts.run_dir or Path("reports") / "runs" / run.run_id)
    processes: list[list[CaseResult]] = [[] for _ in cases]
    results: dict[int, CaseResult] = {}
    keeper = Keeper(store, run.run_id, run_dir)
    keep = keeper.keep
    case_dir = Path(opts.artifact_dir) if opts.artifact_dir else run_dir  # --shared-dir
    for k in range(rounds):
        for i, case in enumerate(cases):
            if i in results:  # failed in an earlier round: already stored
                continue
            if progress:
                progress("start", case, None)
            processes[i].append(run_case_subprocess(case, run, opts, case_dir, repeat=k))
            if processes[i][-1].status != "ok" or k == rounds - 1:
                first, *more = processes[i]
                results[i] = merge_repeats(first, more, opts.repeat) if more else first
                keep(results[i])
                if progress:
                    progress("done", case, results[i])
    keeper.finish()
    return [results[i] for i in range(len(cases))]


def run_status(results: Sequence[CaseResult]) -> str:
    return "failed" if any(r.status in FAILED_STATUSES for r in results) else "ok"
