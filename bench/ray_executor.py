"""``bench3d run --executor ray``: every case process is a Ray task on some node of a Ray cluster.

Each task runs the case exactly as the local runner does (:func:`bench.runner.run_case_subprocess`: a fresh worker
process, the per-case timeout, crash classification) inside a scratch folder of its node, and returns the result
with the files the case wrote (log, artifacts), which the driver writes into the run folder (with ``--shared-dir``
the case writes them into that shared folder and nothing is returned). The driver stores each case as its task
finishes (one transaction each, spooled first: :class:`bench.runner.Keeper`). Resources per task: ``--threads``
CPUs (1 by default), one GPU for a cuda run, and the memory the suite declares for the case
(:meth:`bench.suite.Suite.memory_mb`) or ``--memory``, so Ray packs cases onto the nodes that have them. A task is a
streaming generator whose first item says it started, so ``--queue-timeout`` can tell a task no node starts.
A task whose Ray worker dies (kill -9, a lost node, the OOM killer) is the case's ``crashed`` status with Ray's
reason; Ctrl-C / SIGTERM cancels every task not yet finished (the run is then ``interrupted``; ``--resume``
completes it). Ray is imported only here, i.e. only with ``--executor ray`` (optional extra ``bench3d[ray]``).

Ray's API as documented for 2.x: ``ray.init(address=...)``, ``ray.remote(fn).options(num_cpus, num_gpus,
memory, max_retries, runtime_env, num_returns="streaming")``, ``ray.wait`` (also on generators),
``ray.cancel(force=True)``, ``ray.get_runtime_context().get_node_id()`` and ``.get_assigned_resources()``.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.results import CaseResult, RunRecord, RunSettings
from bench.suite import Case

# Variables a case's worker needs from the driver's environment (a remote node has its own otherwise).
FORWARD_ENV = ("BENCH3D_DATA", "BENCH3D_EXTRA_SUITES", "BENCH3D_MACHINE", "PYTHONPATH", "BENCH3D_BUSY_TIMEOUT",
               "BENCH3D_CACHE", "BENCH3D_DATA_RECHECK")
CONNECT_PROBE_S = 5.0
STARTED = "bench3d:task-started"  # a task's first yield: it runs on a node now


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed: pip install 'bench3d[ray]'") from None
    return ray


def _probe(address: str) -> None:
    """A one-line UsageError, at once, when nothing accepts a TCP connection at ``address`` (HOST:PORT or
    ray://HOST:PORT); Ray itself would retry for a minute."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--ray-address {address!r}: expected HOST:PORT (the head node's GCS address, "
                         f"`ray start --head` prints it), ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_PROBE_S):
            pass
    except OSError as exc:
        raise UsageError(f"--ray-address {address}: no Ray cluster reachable there "
                         f"({exc.strerror or type(exc).__name__})") from None


def connect(address: str | None) -> dict[str, Any]:
    """Join the Ray cluster at ``address`` (None: start a local one with this machine's CPUs); the cluster's
    resources (CPU, GPU, nodes). UsageError, before anything is stored, when Ray is missing or unreachable."""
    ray = _ray()
    if address and address != "auto":
        _probe(address)
    if not ray.is_initialized():
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     logging_level="warning")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(f"--ray-address {address or '(local)'}: cannot join the Ray cluster: {first}") from None
    res = ray.cluster_resources()
    return {"address": address or "local", "cpus": res.get("CPU", 0.0), "gpus": res.get("GPU", 0.0),
            "nodes": len([n for n in ray.nodes() if n.get("Alive")])}


def disconnect() -> None:
    """Leave the cluster (a local one started by :func:`connect` stops)."""
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()


def run_case_task(case: Case, run: RunRecord, opts: RunSettings, repeat: int) -> Iterator[Any]:
    """Body of one Ray task (on a node), a generator: first :data:`STARTED` (the driver's queue clock stops), then
    {"result": CaseResult dict, "files": {relative path: bytes}, "node": where it ran}. The case runs in a worker
    process in a scratch run folder of this node whose files are returned, or, with ``--shared-dir``, straight in
    that shared folder (nothing returned)."""
    yield STARTED
    from bench.runner import run_case_subprocess

    if opts.artifact_dir:
        result, files = run_case_subprocess(case, run, opts, Path(opts.artifact_dir), repeat=repeat), {}
    else:
        with tempfile.TemporaryDirectory(prefix=f"bench3d-ray-{run.run_id}-") as scratch:
            result = run_case_subprocess(case, run, opts, Path(scratch), repeat=repeat)
            files = {str(p.relative_to(scratch)): p.read_bytes() for p in sorted(Path(scratch).rglob("*"))
                     if p.is_file()}
    yield {"result": result.to_dict(), "files": files, "node": _node()}


