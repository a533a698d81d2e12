"""Careful timing of a callable: warm-up, automatic repetition, raw samples, statistics, peak memory.

``measure(fn)`` keeps setup outside the timed callable, warms up, sizes the number of
calls per sample so that a sample lasts at least ``block_time`` (timer resolution and
loop overhead then stay negligible), and collects samples until ``min_run_time``.
On CUDA each sample is bracketed by CUDA events after a synchronisation; on CPU by
``time.perf_counter``. Every statistic is declared once, in :class:`TimingResult`.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.results import TimingRecord

NOISY_IQR_FRACTION = 0.10  # IQR/median above this flags a timing as noisy


@dataclass
class TimingResult:
    """Raw per-call samples (seconds) and their statistics."""

    samples: list[float]
    method: str = "perf_counter"
    inner_loops: int = 1
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None
    calibration_s: float | None = None  # median of ``calibration`` when that is given
    calibration: list[float] | None = None  # reference-kernel seconds per call after each sample
    process_sizes: list[int] | None = None  # samples per pooled process (``--repeat``); None for one
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.calibration_s is None and self.calibration:
            self.calibration_s = float(np.median(self.calibration))

    @classmethod
    def from_samples(cls, samples: Sequence[float], **kwargs: Any) -> TimingResult:
        if len(samples) == 0:
            raise ValueError("timing samples: expected at least one sample, got none")
        return cls(samples=[float(s) for s in samples], **kwargs)

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def iqr(self) -> float:
        q1, q3 = np.percentile(self.samples, [25, 75])
        return float(q3 - q1)

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def min(self) -> float:
        return float(np.min(self.samples))

    @property
    def noisy(self) -> bool:
        """True when IQR/median exceeds 10%: the figure should not be trusted alone."""
        med = self.median
        return med > 0 and self.iqr / med > NOISY_IQR_FRACTION

    def to_record(self, name: str) -> TimingRecord:
        return TimingRecord(name=name, samples=list(self.samples), median=self.median, iqr=self.iqr,
                            mean=self.mean, min=self.min, n=self.n, noisy=self.noisy, method=self.method,
                            inner_loops=self.inner_loops, peak_memory_bytes=self.peak_memory_bytes,
                            memory_kind=self.memory_kind, calibration_s=self.calibration_s,
                            calibration=None if self.calibration is None else list(self.calibration),
                            process_sizes=None if self.process_sizes is None else list(self.process_sizes))

    def __repr__(self) -> str:
        flag = " NOISY" if self.noisy else ""
        return (f"TimingResult(median={self.median * 1e3:.4g} ms, iqr={self.iqr * 1e3:.3g} ms, "
                f"n={self.n}, loops={self.inner_loops}, {self.method}{flag})")


# --- memory -------------------------------------------------------------------------------

def _read_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS watermark (Linux ``clear_refs`` 5); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager measuring peak memory above the level at entry.

    CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation at entry.
    CPU: the peak resident set size minus the RSS at entry (``/proc`` watermark reset
    where Linux allows it, else ``ru_maxrss``, which only sees new process-wide peaks).
    """

    def __init__(self, device: str = "cpu"):
        self.device = str(device)
        self.peak_bytes: int | None = None
        self.kind = "cuda_max_allocated" if self.device.startswith("cuda") else "rss_delta"

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda_max_allocated":
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._proc = _reset_peak_rss()
            rss = _read_status_kb("VmRSS") if self._proc else None
            if rss is None:
                self._proc = False
                self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            else:
                self._base = rss * 1024
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cuda_max_allocated":
            import torch

            torch.cuda.synchronize(self.device)
            self.peak_bytes = max(0, torch.cuda.max_memory_allocated(self.device) - self._base)
        elif self._proc:
            hwm = _read_status_kb("VmHWM")
            self.peak_bytes = max(0, (hwm or 0) * 1024 - self._base)
        else:
            self.peak_bytes = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self._base)


# --- calibration --------------------------------------------------------------------------

def _reference_kernel() -> int:
    """Fixed pure-Python integer work (~1 ms): its speed tracks the machine's, not the code's."""
    acc = 0
    for i in range(20000):
        acc += (i * 7) % 13
    return acc


