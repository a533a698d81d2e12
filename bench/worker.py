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
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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


def write_result(result: CaseResult, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_dict(), allow_nan=True))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    result = run_spec(spec)
    write_result(result, Path(spec["result_path"]))
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