def _node() -> dict[str, Any]:
    """Where this task runs: host, Ray node, GPU ids and name, the resources Ray assigned, the machine type."""
    import ray

    from bench.compare.machines import host_class
    from bench.env import cpu_model

    ctx = ray.get_runtime_context()
    node = {"host": socket.gethostname(), "ray_node_id": ctx.get_node_id(),
            "gpus": [str(g) for g in ray.get_gpu_ids()], "resources": dict(ctx.get_assigned_resources()),
            # the node's machine type (bench.compare.machines)
            "cpu_model": cpu_model(), "cpu_cores": os.cpu_count(), "host_class": host_class()}
    if node["gpus"]:
        try:
            import torch

            node["gpu"] = torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001 - the name is a courtesy; the ids are recorded anyway
            pass
    return node


def _write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """The task's log and artifact files into the run folder (relative paths only, never outside it)."""
    root = run_dir.resolve()
    for rel, data in files.items():
        target = (root / rel).resolve()
        if root not in target.parents:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _failed(case: Case, run: RunRecord, status: str, error: str) -> CaseResult:
    """The record of a case whose task gave no result (its worker died, or no node started it)."""
    from bench.config import case_identity

    result = CaseResult(suite=case.suite, case=case.name, params=case.params, seed=run.seed, device=run.device,
                        status=status, error=error)
    result.config_hash, result.config_free = case_identity(case.config)
    return result


def _lost(case: Case, run: RunRecord, exc: BaseException) -> CaseResult:
    """The case of a task that ended without a result (its Ray worker or node died): crashed, with Ray's reason."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return _failed(case, run, "crashed", f"Ray task ended without a result ({type(exc).__name__}): {first}")


def parse_memory(text: str | int | None) -> int | None:
    """``--memory``: MiB from "512", "512M", "4G", "1T" (binary units); None for None; UsageError otherwise."""
    if text is None:
        return None
    raw = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}.get(raw[-1:], None)
    number = raw[:-1] if scale is not None else raw
    try:
        mib = float(number) * (scale or 1)
    except ValueError:
        mib = -1.0
    if not 1 <= mib < 1024 ** 3:
        raise UsageError(f"--memory {text}: expected a size such as 512M, 4G or a number of MiB (>= 1 MiB)")
    return int(mib)


@dataclass(frozen=True)
class RayOptions:
    """The Ray executor's own options: the memory a case gets when its suite declares none (``--memory``, MiB),
    and the seconds a task may wait for a node while none of the run's tasks runs (``--queue-timeout``)."""

    memory_mb: int | None = None
    queue_timeout: float | None = None

    def __post_init__(self) -> None:
        q = self.queue_timeout
        if q is not None and (isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < float("inf")):
            raise UsageError(f"--queue-timeout {q}: expected a positive, finite number of seconds")


def _resources(case: Case, run: RunRecord, opts: RunSettings, ray_opts: RayOptions, suites: dict) -> dict[str, Any]:
    """What a case's task asks the cluster for: ``--threads`` CPUs (1 by default), a GPU for a cuda run, and the
    memory its suite declares for it (:meth:`bench.suite.Suite.memory_mb`), else ``--memory`` (bytes; Ray's unit)."""
    mib = suites[case.suite].memory_mb(case) if case.suite in suites else None
    mib = mib if mib is not None else ray_opts.memory_mb
    out: dict[str, Any] = {"num_cpus": opts.threads or 1, "num_gpus": 1 if str(run.device).startswith("cuda") else 0}
    if mib:
        out["memory"] = int(mib) * 1024 ** 2
    return out


def _describe(res: dict[str, Any]) -> str:
    parts = [f"{res['num_cpus']:g} CPU", f"{res['num_gpus']:g} GPU"]
    if res.get("memory"):
        parts.append(f"{res['memory'] / 1024 ** 2:.0f} MiB memory")
    return ", ".join(parts)


def _queued(case: Case, run: RunRecord, res: dict[str, Any], waited: float) -> CaseResult:
    """A task no node started within ``--queue-timeout`` while none of the run's tasks ran: ``timeout`` (resumable)."""
    return _failed(case, run, "timeout", f"no node of the Ray cluster started the task in {waited:.0f} s "
                   f"(--queue-timeout) while none of the run's other tasks ran; it asked for {_describe(res)}")


