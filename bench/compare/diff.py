"""Run-versus-run comparison: every case, metric and timing of two runs with a mark and a reason.

Pure functions of the records (:func:`compare_cases`) plus a store front end (:func:`compare_runs`).
Values that follow different conventions (metric fingerprints, dataset versions, devices, backends,
machines for timings) are never compared: they are listed as incomparable with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.compare import features, stats
from bench.compare.machines import machine_mismatch
from bench.compare.samples import normalised_samples, sensitivity_fit
from bench.compare.stats import Verdict
from bench.config import config_diff
from bench.errors import UsageError
from bench.metrics.fingerprint import fingerprint_diff
from bench.metrics.units import newer_unit, same_unit
from bench.results import FAILED_STATUSES, CaseResult, MetricRecord, RunRecord, TimingRecord

# Timings read off the CPU's clock; GPU-event timings are not put on the CPU reference kernel's speed.
CPU_CLOCKS = ("perf_counter",)
# Below this weight of the runs' own data in the fitted speed sensitivity (bench.compare.samples.sensitivity_fit), a
# verdict that the raw timings contradict in direction is not judged.
MIN_EVIDENCE = 0.5

NEW_FAILURE, FIXED, STILL_FAILING, INCOMPARABLE, MISSING = (
    "new failure",
    "fixed",
    "still failing",
    "incomparable",
    "missing",
)
REGRESSION_MARKS = (stats.WORSE, NEW_FAILURE)
MARK_ORDER = (
    NEW_FAILURE,
    stats.WORSE,
    INCOMPARABLE,
    stats.CHANGED,
    MISSING,
    STILL_FAILING,
    FIXED,
    stats.BETTER,
    stats.UNCHANGED,
)


@dataclass(frozen=True)
class Settings:
    """Decision thresholds of a comparison."""

    factor: float = stats.DEFAULT_FACTOR
    alpha: float = stats.DEFAULT_ALPHA
    tolerance: float = stats.DEFAULT_TOLERANCE
    # Divide out the machine's speed at each run (the reference kernel timed beside the samples).
    normalise: bool = True
    # Configuration fields whose difference is the point of the comparison (a deliberate A/B of one parameter):
    # cases that differ only there are compared, and the difference is named in the comparison's notes.
    ignore_params: tuple[str, ...] = ()
    # Compare timings of cases that ran on different machine types (bench.compare.machines), labelled as such.
    allow_machine_mismatch: bool = False

    def __post_init__(self) -> None:
        if not 1 < self.factor < float("inf"):  # NaN fails too
            raise UsageError(f"--factor {self.factor}: expected a finite ratio > 1 (e.g. 1.10 for 10%)")
        if not 0 < self.alpha < 1:
            raise UsageError(f"--alpha {self.alpha}: expected a probability between 0 and 1")
        if not 0 <= self.tolerance < float("inf"):
            raise UsageError(f"--tolerance {self.tolerance}: expected a finite relative tolerance >= 0")


@dataclass
class Row:
    """One compared value (kind "metric" or "timing") or one case-level outcome (kind "case")."""

    suite: str
    case: str
    kind: str
    name: str
    mark: str
    reason: str = ""
    unit: str = ""
    higher_is_better: bool | None = None
    verdict: Verdict | None = None

    @property
    def is_regression(self) -> bool:
        """A new failure, or worse by a significance test that gates (a no-sample difference beyond the
        tolerance, and a test on per-process values of a metric without items, are shown as worse but do not
        fail a gate)."""
        if self.mark == NEW_FAILURE:
            return True
        return self.mark == stats.WORSE and bool(self.gates)

    @property
    def gates(self) -> bool | None:
        """For a worse/better row: whether the test behind it may fail a gate; None for other marks."""
        if self.mark not in (stats.WORSE, stats.BETTER):
            return None
        return self.verdict is None or self.verdict.significant

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "verdict"}
        d["regression"] = self.is_regression
        d.update({"base": None, "new": None, "change": None, "p_value": None, "test": None, "ci": None})
        if self.verdict is not None:
            v = self.verdict.to_dict()
            d.update({k: v[k] for k in ("base", "new", "change", "p_value", "test", "ci", "n_base", "n_new")})
        return d


@dataclass
class Comparison:
    base: RunRecord
    new: RunRecord
    settings: Settings
    rows: list[Row] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.is_regression]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.mark] = out.get(r.mark, 0) + 1
        return {m: out[m] for m in MARK_ORDER if m in out}

    def not_gating(self) -> dict[str, int]:
        """Of the worse/better rows, how many no gate counts (no samples, or per-process values)."""
        out: dict[str, int] = {}
        for r in self.rows:
            if r.gates is False:
                out[r.mark] = out.get(r.mark, 0) + 1
        return out


def config_differences(b: CaseResult, n: CaseResult, ignore: tuple[str, ...] = ()) -> list[str]:
    """The configuration fields two cases differ in (identity fields only, ``ignore`` left out); empty when
    either case's configuration is unknown (stored before schema v5), which compares as before."""
    if not b.config_hash or not n.config_hash or b.config_hash == n.config_hash and not ignore:
        return []
    free = set(b.config_free) | set(n.config_free)
    return config_diff(b.params, n.params, ignore=free | set(ignore))


