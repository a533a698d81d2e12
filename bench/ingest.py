"""``bench3d ingest FILE.json``: store a pytest-benchmark JSON file as a run, so it joins the history.

A file from ``pytest --benchmark-json=FILE`` (or ``--benchmark-save``) becomes a :class:`RunRecord` with
``source="ingest"``, its environment taken from the file's ``machine_info`` and ``commit_info``, and one
case per benchmark with a ``time`` timing: the file's statistics (median, IQR, mean, min, rounds) and,
when the file has them (``--benchmark-json`` and ``--benchmark-save-data`` write ``stats.data``), the raw
per-iteration samples. Numeric ``extra_info`` entries become metrics. The file is validated completely
before anything is stored.

Several files of the same benchmarks (pytest run once per file, each a fresh process) become one run
whose timings pool the files' samples as processes (``process_sizes``), as ``bench3d run --repeat``
does: ``compare`` judges a timing only between runs of two or more processes each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.compare.samples import pool
from bench.errors import DataError
from bench.results import CaseResult, MetricRecord, RunRecord, TimingRecord
from bench.timing import NOISY_IQR_FRACTION

DEFAULT_SUITE = "pytest_benchmark"
PROFILE = "pytest-benchmark"
REQUIRED_STATS = ("median", "iqr", "mean", "min", "rounds")
EXPECTED = "expected a pytest-benchmark JSON file (pytest --benchmark-json=FILE)"


# The schema of a pytest-benchmark file, as far as bench3d reads it. Times are seconds per iteration.
# stats field -> required?; every time is a finite number >= 0, every count an integer in [1, MAX_COUNT].
STATS_TIMES = {"min": True, "median": True, "mean": True, "iqr": True, "max": False, "stddev": False,
               "q1": False, "q3": False}
STATS_COUNTS = {"rounds": True, "iterations": False}
# Pairs (a, b) of stats that must hold a <= b (where both are present).
STATS_ORDER = (("min", "median"), ("median", "max"), ("min", "mean"), ("mean", "max"), ("q1", "median"),
               ("median", "q3"))
MAX_COUNT = 10**9  # rounds, iterations: far beyond a real file's (pytest-benchmark's max_time keeps rounds ~1e6)
MAX_DEPTH = 32  # nesting of objects and lists; a pytest-benchmark file has about 5
_ORDER_SLACK = 1e-9  # relative: statistics written as rounded decimals


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A value for an error message, cut short (a 4000-digit integer is one line, but not a readable one)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, NaN, infinite, or an integer beyond float)."""
    if not _number(value):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def _depth(doc: Any) -> int:
    """How deep objects and lists nest in ``doc`` (iteratively; stops counting past MAX_DEPTH)."""
    deepest, stack = 0, [(doc, 1)]
    while stack and deepest <= MAX_DEPTH:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def load_benchmark_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a pytest-benchmark JSON file; DataError (one line, naming the file and the field)
    otherwise. Nothing of a file that fails here is stored."""
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{where}: cannot read: {exc.strerror or exc}; {EXPECTED}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        f"{EXPECTED}") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise DataError(f"{where}: JSON nested too deeply; {EXPECTED}") from None
    except ValueError as exc:  # JSONDecodeError, and integers of more digits than Python converts
        raise DataError(f"{where}: not JSON ({str(exc).splitlines()[0]}); {EXPECTED}") from None
    if _depth(doc) > MAX_DEPTH:
        raise DataError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep; {EXPECTED}")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise DataError(f"{where}: not a pytest-benchmark file: no 'benchmarks' list at the top level; {EXPECTED}")
    for key in ("machine_info", "commit_info"):
        if not isinstance(doc.get(key), dict):
            raise DataError(f"{where}: not a pytest-benchmark file: no '{key}' object; {EXPECTED}")
    cpu = doc["machine_info"].get("cpu")
    if cpu is not None and not isinstance(cpu, dict):
        raise DataError(f"{where}: field machine_info.cpu: expected an object, got {type(cpu).__name__}")
    if not doc["benchmarks"]:
        raise DataError(f"{where}: holds no benchmarks (were they skipped? run pytest with --benchmark-only)")
    seen: set[str] = set()
    for i, bench in enumerate(doc["benchmarks"]):
        _check_benchmark(where, i, bench)
        if bench["fullname"] in seen:
            raise DataError(f"{where}: benchmark {bench['fullname']!r} appears twice")
        seen.add(bench["fullname"])
    return doc


def _check_benchmark(where: str, i: int, bench: Any) -> None:
    if not isinstance(bench, dict) or not isinstance(bench.get("fullname"), str) or not bench["fullname"]:
        raise DataError(f"{where}: benchmark #{i} has no 'fullname'; {EXPECTED}")
    label = f"{where}: benchmark {bench['fullname']!r}"
    for key in ("name", "group"):
        if bench.get(key) is not None and not isinstance(bench[key], str):
            raise DataError(f"{label}: field {key}: expected a string or null, got {_show(bench[key])}")
    for key in ("extra_info", "params", "options"):
        if bench.get(key) is not None and not isinstance(bench[key], dict):
            raise DataError(f"{label}: '{key}' must be an object, got {type(bench[key]).__name__}")
    for key, value in (bench.get("extra_info") or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and _as_float(value) is None:
            raise DataError(f"{label}: field extra_info.{key}: {_show(value)} does not fit a float (about 1.8e308)")
    stats = bench.get("stats")
    if not isinstance(stats, dict):
        raise DataError(f"{label} has no 'stats' object; {EXPECTED}")
    missing = [k for k in REQUIRED_STATS if not _number(stats.get(k))]
    if missing:
        raise DataError(f"{label}: stats field(s) {', '.join(missing)} missing or not numbers; "
                        f"expected {', '.join(REQUIRED_STATS)}")
    for key, required in STATS_TIMES.items():
        if not required and stats.get(key) is None:
            continue
        value = _as_float(stats.get(key))
        if value is None or value < 0:
            raise DataError(f"{label}: field stats.{key}: expected a finite number of seconds >= 0, "
                            f"got {_show(stats.get(key))}")
    for key, required in STATS_COUNTS.items():
        value = stats.get(key)
        if not required and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
            raise DataError(f"{label}: field stats.{key}: expected an integer from 1 to {MAX_COUNT:,}, "
                            f"got {_show(value)}")
    for low, high in STATS_ORDER:
        a, b = stats.get(low), stats.get(high)
        if a is not None and b is not None and a - b > _ORDER_SLACK * max(abs(a), abs(b)):
            raise DataError(f"{label}: fields stats.{low} {a!r} > stats.{high} {b!r}; expected "
                            f"min <= median <= max, min <= mean <= max, q1 <= median <= q3")
    data = stats.get("data")
    if data is None:
        return
    if not isinstance(data, list) or not all(_number(v) for v in data):
        raise DataError(f"{label}: stats.data must be a list of numbers (seconds per iteration)")
    bad = next((v for v in data if _as_float(v) is None or v < 0), None)
    if bad is not None:
        raise DataError(f"{label}: field stats.data: expected finite numbers of seconds >= 0, got {_show(bad)}")
    if len(data) != stats["rounds"]:
        raise DataError(f"{label}: field stats.data: {len(data)} samples, stats.rounds is {stats['rounds']}; "
                        f"expected one sample per round")
    low, high = min(data), max(data)
    top = stats.get("max", high)
    if stats["min"] - low > _ORDER_SLACK * stats["min"] or high - top > _ORDER_SLACK * top:
        raise DataError(f"{label}: field stats.data: samples from {low!r} to {high!r} lie outside "
                        f"stats.min {stats['min']!r} .. stats.max {top!r}")


def _timestamp(value: Any) -> str:
    """The file's datetime as an ISO string with a time zone (UTC assumed where it has none)."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(timezone.utc).isoformat()
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).isoformat()