@dataclass
class _Task:
    """A submitted task: its case (index in the run's list), what it asked for, whether it has started."""

    index: int
    case: Case
    resources: dict[str, Any]
    started: bool = False


def _submit(task, case: Case, run: RunRecord, opts: RunSettings, repeat: int, res: dict[str, Any]):
    env = {k: os.environ[k] for k in FORWARD_ENV if k in os.environ}
    options = {**res, "max_retries": 0, "num_returns": "streaming"}
    if env:
        options["runtime_env"] = {"env_vars": env}
    return task.options(**options).remote(case, run, opts, repeat)


def _next(gen) -> Any:
    """The task's next yielded value, or the RayError that ended it."""
    import ray

    try:
        return ray.get(next(gen))
    except ray.exceptions.RayError as exc:
        return exc
    except StopIteration:  # a generator that ended without its result: as a lost task
        return ray.exceptions.RayError("the task ended without yielding its result")


def execute(store, run: RunRecord, cases: Sequence[Case], opts: RunSettings, progress=None,
            ray_opts: RayOptions | None = None) -> list[CaseResult]:
    """:func:`bench.runner.execute` with every case process a Ray task (same rounds for ``--repeat``, same storing);
    :func:`connect` must have been called."""
    import ray

    from bench.runner import Keeper, merge_repeats
    from bench.suite import Registry

    ray_opts = ray_opts or RayOptions()
    run_dir = Path(opts.run_dir or Path("reports") / "runs" / run.run_id)
    keeper, rounds = Keeper(store, run.run_id, run_dir), max(1, opts.repeat)
    registry = Registry()
    suites = {name: registry.get(name) for name in {c.suite for c in cases}}
    task = ray.remote(run_case_task)
    processes: list[list[CaseResult]] = [[] for _ in cases]
    results: dict[int, CaseResult] = {}

    def finish(i: int, result: CaseResult, k: int) -> None:
        processes[i].append(result)
        if result.status != "ok" or k == rounds - 1:
            first, *more = processes[i]
            results[i] = merge_repeats(first, more, opts.repeat) if more else first
            keeper.keep(results[i])
            if progress:
                progress("done", cases[i], results[i])

    for k in range(rounds):
        pending: dict[Any, _Task] = {}
        try:
            for i, case in enumerate(cases):
                if i not in results:
                    if progress:
                        progress("start", case, None)
                    res = _resources(case, run, opts, ray_opts, suites)
                    pending[_submit(task, case, run, opts, k, res)] = _Task(i, case, res)
            _drain(pending, run, run_dir, ray_opts.queue_timeout, lambda i, r, k=k: finish(i, r, k))
        except BaseException:  # Ctrl-C, SIGTERM, a store error: no task outlives the driver's run
            for gen in pending:
                ray.cancel(gen, force=True)
            raise
    keeper.finish()
    return [results[i] for i in range(len(cases))]


def _drain(pending: dict, run: RunRecord, run_dir: Path, queue_timeout: float | None, finish) -> None:
    """Collect every pending task's result (``finish(index, result)``), removing it from ``pending``. With a
    queue timeout, the tasks not started ``queue_timeout`` s after the last start or end of one of the run's tasks,
    while none of them runs, are cancelled and recorded by :func:`_queued` (a task never times out waiting behind
    its own run's tasks, only when the cluster starts none of them: no node has what it asks, or others hold all)."""
    import ray

    last_event = time.monotonic()
    while pending:
        running = any(t.started for t in pending.values())
        idle = time.monotonic() - last_event
        wait = None if queue_timeout is None or running else max(0.05, queue_timeout - idle)
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait)
        if not ready:
            waited = time.monotonic() - last_event
            if not running and queue_timeout is not None and waited >= queue_timeout:
                for gen, t in list(pending.items()):
                    ray.cancel(gen, force=True)
                    del pending[gen]
                    finish(t.index, _queued(t.case, run, t.resources, waited))
            continue
        gen = ready[0]
        last_event, out = time.monotonic(), _next(gen)
        if isinstance(out, str) and out == STARTED:
            pending[gen].started = True
            continue
        t = pending.pop(gen)
        if isinstance(out, BaseException):
            finish(t.index, _lost(t.case, run, out))
            continue
        result = CaseResult.from_dict(out["result"])
        result.node = out["node"]
        _write_files(run_dir, out["files"])
        finish(t.index, result)
