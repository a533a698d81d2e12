"""Statistics of compare: paired vs unpaired power, timing factor + significance, false-alarm rates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from bench.compare import stats


def test_paired_test_flags_a_half_db_drop_that_the_unpaired_test_misses(rng):
    # 30 test images whose PSNR varies a lot between images (scene content) but little between runs.
    base = rng.normal(28.0, 3.0, 30)
    new = base - 0.5 + rng.normal(0.0, 0.15, 30)
    paired = stats.compare_paired(base, new, higher_is_better=True, alpha=0.01)
    unpaired = stats.compare_unpaired(base, new, higher_is_better=True, alpha=0.01)
    assert paired.mark == stats.WORSE and paired.p_value < 1e-4
    assert unpaired.mark == stats.UNCHANGED and unpaired.p_value > 0.3
    assert paired.change == pytest.approx(np.mean(new - base))
    # compare_metric picks the paired test when the item ids match, the unpaired one when they do not
    ids = [f"img{i}" for i in range(30)]
    assert stats.compare_metric(base, ids, None, new, ids, None, higher_is_better=True).test.startswith("wilcoxon")
    other = [f"other{i}" for i in range(30)]
    assert stats.compare_metric(base, ids, None, new, other, None, higher_is_better=True).mark == stats.UNCHANGED


def _exact_signed_rank_p(d: np.ndarray) -> float:
    """Brute force: the two-sided p-value of W+ over all 2^n sign assignments of the ranks (no ties)."""
    ranks = sps.rankdata(np.abs(d))
    w_obs = ranks[d > 0].sum()
    total = ranks.sum()
    ws = np.array(
        [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in itertools.product((0, 1), repeat=d.size)]
    )
    extreme = min(w_obs, total - w_obs)
    return min(1.0, float(np.mean((ws <= extreme) | (ws >= total - extreme))))


def test_paired_p_value_matches_the_exact_sign_flip_distribution(rng):
    base = rng.normal(30, 2, 11)
    new = base + rng.normal(-0.3, 0.3, 11)
    v = stats.compare_paired(base, new, higher_is_better=True, alpha=0.05)
    assert v.p_value == pytest.approx(_exact_signed_rank_p(new - base), rel=1e-9)


def test_direction_decides_worse_or_better():
    base = np.linspace(1.0, 2.0, 12)
    up = base + 0.1 + 0.001 * np.arange(12)
    assert stats.compare_paired(base, up, higher_is_better=True).mark == stats.BETTER
    assert stats.compare_paired(base, up, higher_is_better=False).mark == stats.WORSE
    assert stats.compare_paired(base, up, higher_is_better=None).mark == stats.CHANGED
    assert stats.compare_paired(base, base, higher_is_better=True).mark == stats.UNCHANGED


def test_timing_needs_both_the_factor_and_significance(rng):
    procs = [40] * 4  # as bench3d run --repeat 4 pools them
    base = 0.010 * rng.lognormal(0, 0.03, 160)
    slow15 = 0.0115 * rng.lognormal(0, 0.03, 160)
    slow3 = 0.0103 * rng.lognormal(0, 0.03, 160)
    v = stats.compare_timing(base, slow15, base_sizes=procs, new_sizes=procs)
    assert v.mark == stats.WORSE and v.change == pytest.approx(np.median(slow15) / np.median(base))
    assert v.ci[0] < v.change < v.ci[1] and v.ci[0] > 1.10
    v3 = stats.compare_timing(base, slow3, base_sizes=procs, new_sizes=procs)
    assert v3.mark == stats.UNCHANGED and v3.p_value < 0.01  # significant, but within the factor
    assert stats.compare_timing(slow15, base, base_sizes=procs, new_sizes=procs).mark == stats.BETTER
    # beyond the factor but with two wildly noisy processes each: not significant
    v2 = stats.compare_timing([0.01, 0.03], [0.02, 0.05], base_sizes=[1, 1], new_sizes=[1, 1])
    assert v2.mark == stats.CHANGED and "alpha" in v2.note
    with pytest.raises(ValueError, match="factor"):
        stats.compare_timing(base, base, factor=0.9)


def test_one_process_runs_are_reported_but_never_judged(rng):
    """One process each and no --repeat run of the timing stored: the rank test's p is shown, but it
    cannot see the process-to-process spread, so even a clear 1.5x is changed-not-significant."""
    base, slow = 0.010 * rng.lognormal(0, 0.03, 40), 0.015 * rng.lognormal(0, 0.03, 40)
    v = stats.compare_timing(base, slow)
    assert v.mark == stats.CHANGED and v.p_value < 1e-6 and not v.significant
    assert v.test == stats.ONE_PROCESS_TEST and "one process in base and new" in v.note and "--repeat" in v.note
    assert stats.compare_timing(base, base * 1.03).mark == stats.UNCHANGED
    mixed = stats.compare_timing(base, slow, new_sizes=[20, 20])
    assert mixed.mark == stats.CHANGED and "one process in base:" in mixed.note


def test_timing_false_alarm_rate_on_identical_distributions_is_at_most_alpha():
    # A/A on independent samples: Mann-Whitney keeps its level (and one process per run is never judged).
    rng = np.random.default_rng(7)
    trials = 300
    sig = beyond = 0
    for _ in range(trials):
        a, b = rng.lognormal(0, 0.15, 25), rng.lognormal(0, 0.15, 25)
        v = stats.compare_timing(a, b, factor=1.10, alpha=0.01)
        sig += v.p_value < 0.01
        beyond += v.significant
    assert sig / trials <= 0.03  # binomial(300, 0.01): P(> 9) < 0.001
    assert beyond <= sig


def test_plain_difference_uses_the_relative_tolerance():
    assert stats.compare_plain(100.0, 100.5, higher_is_better=False, tolerance=0.01).mark == stats.UNCHANGED
    v = stats.compare_plain(100.0, 102.0, higher_is_better=False, tolerance=0.01)
    assert v.mark == stats.WORSE and "no samples" in v.note and v.change == pytest.approx(2.0)
    assert not v.significant  # no test without samples: shown, but never a significant regression
    assert stats.compare_plain(None, 1.0, higher_is_better=True).mark == stats.UNCHANGED


def _exact_permutation_p(b, n):
    """Independent reference: the difference of means over every split of the pooled values; two-sided as
    twice the smaller tail (capped at 1)."""
    pooled = np.concatenate([b, n])
    observed = np.mean(n) - np.mean(b)
    diffs = []
    for idx in itertools.combinations(range(pooled.size), len(b)):
        mask = np.zeros(pooled.size, bool)
        mask[list(idx)] = True
        diffs.append(pooled[~mask].mean() - pooled[mask].mean())
    diffs = np.asarray(diffs)
    low, high = np.mean(diffs <= observed + 1e-12), np.mean(diffs >= observed - 1e-12)
    return min(1.0, 2 * min(low, high))


def test_metric_without_items_is_tested_on_its_process_values(rng):
    # The same value in every process of each run (a deterministic metric): plain difference, as without processes.
    same = stats.compare_metric(None, None, 5.0, None, None, 5.0, higher_is_better=False,
                                base_process=[5.0, 5.0, 5.0], new_process=[5.0, 5.0, 5.0])
    assert (same.mark, same.test, same.n_base, same.n_new) == (stats.UNCHANGED, stats.PLAIN, 3, 3)
    moved = stats.compare_metric(None, None, 5.0, None, None, 6.0, higher_is_better=False,
                                 base_process=[5.0, 5.0, 5.0], new_process=[6.0, 6.0, 6.0])
    assert moved.mark == stats.WORSE and moved.test == stats.PLAIN and not moved.significant
    assert "same value in every process" in moved.note
    # Values that move between processes: an exact permutation test, marked but not gating. With 5 processes
    # a side a clean shift reaches p = 2/252; with 3 a side no split can go below 2/20.
    base, new = [100.0, 104.0, 98.0, 101.0, 99.0], [131.0, 128.0, 135.0, 129.0, 133.0]
    v = stats.compare_metric(None, None, 100.0, None, None, 131.0, higher_is_better=False,
                             base_process=base, new_process=new)
    assert v.test == "permutation on process values (5 vs 5 processes)"
    assert v.p_value == pytest.approx(2 / 252) and v.mark == stats.WORSE
    assert v.change == pytest.approx(np.mean(new) - np.mean(base)) and not v.gate and not v.significant
    three = stats.compare_process_values(base[:3], new[:3], higher_is_better=False)
    assert three.p_value == pytest.approx(0.1) and three.mark == stats.CHANGED
    for _ in range(5):  # overlapping values with ties: the p-value of every split, counted by hand
        b, n = rng.integers(0, 4, 4).astype(float), rng.integers(1, 5, 5).astype(float)
        if np.ptp(b) or np.ptp(n):
            assert stats.permutation_p(b, n) == pytest.approx(_exact_permutation_p(b, n))
    # Spread as large as the difference: changed-not-significant. None entries (a process without the value)
    # are left out, and with fewer than 2 values on a side the plain comparison of the first values is used.
    wide = stats.compare_process_values([15.4, 40.0, 22.0], [38.1, 16.0, 45.0], higher_is_better=False)
    assert wide.mark == stats.CHANGED and wide.p_value > 0.3
    assert stats.compare_process_values([1.0, None, 2.0], [1.5, 2.5], higher_is_better=False).n_base == 2
    with pytest.raises(ValueError, match="1 and 2 finite values; expected 2 or more"):
        stats.compare_process_values([1.0, float("nan")], [1.5, 2.5], higher_is_better=False)
    plain = stats.compare_metric(None, None, 1.0, None, None, 2.0, higher_is_better=False,
                                 base_process=[1.0, None], new_process=[2.0, 2.1])
    assert plain.test == stats.PLAIN and plain.n_base == 1
    # Metrics with items keep their paired test whatever the process values.
    ids = ["a", "b", "c", "d"]
    assert stats.compare_metric([1, 2, 3, 4], ids, 2.5, [1, 2, 3, 4], ids, 2.5, higher_is_better=True,
                                base_process=[1, 2], new_process=[3, 4]).test == "wilcoxon (paired)"


def test_process_value_false_alarm_rate_on_identical_distributions_is_at_most_alpha():
    # A/A with 5 processes a side, values from a few allocator-like modes (many ties): the exact test keeps
    # its level, where a t-test would call three processes that fell in one mode a change.
    rng = np.random.default_rng(11)
    trials, marked = 1000, 0
    for _ in range(trials):
        a, b = rng.choice([15.0, 28.0, 38.0, 49.0], 5), rng.choice([15.0, 28.0, 38.0, 49.0], 5)
        if np.ptp(a) or np.ptp(b):
            marked += stats.compare_process_values(a, b, higher_is_better=False, alpha=0.01).mark in (
                stats.WORSE, stats.BETTER)
    assert marked / trials <= 0.02  # binomial(1000, <= 0.01): P(> 20) < 0.001


def test_speed_normalisation_cancels_a_machine_wide_slowdown():
    """NEW ran on a machine 1.5x slower throughout (reference kernel 1.5x too): not a regression once
    normalised; a real 1.5x slowdown at the same machine speed still is."""
    from bench.compare.diff import Settings, _timing_row
    from bench.timing import TimingResult

    rng = np.random.default_rng(1)
    procs = [10, 10, 10]
    base = TimingResult.from_samples(list(1.0 + 0.01 * rng.standard_normal(30)), calibration_s=1e-3,
                                     process_sizes=procs).to_record("t")
    slow_machine = TimingResult.from_samples(list(1.5 + 0.015 * rng.standard_normal(30)),
                                             calibration_s=1.5e-3, process_sizes=procs).to_record("t")
    slow_code = TimingResult.from_samples(list(1.5 + 0.015 * rng.standard_normal(30)),
                                          calibration_s=1e-3, process_sizes=procs).to_record("t")
    assert _timing_row("s", "c", base, slow_machine, Settings(), "").mark == "unchanged"
    assert _timing_row("s", "c", base, slow_machine, Settings(normalise=False), "").mark == "worse"
    assert _timing_row("s", "c", base, slow_code, Settings(), "").mark == "worse"


def test_per_sample_normalisation_follows_speed_changes_within_a_run():
    """Each sample shares a machine-speed factor with the calibration timed right after it (phases of 8
    samples drawn from a wide log-normal, as on a loaded machine): dividing sample by calibration recovers the code's
    time, so a same-code run is unchanged and a 1.3x slower one is flagged, while the raw samples are
    too scattered to tell."""
    from bench.compare.diff import Settings, _timing_row
    from bench.timing import TimingResult

    rng = np.random.default_rng(2)

    def rec(code_s, n=40):
        speed = np.repeat(np.exp(0.25 * rng.standard_normal(n // 8)), 8)  # machine slowness, in phases
        cal = list(1e-3 * speed * (1 + 0.005 * rng.standard_normal(n)))
        samples = list(code_s * speed * (1 + 0.005 * rng.standard_normal(n)))
        return TimingResult.from_samples(samples, calibration_s=float(np.median(cal)), calibration=cal,
                                         process_sizes=[8] * (n // 8)).to_record("t")  # a process per phase

    base, same, slower = rec(1.0), rec(1.0), rec(1.3)
    row = _timing_row("s", "c", base, same, Settings(), "")
    assert row.mark == "unchanged" and "per sample" in row.reason
    assert abs(row.verdict.change - 1.0) < 0.02
    row = _timing_row("s", "c", base, slower, Settings(), "")
    assert row.mark == "worse" and abs(row.verdict.change - 1.3) < 0.03
    raw = _timing_row("s", "c", base, slower, Settings(normalise=False), "")
    assert raw.verdict.p_value > row.verdict.p_value


def _moded_record(code_s, modes, sensitivity, rng, n=30):
    """Samples of a workload whose time scales as speed**sensitivity, in processes running at ``modes``
    (machine slowness as the pure-Python reference kernel sees it), with 1-2% noise on both."""
    from bench.timing import TimingResult

    speed = np.repeat(modes, n)
    cal = 1e-3 * speed * np.exp(0.02 * rng.standard_normal(speed.size))
    samples = code_s * speed**sensitivity * np.exp(0.01 * rng.standard_normal(speed.size))
    return TimingResult.from_samples(list(samples), calibration=list(cal),
                                     process_sizes=[n] * len(modes)).to_record("t")


def test_sensitivity_is_fitted_within_runs():
    """A vectorised kernel slows down half as much (in log) as the pure-Python reference kernel in a
    slow phase: the fitted sensitivity is ~0.5 and a same-code run with two slow processes is unchanged,
    where dividing by the full calibration (sensitivity 1) would call it 1.3x faster."""
    from bench.compare.diff import Settings, _timing_row
    from bench.compare.samples import normalised_samples, speed_sensitivity

    rng = np.random.default_rng(3)
    base = _moded_record(1.0, [1.0, 1.0, 1.6], 0.5, rng)
    new = _moded_record(1.0, [1.6, 1.6, 1.0], 0.5, rng)
    beta = speed_sensitivity([base, new])
    assert 0.4 < beta < 0.6
    row = _timing_row("s", "c", base, new, Settings(), "")
    assert row.mark == "unchanged" and abs(row.verdict.change - 1.0) < 0.03, row
    assert f"sensitivity {beta:.2f}" in row.reason
    full = np.median(normalised_samples(new, base.calibration_s, 1.0)) / np.median(
        normalised_samples(base, base.calibration_s, 1.0))
    assert full < 0.85  # what a fixed sensitivity of 1 would have reported
    slower = _moded_record(1.15, [1.6, 1.0, 1.6], 0.5, rng)
    row = _timing_row("s", "c", base, slower, Settings(), "")
    assert row.mark == "worse" and abs(row.verdict.change - 1.15) < 0.03, row


def test_sensitivity_defaults_to_one_without_speed_changes_and_gpu_timings_stay_raw():
    from bench.compare.diff import Settings, _timing_row
    from bench.compare.samples import speed_sensitivity
    from bench.timing import TimingResult

    flat = TimingResult.from_samples([1.0, 1.1, 0.9, 1.0], calibration_s=1e-3, calibration=[1e-3] * 4).to_record("t")
    assert speed_sensitivity([flat, flat]) == 1.0  # no within-run variation: the prior decides
    rng = np.random.default_rng(4)
    base, new = _moded_record(1.0, [1.0, 1.0], 1.0, rng), _moded_record(1.0, [1.5, 1.5], 1.0, rng)
    # speed steady within each run: the calibrations vary by noise alone, which is taken out of the
    # regressor's variance, so the slope stays near the prior's 1 (0.72 here without that correction)
    assert speed_sensitivity([base, new]) > 0.9
    assert _timing_row("s", "c", base, new, Settings(), "").mark == "unchanged"
    base.method = new.method = "cuda_event"  # GPU time is not put on a CPU kernel's speed
    row = _timing_row("s", "c", base, new, Settings(), "")
    assert row.mark == "worse" and "speed-normalised" not in row.reason


def test_pooled_processes_are_tested_on_process_medians():
    """Three processes per run, each with its own level (10% spread, as mesh-fitting loops show here)
    and 150 samples: a rank test on the pooled samples calls most same-code pairs significant; the
    Welch test on process medians keeps its level, and still finds a 1.5x slowdown."""
    from bench.compare.stats import compare_timing

    rng = np.random.default_rng(5)

    def run(level, spread=0.10, procs=3, n=150):
        out = [level * np.exp(spread * rng.standard_normal()) * np.exp(0.05 * rng.standard_normal(n))
               for _ in range(procs)]
        return list(np.concatenate(out)), [n] * procs

    pooled_flags = process_flags = 0
    for _ in range(40):
        (b, sb), (n, sn) = run(1.0), run(1.0)
        pooled = compare_timing(b, n, factor=1.0001)  # sizes not given: Mann-Whitney on samples
        grouped = compare_timing(b, n, factor=1.0001, base_sizes=sb, new_sizes=sn)
        assert grouped.test == "welch-t on process medians (3 vs 3 processes)"
        pooled_flags += pooled.p_value < 0.01
        process_flags += grouped.p_value < 0.01
    assert pooled_flags >= 25 and process_flags <= 2
    (b, sb), (n, sn) = run(1.0, spread=0.01), run(1.5, spread=0.01)
    v = compare_timing(b, n, base_sizes=sb, new_sizes=sn)
    assert v.mark == "worse" and v.p_value < 1e-3
    one = compare_timing(b, n, base_sizes=[len(b)], new_sizes=sn)  # one process in base: not judged
    assert one.test == "mann-whitney (within one process)" and one.mark == "changed-not-significant"