def _environment(doc: Mapping[str, Any], path: Path, raw: bytes) -> dict[str, Any]:
    mi, ci = dict(doc["machine_info"]), dict(doc["commit_info"])
    cpu = dict(mi.get("cpu") or {})
    cpu.pop("flags", None)  # hundreds of CPU feature names: noise in a report
    mi["cpu"] = cpu
    return {
        "source_file": str(path.resolve()), "source_sha256": hashlib.sha256(raw).hexdigest(),
        "pytest_benchmark_version": doc.get("version"), "ingested_at": datetime.now(timezone.utc).isoformat(),
        "hostname": mi.get("node"), "cpu_model": cpu.get("brand_raw") or mi.get("processor") or mi.get("machine"),
        "cpu_cores": cpu.get("count"), "python": mi.get("python_version"),
        "os": " ".join(str(mi[k]) for k in ("system", "release") if mi.get(k)) or None,
        "git_branch": ci.get("branch"), "git_project": ci.get("project"),
        "machine_info": mi, "commit_info": ci,
    }


def _case(bench: Mapping[str, Any], suite: str, device: str, started: str) -> CaseResult:
    stats = bench["stats"]
    extra = dict(bench.get("extra_info") or {})
    numeric = {k: float(v) for k, v in extra.items() if _number(v)}
    median, iqr = float(stats["median"]), float(stats["iqr"])
    timing = TimingRecord(
        name="time", samples=[float(v) for v in stats.get("data") or []], median=median, iqr=iqr,
        mean=float(stats["mean"]), min=float(stats["min"]), n=int(stats["rounds"]),
        noisy=median > 0 and iqr / median > NOISY_IQR_FRACTION, method="pytest-benchmark",
        inner_loops=int(stats.get("iterations") or 1))
    params = {"name": bench.get("name"), "group": bench.get("group"), "params": bench.get("params"),
              "options": bench.get("options"), "extra_info": {k: v for k, v in extra.items() if k not in numeric}}
    metrics = [MetricRecord(name=k, value=v, fingerprint={"source": "pytest-benchmark extra_info"})
               for k, v in numeric.items()]
    bad = [k for k, v in numeric.items() if not math.isfinite(v)]
    status = "nan" if bad else "ok"
    return CaseResult(suite=suite, case=bench["fullname"], params=params, status=status,
                      error=f"NaN or infinity in extra_info: {', '.join(bad)}" if bad else None, started_at=started,
                      finished_at=started, device=device, metrics=metrics, timings=[timing])


