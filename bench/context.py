"""``ctx``: the only channel through which a case reports metrics, timings and artifacts.

A case never writes anywhere else, so the runner can isolate it in a subprocess,
and what it reports is exactly what the store keeps.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import timing
from bench.results import ArtifactRecord, CaseResult, MetricRecord, TimingRecord
from bench.suite import Case, Suite


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


class Context:
    """Collects what one case reports.

    Attributes:
        device: the torch device string the case must use ("cpu" or "cuda").
        seed: the seed already applied to torch, numpy and random.
        profile: the profile name.
        backend: the backend namespace (``bench.backends.load``), or None before it is loaded.
        artifact_dir: where this case's files go (through :meth:`artifact` only).
    """

    def __init__(self, suite: Suite, case: Case, *, device: str, seed: int, profile: str,
                 artifact_root: Path, backend_name: str = "auto", data_root: Path | None = None,
                 repeat: int = 0):
        self.suite = suite
        self.repeat = repeat  # 0 for the case's first process; 1, 2, ... for ``--repeat`` processes
        self.case = case
        self.device = device
        self.seed = seed
        self.profile = profile
        self.backend_name = backend_name
        self.data_root = data_root
        self._backend: Any = None
        self.artifact_root = Path(artifact_root)
        self.artifact_dir = self.artifact_root / _safe(suite.name) / _safe(case.name)
        self.result = CaseResult(suite=suite.name, case=case.name, params=dict(case.params),
                                 seed=seed, device=device)

    # --- backend -------------------------------------------------------------------------
    @property
    def backend(self) -> Any:
        """The 3D backend namespace chosen for this run (PyTorch3D's layout)."""
        if self._backend is None:
            from bench import backends

            self._backend = backends.load(self.backend_name)
            self.result.backend = backends.describe(self._backend)
        return self._backend

    # --- logging -------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """A line for the case's log (kept, its tail stored with the result)."""
        print(message, file=sys.stderr, flush=True)

    # --- metrics -------------------------------------------------------------------------
    def metric(self, name: str, value: float | None, *, items: Sequence[float] | None = None,
               item_ids: Sequence[str] | None = None, fingerprint: dict[str, Any] | None = None,
               unit: str | None = None, higher_is_better: bool | None = None) -> MetricRecord:
        """Record a metric. Unit and direction default to the suite's declaration.

        Args:
            value: the aggregate. NaN is recorded and makes the case's status "nan".
            items: per-item values (per image, shape, seed) whose aggregate is ``value``.
            fingerprint: the metric's convention (see ``bench.metrics``).
        """
        spec = self.suite.metric_spec(name)
        if spec is None and unit is None:
            raise ValueError(f"metric {name!r} is not declared by suite {self.suite.name!r}; "
                             f"declare it in {type(self.suite).__name__}.metrics or pass unit=")
        if items is not None and item_ids is not None and len(items) != len(item_ids):
            raise ValueError(f"metric {name!r}: {len(items)} items but {len(item_ids)} item_ids")
        if higher_is_better is None and spec is not None:
            higher_is_better = spec.higher_is_better
        rec = MetricRecord(
            name=name,
            value=None if value is None else float(value),
            unit=unit if unit is not None else spec.unit,
            higher_is_better=higher_is_better,
            items=None if items is None else [float(v) for v in items],
            item_ids=None if item_ids is None else [str(i) for i in item_ids],
            fingerprint=dict(fingerprint or {}),
        )
        self.result.metrics = [m for m in self.result.metrics if m.name != name] + [rec]
        return rec

    # --- timings -------------------------------------------------------------------------
    def timeit(self, name: str, fn: Callable[..., Any], **kwargs: Any) -> TimingRecord:
        """Time ``fn`` with :func:`bench.timing.measure` on this case's device and record it.

        With the case parameter ``profile_ops`` true (``bench3d run --set profile_ops=true``), a
        ``torch.profiler`` table of its top operators is also saved as an artifact.
        """
        kwargs.setdefault("device", self.device)
        res = timing.measure(fn, **kwargs)
        if self.case.params.get("profile_ops"):
            setup = kwargs.get("setup")
            state = setup() if setup is not None else None
            self.profile_ops(name, (lambda: fn(state)) if setup is not None else fn)
        return self.record_timing(name, res)

    def profile_ops(self, name: str, fn: Callable[[], Any], *, top_k: int = 15) -> ArtifactRecord:
        """Save a ``torch.profiler`` top-k operator (and, on CUDA, kernel) table of ``fn`` as an artifact."""
        table = timing.profile_table(fn, device=self.device, top_k=top_k)
        return self.text(f"{name}_profile", table, kind="table")

    def record_timing(self, name: str, res: timing.TimingResult) -> TimingRecord:
        rec = res.to_record(name)
        self.result.timings = [t for t in self.result.timings if t.name != name] + [rec]
        return rec

    def record_samples(self, name: str, samples: Sequence[float], *, method: str = "loop",
                       peak_memory_bytes: int | None = None, memory_kind: str | None = None) -> TimingRecord:
        """Record durations measured by the case itself (e.g. seconds per optimisation step)."""
        res = timing.TimingResult.from_samples(samples, method=method, peak_memory_bytes=peak_memory_bytes,
                                               memory_kind=memory_kind)
        return self.record_timing(name, res)

    # --- artifacts -----------------------------------------------------------------------
    def _register(self, name: str, kind: str, path: Path) -> ArtifactRecord:
        data = path.read_bytes()
        rec = ArtifactRecord(name=name, kind=kind, path=str(path.relative_to(self.artifact_root.parent)),
                             sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        self.result.artifacts = [a for a in self.result.artifacts if a.name != name] + [rec]
        return rec

    def artifact_path(self, filename: str) -> Path:
        """A path inside this case's artifact folder, for writers that need a filename."""
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        return self.artifact_dir / _safe(filename)

    def artifact_file(self, name: str, path: Path, kind: str) -> ArtifactRecord:
        """Register a file already written under :meth:`artifact_path`."""
        return self._register(name, kind, Path(path))

    def image(self, name: str, array: Any) -> ArtifactRecord:
        """Save an image (HxW or HxWx3/4, float in [0, 1] or uint8) as PNG."""
        from PIL import Image

        arr = _to_numpy(array)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        path = self.artifact_path(f"{name}.png")
        Image.fromarray(arr.squeeze()).save(path)
        return self._register(name, "image", path)

    def curve(self, name: str, x: Sequence[float], y: Sequence[float] | dict[str, Sequence[float]], *,
              x_label: str = "iteration", y_label: str = "") -> ArtifactRecord:
        """Save a curve (or several sharing x) as JSON; reports draw it with plotly."""
        series = y if isinstance(y, dict) else {y_label or name: y}
        payload = {"x": [float(v) for v in x], "x_label": x_label, "y_label": y_label,
                   "series": {k: [None if not math.isfinite(float(v)) else float(v) for v in vs]
                              for k, vs in series.items()}}
        path = self.artifact_path(f"{name}.json")
        path.write_text(json.dumps(payload))
        return self._register(name, "curve", path)

    def text(self, name: str, content: str, *, kind: str = "text", suffix: str = ".txt") -> ArtifactRecord:
        path = self.artifact_path(f"{name}{suffix}")
        path.write_text(content)
        return self._register(name, kind, path)


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)
