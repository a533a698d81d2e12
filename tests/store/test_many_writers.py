"""Many writers at once (issue 20): four processes, each its own run of N cases, write into one database at the
same moment; every case of every run is there afterwards, equal to what its writer stored, with no orphan rows.
Run against SQLite (one writer at a time: BEGIN IMMEDIATE + busy timeout + retries) and PostgreSQL (row locks)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from bench.results import CaseResult
from bench.store import Store
from bench.store.sample import sample_cases, sample_run

WRITERS, CASES = 4, 12

_WRITER = """
import sys, time
from pathlib import Path
from bench.store import Store
sys.path.insert(0, sys.argv[5])
from test_many_writers import writer_cases, writer_run
target, k, go, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
store = Store.open(target)
while not go.exists():
    time.sleep(0.005)
run = writer_run(k)
store.create_run(run)
for case in writer_cases(k, out):
    store.add_case(run.run_id, case)
store.finish_run(run.run_id, "ok", "2024-05-01T13:00:00+00:00")
store.close()
"""


def writer_run(k: int):
    return sample_run(f"writer-{k}", f"2024-05-01T12:00:0{k}+00:00")


def writer_cases(k: int, out: Path) -> list[CaseResult]:
    """CASES distinct cases for writer ``k``: the sample cases renamed, with values that name the writer."""
    templates = sample_cases(out / f"w{k}")
    cases = []
    for i in range(CASES):
        t = templates[i % len(templates)]
        metrics = [dataclasses.replace(m, value=None if m.value is None else float(k * 1000 + i))
                   for m in t.metrics]
        cases.append(dataclasses.replace(t, case=f"{t.case}#{i}", metrics=metrics))
    return cases


def test_four_writers_at_once_lose_nothing(db_target, tmp_path, as_json):
    if "://" not in db_target:
        Store.open(db_target).close()  # the file exists before the writers race to open it
    go = tmp_path / "go"
    here = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, db_target, str(k), str(go), str(tmp_path), here],
                              stderr=subprocess.PIPE, text=True) for k in range(WRITERS)]
    go.touch()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * WRITERS, errors
    with Store.open(db_target) as store:
        assert sorted(r.run_id for r in store.list_runs()) == [f"writer-{k}" for k in range(WRITERS)]
        for k in range(WRITERS):
            expected = writer_cases(k, tmp_path / "check")
            back = store.cases(f"writer-{k}")
            assert [as_json(c) for c in back] == [as_json(c) for c in expected]
            assert store.get_run(f"writer-{k}").status == "ok"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == WRITERS * CASES
            n_items = sum(len(m.items or []) for c in expected for m in c.metrics) * WRITERS
            assert conn.exec_driver_sql("SELECT count(*) FROM metric_items").scalar() == n_items
            assert conn.exec_driver_sql("SELECT count(*) FROM metrics WHERE case_pk NOT IN "
                                        "(SELECT case_pk FROM cases)").scalar() == 0
