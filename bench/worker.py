"""Entry point of the subprocess that runs exactly one case: ``python -m bench.worker SPEC.json``.

It sets the seeds, runs ``suite.run(case, ctx)``, classifies the outcome (ok, error,
oom, nan, skipped) and writes the :class:`~bench.results.CaseResult` as JSON,
atomically, to the path the spec names. Crashes and hangs that kill this process
are classified by the parent (:mod:`bench.runner`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import timing
from bench.errors import NotAvailable
from bench.results import CaseResult


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()


def run_spec(spec: dict[str, Any]) -> CaseResult:
    """Run the case a spec describes and return its result (never raises for case failures).

    The spec holds the case's resolved configuration (``params``); the harness resolves the datasets the
    suite declares for it before ``run`` (a missing standard dataset: skipped with where to get it).
    """
    from bench import config as cfgmod
    from bench.context import Context
    from bench.data.resolve import resolve_case_datasets
    from bench.suite import Registry

    suite = Registry().get(spec["suite"])
    case = suite.case_from(spec["case"], dict(spec["params"]), spec.get("case_backend"))
    data_root = Path(spec["data_root"]) if spec.get("data_root") else None
    started = datetime.now(timezone.utc).isoformat()
    t0 = time.perf_counter()
    datasets, failure = {}, None
    try:
        datasets = resolve_case_datasets(suite, case.config, data_root, int(spec["seed"]))
    except BaseException as exc:  # noqa: BLE001 - recorded as the case's outcome below
        failure = exc
    ctx = Context(suite, case, device=spec["device"], seed=int(spec["seed"]), profile=spec["profile"],
                  artifact_root=Path(spec["artifact_root"]), backend_name=spec.get("backend") or "auto",
                  data_root=data_root, repeat=int(spec.get("repeat", 0)), datasets=datasets)
    res = ctx.result
    res.started_at = started
    res.config_hash, res.config_free = cfgmod.case_identity(case.config)
    try:
        if failure is not None:
            raise failure
        set_seeds(int(spec["seed"]))
        if spec.get("cpu_memory") == "exact" and not timing.exact_malloc():
            ctx.log("--cpu-memory exact: no glibc mallopt in this process; peaks keep the ordinary CPU measure")
        if spec.get("threads"):
            import torch

            torch.set_num_threads(int(spec["threads"]))
        if spec.get("backend"):
            _ = ctx.backend  # record which backend ran, and fail early if it is missing
        suite.run(case, ctx)
        ctx.finish()
        nans = [m.name for m in res.metrics if m.is_nan()]
        if nans:
            res.status, res.error = "nan", f"NaN in metric(s): {', '.join(nans)}"
    except NotAvailable as exc:
        res.status, res.error = "skipped", f"not available: {exc}"
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded, none escapes
        traceback.print_exception(exc)
        res.status = "oom" if _is_oom(exc) else "error"
        res.error = f"{type(exc).__name__}: {exc}".strip()[:2000]
    res.duration_s = time.perf_counter() - t0
    res.finished_at = datetime.now(timezone.utc).isoformat()
    return res


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_GONE = threading.Lock()  # taken once, by whichever of the two watchers sees the runner gone first


def _set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent (the thread that started it) dies; a
    no-op returning False elsewhere or where prctl is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _runner_gone(spec_dir: Path) -> None:
    """The runner died: remove this case's temp folder and kill the worker's process group (the worker and
    every process it started, e.g. data loaders; the runner started the worker in a session of its own)."""
    if not _GONE.acquire(blocking=False):  # the other watcher is already at it: it ends this process
        while True:
            time.sleep(60)
    shutil.rmtree(spec_dir, ignore_errors=True)
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    finally:
        os._exit(128 + signal.SIGKILL)  # not reached: SIGKILL is never blocked


def _death_signal() -> int | None:
    """The parent-death signal: a real-time signal nothing else sends (a SIGTERM from a user keeps its
    meaning), None where there are none."""
    return getattr(signal, "SIGRTMIN", None)


def watch_runner(runner_pid: int | None, liveness_fd: int | None, spec_dir: Path) -> None:
    """Make this worker die with its runner, by two independent means (nothing is polled):

    * the liveness pipe: the runner holds the write end of a pipe whose read end (``liveness_fd``) this
      worker inherited; a daemon thread blocks reading it and gets EOF when the runner is gone, however it
      died (the kernel closes a dead process's files once its last thread is gone);
    * the parent-death signal (Linux ``PR_SET_PDEATHSIG``), sent when the parent *thread* dies. While the
      runner process still has other threads (it is dying thread by thread, or a script ran the case from
      a thread), the parent pid is still the runner's: then the signal is ignored and the pipe decides.

    The parent may have died before the signal was armed, so the parent pid is checked against the runner's
    pid afterwards. The clean-up (:func:`_runner_gone`) removes ``spec_dir`` (the case's temp folder) and
    kills the worker's process group, so the processes the case started die too. Both means run in Python;
    a case stuck inside C code that holds the GIL is killed when it returns to Python (or by the runner's
    timeout, if the runner lives).
    """
    if runner_pid is None:  # started by hand, not by a runner
        return

    def on_parent_death(signum: int, frame: object) -> None:
        if os.getppid() != runner_pid:
            _runner_gone(spec_dir)

    signum = _death_signal()
    if signum is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signum, on_parent_death)
        _set_parent_death_signal(signum)
    if liveness_fd is not None:
        def wait_for_eof() -> None:
            try:
                while os.read(liveness_fd, 4096):
                    pass
            except OSError:
                pass
            _runner_gone(spec_dir)

        threading.Thread(target=wait_for_eof, name="bench3d-liveness", daemon=True).start()
    if os.getppid() != runner_pid:  # died before the signal was armed
        _runner_gone(spec_dir)


RUNNER_PID_ENV, LIVENESS_FD_ENV = "BENCH3D_RUNNER_PID", "BENCH3D_LIVENESS_FD"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def write_result(result: CaseResult, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_dict(), allow_nan=True))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run the case of ``argv[0]`` (a spec file). Started by a runner (:func:`bench.runner.run_case_subprocess`),
    the worker learns the runner's pid and liveness pipe from the environment and arms its watch *before*
    the case's temp folder exists: the runner creates the folder, writes the spec into it and then closes
    this process's stdin. A runner killed at any point of that hand-over leaves no folder behind (the
    watch removes it). Started by hand, the spec's ``runner_pid`` (if any) is watched by the parent-death
    signal alone (no pipe was handed over)."""
    argv = sys.argv[1:] if argv is None else argv
    spec_path = Path(argv[0])
    runner_pid = _env_int(RUNNER_PID_ENV)
    if runner_pid is not None:
        watch_runner(runner_pid, _env_int(LIVENESS_FD_ENV), spec_path.parent)
        sys.stdin.buffer.read()  # EOF: the runner has written the spec, or it died or gave up
        try:
            spec = json.loads(spec_path.read_text())
        except (OSError, ValueError):  # no whole spec: nothing to run, nobody to report to
            _runner_gone(spec_path.parent)
    else:
        spec = json.loads(spec_path.read_text())
        watch_runner(spec.get("runner_pid"), None, spec_path.parent)
    result = run_spec(spec)
    write_result(result, Path(spec["result_path"]))
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