def calibrate(blocks: int = 5, loops: int = 4) -> float:
    """Seconds per call of the reference kernel, median of ``blocks`` blocks of ``loops`` calls.

    On a shared machine the speed of a whole process drifts (frequency, neighbours, time slicing) by
    tens of percent from one run to the next; timings divided by this figure, measured interleaved with
    the samples (as :func:`measure` does), drift far less: across 21 runs of a fixed pure-Python workload
    here the coefficient of variation fell from 17% to 2.4%. Comparisons use it to put two runs on the
    same footing. :class:`StepTimer` calls the kernel once after every step; samples a suite records
    itself (``ctx.record_samples``) carry no calibration.
    """
    out = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(loops):
            _reference_kernel()
        out.append((time.perf_counter() - t0) / loops)
    return float(np.median(out))


# --- timers -------------------------------------------------------------------------------

def _block_timer(device: str) -> Callable[[Callable[[], Any], int], float]:
    """A function timing ``loops`` calls of a callable, in seconds, for the device."""
    if str(device).startswith("cuda"):
        import torch

        def cuda_block(call: Callable[[], Any], loops: int) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            for _ in range(loops):
                call()
            end.record()
            torch.cuda.synchronize(device)
            return start.elapsed_time(end) / 1e3

        return cuda_block

    def cpu_block(call: Callable[[], Any], loops: int) -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            call()
        return time.perf_counter() - t0

    return cpu_block


def measure(fn: Callable[..., Any], *, setup: Callable[[], Any] | None = None, device: str = "cpu",
            warmup: int = 2, min_run_time: float = 0.5, block_time: float = 0.02, min_samples: int = 5,
            max_samples: int = 1000, measure_memory: bool = True, calibration: bool = True) -> TimingResult:
    """Time ``fn`` and return per-call samples.

    Args:
        fn: the work. Called as ``fn()``, or ``fn(state)`` where ``state = setup()``.
        setup: run once, untimed; its return value is passed to ``fn``.
        device: "cpu" or "cuda[:i]"; selects perf_counter or CUDA events.
        warmup: untimed calls before measuring (first-call costs, allocator, caches).
        min_run_time: keep sampling until this many seconds were measured (and ``min_samples``).
        block_time: calls per sample are chosen so one sample lasts at least this long.
        max_samples: stop after this many samples even if ``min_run_time`` is not reached.
        calibration: also time the reference kernel once after every sample block (see :func:`calibrate`);
            the result keeps one calibration per sample and their median.
    """
    state = setup() if setup is not None else None
    call = (lambda: fn(state)) if setup is not None else fn
    timer = _block_timer(device)
    method = "cuda_event" if str(device).startswith("cuda") else "perf_counter"

    peak = PeakMemory(device) if measure_memory else None
    if peak is not None:
        with peak:
            call()
    for _ in range(max(0, warmup - (1 if peak is not None else 0))):
        call()

    # Size the block: double the loop count until one block lasts block_time.
    loops = 1
    while True:
        t = timer(call, loops)
        if t >= block_time or loops >= 1 << 20:
            break
        loops = max(loops * 2, int(math.ceil(loops * block_time / max(t, 1e-9))))
    # One reference-kernel block after each sample block: the calibration sees the same moments of
    # machine speed as the samples (interleaving is what makes the ratio stable across processes).
    cal_blocks = [calibrate(blocks=1)] if calibration else []
    samples = [t / loops]
    total = t
    while (total < min_run_time or len(samples) < min_samples) and len(samples) < max_samples:
        t = timer(call, loops)
        samples.append(t / loops)
        total += t
        if calibration:
            cal_blocks.append(calibrate(blocks=1))
    return TimingResult(samples=samples, method=method, inner_loops=loops,
                        peak_memory_bytes=None if peak is None else peak.peak_bytes,
                        memory_kind=None if peak is None else peak.kind,
                        calibration=cal_blocks if calibration else None)


# Speed sensitivity (see speed_sensitivity): running-median window over the calibrations, and the weight
# of the prior "the workload slows down as much as the reference kernel" (sensitivity 1).
SENSITIVITY_WINDOW = 9
SENSITIVITY_PRIOR = 0.03