def to_run(doc: Mapping[str, Any], path: str | os.PathLike[str], *, suite: str = DEFAULT_SUITE, device: str = "cpu",
           machine: str | None = None, raw: bytes | None = None) -> tuple[RunRecord, list[CaseResult]]:
    """The run record and its cases for a validated pytest-benchmark document."""
    from bench.env import machine_id
    from bench.runner import new_run_id

    path = Path(path)
    environment = _environment(doc, path, raw if raw is not None else path.read_bytes())
    commit = doc["commit_info"].get("id")
    commit = commit if isinstance(commit, str) and commit not in ("", "unversioned") else None
    dirty = doc["commit_info"].get("dirty")
    environment["machine"] = machine or machine_id({"hostname": environment["hostname"],
                                                    "cpu_model": environment["cpu_model"], "gpu_names": []})
    created = _timestamp(doc.get("datetime"))
    run = RunRecord(run_id=new_run_id(), created_at=created, finished_at=created, profile=PROFILE, device=device,
                    seed=0, backend="n/a", status="ok", argv=["ingest", str(path)], suites=[suite],
                    git_commit=commit, git_dirty=dirty if isinstance(dirty, bool) else None,
                    machine=environment["machine"], environment=environment, source="ingest")
    cases = [_case(b, suite, device, created) for b in doc["benchmarks"]]
    if any(c.status != "ok" for c in cases):
        run.status = "failed"
    return run, cases


def _check_suite(suite: str) -> None:
    if not suite or not suite.replace("_", "").replace("-", "").isalnum():
        raise DataError(f"--suite {suite!r}: expected a name of letters, digits, '_' or '-'")


def prepare(path: str | os.PathLike[str], *, suite: str = DEFAULT_SUITE, device: str = "cpu",
            machine: str | None = None) -> tuple[RunRecord, list[CaseResult]]:
    """Validate ``path`` completely and build its run and cases (nothing is stored yet)."""
    _check_suite(suite)
    return to_run(load_benchmark_file(path), path, suite=suite, device=device, machine=machine)


