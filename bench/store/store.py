"""The results store: runs, cases, metrics, timings and artifacts in one SQL database."""

from __future__ import annotations

import difflib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bench.errors import StoreError, UsageError
from bench.liveness import runner_gone
from bench.results import CASE_STATUSES, CaseResult, RunRecord, RunSettings
from bench.store import engine as _engine
from bench.store import migrations, rows, schema

RUN_STATUSES = ("running", "ok", "failed", "interrupted")
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")
LOCK_WAIT_S = 600.0  # how long a write retries a locked database in all, with backoff
LOCK_WAIT_ENV = "BENCH3D_LOCK_WAIT"


class StoreBusy(StoreError):
    """A write found the database locked (by another writer) for longer than the store's lock wait."""


def _runner_gone(settings: object) -> bool:
    return isinstance(settings, dict) and runner_gone(settings.get("runner"))


# PostgreSQL's SQLSTATEs of a write that met another writer: serialization_failure, deadlock_detected,
# lock_not_available (our lock_timeout, bench.store.engine). Retrying the whole transaction is the documented cure.
PG_LOCK_STATES = frozenset({"40001", "40P01", "55P03"})
SCHEMA_LOCK_KEY = 0x62336400  # pg_advisory_xact_lock key that serializes schema creation and migration ("b3d")