def _per_sample_calibration(rec: TimingRecord) -> np.ndarray | None:
    cal = rec.calibration
    if cal is None or len(cal) != len(rec.samples) or len(cal) == 0:
        return None
    arr = np.asarray([np.nan if c is None else c for c in cal], dtype=float)
    return arr if bool(np.all(np.isfinite(arr) & (arr > 0))) else None


def speed_sensitivity(records: Sequence[TimingRecord]) -> float | None:
    """How strongly these timings follow the reference kernel's speed: the slope of log(sample) on
    log(calibration), fitted within each record (a run's own level removed, so a change of the code
    between runs cannot leak into it), shrunk towards 1 by a weak prior and clipped to [0, 1].

    A pure-Python workload slows down as much as the pure-Python reference kernel (about 1 here); a
    vectorised numpy/torch kernel less (about 0.5 on this VM, whose slow phases hit interpreted code
    hardest). Calibrations are smoothed by a running median of ``SENSITIVITY_WINDOW`` samples, because
    one short calibration block is noisy, and the noise left after smoothing is taken out of the
    regressor's variance (estimated from successive differences: the machine's speed moves slowly,
    the noise does not); noise in the regressor would otherwise bias the slope towards 0, and a run
    whose speed did not vary would give a slope of noise instead of the prior's 1.
    None when a record has no per-sample calibration.
    """
    fit = sensitivity_fit(records)
    return None if fit is None else fit[0]


def sensitivity_fit(records: Sequence[TimingRecord]) -> tuple[float, float] | None:
    """(sensitivity, evidence) of :func:`speed_sensitivity`; evidence in [0, 1] is the weight of the runs'
    own data against the prior, ``sxx / (sxx + SENSITIVITY_PRIOR)``: near 1 when the machine's speed
    moved within the runs enough to show how this timing follows it, near 0 when the prior decided.
    None when a record has no per-sample calibration."""
    from scipy import ndimage

    xs, ys, diffs = [], [], []
    for rec in records:
        cal = _per_sample_calibration(rec)
        if cal is None:
            return None
        y = np.asarray([np.nan if v is None else v for v in rec.samples], dtype=float)
        keep = np.isfinite(y) & (y > 0)
        if keep.sum() < 3:
            continue
        raw = np.log(cal)
        diffs.append(np.diff(raw))
        x = ndimage.median_filter(raw, size=SENSITIVITY_WINDOW, mode="nearest")[keep]
        y = np.log(y[keep])
        xs.append(x - np.median(x))
        ys.append(y - np.median(y))
    if not xs:
        return 1.0, 0.0
    x, y, d = np.concatenate(xs), np.concatenate(ys), np.concatenate(diffs)
    # variance of one calibration's noise (half the mean squared successive difference), shrunk as a
    # running median of SENSITIVITY_WINDOW normal values shrinks it (pi / 2 / window)
    noise = float(d @ d) / (2 * d.size) * math.pi / (2 * SENSITIVITY_WINDOW)
    sxx = max(0.0, float(x @ x) - x.size * noise)
    beta = (float(x @ y) + SENSITIVITY_PRIOR) / (sxx + SENSITIVITY_PRIOR)
    return float(min(1.0, max(0.0, beta))), sxx / (sxx + SENSITIVITY_PRIOR)


def normalised_samples(rec: TimingRecord, reference_s: float, sensitivity: float = 1.0) -> list[float] | None:
    """``rec``'s samples put on a machine whose reference kernel takes ``reference_s`` seconds per call.

    Each sample is multiplied by ``(reference_s / c) ** sensitivity`` where ``c`` is the calibration timed
    right after it (the machine's speed at that moment) when the record has one per sample, else the
    record's median calibration. None when it has no calibration at all.
    """
    cal = _per_sample_calibration(rec)
    if cal is not None:
        return [s * (reference_s / c) ** sensitivity for s, c in zip(rec.samples, cal.tolist(), strict=True)]
    if rec.calibration_s:
        return [s * (reference_s / rec.calibration_s) ** sensitivity for s in rec.samples]
    return None


