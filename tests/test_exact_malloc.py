"""``bench3d run --cpu-memory exact`` (bench.timing.exact_malloc): with glibc's allocator set to unmap every freed
block of 64 KiB or more, a CPU peak is the memory live at that moment, not what the order of allocations left
resident in the heap. Each check runs in a fresh process: the setting is process-wide and cannot be undone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import timing

ROOT = Path(__file__).resolve().parent.parent
linux_glibc = pytest.mark.skipif(not (sys.platform.startswith("linux") and timing._malloc_trim()),
                                 reason="exact_malloc needs Linux /proc and glibc mallopt/malloc_trim")

# A 16 MiB block freed raises glibc's dynamic mmap threshold to 16 MiB; then an 8 MiB block comes from the heap, a
# 1 MiB block above it pins the heap's top (a smaller one may land in a free chunk below and pin nothing), and once
# the 8 MiB block is freed a 12 MiB block does not fit its hole: the heap grows while the touched hole stays
# resident (21 MiB). Live memory at the peak: 13 MiB.
CHILD = """
import json, sys, torch
sys.path.insert(0, {root!r})
from bench import timing
exact = timing.exact_malloc() if {exact} else False
MiB = 1 << 20
def block(n):
    return torch.ones(n * MiB, dtype=torch.uint8)
x = block(16); del x
with timing.PeakMemory() as pm:
    a = block(8)
    pin = block(1)
    del a
    c = block(12)
print(json.dumps({{"exact": exact, "kind": pm.kind, "peak": pm.peak_bytes}}))
"""


def _child(exact: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), exact=exact)], capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@linux_glibc
def test_exact_mode_counts_the_live_memory_where_the_default_heap_keeps_a_hole():
    MiB = 2**20
    default, exact = _child(False), _child(True)
    assert default["kind"] == timing.ANON_KIND and exact["exact"] and exact["kind"] == timing.EXACT_KIND
    # Linux's RSS counters lag by up to ~1 MiB (tests/test_memory_measure.py): bounds allow that much.
    assert 12 * MiB <= exact["peak"] <= 14 * MiB
    assert default["peak"] >= 19 * MiB  # the 8 MiB hole, the pin and the 12 MiB block: what the exact mode removes


def test_a_process_without_exact_malloc_keeps_the_ordinary_kind():
    with timing.PeakMemory("cpu") as pm:
        pass
    assert pm.kind in (timing.ANON_KIND, timing.RSS_KIND)  # this test process never called exact_malloc


@linux_glibc
@pytest.mark.slow
def test_run_cpu_memory_exact_is_recorded_and_its_timings_are_never_compared_with_a_default_run(bench_env,
                                                                                            monkeypatch):
    """`run --cpu-memory exact` reaches the case process (its peaks are rss_anon_exact), is stored in the run's
    settings and environment, and `compare` against a default run marks timings and peaks incomparable, saying
    why; a resume with the other mode is refused."""
    import os

    from bench.compare import diff
    from bench.store import Store
    from tests.conftest import bench3d_cmd

    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")

    def run(*extra: str) -> str:
        proc = subprocess.run(bench3d_cmd("run", "--suite", "faulty", "--case", "mode=ok", "--threads", "1",
                                          "--json", *extra), capture_output=True, text=True, env=os.environ.copy())
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["run_id"]

    default, exact = run(), run("--cpu-memory", "exact")
    with Store.open(str(bench_env / "reports" / "bench3d.db"), create=False) as store:
        runs = {r: (store.get_run(r), store.cases(r)[0]) for r in (default, exact)}
        cmp = diff.compare_runs(store, default, exact)
    (d_run, d_case), (e_run, e_case) = runs[default], runs[exact]
    assert d_run.settings.cpu_memory == "process" and d_run.environment["cpu_memory"] == "process"
    assert e_run.settings.cpu_memory == "exact" and e_run.environment["cpu_memory"] == "exact"
    assert [t.memory_kind for t in d_case.timings] == [timing.ANON_KIND]
    assert [t.memory_kind for t in e_case.timings] == [timing.EXACT_KIND]
    rows = {(r.kind, r.name): r for r in cmp.rows}
    noop = rows[("timing", "noop")]
    assert noop.mark == diff.INCOMPARABLE and "--cpu-memory process != exact" in noop.reason
    peak = rows[("metric", "peak_memory_mb")]
    assert peak.mark == diff.INCOMPARABLE and "rss_anon_peak vs rss_anon_exact" in peak.reason
    assert rows[("metric", "value")].mark != diff.INCOMPARABLE  # what the allocator does not touch is compared
    assert any("--cpu-memory process != exact" in n for n in cmp.notes)
    proc = subprocess.run(bench3d_cmd("run", "--resume", exact, "--cpu-memory", "process"), capture_output=True,
                          text=True, env=os.environ.copy())
    assert proc.returncode != 0
    assert f"--cpu-memory process: run {exact} was made with --cpu-memory exact" in proc.stderr