def _is_lock_error(exc: BaseException) -> bool:
    """A write that met another writer's lock (SQLite busy/locked, PostgreSQL serialization, deadlock or lock
    timeout): worth retrying."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in PG_LOCK_STATES:
        return True
    text = str(orig or exc).lower()
    return isinstance(exc, sa.exc.OperationalError) and ("database is locked" in text or "database is busy" in text)


class Store:
    """A results database. Open with :meth:`Store.open`; every write is one transaction."""

    def __init__(self, engine: sa.Engine, where: str, lock_wait: float | None = None):
        self.engine = engine
        self.where = where
        # A write that meets a lock retries (exponential backoff) for this long in all before StoreBusy;
        # each attempt itself waits SQLite's busy timeout (engine.busy_timeout_s).
        self.lock_wait = _engine._seconds_from_env(LOCK_WAIT_ENV, LOCK_WAIT_S) if lock_wait is None else lock_wait

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, url_or_path: str | os.PathLike[str], *, create: bool = True,
             lock_wait: float | None = None) -> Store:
        """Open (and create or migrate) a store: a file path means SQLite; otherwise any SQLAlchemy URL.

        Raises StoreError, without writing anything, for an unwritable path, a corrupt or foreign
        file, or a database from a newer bench3d. ``lock_wait``: seconds a write retries a locked database
        (default ``$BENCH3D_LOCK_WAIT`` or 600).
        """
        url, path = _engine.parse_target(url_or_path)
        where = _engine.describe(url, path)
        if path is not None:
            _engine.precheck_sqlite_file(path, create=create)
        eng = _engine.create_engine(url, path)
        store = cls(eng, where, lock_wait)
        try:
            store._prepare(create=create)
        except StoreError:
            eng.dispose()
            raise
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            eng.dispose()
            raise StoreError(f"cannot open results database {where}: {_short(exc)}") from None
        try:
            for run_id, runner in store.interrupt_dead_runs():
                print(f"bench3d: run {run_id} was interrupted: its runner (pid {runner.get('pid')} on "
                      f"{runner.get('host')}) ended without finishing it; `bench3d run --resume {run_id}` "
                      f"completes it", file=sys.stderr)
        except StoreError:  # a read-only or busy database: marked at a later open
            pass
        return store

    def _prepare(self, *, create: bool) -> None:
        # Read first: a current store is opened without taking the write lock (a runner may hold it).
        with self._tx() as conn:
            version = migrations.detect_version(conn, self.where)
        if version is None and not create:
            raise StoreError(f"{self.where} holds no bench3d results (empty database)")
        if version is not None:
            migrations.check_supported(version, self.where)
        if version == schema.SCHEMA_VERSION:
            return
        with self._tx(write=True) as conn:
            if _engine.is_postgres(self.engine):  # DDL takes no lock on tables not yet there: serialize it ourselves
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            version = migrations.detect_version(conn, self.where)  # again, under the lock
            if version != schema.SCHEMA_VERSION:
                migrations.upgrade(conn, version)

    def close(self) -> None:
        """Release every connection (and the SQLite file handles)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            if write:
                conn.execution_options(bench_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn driver errors into one-line StoreErrors."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"{action} in {self.where} failed: {_short(exc)}") from None

    def _write(self, action: str, fn: Callable[[sa.Connection], object], wait: float | None = None) -> object:
        """Run ``fn(conn)`` in one write transaction; a locked database is retried with exponential backoff
        (0.1 s doubling, at most 10 s apart) until ``wait`` seconds (default: ``self.lock_wait``) have passed,
        then StoreBusy. Any other driver error is a StoreError at once."""
        wait = self.lock_wait if wait is None else wait
        start, delay, attempts = time.monotonic(), 0.1, 0
        while True:
            attempts += 1
            try:
                with self._tx(write=True) as conn:
                    return fn(conn)
            except sa.exc.SQLAlchemyError as exc:
                if not _is_lock_error(exc):
                    raise StoreError(f"{action} in {self.where} failed: {_short(exc)}") from None
                left = wait - (time.monotonic() - start)
                if left <= 0:
                    raise StoreBusy(f"{action} in {self.where} failed: the database stayed locked by another "
                                    f"writer for {time.monotonic() - start:.1f} s ({attempts} attempt(s))") from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 10.0)

    def schema_version(self) -> int | None:
        """The version recorded in the database."""
        with self._tx() as conn:
            return migrations.detect_version(conn, self.where)

    # --- writing ------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> None:
        """Insert a run and its environment rows."""
        if run.status not in RUN_STATUSES:
            raise ValueError(f"run status {run.status!r}; expected one of {', '.join(RUN_STATUSES)}")

        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run.run_id)).first():
                raise StoreError(f"run {run.run_id} already exists in {self.where}")
            conn.execute(sa.insert(schema.runs).values(**rows.run_row(run)))
            if run.environment:
                conn.execute(sa.insert(schema.environment), [
                    {"run_id": run.run_id, "key": str(k), "position": i, "value": v}
                    for i, (k, v) in enumerate(run.environment.items())])

        self._write(f"creating run {run.run_id}", write)

    def add_case(self, run_id: str, case: CaseResult, *, wait: float | None = None) -> None:
        """Store one case with everything it produced, in one transaction, replacing an earlier
        row of the same (run, suite, case). A locked database is retried for ``wait`` seconds (default: the
        store's lock wait), then StoreBusy with nothing written."""
        if case.status not in CASE_STATUSES:
            raise ValueError(f"case status {case.status!r}; expected one of {', '.join(CASE_STATUSES)}")
        c = schema.cases

        def write(conn: sa.Connection) -> None:
            if not conn.execute(sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)).first():
                raise self._unknown_run(conn, run_id)
            conn.execute(sa.delete(c).where(c.c.run_id == run_id, c.c.suite == case.suite, c.c.case == case.case))
            rows.insert_case(conn, run_id, case)

        self._write(f"storing case {case.suite}/{case.case}", write, wait)

    def finish_run(self, run_id: str, status: str, finished_at: str | None, *, wait: float | None = None,
                   settings: RunSettings | None = None) -> None:
        """Record the run's status and end time (and, given, its settings: ``--resume`` records its runner)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"run status {status!r}; expected one of {', '.join(RUN_STATUSES)}")
        r = schema.runs
        values: dict = {"status": status, "finished_at": finished_at}
        if settings is not None:
            values["settings"] = settings.to_dict()

        def write(conn: sa.Connection) -> None:
            res = conn.execute(sa.update(r).where(r.c.run_id == run_id).values(**values))
            if res.rowcount == 0:
                raise self._unknown_run(conn, run_id)

        self._write(f"finishing run {run_id}", write, wait)

    def interrupt_dead_runs(self) -> list[tuple[str, dict]]:
        """Mark ``interrupted`` every ``running`` run whose runner is known to be gone (SIGKILL, a crash of the
        machine; see bench.liveness): (run id, runner) of each. Checked again under the write lock, so a run
        that ``--resume`` has just taken over is left alone."""
        r = schema.runs
        running = sa.select(r.c.run_id, r.c.settings).where(r.c.status == "running")
        with self._tx() as conn:
            candidates = [row.run_id for row in conn.execute(running) if _runner_gone(row.settings)]
        if not candidates:
            return []

        def write(conn: sa.Connection) -> list[tuple[str, dict]]:
            marked = []
            for row in conn.execute(running.where(r.c.run_id.in_(candidates))):
                if _runner_gone(row.settings):
                    conn.execute(sa.update(r).where(r.c.run_id == row.run_id).values(status="interrupted"))
                    marked.append((row.run_id, dict(row.settings["runner"])))
            return marked

        return self._write("marking runs of dead runners interrupted", write, wait=5.0)

    # --- reading ------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord:
        """The run with exactly this id (UsageError with close matches otherwise)."""
        with self._guard(f"reading run {run_id}"), self._tx() as conn:
            row = conn.execute(sa.select(schema.runs).where(schema.runs.c.run_id == run_id)).mappings().first()
            if row is None:
                raise self._unknown_run(conn, run_id)
            return self._run(conn, row)

    def _run(self, conn: sa.Connection, row: sa.RowMapping) -> RunRecord:
        e = schema.environment
        env_rows = conn.execute(sa.select(e).where(e.c.run_id == row["run_id"])).mappings().all()
        return rows.run_from_row(row, env_rows)

    def list_runs(self, suite: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first; with ``suite``, only runs that planned or stored a case of it."""
        r, c = schema.runs, schema.cases
        with self._guard("listing runs"), self._tx() as conn:
            all_rows = conn.execute(sa.select(r).order_by(r.c.created_at.desc(), r.c.run_id.desc())).mappings().all()
            if suite is not None:
                with_cases = set(conn.execute(sa.select(c.c.run_id).where(c.c.suite == suite).distinct()).scalars())
                all_rows = [row for row in all_rows if row["run_id"] in with_cases or suite in (row["suites"] or [])]
            if limit is not None:
                all_rows = all_rows[: max(0, int(limit))]
            return [self._run(conn, row) for row in all_rows]

    def cases(self, run_id: str) -> list[CaseResult]:
        """Every stored case of a run, as full records, in the order they were stored."""
        with self._guard(f"reading cases of run {run_id}"), self._tx() as conn:
            if not conn.execute(sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)).first():
                raise self._unknown_run(conn, run_id)
            return rows.load_cases(conn, run_id)

    def done_cases(self, run_id: str) -> set[tuple[str, str]]:
        """(suite, case) pairs already stored with status ok or skipped (what --resume leaves out)."""
        c = schema.cases
        with self._guard(f"reading cases of run {run_id}"), self._tx() as conn:
            q = sa.select(c.c.suite, c.c.case).where(c.c.run_id == run_id, c.c.status.in_(("ok", "skipped")))
            return {(s, k) for s, k in conn.execute(q)}

    def resolve(self, ref: str) -> str:
        """A run id from: a run id, a unique prefix of one, "latest", or a git commit (prefix),
        which means the newest run at that commit."""
        r = schema.runs
        ref = str(ref).strip()
        if not ref:
            raise UsageError("empty run reference; give a run id, a prefix of one, 'latest' or a git commit")
        with self._guard(f"resolving run {ref!r}"), self._tx() as conn:
            newest = sa.select(r.c.run_id).order_by(r.c.created_at.desc(), r.c.run_id.desc())
            if ref == "latest":
                run_id = conn.execute(newest.limit(1)).scalar()
                if run_id is None:
                    raise UsageError(f"no runs stored in {self.where} yet; 'latest' has nothing to refer to")
                return run_id
            ids = list(conn.execute(sa.select(r.c.run_id)).scalars())
            if ref in ids:
                return ref
            matches = sorted(i for i in ids if i.startswith(ref))
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UsageError(f"run prefix {ref!r} is ambiguous: {', '.join(matches[:5])}"
                                 f"{' ...' if len(matches) > 5 else ''}; give more characters")
            if _HEX.match(ref):
                commits = conn.execute(newest.add_columns(r.c.git_commit).where(r.c.git_commit.is_not(None))).all()
                hits = [(run_id, commit) for run_id, commit in commits if commit.lower().startswith(ref.lower())]
                if len({commit for _, commit in hits}) > 1:
                    shown = ", ".join(sorted({commit[:12] for _, commit in hits})[:5])
                    raise UsageError(f"git commit prefix {ref!r} is ambiguous: {shown}; give more characters")
                if hits:
                    return hits[0][0]
            raise self._unknown_run(conn, ref, ids=ids)

    def _unknown_run(self, conn: sa.Connection, run_id: str, ids: list[str] | None = None) -> UsageError:
        if ids is None:
            ids = list(conn.execute(sa.select(schema.runs.c.run_id)).scalars())
        close = difflib.get_close_matches(run_id, ids, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        if not ids:
            return UsageError(f"unknown run {run_id!r}: {self.where} holds no runs yet")
        return UsageError(f"unknown run {run_id!r} in {self.where} ({len(ids)} runs stored; "
                          f"`bench3d report latest` takes the newest).{hint}")


def _short(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