def _case_conflicts(b: CaseResult, n: CaseResult, s: Settings | None = None) -> list[str]:
    """Reasons why nothing of two cases can be compared."""
    out = [f"config {d}" for d in config_differences(b, n, s.ignore_params if s else ())]
    if (b.device or "") != (n.device or ""):
        out.append(f"device {b.device} != {n.device}")
    if b.backend and n.backend and b.backend != n.backend:
        out.append(f"backend {b.backend} != {n.backend}")
    for name in sorted(set(b.datasets) | set(n.datasets)):
        vb, vn = b.datasets.get(name), n.datasets.get(name)
        # A case stored before schema v5 (no configuration hash) could not record the datasets the harness
        # now resolves: an absent entry there is unknown, not different (compared as before, with a note).
        unknown = (vb is None and not b.config_hash) or (vn is None and not n.config_hash)
        if vb != vn and not unknown:
            out.append(f"dataset {name} version {vb or '<missing>'} != {vn or '<missing>'}")
    return out


# Issue 15, item 8: the CPU RSS watermark (bench.timing.PeakMemory on CPU, fingerprint kind "rss_delta") varied
# up to 2.5x between runs of identical settings, so it is shown but never judged; CUDA's max_allocated is.
RSS_REASON = "CPU RSS peak is not reproducible between identical runs (measured up to 2.5x); shown, never judged"


# Issue 22: the CPU measure of the work's own memory (kind "rss_anon_peak") was measured for repeatability in fresh
# processes, 5 each (scripts/memory_repeatability.py, docs/backends.md): max/min 1.09-1.30 at 1-5 MiB (Chamfer 10k
# 0.82-1.06 MiB on PyTorch3D, a mesh-fitting step 4.21-5.00 MiB), an absolute spread of 0.1-0.8 MiB that Linux's
# lagging per-CPU RSS counters alone explain. That is far outside the 1% tolerance (and the 10% timing factor)
# a judged value gets, so it is shown, never judged, like rss_delta.
ANON_REASON = ("CPU anonymous-memory peak (rss_anon_peak) varies up to 1.3x (0.1-0.8 MiB) between fresh processes; "
               "shown, never judged")


# The same measure with glibc's allocator holding no freed large block (`bench3d run --cpu-memory exact`,
# bench.timing.exact_malloc): the NeRF smoke iteration phase read 39.5-39.8 MiB over six processes (0.5 %) where
# the default allocator gave 65.6-74.7 MiB; figures of about 1 MiB keep the counters' lag of a few hundred KiB.
# Shown, never judged either: no tolerance fits 0.5 % of 40 MiB and 30 % of 1 MiB at once.
EXACT_REASON = ("CPU anonymous-memory peak with large blocks unmapped on free (rss_anon_exact) repeats to ~0.5 % of "
                "tens of MiB, but figures of ~1 MiB move by a few hundred KiB between processes; shown, never judged")


