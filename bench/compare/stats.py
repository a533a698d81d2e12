"""The statistics behind ``bench3d compare``: timings by ratio of medians plus a rank test,
quality metrics by paired (Wilcoxon) or unpaired (Mann-Whitney) tests with the metric's direction.

Every function returns a :class:`Verdict`: a mark, the effect size, the p-value and the test used,
so reports can say why a difference counts or not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bench.compare.samples import process_chunks

DEFAULT_FACTOR = 1.10
DEFAULT_ALPHA = 0.01
DEFAULT_TOLERANCE = 0.01  # relative, for metrics without per-item samples
MIN_PAIRS = 3  # fewer shared items than this: no paired test
BOOTSTRAP = 1000

# Marks of one compared value (case-level marks such as "new failure" live in bench.compare.diff).
WORSE, BETTER, CHANGED, UNCHANGED = "worse", "better", "changed-not-significant", "unchanged"
PLAIN = "plain difference"
ONE_PROCESS_TEST = "mann-whitney (within one process)"


@dataclass
class Verdict:
    """The outcome of comparing one value between two runs."""

    mark: str
    base: float | None
    new: float | None
    change: float | None  # timings: ratio new/base; metrics: new - base
    p_value: float | None = None
    test: str = ""
    n_base: int = 0
    n_new: int = 0
    ci: tuple[float, float] | None = None  # bootstrap 95% CI of the ratio (timings)
    note: str = ""
    gate: bool = True  # False: a worse/better mark is shown but never counts as a regression

    @property
    def significant(self) -> bool:
        """Worse or better by a test that gates; a plain difference without samples never is."""
        return self.mark in (WORSE, BETTER) and self.test != PLAIN and self.gate

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["ci"] = list(self.ci) if self.ci else None
        return d


def _finite(values: Sequence[float] | None) -> np.ndarray:
    arr = np.asarray([v for v in (values if values is not None else []) if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def ratio_ci(
    base: np.ndarray, new: np.ndarray, *, level: float = 0.95, n_boot: int = BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(new) / median(base), resampling each run independently."""
    rng = np.random.default_rng(seed)
    mb = np.median(rng.choice(base, (n_boot, base.size)), axis=1)
    mn = np.median(rng.choice(new, (n_boot, new.size)), axis=1)
    r = mn / np.where(mb > 0, mb, np.nan)
    lo, hi = np.nanpercentile(r, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def _process_medians(samples: Sequence[float], sizes: Sequence[int] | None) -> np.ndarray | None:
    """log of the median of each process's finite positive samples; None without at least 2 processes."""
    if not sizes or len(sizes) < 2 or sum(sizes) != len(samples):
        return None
    out = []
    for part in process_chunks(samples, sizes):
        chunk = _finite(part)
        chunk = chunk[chunk > 0]
        if chunk.size:
            out.append(math.log(float(np.median(chunk))))
    return np.asarray(out) if len(out) >= 2 else None


def median_ratio(base: Sequence[float], new: Sequence[float]) -> float | None:
    """median(new) / median(base) of the finite samples; None when either has none or base's is not > 0."""
    b, n = _finite(base), _finite(new)
    if b.size == 0 or n.size == 0 or not np.median(b) > 0:
        return None
    return float(np.median(n) / np.median(b))


def process_test(lb: np.ndarray, ln: np.ndarray) -> float:
    """Two-sided Welch t-test p-value on log process medians (0 or 1 when neither run varies)."""
    if np.ptp(lb) == 0 and np.ptp(ln) == 0:
        return 1.0 if lb[0] == ln[0] else 0.0
    return float(stats.ttest_ind(ln, lb, equal_var=False).pvalue)


def compare_timing(
    base: Sequence[float],
    new: Sequence[float],
    *,
    factor: float = DEFAULT_FACTOR,
    alpha: float = DEFAULT_ALPHA,
    base_sizes: Sequence[int] | None = None,
    new_sizes: Sequence[int] | None = None,
) -> Verdict:
    """Worse/better only when the ratio of medians is beyond ``factor`` (or ``1/factor``) AND a
    two-sided test that sees the process-to-process variation gives p < ``alpha``.

    Samples of one process share its level (code layout, the core it ran on, the neighbours of that
    moment), which moves by more than 10% between processes for some timings on a shared machine, with
    heavy tails; so the process, not the sample, is the unit that repeats. When both runs pooled two or
    more processes (``base_sizes``/``new_sizes``: samples per process, in order; ``bench3d run
    --repeat``), the test is a Welch t-test on the log of each process's median. Otherwise the
    Mann-Whitney U test on the samples is reported, but it sees only within-process scatter, so a
    change beyond the factor is marked changed-not-significant, never worse or better.

    Args:
        base, new: raw per-call samples in seconds, shape (n,) and (m,).
    """
    if factor <= 1:
        raise ValueError(f"factor {factor}: expected a ratio > 1 (e.g. 1.10 for 10%)")
    pb, pn = _process_medians(base, base_sizes), _process_medians(new, new_sizes)
    b, n = _finite(base), _finite(new)
    if b.size == 0 or n.size == 0:
        return Verdict(UNCHANGED, None, None, None, note="no samples", n_base=b.size, n_new=n.size)
    mb, mn = float(np.median(b)), float(np.median(n))
    ratio = mn / mb if mb > 0 else math.inf
    v = Verdict(UNCHANGED, mb, mn, ratio, test=ONE_PROCESS_TEST, n_base=b.size, n_new=n.size)
    if pb is not None and pn is not None:
        v.test = f"welch-t on process medians ({pb.size} vs {pn.size} processes)"
        v.p_value = process_test(pb, pn)
    elif b.size >= 2 and n.size >= 2:
        v.p_value = float(stats.mannwhitneyu(n, b, alternative="two-sided").pvalue)
    if v.p_value is not None:
        v.ci = ratio_ci(b, n)
    beyond = ratio > factor or ratio < 1.0 / factor
    if not beyond:
        return v
    v.mark = CHANGED
    if v.p_value is None:
        v.note = "too few samples for a test"
    elif v.test == ONE_PROCESS_TEST:
        which = " and ".join(w for w, p in (("base", pb), ("new", pn)) if p is None)
        v.note = (f"one process in {which}: p={v.p_value:.3g} sees only within-process scatter, not how much "
                  "the level moves between processes; run with --repeat N (N >= 2) for a verdict")
    elif v.p_value < alpha:
        v.mark = WORSE if ratio > 1 else BETTER
    else:
        v.note = f"p={v.p_value:.3g} >= alpha {alpha:g}"
    return v


def _direction_mark(delta: float, higher_is_better: bool | None) -> str:
    if higher_is_better is None:
        return CHANGED  # a significant change of a metric without a direction is reported, not judged
    return BETTER if (delta > 0) == higher_is_better else WORSE


def compare_paired(
    base: Sequence[float], new: Sequence[float], *, higher_is_better: bool | None, alpha: float = DEFAULT_ALPHA
) -> Verdict:
    """Wilcoxon signed-rank test of the per-item differences ``new - base`` (same items, same order).

    Args:
        base, new: per-item values, shape (k,), item i of both scored on the same input.
    """
    b, n = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if b.shape != n.shape:
        raise ValueError(f"paired values: shapes {b.shape} and {n.shape} differ")
    keep = np.isfinite(b) & np.isfinite(n)
    b, n = b[keep], n[keep]
    d = n - b
    v = Verdict(
        UNCHANGED,
        float(b.mean()) if b.size else None,
        float(n.mean()) if n.size else None,
        float(d.mean()) if d.size else None,
        test="wilcoxon (paired)",
        n_base=b.size,
        n_new=n.size,
    )
    if d.size < MIN_PAIRS:
        v.note = f"only {d.size} shared items"
        return v
    if not np.any(d != 0):
        v.p_value = 1.0
        v.note = "identical per-item values"
        return v
    v.p_value = float(stats.wilcoxon(n, b, zero_method="wilcox", alternative="two-sided").pvalue)
    if v.p_value < alpha:
        v.mark = _direction_mark(float(np.median(d)) or float(d.mean()), higher_is_better)
    return v


def compare_unpaired(
    base: Sequence[float], new: Sequence[float], *, higher_is_better: bool | None, alpha: float = DEFAULT_ALPHA
) -> Verdict:
    """Two-sided Mann-Whitney U test of two independent sets of per-item values, shapes (k,) and (m,)."""
    b, n = _finite(base), _finite(new)
    v = Verdict(
        UNCHANGED,
        float(b.mean()) if b.size else None,
        float(n.mean()) if n.size else None,
        float(n.mean() - b.mean()) if b.size and n.size else None,
        test="mann-whitney (unpaired)",
        n_base=b.size,
        n_new=n.size,
    )
    if b.size < 2 or n.size < 2:
        v.note = "too few items for a test"
        return v
    if np.array_equal(np.sort(b), np.sort(n)):
        v.p_value = 1.0
        return v
    v.p_value = float(stats.mannwhitneyu(n, b, alternative="two-sided").pvalue)
    if v.p_value < alpha:
        v.mark = _direction_mark(v.change or 0.0, higher_is_better)
    return v


def compare_plain(
    base: float | None, new: float | None, *, higher_is_better: bool | None, tolerance: float = DEFAULT_TOLERANCE
) -> Verdict:
    """No per-item samples: a change counts when ``|new - base| > tolerance * |base|``."""
    if base is None or new is None or not (math.isfinite(base) and math.isfinite(new)):
        return Verdict(UNCHANGED, base, new, None, test=PLAIN, note="no value")
    delta = new - base
    v = Verdict(
        UNCHANGED,
        base,
        new,
        delta,
        test=PLAIN,
        n_base=1,
        n_new=1,
        note="no samples: relative tolerance only",
    )
    scale = abs(base) if base != 0 else 1.0
    if abs(delta) > tolerance * scale:
        v.mark = _direction_mark(delta, higher_is_better)
    return v


PERMUTATIONS = 20000  # beyond this many splits of the processes, a seeded random subset of them


def permutation_p(base: np.ndarray, new: np.ndarray) -> float:
    """Permutation p-value of mean(new) - mean(base) over every split of the pooled values into groups of
    the two sizes, two-sided as twice the smaller tail (exact: no assumption on their distribution, ties
    included; a seeded sample of ``PERMUTATIONS`` splits when there are more)."""
    splits = math.comb(base.size + new.size, base.size)
    res = stats.permutation_test(
        (new, base),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=np.inf if splits <= PERMUTATIONS else PERMUTATIONS,
        rng=np.random.default_rng(0),
    )
    return float(res.pvalue)


def compare_process_values(
    base: Sequence[float | None],
    new: Sequence[float | None],
    *,
    higher_is_better: bool | None,
    alpha: float = DEFAULT_ALPHA,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Verdict:
    """A metric without items, recorded by every worker process of both runs (``bench3d run --repeat``).

    When each run gave the same value in all its processes the metric is deterministic here, and the runs
    differ plainly or not at all (:func:`compare_plain`). Otherwise the values move from process to process
    and an exact permutation test of the difference of their means decides: worse/better when p <
    ``alpha`` and the means differ by more than ``tolerance`` relative; changed-not-significant when only
    the latter. The test assumes no distribution because these values have none worth assuming: CPU peak
    memory falls in a few allocator-sized modes (about 15, 28, 38 or 49 MiB in mesh_fitting's cases), and
    three processes of a run can all land in one mode by chance, which a t-test takes for a change. The
    smallest p it can give is ``2 / C(k + m, k)``: 0.1 with 3 processes a side, 0.008 with 5, so only runs
    with ``--repeat 5`` or more can be marked worse/better at alpha 0.01. Such marks are shown but do not
    gate (``gate`` False) until their false-alarm rate is measured.

    Args:
        base, new: one value per process, shapes (k,) and (m,); None/NaN entries are left out.
    """
    b, n = _finite(base), _finite(new)
    if b.size < 2 or n.size < 2:
        raise ValueError(f"process values: {b.size} and {n.size} finite values; expected 2 or more in each run")
    if np.ptp(b) == 0 and np.ptp(n) == 0:
        v = compare_plain(float(b[0]), float(n[0]), higher_is_better=higher_is_better, tolerance=tolerance)
        v.n_base, v.n_new = b.size, n.size
        v.note = f"the same value in every process ({b.size} and {n.size})"
        return v
    mb, mn = float(b.mean()), float(n.mean())
    v = Verdict(UNCHANGED, mb, mn, mn - mb, test=f"permutation on process values ({b.size} vs {n.size} processes)",
                n_base=b.size, n_new=n.size, gate=False)
    v.p_value = permutation_p(b, n)
    if abs(mn - mb) <= tolerance * (abs(mb) if mb != 0 else 1.0):
        return v
    v.mark = CHANGED
    if v.p_value < alpha:
        v.mark = _direction_mark(mn - mb, higher_is_better)
        v.note = "mean of the processes; shown, not gated"
    else:
        v.note = f"mean of the processes; p={v.p_value:.3g} >= alpha {alpha:g}"
    return v


def compare_metric(
    base_items: Sequence[float] | None,
    base_ids: Sequence[str] | None,
    base_value: float | None,
    new_items: Sequence[float] | None,
    new_ids: Sequence[str] | None,
    new_value: float | None,
    *,
    higher_is_better: bool | None,
    alpha: float = DEFAULT_ALPHA,
    tolerance: float = DEFAULT_TOLERANCE,
    base_process: Sequence[float | None] | None = None,
    new_process: Sequence[float | None] | None = None,
) -> Verdict:
    """Pick the test: paired on the shared item ids, unpaired when the items differ; without items, on the
    values of each process where both runs have 2 or more (``base_process``/``new_process``), else plain."""
    has = lambda x: x is not None and len(x) > 0  # noqa: E731  (lists or arrays)
    if has(base_items) and has(new_items):
        if has(base_ids) and has(new_ids) and len(base_ids) == len(base_items) and len(new_ids) == len(new_items):
            nb, nn = dict(zip(base_ids, base_items, strict=True)), dict(zip(new_ids, new_items, strict=True))
            shared = [i for i in base_ids if i in nn]
            if len(shared) >= MIN_PAIRS:
                v = compare_paired(
                    [nb[i] for i in shared], [nn[i] for i in shared], higher_is_better=higher_is_better, alpha=alpha
                )
                if len(shared) < max(len(nb), len(nn)):
                    v.note = (
                        v.note + "; " if v.note else ""
                    ) + f"{len(shared)} of {max(len(nb), len(nn))} items shared"
                return v
        return compare_unpaired(base_items, new_items, higher_is_better=higher_is_better, alpha=alpha)
    if _finite(base_process).size >= 2 and _finite(new_process).size >= 2:
        return compare_process_values(
            base_process, new_process, higher_is_better=higher_is_better, alpha=alpha, tolerance=tolerance
        )
    return compare_plain(base_value, new_value, higher_is_better=higher_is_better, tolerance=tolerance)
