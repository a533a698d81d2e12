"""Careful timing of a callable: warm-up, automatic repetition, raw samples, statistics, peak memory.

``measure(fn)`` keeps setup outside the timed callable, warms up, sizes the number of
calls per sample so that a sample lasts at least ``block_time`` (timer resolution and
loop overhead then stay negligible), and collects samples until ``min_run_time``.
On CUDA each sample is bracketed by CUDA events after a synchronisation; on CPU by
``time.perf_counter``. Every statistic is declared once, in :class:`TimingResult`.
What comparisons do with the samples afterwards (speed sensitivity, normalisation onto one machine
speed, pooling of processes) lives in :mod:`bench.compare.samples`.
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

# The CPU measure of a call's own memory (issue 22): RSS peak above the level at entry, after the allocator has
# returned its free memory to the OS, less the file-backed pages (shared-library code, mapped files) that the call
# touched. The old kind ``rss_delta`` (peak RSS above entry, library pages and allocator cache included) is what a
# run records where this recipe is unavailable; stored results keep the kind they were measured with.
ANON_KIND = "rss_anon_peak"
EXACT_KIND = "rss_anon_exact"  # ANON_KIND in a process whose glibc malloc hands every large block back (exact_malloc)
RSS_KIND = "rss_delta"
CUDA_KIND = "cuda_max_allocated"


def _read_status_kb(key: str) -> int | None:
    """One field of ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``, ``RssFile``), None where absent."""
    return _read_status_many((key,)).get(key)


def _read_status_many(keys: Sequence[str]) -> dict[str, int]:
    """Fields of ``/proc/self/status`` in KiB, read at one moment; absent ones are left out."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key = line.split(":", 1)[0]
                if key in keys:
                    out[key] = int(line.split()[1])
    except OSError:
        return {}
    return out


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS watermark (Linux ``clear_refs`` 5); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


_TRIM: list[Any] = []  # the glibc malloc_trim function, looked up once ([None] where there is none)


def _malloc_trim() -> bool:
    """glibc ``malloc_trim(0)``: the allocator returns its free heap memory to the OS; False where unavailable."""
    if not _TRIM:
        fn = None
        try:
            import ctypes

            fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            fn = None
        _TRIM.append(fn)
    if _TRIM[0] is None:
        return False
    _TRIM[0](0)
    return True



# ``bench3d run --cpu-memory``: how a case process's C allocator is set up (RunSettings.cpu_memory).
CPU_MEMORY_MODES = ("process", "exact")
EXACT_MALLOC_BYTES = 64 * 1024  # glibc's mmap and trim thresholds in the exact mode
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
_EXACT: list[bool] = []  # set once exact_malloc() succeeded in this process


def exact_malloc() -> bool:
    """Make glibc's allocator hold no freed large block, so ``rss_anon_peak`` is the memory live at the peak.

    glibc serves a request at or above its mmap threshold (128 KiB at start) with a fresh mapping that is
    returned on free, and raises the threshold to the size of each such block freed (up to 32 MiB), after which
    blocks of that size come from the heap, where freed space stays resident and new blocks that do not fit the
    holes grow it. Over an optimisation loop that makes the resident peak a matter of allocation order: the
    NeRF smoke iteration phase (200 steps in one process) read 65.6-74.7 MiB on one backend and 70.1-71.9 on the
    other over three processes each, while the same loops with both thresholds fixed at 64 KiB read
    39.5-39.7 and 39.7-39.8 MiB. This fixes both thresholds (``mallopt``, which also stops the raising), so a
    block of 64 KiB or more is mapped on allocation and unmapped on free (unless a free chunk of the heap fits
    it: glibc maps only what it cannot place), and the heap is trimmed past 64 KiB of free space at its top.
    Smaller blocks still live in the heap, whose holes a long loop leaves and later blocks fault back in: a few
    MiB after SynSin's training (docs/backends.md, issue 22's eighth session). Work gets slower (the NeRF loop
    2x: every large tensor is page-faulted anew), so timings of this mode are never compared with those of the
    default one. Returns False where there is no
    glibc ``mallopt`` (peaks then keep their ordinary kind)."""
    if _EXACT:
        return True
    try:
        import ctypes

        fn = getattr(ctypes.CDLL(None), "mallopt", None)
    except (OSError, AttributeError):
        fn = None
    if fn is None or not _malloc_trim():
        return False
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not (fn(_M_MMAP_THRESHOLD, EXACT_MALLOC_BYTES) and fn(_M_TRIM_THRESHOLD, EXACT_MALLOC_BYTES)):
        return False
    _EXACT.append(True)
    return True


_WARMED: list[bool] = []  # set once the one-time lazy imports below are done in this process