def is_cpu_rss(fingerprint: Any) -> bool:
    """Whether a metric's fingerprint says it is a CPU RSS-based peak (kind ``rss_delta``, ``rss_anon_peak`` or
    ``rss_anon_exact``), which compare shows but never judges."""
    return isinstance(fingerprint, dict) and fingerprint.get("kind") in ("rss_delta", "rss_anon_peak",
                                                                          "rss_anon_exact")


def _rss_reason(*fingerprints: Any) -> str:
    kinds = {fp.get("kind") for fp in fingerprints if isinstance(fp, dict)}
    return RSS_REASON if "rss_delta" in kinds else ANON_REASON if "rss_anon_peak" in kinds else EXACT_REASON


# The measures a peak-memory figure can be made with (bench.timing.PeakMemory: a fingerprint's or a timing's kind).
MEMORY_KINDS = {
    "cuda_max_allocated": "CUDA max_memory_allocated above the allocation at entry",
    "rss_anon_peak": "CPU peak RSS above entry after malloc_trim, less file-backed pages (a warm call)",
    "rss_anon_exact": "rss_anon_peak with glibc unmapping every freed block of 64 KiB or more (--cpu-memory exact)",
    "rss_delta": "CPU peak RSS growth above entry, library pages and allocator cache included",
}


def memory_kind_reason(base: Any, new: Any) -> str:
    """Why two peaks cannot be compared ("" when they can): their memory measures (fingerprint kinds) differ.

    Either argument is a fingerprint dict or a kind string; only kinds of :data:`MEMORY_KINDS` count."""
    kb = base.get("kind") if isinstance(base, dict) else base
    kn = new.get("kind") if isinstance(new, dict) else new
    if kb == kn or (kb not in MEMORY_KINDS and kn not in MEMORY_KINDS):
        return ""
    return f"different memory measures: {kb or '<none>'} vs {kn or '<none>'}; never compared"


def _metric_row(suite: str, case: str, b: MetricRecord, n: MetricRecord, s: Settings) -> Row:
    hib = n.higher_is_better if n.higher_is_better is not None else b.higher_is_better
    row = Row(suite, case, "metric", n.name, stats.UNCHANGED, unit=newer_unit([b.unit, n.unit]), higher_is_better=hib)
    diff = fingerprint_diff(b.fingerprint or {}, n.fingerprint or {}, strict=False)
    if not same_unit(b.unit, n.unit):
        diff.insert(0, f"unit {b.unit!r} != {n.unit!r}")
    kinds = memory_kind_reason(b.fingerprint or {}, n.fingerprint or {})
    if kinds:
        diff = [kinds] + [d for d in diff if not d.startswith("kind:")]
    if diff:
        row.mark, row.reason = INCOMPARABLE, "; ".join(diff)
        return row
    row.verdict = stats.compare_metric(
        b.items,
        b.item_ids,
        b.value,
        n.items,
        n.item_ids,
        n.value,
        higher_is_better=hib,
        alpha=s.alpha,
        tolerance=s.tolerance,
        base_process=b.process_values,
        new_process=n.process_values,
    )
    if is_cpu_rss(b.fingerprint) or is_cpu_rss(n.fingerprint):
        same = b.value == n.value and (b.process_values or []) == (n.process_values or [])
        row.verdict.mark = stats.UNCHANGED if same else stats.CHANGED
        row.verdict.gate, row.verdict.note = False, _rss_reason(b.fingerprint, n.fingerprint)
    row.mark, row.reason = row.verdict.mark, row.verdict.note
    return row


def run_setting_differences(base: RunRecord, new: RunRecord) -> list[str]:
    """The settings of two runs that change what their timings mean, where they differ: the torch threads a case
    ran with (the environment's ``torch_threads``: ``--threads``, else torch's default), where either run set
    ``--threads`` (two defaults differ only with the machines' CPUs, which the machine type covers), and the C
    allocator's set-up (``--cpu-memory``; runs stored before it was recorded ran the default, ``process``)."""
    eb, en = base.environment or {}, new.environment or {}
    out = []
    tb, tn = eb.get("torch_threads"), en.get("torch_threads")
    chosen = any(r.settings is not None and r.settings.threads for r in (base, new))
    if tb is not None and tn is not None and tb != tn and chosen:
        out.append(f"torch threads {tb} != {tn}")
    mb, mn = eb.get("cpu_memory") or "process", en.get("cpu_memory") or "process"
    if mb != mn:
        out.append(f"--cpu-memory {mb} != {mn} (the allocator's set-up changes the time of the work)")
    return out


