"""Plain records that travel from a case's subprocess to the store and the reports.

They are the one contract between the runner, the store, the reports and the
comparison tools: a case's worker serialises a :class:`CaseResult` to JSON, the
parent process stores it in one transaction, and reports read it back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

# Status of one case. "ok" is the only success; "skipped" means the case could
# not run here (a missing optional dependency or dataset) and is not a failure.
CASE_STATUSES = ("ok", "error", "oom", "nan", "timeout", "crashed", "skipped")
FAILED_STATUSES = ("error", "oom", "nan", "timeout", "crashed")


# ``ctx.unavailable(name, reason)`` stores a declared metric that could not be computed as a MetricRecord without
# a value whose fingerprint is ``{UNAVAILABLE_KEY: reason}``: the reason travels with the case's results to the
# store, reports and comparisons (before, it was only a line of the case log).
UNAVAILABLE_KEY = "unavailable"


@dataclass
class MetricRecord:
    """One metric value of a case, with its per-item raw values and convention."""

    name: str
    value: float | None
    unit: str = ""
    higher_is_better: bool | None = None
    items: list[float] | None = None
    item_ids: list[str] | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    # ``bench3d run --repeat N``, metrics without items only: the value of each worker process in order
    # (``value`` is the first's), so a value that varies from process to process (peak memory, seconds to a
    # threshold) can be tested; None for one process, and for metrics with items.
    process_values: list[float | None] | None = None

    def is_nan(self) -> bool:
        return self.value is not None and isinstance(self.value, float) and math.isnan(self.value)

    @property
    def unavailable(self) -> str | None:
        """Why the metric could not be computed (``ctx.unavailable``), or None for a metric that has a value."""
        reason = self.fingerprint.get(UNAVAILABLE_KEY) if self.value is None else None
        return str(reason) if reason is not None else None


@dataclass
class TimingRecord:
    """Raw samples (seconds per call) of one timed callable and their statistics."""

    name: str
    samples: list[float]
    median: float
    iqr: float
    mean: float
    min: float
    n: int
    noisy: bool = False
    unit: str = "s"
    method: str = "perf_counter"  # or "cuda_event" or "loop" (measured inside an optimisation)
    inner_loops: int = 1
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None  # "cuda_max_allocated" or "rss_delta"
    # Seconds per call of bench.timing's fixed reference kernel, measured in the same process around the
    # samples: how fast this machine ran at that moment, so runs can be compared speed-normalised.
    calibration_s: float | None = None
    # The reference kernel's seconds per call timed right after each sample (same length as ``samples``),
    # or None where the samples were not interleaved with it (CUDA timings, samples a suite timed itself,
    # ingested files, stores older than schema v3). CPU loop timings (``StepTimer``) carry one per step.
    calibration: list[float] | None = None
    # Samples of each worker process pooled here (``bench3d run --repeat``), in the order of ``samples``;
    # None for one process.
    process_sizes: list[int] | None = None
    # Throughput: how many ``item_unit`` (rays, images) one call processes, so reports show
    # ``items_per_call / median`` per second; None for a plain timing (schema v5).
    items_per_call: float | None = None
    item_unit: str | None = None
    # The phase of the case this timing measured: setup | loop | evaluate | kernel (schema v5; None before).
    phase: str | None = None

    @property
    def throughput(self) -> float | None:
        """``item_unit`` per second at the median, or None."""
        if not self.items_per_call or not self.median or self.median <= 0:
            return None
        return self.items_per_call / self.median

    @property
    def processes(self) -> int:
        """Worker processes whose samples are pooled here."""
        return len(self.process_sizes) if self.process_sizes else 1


@dataclass
class ArtifactRecord:
    """A file a case produced (image, mesh, curve), relative to the run's output folder."""

    name: str
    kind: str  # image | mesh | curve | table | text | gif
    path: str
    sha256: str
    bytes: int


@dataclass
class CaseResult:
    """Everything one case produced; what the store keeps per case."""

    suite: str
    case: str
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    log_tail: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    seed: int | None = None
    device: str | None = None
    backend: str | None = None
    datasets: dict[str, str] = field(default_factory=dict)  # name -> "v<version> sha256:<content checksum>"
    # Case identity (schema v5): hash of the resolved configuration's identity fields, and the fields that are
    # not part of it (chunk sizes, memory guards). None: stored before v5, configuration unknown.
    config_hash: str | None = None
    config_free: list[str] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    timings: list[TimingRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    # Where the case ran when not on the run's machine (schema v6; --executor ray): host, Ray node id, GPUs.
    # None: on the run's own machine (its environment says which).
    node: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseResult:
        d = dict(d)
        d["metrics"] = [MetricRecord(**m) for m in d.get("metrics", [])]
        d["timings"] = [TimingRecord(**t) for t in d.get("timings", [])]
        d["artifacts"] = [ArtifactRecord(**a) for a in d.get("artifacts", [])]
        return cls(**d)


@dataclass
class RunSettings:
    """What a run was asked for: the typed, stored record of ``bench3d run``'s options (schema v5).

    ``planned_cases`` ("suite/case") is what ``--resume`` completes; ``overrides`` are the ``--set`` items;
    ``runner`` names the process that runs (or last ran) it, so a run whose runner died is marked interrupted.
    """

    profile: str = "smoke"
    device: str = "auto"
    seed: int = 0
    backend: str = "auto"
    timeout: float = 900.0
    threads: int | None = None
    cpu_memory: str = "process"  # --cpu-memory: process (glibc's defaults) or exact (bench.timing.exact_malloc)
    repeat: int = 1
    overrides: list[str] = field(default_factory=list)
    planned_cases: list[str] = field(default_factory=list)
    run_dir: str | None = None
    data_root: str | None = None
    runner: dict[str, Any] | None = None  # the process running it now (bench.liveness.this_runner)
    # Where case processes write logs and artifacts when not run_dir (--shared-dir: a folder every Ray node sees).
    artifact_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class RunRecord:
    """One invocation of `bench3d run` (or an ingested file): provenance of its cases."""

    run_id: str
    created_at: str
    profile: str
    device: str
    seed: int
    backend: str = "auto"
    status: str = "running"  # running | ok | failed | interrupted
    finished_at: str | None = None
    argv: list[str] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    git_commit: str | None = None
    git_dirty: bool | None = None
    machine: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    source: str = "run"  # run | ingest
    settings: RunSettings | None = None  # None for ingested runs

    @property
    def run_dir(self) -> str | None:
        """The folder of the run's reports, logs and artifacts (None when unknown)."""
        return self.settings.run_dir if self.settings else None

    @property
    def artifact_dir(self) -> str | None:
        """The folder the cases' artifact paths and logs are relative to: ``--shared-dir``'s, else the run folder."""
        return (self.settings.artifact_dir or self.settings.run_dir) if self.settings else None
