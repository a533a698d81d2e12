"""``ctx``: the only channel through which a case reports metrics, timings and artifacts.

A case never writes anywhere else, so the runner can isolate it in a subprocess,
and what it reports is exactly what the store keeps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import progress, timing
from bench.metrics.fingerprint import MetricResult
from bench.results import UNAVAILABLE_KEY, ArtifactRecord, CaseResult, MetricRecord, TimingRecord
from bench.suite import Case, MetricSpec, Suite

if TYPE_CHECKING:
    from bench.data.resolve import ResolvedDataset

PHASE_KINDS = ("setup", "loop", "evaluate")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


class Context:
    """Collects what one case reports.

    Attributes:
        device: the torch device string the case must use ("cpu" or "cuda").
        seed: the seed already applied to torch, numpy and random.
        profile: the profile name.
        config: the case's typed configuration (``case.config``).
        backend: the backend namespace (``bench.backends.load``), loaded on first use.
        artifact_dir: where this case's files go (through :meth:`artifact` only).
    """

    def __init__(self, suite: Suite, case: Case, *, device: str, seed: int, profile: str,
                 artifact_root: Path, backend_name: str = "auto", data_root: Path | None = None,
                 repeat: int = 0, datasets: Mapping[str, ResolvedDataset] | None = None):
        self.suite = suite
        self.repeat = repeat  # 0 for the case's first process; 1, 2, ... for ``--repeat`` processes
        self.case = case
        self.config = case.config
        self.device = device
        self.seed = seed
        self.profile = profile
        self.backend_name = backend_name
        self.data_root = data_root
        self._datasets: dict[str, ResolvedDataset] = dict(datasets or {})
        self._backend: Any = None
        self._phase: str | None = None
        self._peaks: list[tuple[int, str]] = []  # (bytes, kind) of each measured phase
        self.artifact_root = Path(artifact_root)
        self.artifact_dir = self.artifact_root / _safe(suite.name) / _safe(case.name)
        self._progress = progress.Reporter(suite.name, case.name)
        self.result = CaseResult(suite=suite.name, case=case.name, params=case.params, seed=seed, device=device,
                                 datasets={name: d.tag for name, d in self._datasets.items()})

    # --- backend and data ------------------------------------------------------------------
    @property
    def backend(self) -> Any:
        """The 3D backend namespace chosen for this run (PyTorch3D's layout)."""
        if self._backend is None:
            from bench import backends

            self._backend = backends.load(self.backend_name)
            self.result.backend = backends.describe(self._backend)
        return self._backend

    def dataset(self, name: str) -> ResolvedDataset:
        """A dataset the suite declared for this case, resolved (generated or located) by the harness."""
        if name not in self._datasets:
            declared = [u.name for u in self.suite.datasets if u.applies(self.config)]
            raise ValueError(f"dataset {name!r} is not declared for case {self.case.name!r} of suite "
                             f"{self.suite.name!r} (declared for it: {', '.join(declared) or 'none'}); "
                             f"add a DatasetUse to {type(self.suite).__name__}.datasets")
        return self._datasets[name]

    # --- logging -------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """A line for the case's log (kept, its tail stored with the result)."""
        print(message, file=sys.stderr, flush=True)

    # --- metrics -------------------------------------------------------------------------
    def metric(self, name: str, value: float | MetricResult | None, *, items: Sequence[float] | None = None,
               item_ids: Sequence[str] | None = None, fingerprint: Mapping[str, Any] | None = None) -> MetricRecord:
        """Record metric ``name``, which the suite must declare; unit and direction come from the declaration.

        A metric declared with an implementation (``MetricSpec.of("psnr")``) takes that implementation's
        :class:`~bench.metrics.MetricResult` (its value, per-item values and fingerprint); a quantity of the
        suite's own takes a number (None: not reached) with optional ``items`` and ``fingerprint``.

        Args:
            value: the aggregate, or the MetricResult. NaN is recorded and makes the case's status "nan".
            items: per-item values (per image, shape, seed) whose aggregate is ``value``.
            item_ids: one id per item, so that two runs are paired item by item.
        """
        spec = self.suite.metric_spec(name)
        if spec is None:
            raise ValueError(f"metric {name!r} is not declared by suite {self.suite.name!r}; declare it in "
                             f"{type(self.suite).__name__}.metrics")
        if isinstance(value, MetricResult):
            value, items, fingerprint = self._from_result(spec, value, items, fingerprint)
        elif spec.implementation is not None:
            raise ValueError(f"metric {name!r} is computed by bench.metrics.{spec.implementation}: pass its "
                             f"MetricResult (value, items and fingerprint), not a bare number")
        if items is not None and item_ids is not None and len(items) != len(item_ids):
            raise ValueError(f"metric {name!r}: {len(items)} items but {len(item_ids)} item_ids")
        rec = MetricRecord(
            name=name,
            value=None if value is None else float(value),
            unit=spec.unit,
            higher_is_better=spec.higher_is_better,
            items=None if items is None else [float(v) for v in items],
            item_ids=None if item_ids is None else [str(i) for i in item_ids],
            fingerprint=dict(fingerprint or {}),
        )
        self.result.metrics = [m for m in self.result.metrics if m.name != name] + [rec]
        return rec

    def unavailable(self, name: str, reason: str) -> MetricRecord:
        """Record that declared metric ``name`` cannot be computed here and why (a missing weights file or
        optional package, named with how to provide it): stored without a value, so the report's
        "unavailable" row and ``bench3d compare`` show the reason. Also logged."""
        spec = self.suite.metric_spec(name)
        if spec is None:
            raise ValueError(f"metric {name!r} is not declared by suite {self.suite.name!r}; declare it in "
                             f"{type(self.suite).__name__}.metrics")
        if not str(reason).strip():
            raise ValueError(f"metric {name!r}: give the reason it is unavailable (what is missing, how to provide it)")
        self.log(f"{name} not recorded: {reason}")
        rec = MetricRecord(name=name, value=None, unit=spec.unit, higher_is_better=spec.higher_is_better,
                           fingerprint={UNAVAILABLE_KEY: str(reason)})
        self.result.metrics = [m for m in self.result.metrics if m.name != name] + [rec]
        return rec

    def _from_result(self, spec: MetricSpec, res: MetricResult, items: Sequence[float] | None,
                     fingerprint: Mapping[str, Any] | None) -> tuple[float, Sequence[float] | None, dict]:
        from bench.metrics.catalog import info

        if spec.implementation is None:
            raise ValueError(f"metric {spec.name!r} is declared as the suite's own quantity, but a MetricResult "
                             f"({res.name}) was passed; declare it with MetricSpec.of(...)")
        impl = info(spec.implementation)
        if not impl.produced(res.name):
            raise ValueError(f"metric {spec.name!r} is declared as bench.metrics.{impl.name}, but the result "
                             f"passed is {res.name!r}")
        if (res.unit or "") != spec.unit or res.higher_is_better != spec.higher_is_better:
            raise ValueError(f"metric {spec.name!r}: the result's unit/direction ({res.unit!r}, "
                             f"{res.higher_is_better}) differ from the catalog's ({spec.unit!r}, "
                             f"{spec.higher_is_better}); fix bench.metrics.catalog")
        if fingerprint is not None:
            raise ValueError(f"metric {spec.name!r}: a MetricResult carries its own fingerprint")
        return res.value, (res.items if items is None else items), dict(res.fingerprint)

    # --- phases and timings ----------------------------------------------------------------
    def phase(self, name: str, *, kind: str = "loop", items_per_step: float | None = None,
              item_unit: str | None = None, memory: bool = True) -> Phase:
        """A timed phase of the case: ``with ctx.phase("iteration") as loop: ... with loop.step(): ...``.

        Each ``loop.step()`` is one sample (synchronised on CUDA; on CPU the reference kernel is timed after it,
        outside it); a phase without steps is one sample of its whole duration. The phase's peak memory is
        taken by the harness. ``items_per_step`` + ``item_unit`` record throughput (rays/s, images/s) with
        the timing. ``kind`` is setup, loop or evaluate. Phases do not nest.
        """
        if kind not in PHASE_KINDS:
            raise ValueError(f"phase {name!r}: kind {kind!r}, expected one of {PHASE_KINDS}")
        if (items_per_step is None) != (item_unit is None):
            raise ValueError(f"phase {name!r}: give both items_per_step and item_unit, or neither")
        return Phase(self, name, kind, items_per_step, item_unit, memory)

    def _enter_phase(self, name: str) -> None:
        if self._phase is not None:
            raise RuntimeError(f"phase {name!r} started inside phase {self._phase!r}: phases do not nest "
                               f"(their peak-memory watermarks would disturb each other)")
        if any(t.name == name for t in self.result.timings):
            raise ValueError(f"timing {name!r} is recorded twice in case {self.case.name!r}")
        self._phase = name

    def _exit_phase(self, rec: TimingRecord) -> None:
        self._phase = None
        self._keep(rec)

    def _keep(self, rec: TimingRecord) -> TimingRecord:
        self.result.timings = [t for t in self.result.timings if t.name != rec.name] + [rec]
        if rec.peak_memory_bytes is not None:
            self._peaks.append((rec.peak_memory_bytes, rec.memory_kind or ""))
        return rec

    def timeit(self, name: str, fn: Callable[..., Any], *, items_per_call: float | None = None,
               item_unit: str | None = None, **kwargs: Any) -> TimingRecord:
        """Time ``fn`` with the harness's autoranging timer (warm-up, raw samples, peak memory) and record it.

        With the case parameter ``profile_ops`` true (``--set profile_ops=true``), a ``torch.profiler``
        table of its top operators is also saved as an artifact.
        """
        if self._phase is not None:
            raise RuntimeError(f"timeit {name!r} inside phase {self._phase!r}: phases do not nest")
        kwargs.setdefault("device", self.device)
        res = timing.measure(fn, **kwargs)
        if getattr(self.config, "profile_ops", False):
            setup = kwargs.get("setup")
            state = setup() if setup is not None else None
            self.profile_ops(name, (lambda: fn(state)) if setup is not None else fn)
        rec = res.to_record(name)
        rec.phase, rec.items_per_call, rec.item_unit = "kernel", items_per_call, item_unit
        return self._keep(rec)

    def profile_ops(self, name: str, fn: Callable[[], Any], *, top_k: int = 15) -> ArtifactRecord:
        """Save a ``torch.profiler`` top-k operator (and, on CUDA, kernel) table of ``fn`` as an artifact."""
        table = timing.profile_table(fn, device=self.device, top_k=top_k)
        return self.text(f"{name}_profile", table, kind="table")

    def record_samples(self, name: str, samples: Sequence[float], *, method: str = "loop") -> TimingRecord:
        """Record durations the case measured with a clock of its own (e.g. thread CPU time)."""
        rec = timing.TimingResult.from_samples(samples, method=method).to_record(name)
        return self._keep(rec)

    def finish(self) -> None:
        """The harness's own metrics of the case: ``peak_memory_mb`` (its largest phase)."""
        if self._peaks and self.result.status == "ok":
            peak, kind = max(self._peaks)
            self.metric("peak_memory_mb", peak / 2**20, fingerprint={"kind": kind, "scope": "largest phase"})

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

    def image(self, name: str, array: Any, *, columns: Sequence[str] | None = None, gap: int = 0) -> ArtifactRecord:
        """Save an image (HxW or HxWx3/4, float in [0, 1] or uint8) as PNG.

        ``columns``: labels of the image's equal-width columns (separated by ``gap`` pixels), such as
        ("ground truth", "prediction", "difference"); the PNG then gets a label band and small images are
        scaled up by whole pixels (:func:`bench.imaging.label_columns`).
        """
        from PIL import Image

        from bench.imaging import label_columns, to_uint8

        arr = to_uint8(_to_numpy(array))
        if columns:
            arr = label_columns(arr.squeeze(), columns, gap=gap)
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


class Phase:
    """A timed phase of a case (see :meth:`Context.phase`); its steps are the samples."""

    def __init__(self, ctx: Context | None, name: str, kind: str = "loop", items_per_step: float | None = None,
                 item_unit: str | None = None, memory: bool = True, device: str | None = None):
        self.ctx, self.name, self.kind = ctx, name, kind
        self.items_per_step, self.item_unit = items_per_step, item_unit
        self.device = device or (ctx.device if ctx is not None else "cpu")
        self._timer = timing.StepTimer(self.device)
        self._memory = timing.PeakMemory(self.device) if memory else None
        self.record: TimingRecord | None = None
        self.steps, self.total = 0, None
        self._values: dict[str, Any] = {}

    @classmethod
    def standalone(cls, name: str = "loop", device: str = "cpu") -> Phase:
        """A phase outside any case (unit tests of a suite's method code): times steps, records nothing."""
        return cls(None, name, device=device, memory=False)

    @property
    def samples(self) -> list[float]:
        """Seconds of each step so far."""
        return self._timer.samples

    @property
    def elapsed(self) -> float:
        """Seconds of all steps so far (time outside the steps, e.g. evaluations, excluded)."""
        return float(sum(self._timer.samples))

    @contextlib.contextmanager
    def step(self) -> Iterator[Any]:
        """``with phase.step(): ...`` times one step (and, in a case, reports progress after it)."""
        with self._timer.step() as inner:
            yield inner
        self.steps += 1
        if self.ctx is not None:
            self.ctx._progress.update(self.name, self.steps, self.total, self.elapsed, self._values)

    def expect(self, total: int) -> None:
        """The number of steps this phase will run, for the progress line's ETA."""
        self.total = int(total)

    def report(self, **values: Any) -> None:
        """Values shown with the progress line (``loop.report(loss=loss)``); tensors are read only when a
        line is written, at most twice a second."""
        self._values.update(values)

    def __enter__(self) -> Phase:
        if self.ctx is not None:
            self.ctx._enter_phase(self.name)
        if self._memory is not None:
            if self._memory.kind != timing.CUDA_KIND:  # one-time imports kept out of the CPU peak (and time)
                timing.warm_lazy_imports()
            self._memory.__enter__()
        self._t0 = _now()
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        whole = _now() - self._t0
        if self._memory is not None:
            self._memory.__exit__(exc_type, *exc)
        if self.ctx is None:
            return
        if not self._timer.samples:  # a phase without steps: one sample of its whole duration
            res = timing.TimingResult.from_samples([whole], method="perf_counter" if not self.device.startswith(
                "cuda") else "cuda_sync")
        else:
            res = self._timer.result()
        if self._memory is not None:
            res = dataclasses.replace(res, peak_memory_bytes=self._memory.peak_bytes, memory_kind=self._memory.kind)
        rec = res.to_record(self.name)
        rec.phase, rec.items_per_call, rec.item_unit = self.kind, self.items_per_step, self.item_unit
        self.record = rec
        if exc_type is None:
            self.ctx._exit_phase(rec)
        else:
            self.ctx._phase = None


def _now() -> float:
    import time

    return time.perf_counter()