def _timing_row(suite: str, case: str, b: TimingRecord, n: TimingRecord, s: Settings, machines: str,
                settings: Sequence[str] = ()) -> Row:
    row = Row(suite, case, "timing", n.name, stats.UNCHANGED, unit=n.unit, higher_is_better=False)
    diff = [f"{k} {getattr(b, k)} != {getattr(n, k)}" for k in ("unit", "method") if getattr(b, k) != getattr(n, k)]
    diff.extend(settings)
    if machines and not s.allow_machine_mismatch:
        diff.insert(0, machines)
    if diff:
        row.mark, row.reason = INCOMPARABLE, "; ".join(diff)
        return row
    _judge_timing(row, b, n, s)
    if machines:  # compared only because --allow-machine-mismatch asked: say so first; the hardware, not the
        row.verdict.gate = False  # code, may explain a difference, so it never fails a gate
        row.reason = "; ".join(filter(None, [f"{MISMATCH_LABEL}: {machines}", row.reason]))
    return row


MISMATCH_LABEL = "different machine types, compared on request (--allow-machine-mismatch)"


def _judge_timing(row: Row, b: TimingRecord, n: TimingRecord, s: Settings) -> None:
    """The verdict of two timings of comparable conventions, into ``row`` (mark, reason, verdict)."""
    base_samples, new_samples, speed_note = b.samples, n.samples, ""
    if s.normalise and b.calibration_s and n.calibration_s and b.method in CPU_CLOCKS:
        # Put both on BASE's median machine speed: every sample scaled by the reference kernel timed right
        # after it, to the power of how strongly this timing follows that kernel (fitted within the runs;
        # 1 where there are no per-sample calibrations, then each run's median calibration is used).
        fit = sensitivity_fit([b, n])
        per_sample = fit is not None
        beta, evidence = (1.0, 0.0) if fit is None else fit
        nb, nn = normalised_samples(b, b.calibration_s, beta), normalised_samples(n, b.calibration_s, beta)
        if nb is not None and nn is not None:
            base_samples, new_samples = nb, nn
            speed = n.calibration_s / b.calibration_s
            how = f"per sample, sensitivity {beta:.2f}" if per_sample else "per run"
            speed_note = f"speed-normalised {how} (reference kernel {speed:.3g}x the base's)"
    row.verdict = stats.compare_timing(base_samples, new_samples, factor=s.factor, alpha=s.alpha,
                                       base_sizes=b.process_sizes, new_sizes=n.process_sizes)
    if speed_note:
        row.verdict.note = "; ".join(filter(None, [speed_note, row.verdict.note]))
        raw = stats.median_ratio(b.samples, n.samples)
        up = row.verdict.mark == stats.WORSE
        flipped = row.verdict.mark in (stats.WORSE, stats.BETTER) and raw is not None and (
            raw <= 1 if up else raw >= 1)
        if flipped and evidence < MIN_EVIDENCE:
            # The normalisation alone made the verdict, at a sensitivity the runs hardly showed (the prior's):
            # measured A/A case, the pure-Python kernel 1.7x faster while a torch step was 1.33x faster.
            # Where the runs show the timing following the kernel (a pure-Python loop), it is trusted.
            row.verdict.mark = stats.CHANGED
            row.verdict.note += (f"; not judged: the raw timings point the other way (x{raw:.3f}) and the runs "
                                 f"hardly show how this timing follows the reference kernel (evidence "
                                 f"{evidence:.2f}), so the machine's speed, not the code, may explain it")
    noisy = [w for w, rec in (("base", b), ("new", n)) if rec.noisy]
    if noisy:  # a run-level disturbance the within-run test cannot see: say so beside the mark
        row.verdict.note = "; ".join(
            filter(None, [row.verdict.note, f"noisy samples in {' and '.join(noisy)} (IQR/median > 10%)"])
        )
    row.mark, row.reason = row.verdict.mark, row.verdict.note