def process_chunks(values: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """``values`` (samples or their calibrations) cut into the pooled processes' parts, in order
    (``sizes``: samples per process, as ``TimingRecord.process_sizes``)."""
    if sum(sizes) != len(values):
        raise ValueError(f"process sizes {list(sizes)} do not add up to {len(values)} values")
    ends = np.cumsum(sizes).tolist()
    return [list(values[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def pool(records: Sequence[TimingRecord]) -> TimingRecord:
    """One record of the samples of several processes' records of the same timing (``--repeat``).

    Samples and their calibrations are concatenated in process order, each process's sample count is
    kept (``process_sizes``) and the statistics recomputed; the process-to-process spread (code layout,
    which core, the neighbours at that moment), which one process cannot show, is then measured, and
    comparisons test on process medians. Per-sample calibrations are kept only when every record
    has them; peak memory is the largest of the processes'.
    """
    if not records:
        raise ValueError("pool: expected at least one timing record, got none")
    first = records[0]
    odd = [r for r in records if (r.name, r.unit, r.method) != (first.name, first.unit, first.method)]
    if odd:
        raise ValueError(f"pool: records differ in name, unit or method: {first.name}/{first.method} and "
                         f"{odd[0].name}/{odd[0].method}")
    samples = [x for r in records for x in r.samples]
    per_sample = all(r.calibration is not None and len(r.calibration) == len(r.samples) for r in records)
    cal = [c for r in records for c in r.calibration] if per_sample else None
    medians = [r.calibration_s for r in records if r.calibration_s]
    cal_s = float(np.median(medians)) if not cal and len(medians) == len(records) else None  # else derived
    peaks = [r.peak_memory_bytes for r in records if r.peak_memory_bytes is not None]
    sizes = [k for r in records for k in (r.process_sizes or [len(r.samples)])]
    res = TimingResult.from_samples(samples, method=first.method, inner_loops=first.inner_loops,
                                    peak_memory_bytes=max(peaks) if peaks else None, memory_kind=first.memory_kind,
                                    calibration_s=cal_s, calibration=cal, process_sizes=sizes)
    return res.to_record(first.name)


def overhead_per_sample(device: str = "cpu") -> float:
    """Seconds of harness overhead per call (timing an empty callable), to state with results."""
    res = measure(lambda: None, device=device, warmup=1, min_run_time=0.05, measure_memory=False, calibration=False)
    return res.median


def profile_table(fn: Callable[[], Any], *, device: str = "cpu", top_k: int = 15, repeats: int = 3) -> str:
    """A ``torch.profiler`` table of the top-k operators (and kernels on CUDA) by self time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    sort_by = "self_cpu_time_total"
    if str(device).startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
        sort_by = "self_cuda_time_total"
    fn()
    with profile(activities=activities) as prof:
        for _ in range(repeats):
            fn()
        if str(device).startswith("cuda"):
            torch.cuda.synchronize(device)
    return prof.key_averages().table(sort_by=sort_by, row_limit=top_k)


def cpu_threads() -> int:
    """Threads torch uses for intra-op parallelism (recorded with CPU timings)."""
    import torch

    return torch.get_num_threads() or os.cpu_count() or 1


class StepTimer:
    """Per-step durations of a loop the case runs itself (optimisation iterations).

    ``with timer.step(): ...`` records one sample; on CUDA the device is synchronised
    before the clock is read, so queued kernels are counted in their own step. On CPU, one call of
    the reference kernel is timed after every step, outside it (about 1 ms), so loop timings carry
    a per-sample calibration like :func:`measure`'s; ``calibration=False`` turns that off.
    """

    def __init__(self, device: str = "cpu", *, calibration: bool | None = None):
        self.device = str(device)
        self.samples: list[float] = []
        on = not self.device.startswith("cuda") if calibration is None else calibration
        self.calibration: list[float] | None = [] if on else None

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def step(self) -> _Step:
        return _Step(self)

    def result(self, **kwargs: Any) -> TimingResult:
        method = "cuda_sync" if self.device.startswith("cuda") else "perf_counter"
        cal = self.calibration if self.calibration and len(self.calibration) == len(self.samples) else None
        kwargs.setdefault("calibration", None if cal is None else list(cal))
        return TimingResult.from_samples(self.samples, method=method, **kwargs)


class _Step:
    def __init__(self, timer: StepTimer):
        self.timer = timer

    def __enter__(self) -> _Step:
        self.timer._sync()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer._sync()
        self.timer.samples.append(time.perf_counter() - self.t0)
        if self.timer.calibration is not None:
            self.timer.calibration.append(calibrate(blocks=1, loops=1))
