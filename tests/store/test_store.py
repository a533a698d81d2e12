"""Round trips and queries of the results store, checked against the records and raw SQL."""

from __future__ import annotations

import dataclasses
import math
import sqlite3

import pytest

from bench.errors import StoreError, UsageError
from bench.results import CaseResult, MetricRecord
from bench.store import SCHEMA_VERSION, Store
from bench.store.sample import sample_run


def _count(store: Store, table: str, where: str = "") -> int:
    """Rows of ``table``, counted by raw SQL on the store's own database (SQLite or PostgreSQL)."""
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM {table} {where}").scalar()


def test_run_and_cases_round_trip(filled, as_json):
    store, run, cases = filled
    assert as_json(store.get_run(run.run_id)) == as_json(run)
    back = store.cases(run.run_id)
    assert [as_json(c) for c in back] == [as_json(c) for c in cases]
    # the per-item values and samples really are rows of their own tables
    m = cases[0].metrics[0]
    assert len(m.items) == 4 and back[0].metrics[0].item_ids == m.item_ids
    assert back[0].timings[0].samples == cases[0].timings[0].samples


def test_rows_land_in_their_tables(filled):
    store, run, cases = filled
    assert _count(store, "cases") == len(cases)
    assert _count(store, "metrics") == sum(len(c.metrics) for c in cases)
    assert _count(store, "metric_items") == sum(len(m.items or []) for c in cases for m in c.metrics)
    assert _count(store, "timing_samples") == sum(len(t.samples) for c in cases for t in c.timings)
    assert _count(store, "artifacts") == sum(len(c.artifacts) for c in cases)
    assert _count(store, "environment") == len(run.environment)


def test_sqlite_is_wal_with_foreign_keys(db_path):
    store = Store.open(db_path)
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_add_case_replaces_earlier_row_without_orphans(filled, as_json):
    store, run, cases = filled
    failed = cases[3]
    assert failed.status == "nan"
    assert (failed.suite, failed.case) not in store.done_cases(run.run_id)
    retried = dataclasses.replace(failed, status="ok", error=None,
                                  metrics=[MetricRecord("chamfer_l2", 3e-4, items=[2e-4, 4e-4])])
    store.add_case(run.run_id, retried)
    back = {(c.suite, c.case): c for c in store.cases(run.run_id)}
    assert len(back) == len(cases)
    assert as_json(back[(failed.suite, failed.case)]) == as_json(retried)
    # the old NaN metric row is gone, not orphaned
    assert _count(store, "metrics", "WHERE case_pk NOT IN (SELECT case_pk FROM cases)") == 0
    assert _count(store, "metric_items", "WHERE metric_pk NOT IN (SELECT metric_pk FROM metrics)") == 0
    assert (failed.suite, failed.case) in store.done_cases(run.run_id)


def test_done_cases_are_ok_and_skipped_only(filled):
    store, run, cases = filled
    expected = {(c.suite, c.case) for c in cases if c.status in ("ok", "skipped")}
    assert store.done_cases(run.run_id) == expected
    assert ("nerf", "fern-small") not in expected  # the timeout


def test_non_finite_values_round_trip(store):
    store.create_run(sample_run())
    values = [math.nan, math.inf, -math.inf, None, 0.0, -1.5e-300]
    case = CaseResult(suite="s", case="c", duration_s=math.inf,
                      metrics=[MetricRecord(f"m{i}", v) for i, v in enumerate(values)]
                      + [MetricRecord("items", 1.0, items=[math.nan, math.inf, -math.inf, 2.0])])
    store.add_case(sample_run().run_id, case)
    back = store.cases(sample_run().run_id)[0]
    got = [m.value for m in back.metrics[:-1]]
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == -math.inf and got[3] is None
    assert got[4:] == values[4:]
    items = back.metrics[-1].items
    assert math.isnan(items[0]) and items[1:] == [math.inf, -math.inf, 2.0]
    assert back.duration_s == math.inf