def _pair_rows(b: CaseResult, n: CaseResult, s: Settings, machines: str, settings: Sequence[str] = ()) -> list[Row]:
    suite, case = n.suite, n.case
    b_failed, n_failed = b.status in FAILED_STATUSES, n.status in FAILED_STATUSES
    if n_failed and not b_failed:
        return [Row(suite, case, "case", "status", NEW_FAILURE, f"{n.status}: {n.error or ''}".strip())]
    if b_failed and not n_failed:
        if n.status == "skipped":
            return [Row(suite, case, "case", "status", MISSING, f"skipped in new run: {n.error or ''}")]
        rows = [Row(suite, case, "case", "status", FIXED, f"was {b.status}: {b.error or ''}".strip())]
        return rows
    if b_failed and n_failed:
        return [Row(suite, case, "case", "status", STILL_FAILING, f"{b.status} -> {n.status}: {n.error or ''}")]
    for which, c in (("base", b), ("new", n)):
        if c.status == "skipped":
            return [Row(suite, case, "case", "status", MISSING, f"skipped in {which} run: {c.error or ''}")]
    conflicts = _case_conflicts(b, n, s)
    if conflicts:
        return [Row(suite, case, "case", "conventions", INCOMPARABLE, "; ".join(conflicts))]
    rows = []
    bm, nm = {m.name: m for m in b.metrics}, {m.name: m for m in n.metrics}
    for name in [*bm, *(k for k in nm if k not in bm)]:
        gone = [f"unavailable in {w} run: {m[name].unavailable}" for w, m in (("base", bm), ("new", nm))
                if name in m and m[name].unavailable is not None]
        if gone:
            rows.append(Row(suite, case, "metric", name, MISSING, "; ".join(gone)))
        elif name in bm and name in nm:
            rows.append(_metric_row(suite, case, bm[name], nm[name], s))
        else:
            rows.append(
                Row(suite, case, "metric", name, MISSING, "not in new run" if name in bm else "not in base run")
            )
    bt, nt = {t.name: t for t in b.timings}, {t.name: t for t in n.timings}
    for name in [*bt, *(k for k in nt if k not in bt)]:
        if name in bt and name in nt:
            rows.append(_timing_row(suite, case, bt[name], nt[name], s, machines, settings))
        else:
            rows.append(
                Row(suite, case, "timing", name, MISSING, "not in new run" if name in bt else "not in base run")
            )
    return rows