def prepare_many(paths: list[str | os.PathLike[str]], *, suite: str = DEFAULT_SUITE, device: str = "cpu",
                 machine: str | None = None) -> tuple[RunRecord, list[CaseResult]]:
    """One run of several files of the same benchmarks, one process each: the first file's run record and
    metrics, each benchmark's raw samples pooled in file order. DataError when the files hold different
    benchmarks or a file lacks raw samples (``stats.data``)."""
    run, cases = prepare(paths[0], suite=suite, device=device, machine=machine)
    if len(paths) == 1:
        return run, cases
    names = {c.case for c in cases}
    per_case = {c.case: [c.timings[0]] for c in cases}
    for path in paths[1:]:
        other_run, more = prepare(path, suite=suite, device=device, machine=machine)
        if other_run.machine != run.machine:
            raise DataError(f"{path}: from machine {other_run.machine}, {paths[0]} from {run.machine}; pool files "
                            f"of one machine (or give --machine)")
        other = {c.case for c in more}
        if other != names:
            diff = sorted(names ^ other)[0]
            where = paths[0] if diff in names else path
            raise DataError(f"{path}: benchmark {diff!r} is only in {where}; pooling files needs the same benchmarks "
                            f"in every file")
        for c in more:
            per_case[c.case].append(c.timings[0])
    for i, path in enumerate(paths):
        bare = [name for name, recs in per_case.items() if not recs[i].samples]
        if bare:
            raise DataError(f"{path}: benchmark {bare[0]!r} has no raw samples (stats.data); pooling files needs "
                            f"them (pytest --benchmark-json=FILE writes them)")
    for c in cases:
        c.timings = [pool(per_case[c.case])]
    run.argv = ["ingest", *map(str, paths)]
    run.environment["source_files"] = [str(Path(p).resolve()) for p in paths]
    return run, cases


def store_run(store: Any, run: RunRecord, cases: list[CaseResult]) -> None:
    """Write a prepared run and its cases (each case one transaction, as the runner does)."""
    store.create_run(run)
    for case in cases:
        store.add_case(run.run_id, case)


def ingest(store: Any, path: str | os.PathLike[str], *, suite: str = DEFAULT_SUITE, device: str = "cpu",
           machine: str | None = None) -> str:
    """Validate ``path`` and store it as one run in ``store``; returns the new run id."""
    run, cases = prepare(path, suite=suite, device=device, machine=machine)
    store_run(store, run, cases)
    return run.run_id


def add_ingest_parser(sub: argparse._SubParsersAction) -> None:
    from bench.paths import add_location_options

    p = sub.add_parser("ingest", help="store a pytest-benchmark JSON file as a run",
                       description="Store a pytest-benchmark JSON file (pytest --benchmark-json=FILE) as a run "
                                   "with source 'ingest': one case per benchmark, its raw samples when present. "
                                   "Several files of the same benchmarks become one run, each file a process.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE.json",
                   help="the pytest-benchmark JSON file; several files of the same benchmarks (one pytest process "
                        "each) are pooled into one run as processes, which compare needs to judge a timing")
    p.add_argument("--suite", default=DEFAULT_SUITE, help=f"suite name to store the cases under "
                                                          f"(default: {DEFAULT_SUITE})")
    p.add_argument("--device", default="cpu", help="device the benchmarks ran on (default: cpu)")
    p.add_argument("--machine", help="machine name for the history (default: from the file's host and CPU)")
    add_location_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object: run_id and the cases")


def run_ingest_command(args: argparse.Namespace) -> int:
    from bench.paths import resolve_db
    from bench.store import Store

    run, cases = prepare_many(args.files, suite=args.suite, device=args.device, machine=args.machine)
    store = Store.open(resolve_db(args), create=True)  # only once the file is valid
    try:
        store_run(store, run, cases)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"run_id": run.run_id, "cases": [
            {"suite": c.suite, "case": c.case, "status": c.status,
             "timings": {t.name: {"median": t.median, "iqr": t.iqr, "n": t.n, "samples": len(t.samples)}
                         for t in c.timings}} for c in cases]}, indent=2))
    else:
        what = args.files[0] if len(args.files) == 1 else f"{len(args.files)} files (pooled as processes)"
        print(f"stored {len(cases)} benchmark(s) from {what} as run {run.run_id} (suite {args.suite})")
    return 0


__all__ = ["ingest", "prepare", "prepare_many", "store_run", "load_benchmark_file", "to_run", "add_ingest_parser",
           "run_ingest_command"]
