"""Live progress inside a case: the worker writes its latest step to a small JSON file that ``bench3d run``
polls, so a long case shows "iteration 120/200 · ETA 17 s · loss 0.031 · 0.21 s/step" instead of silence.

The file is named by ``$BENCH3D_PROGRESS`` (set by the CLI before the run; workers inherit the environment);
without it nothing is written. Writes are throttled and atomic (a temp file renamed over the old one), and a
failure to write is ignored: progress never costs a case its result.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROGRESS_ENV = "BENCH3D_PROGRESS"
INTERVAL_S = 0.5  # at most two writes a second


class Reporter:
    """Writes one case's progress to ``$BENCH3D_PROGRESS`` (a no-op when the variable is unset)."""

    def __init__(self, suite: str, case: str, path: str | None = None):
        self.suite, self.case = suite, case
        self.path = path if path is not None else os.environ.get(PROGRESS_ENV)
        self._last = -math.inf

    def update(self, phase: str, step: int, total: int | None, elapsed_s: float,
               values: Mapping[str, Any] | None = None, *, force: bool = False) -> bool:
        """Record step ``step`` (of ``total``) of ``phase`` after ``elapsed_s`` seconds of steps; ``values``
        (a loss, a PSNR: numbers or 0-d tensors) are converted only when a line is written. True if written."""
        now = time.monotonic()
        if not self.path or (not force and now - self._last < INTERVAL_S):
            return False
        self._last = now
        record = {"suite": self.suite, "case": self.case, "phase": phase, "step": step, "total": total,
                  "elapsed_s": elapsed_s, "values": {k: _number(v) for k, v in (values or {}).items()},
                  "pid": os.getpid(), "time": time.time()}
        try:
            tmp = f"{self.path}.{os.getpid()}.tmp"
            Path(tmp).write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            return False
        return True


def _number(v: Any) -> float | None:
    try:
        x = float(v.detach().item() if hasattr(v, "detach") else v)
    except (TypeError, ValueError, RuntimeError):
        return None
    return x if math.isfinite(x) else None


def read(path: str | Path) -> dict[str, Any] | None:
    """The latest progress record, or None (no file yet, or a half-written one)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(rec: Mapping[str, Any]) -> str:
    """``"iteration 120/200 · ETA 17 s · loss 0.031 · 0.21 s/step"`` of a progress record."""
    step, total, elapsed = rec.get("step") or 0, rec.get("total"), rec.get("elapsed_s") or 0.0
    per = elapsed / step if step > 0 and elapsed > 0 else None
    parts = [f"{rec.get('phase', 'step')} {step}" + (f"/{total}" if total else "")]
    if per is not None and total and total > step:  # the ETA first: a narrow terminal cuts the end
        parts.append(f"ETA {_duration(per * (total - step))}")
    parts += [f"{k} {v:.4g}" for k, v in (rec.get("values") or {}).items() if v is not None]
    if per is not None:
        parts.append(f"{per:.3g} s/step")
    return " · ".join(parts)


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