def compare_cases(
    base: RunRecord,
    base_cases: list[CaseResult],
    new: RunRecord,
    new_cases: list[CaseResult],
    settings: Settings | None = None,
    suites: list[str] | None = None,
) -> Comparison:
    """Compare the cases two runs share, suite by suite; raise UsageError when they share no suite."""
    s = settings or Settings()
    b_suites = list(dict.fromkeys([*base.suites, *(c.suite for c in base_cases)]))
    n_suites = list(dict.fromkeys([*new.suites, *(c.suite for c in new_cases)]))
    common = [x for x in n_suites if x in b_suites]
    if suites:
        unknown = [x for x in suites if x not in common]
        if unknown:
            raise UsageError(
                f"--suite {unknown[0]!r} is not in both runs; shared suites: {', '.join(common) or 'none'}"
            )
        common = [x for x in common if x in suites]
    if not common:
        raise UsageError(
            f"runs {base.run_id} (suites {', '.join(b_suites) or 'none'}) and {new.run_id} "
            f"(suites {', '.join(n_suites) or 'none'}) share no suite; compare runs of the same suite"
        )
    cmp = Comparison(base, new, s, suites=common)
    only = [
        f"{x} only in {rid}"
        for lst, rid in ((b_suites, base.run_id), (n_suites, new.run_id))
        for x in lst
        if x not in common and not suites
    ]
    cmp.notes.extend(f"suite {t}; not compared" for t in only)
    if base.profile != new.profile:
        cmp.notes.append(f"profiles differ: {base.profile} vs {new.profile}")
    bmap = {(c.suite, c.case): c for c in base_cases if c.suite in common}
    nmap = {(c.suite, c.case): c for c in new_cases if c.suite in common}
    cmp.notes.extend(_config_notes(bmap, nmap, s))
    mismatches = {k: machine_mismatch(base, bmap[k], new, nmap[k]) for k in bmap if k in nmap}
    cmp.notes.extend(_machine_notes(base, new, mismatches, s))
    settings = run_setting_differences(base, new)
    if settings:
        cmp.notes.append(f"run settings differ ({'; '.join(settings)}): timings not compared")
    for key in [*bmap, *(k for k in nmap if k not in bmap)]:
        if key in bmap and key in nmap:
            rows = _pair_rows(bmap[key], nmap[key], s, mismatches[key], settings)
            features.annotate(rows, base, bmap[key], new, nmap[key])  # FID bootstrap over kept image features
            cmp.rows.extend(rows)
        else:
            cmp.rows.append(
                Row(
                    key[0],
                    key[1],
                    "case",
                    "status",
                    MISSING,
                    "not in new run" if key in bmap else "not in base run (new case)",
                )
            )
    unjudged = [r for r in cmp.rows if r.verdict is not None and r.verdict.test == stats.ONE_PROCESS_TEST]
    if unjudged:
        cmp.notes.append(
            f"{len(unjudged)} timing(s) hold one process in a run: their rank-test p is shown, but a change "
            "is never judged worse/better; make both runs with --repeat N (N >= 2) to test them"
        )
    return cmp


def _machine_notes(base: RunRecord, new: RunRecord, mismatches: dict, s: Settings) -> list[str]:
    """Notes on where the two runs' cases were timed: different machine types (timings not compared, or compared
    on request), or different machines of one type (compared)."""
    n = sum(1 for m in mismatches.values() if m)
    hosts = f"different machines ({base.machine} vs {new.machine})" if (base.machine or "") != (new.machine or "") \
        else "one machine id"
    if n and s.allow_machine_mismatch:
        return [f"{hosts}: {n} case pair(s) ran on different machine types; their timings are compared on request "
                "(--allow-machine-mismatch) and labelled"]
    if n:
        return [f"{hosts}: {n} case pair(s) ran on different machine types; their timings are not compared "
                "(--allow-machine-mismatch compares them, labelled)"]
    if (base.machine or "") != (new.machine or "") and mismatches:
        return [f"{hosts} of the same machine type (CPU, CPUs, GPU): timings compared"]
    return []


def _config_notes(bmap: dict, nmap: dict, s: Settings) -> list[str]:
    """Notes on case configurations: those unknown (old stores) and the deliberate A/B differences."""
    pairs = [(bmap[k], nmap[k]) for k in bmap if k in nmap]
    notes = []
    unknown = sum(1 for b, n in pairs if not b.config_hash or not n.config_hash)
    if unknown:
        notes.append(f"{unknown} case pair(s) with an unknown configuration (stored before schema v5): compared "
                     "by name only, as before")
    if s.ignore_params:
        ab = sorted({d for b, n in pairs if b.config_hash and n.config_hash
                     for d in config_diff({k: b.params.get(k) for k in s.ignore_params},
                                          {k: n.params.get(k) for k in s.ignore_params})})
        notes.append(f"--ignore-params {','.join(s.ignore_params)}: cases compared across "
                     + (", ".join(ab) if ab else "no difference in those fields"))
    return notes


def compare_runs(
    store: Any, base_ref: str, new_ref: str, settings: Settings | None = None, suites: list[str] | None = None
) -> Comparison:
    """Resolve two run references (id, prefix, "latest", git commit) and compare them."""
    base_id, new_id = store.resolve(base_ref), store.resolve(new_ref)
    if base_id == new_id:
        raise UsageError(f"{base_ref!r} and {new_ref!r} are the same run {base_id}; give two different runs")
    return compare_cases(
        store.get_run(base_id), store.cases(base_id), store.get_run(new_id), store.cases(new_id), settings, suites
    )