def test_finish_and_list_runs(store, tmp_path):
    old = sample_run("run-old", "2024-01-01T00:00:00+00:00", git_commit="aaaa1111" * 5)
    new = sample_run("run-new", "2024-02-01T00:00:00+00:00", git_commit="bbbb2222" * 5)
    new.suites = ["other"]
    for r in (new, old):
        store.create_run(r)
    store.finish_run("run-old", "ok", "2024-01-01T00:05:00+00:00")
    got = store.get_run("run-old")
    assert (got.status, got.finished_at) == ("ok", "2024-01-01T00:05:00+00:00")
    assert [r.run_id for r in store.list_runs()] == ["run-new", "run-old"]
    assert [r.run_id for r in store.list_runs(limit=1)] == ["run-new"]
    assert [r.run_id for r in store.list_runs(suite="mesh_fitting")] == ["run-old"]
    store.add_case("run-new", CaseResult(suite="mesh_fitting", case="x"))
    assert [r.run_id for r in store.list_runs(suite="mesh_fitting")] == ["run-new", "run-old"]
    with pytest.raises(ValueError, match="run status"):
        store.finish_run("run-old", "great", "t")


def test_resolve_references(store):
    a = sample_run("20240101-aaaa", "2024-01-01T00:00:00+00:00", git_commit="c0ffee" + "0" * 34)
    b = sample_run("20240102-bbbb", "2024-01-02T00:00:00+00:00", git_commit="c0ffee" + "0" * 34)
    c = sample_run("20240103-cccc", "2024-01-03T00:00:00+00:00", git_commit="deadbeef" + "1" * 32)
    for r in (a, b, c):
        store.create_run(r)
    assert store.resolve("latest") == c.run_id
    assert store.resolve(a.run_id) == a.run_id
    assert store.resolve("20240102") == b.run_id
    assert store.resolve("c0ffee") == b.run_id  # newest run at that commit
    assert store.resolve("DEADBEEF") == c.run_id
    with pytest.raises(UsageError, match="ambiguous"):
        store.resolve("2024010")
    with pytest.raises(UsageError, match="unknown run '20240104-cccc'.*Did you mean '20240103-cccc'"):
        store.resolve("20240104-cccc")


def test_unknown_run_errors_name_close_matches(filled):
    store, run, _ = filled
    with pytest.raises(UsageError, match=f"Did you mean '{run.run_id}'"):
        store.get_run(run.run_id[:-1] + "x")
    with pytest.raises(UsageError, match="unknown run"):
        store.add_case("nope", CaseResult(suite="s", case="c"))
    with pytest.raises(UsageError, match="unknown run"):
        store.cases("nope")
    with pytest.raises(StoreError, match="already exists"):
        store.create_run(run)


def test_latest_on_empty_store_and_bad_status(store):
    with pytest.raises(UsageError, match="no runs stored"):
        store.resolve("latest")
    store.create_run(sample_run())
    with pytest.raises(ValueError, match="case status 'fine'"):
        store.add_case(sample_run().run_id, CaseResult(suite="s", case="c", status="fine"))


def test_memory_url_and_reopen(db_path):
    with Store.open("sqlite://") as mem:
        mem.create_run(sample_run())
        assert mem.resolve("latest") == sample_run().run_id
    with Store.open(db_path) as s:
        s.create_run(sample_run())
    with Store.open(f"sqlite:///{db_path}", create=False) as s:
        assert s.get_run(sample_run().run_id).git_commit == sample_run().git_commit


def test_readers_are_not_blocked_by_an_open_write(filled, db_target):
    """WAL (SQLite), MVCC (PostgreSQL): a report can read while the runner is inside a case's transaction."""
    store, run, cases = filled
    with store.engine.connect() as conn:
        conn.execution_options(bench_write=True)
        with conn.begin():  # BEGIN IMMEDIATE: holds the write lock
            conn.exec_driver_sql("DELETE FROM cases")  # uncommitted
            with Store.open(db_target) as reader:
                assert len(reader.cases(run.run_id)) == len(cases)  # sees the last committed state
            conn.rollback()
    assert len(store.cases(run.run_id)) == len(cases)