def warm_lazy_imports() -> bool:
    """Do once per process the one-time lazy imports of ``torch.optim``, so a phase measures its work.

    Constructing the first ``torch.optim`` optimizer of a process imports ``torch._dynamo`` (torch 2.13 CPU:
    ~830 modules, ~68 MiB of anonymous memory, ~0.9 s; measured with ``timing.PeakMemory`` around
    ``torch.optim.SGD(...)``, Adam/LBFGS/RMSprop the same, as all share ``torch.optim.Optimizer.__init__``);
    the first ``step`` adds ~0.2 MiB. A phase wrapping a suite's optimisation loop would count that import as
    the loop's peak (issue 22), so :class:`bench.context.Phase` calls this before its watermark reset, the way
    ``torch.cuda.max_memory_allocated`` leaves out the CUDA context. One SGD step on a 1-element dummy
    parameter; later calls return at once. Returns True when this call did the warm-up.
    """
    if _WARMED:
        return False
    _WARMED.append(True)
    import torch

    weight = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    (weight * weight).sum().backward()
    opt.step()
    return True

class PeakMemory:
    """Context manager measuring the peak memory of the work inside it, above the level at entry.

    CUDA (kind ``cuda_max_allocated``): ``torch.cuda.max_memory_allocated`` minus the allocation at entry.

    CPU, Linux with glibc (kind ``rss_anon_peak``): at entry ``malloc_trim(0)`` hands the allocator's free
    memory back to the OS (about 0.1 ms; Python's cyclic garbage is not collected first: ``gc.collect`` took
    0.2-0.3 s in a case process, per phase), the kernel's peak-RSS watermark is reset
    (``/proc/self/clear_refs`` 5) and VmRSS and RssFile are read; at exit
    ``peak = (VmHWM - VmRSS at entry) - max(0, RssFile growth)``, at least 0. So the allocator's cache kept
    from earlier work and shared-library code or mapped files the work touched for the first time are not
    counted; the memory the work itself allocates and touches is. Pages allocated but never touched are not
    resident and are not counted (CUDA's max_allocated counts them). The Linux counters behind VmHWM lag by
    a few hundred KiB (per-CPU batching), so figures of about 1 MiB move by up to 1.3x between processes.
    The file subtraction is exact for a warm call (:func:`measure` makes one). A phase (``ctx.phase``) wraps a
    cold loop: file pages first touched *after* its peak moment (code loaded late) are subtracted from a peak
    they were not part of, so the figure can undercount by them, at most the phase's RssFile growth; and a
    cold phase counts the one-time memory of what its work initialises first, except torch.optim's lazy
    imports (~68 MiB), which :class:`bench.context.Phase` does first (:func:`warm_lazy_imports`).
    docs/backends.md gives the measured sizes. Mapped files
    released again before the exit (munmap) are not subtracted either.

    CPU in a process that called :func:`exact_malloc` (``bench3d run --cpu-memory exact``; kind
    ``rss_anon_exact``): the same recipe, but freed blocks of 64 KiB or more are no longer kept resident by the
    allocator, so the peak is the memory live at that moment.

    CPU elsewhere (no ``clear_refs``, no glibc, kind ``rss_delta``): the peak resident set size minus the RSS
    at entry (``ru_maxrss`` where the watermark cannot be reset: it only sees new process-wide peaks).
    """

    def __init__(self, device: str = "cpu"):
        self.device = str(device)
        self.peak_bytes: int | None = None
        self.rss_growth_bytes: int | None = None  # CPU: VmHWM above entry before the file subtraction
        self.kind = CUDA_KIND if self.device.startswith("cuda") else ANON_KIND

    def __enter__(self) -> PeakMemory:
        if self.kind == CUDA_KIND:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self.kind = (EXACT_KIND if _EXACT else ANON_KIND) if _malloc_trim() else RSS_KIND
        self._proc = _reset_peak_rss()
        status = _read_status_many(("VmRSS", "RssFile")) if self._proc else {}
        if "VmRSS" not in status:
            self._proc, self.kind = False, RSS_KIND
            self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return self
        if "RssFile" not in status:
            self.kind = RSS_KIND
        self._base = status["VmRSS"] * 1024
        self._file = status.get("RssFile", 0) * 1024
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == CUDA_KIND:
            import torch

            torch.cuda.synchronize(self.device)
            self.peak_bytes = max(0, torch.cuda.max_memory_allocated(self.device) - self._base)
        elif self._proc:
            status = _read_status_many(("VmHWM", "RssFile"))
            grown = status.get("VmHWM", 0) * 1024 - self._base
            self.rss_growth_bytes = max(0, grown)
            if self.kind in (ANON_KIND, EXACT_KIND):
                grown -= max(0, status.get("RssFile", 0) * 1024 - self._file)
            self.peak_bytes = max(0, grown)
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
        warmup: untimed calls before measuring (first-call costs, allocator, caches); with ``measure_memory``
            at least 2, the last of them measured by :class:`PeakMemory` (a warm call).
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

    # The memory call is the last of the untimed calls and never the first: first-call costs (code pages, lazy
    # initialisation, the allocator's first growth) are not the work's memory. With memory measured there are at
    # least two untimed calls (one warm-up, then the measured one).
    peak = PeakMemory(device) if measure_memory else None
    for _ in range(max(warmup - 1, 1) if peak is not None else warmup):
        call()
    if peak is not None:
        with peak:
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
