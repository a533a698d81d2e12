"""``bench3d run --executor ray``: every case process is a Ray task on some node of a Ray cluster.

Each task runs the case exactly as the local runner does (:func:`bench.runner.run_case_subprocess`: a fresh worker
process, the per-case timeout, crash classification) inside a scratch folder of its node, and returns the result
with the files the case wrote (log, artifacts), which the driver writes into the run folder. The driver stores each
case as its task finishes (one transaction each, spooled first: :class:`bench.runner.Keeper`). Resources per task:
``--threads`` CPUs (1 by default) and one GPU for a cuda run, so Ray packs cases onto the nodes that have them.
A task whose Ray worker dies (kill -9, a lost node, the OOM killer) is the case's ``crashed`` status with Ray's
reason; Ctrl-C / SIGTERM cancels every task not yet finished (the run is then ``interrupted``; ``--resume``
completes it). Ray is imported only here, i.e. only with ``--executor ray`` (optional extra ``bench3d[ray]``).

Ray's API as documented for 2.x: ``ray.init(address=...)``, ``ray.remote(fn).options(num_cpus, num_gpus,
max_retries, runtime_env)``, ``ray.wait``, ``ray.cancel(force=True)``, ``ray.get_runtime_context().get_node_id()``.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.results import CaseResult, RunRecord, RunSettings
from bench.suite import Case

# Variables a case's worker needs from the driver's environment (a remote node has its own otherwise).
FORWARD_ENV = ("BENCH3D_DATA", "BENCH3D_EXTRA_SUITES", "BENCH3D_MACHINE", "PYTHONPATH", "BENCH3D_BUSY_TIMEOUT")
CONNECT_PROBE_S = 5.0


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


def run_case_task(case: Case, run: RunRecord, opts: RunSettings, repeat: int) -> dict[str, Any]:
    """Body of one Ray task (on a node): the case in a worker process, in a scratch run folder of this node.
    Returns {"result": CaseResult dict, "files": {relative path: bytes}, "node": where it ran}."""
    import ray

    from bench.runner import run_case_subprocess

    with tempfile.TemporaryDirectory(prefix=f"bench3d-ray-{run.run_id}-") as scratch:
        result = run_case_subprocess(case, run, opts, Path(scratch), repeat=repeat)
        files = {str(p.relative_to(scratch)): p.read_bytes() for p in sorted(Path(scratch).rglob("*")) if p.is_file()}
    from bench.compare.machines import host_class
    from bench.env import cpu_model

    ctx = ray.get_runtime_context()
    node = {"host": socket.gethostname(), "ray_node_id": ctx.get_node_id(),
            "gpus": [str(g) for g in ray.get_gpu_ids()],  # the node's machine type (bench.compare.machines):
            "cpu_model": cpu_model(), "cpu_cores": os.cpu_count(), "host_class": host_class()}
    if node["gpus"]:
        try:
            import torch

            node["gpu"] = torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001 - the name is a courtesy; the ids are recorded anyway
            pass
    return {"result": result.to_dict(), "files": files, "node": node}


def _write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """The task's log and artifact files into the run folder (relative paths only, never outside it)."""
    root = run_dir.resolve()
    for rel, data in files.items():
        target = (root / rel).resolve()
        if root not in target.parents:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _lost(case: Case, run: RunRecord, exc: BaseException) -> CaseResult:
    """The case of a task that ended without a result (its Ray worker or node died): crashed, with Ray's reason."""
    from bench.config import case_identity

    first = (str(exc).strip().splitlines() or [""])[0][:300]
    result = CaseResult(suite=case.suite, case=case.name, params=case.params, seed=run.seed, device=run.device,
                        status="crashed", error=f"Ray task ended without a result ({type(exc).__name__}): {first}")
    result.config_hash, result.config_free = case_identity(case.config)
    return result


def _options(run: RunRecord, opts: RunSettings) -> dict[str, Any]:
    env = {k: os.environ[k] for k in FORWARD_ENV if k in os.environ}
    return {"num_cpus": opts.threads or 1, "num_gpus": 1 if str(run.device).startswith("cuda") else 0,
            "max_retries": 0, "runtime_env": {"env_vars": env} if env else None}


def execute(store, run: RunRecord, cases: Sequence[Case], opts: RunSettings, progress=None) -> list[CaseResult]:
    """:func:`bench.runner.execute` with every case process a Ray task (same rounds for ``--repeat``, same storing);
    :func:`connect` must have been called."""
    import ray

    from bench.runner import Keeper, merge_repeats

    run_dir = Path(opts.run_dir or Path("reports") / "runs" / run.run_id)
    keeper = Keeper(store, run.run_id, run_dir)
    task = ray.remote(run_case_task).options(**{k: v for k, v in _options(run, opts).items() if v is not None})
    processes: list[list[CaseResult]] = [[] for _ in cases]
    results: dict[int, CaseResult] = {}
    for k in range(max(1, opts.repeat)):
        pending: dict[Any, int] = {}
        try:
            for i, case in enumerate(cases):
                if i not in results:
                    if progress:
                        progress("start", case, None)
                    pending[task.remote(case, run, opts, k)] = i
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ref)
                try:
                    out = ray.get(ref)
                    result = CaseResult.from_dict(out["result"])
                    result.node = out["node"]
                    _write_files(run_dir, out["files"])
                except ray.exceptions.RayError as exc:
                    result = _lost(cases[i], run, exc)
                processes[i].append(result)
                if result.status != "ok" or k == max(1, opts.repeat) - 1:
                    first, *more = processes[i]
                    results[i] = merge_repeats(first, more, opts.repeat) if more else first
                    keeper.keep(results[i])
                    if progress:
                        progress("done", cases[i], results[i])
        except BaseException:  # Ctrl-C, SIGTERM, a store error: no task outlives the driver's run
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    keeper.finish()
    return [results[i] for i in range(len(cases))]
