"""Many writers with full ``bench3d run`` processes (issue 20): three runs of the test-only faulty suite started at
once into one SQLite file and one PostgreSQL database. Every case of every run is stored as its run reported it
(``--json``), every run is finished, and the database is sound afterwards (SQLite's integrity check; no orphan rows
on either). tests/store/test_many_writers.py shows the same at the store level with more cases per writer."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bench.store import Store
from tests.conftest import bench3d_cmd

RUNS = 3
CASES = ("mode=ok", "mode=exception")  # a stored ok case (metrics, items, timings, an artifact) and a failure
# (child table, parent table, key): every child row must have its parent.
PARENTS = (("cases", "runs", "run_id"), ("metrics", "cases", "case_pk"), ("timings", "cases", "case_pk"),
           ("artifacts", "cases", "case_pk"), ("metric_items", "metrics", "metric_pk"),
           ("timing_samples", "timings", "timing_pk"))


@pytest.mark.slow
def test_concurrent_bench3d_runs_into_one_database_lose_nothing(db_target, bench_env, monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")
    if "://" not in db_target:
        Store.open(db_target).close()  # the file exists: the runs race to write, not to create it
    picked = [a for c in CASES for a in ("--case", c)]
    procs = [subprocess.Popen(bench3d_cmd("run", "--suite", "faulty", *picked, "--db", db_target, "--json",
                                          "--no-report", "--out", f"out{k}", "--seed", str(k)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
             for k in range(RUNS)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [1] * RUNS, [err for _, err in outs]  # mode=exception fails each run
    reported = [json.loads(out) for out, _ in outs]
    with Store.open(db_target, create=False) as store:
        assert sorted(r.run_id for r in store.list_runs()) == sorted(r["run_id"] for r in reported)
        for rep in reported:
            assert store.get_run(rep["run_id"]).status == "failed"
            stored = {c.case: c for c in store.cases(rep["run_id"])}
            assert set(stored) == set(CASES)
            for c in rep["cases"]:
                s = stored[c["case"]]
                assert (s.status, s.error) == (c["status"], c["error"])
                assert {m.name: m.value for m in s.metrics} == c["metrics"]
                assert {t.name: t.n for t in s.timings} == {k: v["n"] for k, v in c["timings"].items()}
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == RUNS * len(CASES)
            for child, parent, key in PARENTS:
                orphans = conn.exec_driver_sql(f"SELECT count(*) FROM {child} WHERE {key} NOT IN "
                                               f"(SELECT {key} FROM {parent})").scalar()
                assert orphans == 0, f"{child} rows without their {parent} row"
            if "://" not in db_target:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
