"""Timing samples as comparisons read them: the machine's speed taken out, and processes pooled.

:func:`bench.timing.measure` keeps, beside every sample, the time of a fixed reference kernel measured
right after it (the machine's speed at that moment: a shared or throttled machine slows down and speeds
up while a run goes on). This module holds what comparisons do with those raw samples:

* :func:`speed_sensitivity` / :func:`sensitivity_fit` -- how strongly a timing follows the reference
  kernel's speed (a pure-Python workload about fully, a vectorised kernel less), fitted within each
  run, with the weight of the runs' own evidence against the prior;
* :func:`normalised_samples` -- a record's samples put on a machine of a given reference speed, to
  that sensitivity, so two runs made while the machine ran at different speeds can be compared;
* :func:`pool` / :func:`process_chunks` -- the records of one timing from several processes
  (``--repeat``, or several ingested files) joined into one, and cut back into their processes, so
  the statistics can test on process medians (the spread one process cannot show).

Used by :mod:`bench.compare.diff` and :mod:`bench.compare.stats`, by the runner and ``bench3d ingest``
(pooling), and by ``scripts/aa_study.py``. Measuring itself stays in :mod:`bench.timing`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.results import TimingRecord
from bench.timing import TimingResult

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
