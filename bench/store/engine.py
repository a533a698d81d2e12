"""Opening a results database safely: path checks, SQLite pragmas, and no write before the checks pass.

A file that is not a SQLite database, a damaged one, or one from a newer bench3d is rejected by a
read-only inspection *before* any read-write connection exists, so nothing is ever overwritten.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from bench.errors import StoreError
from bench.store import migrations

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0
BUSY_TIMEOUT_ENV = "BENCH3D_BUSY_TIMEOUT"  # seconds SQLite waits for a lock per attempt (tests set it short)


def busy_timeout_s() -> float:
    """SQLite's per-attempt wait for a lock: ``$BENCH3D_BUSY_TIMEOUT`` seconds if set, else 30."""
    return _seconds_from_env(BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_S)


def _seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StoreError(f"${name}={raw!r}: expected a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise StoreError(f"${name}={raw!r}: expected a finite number of seconds >= 0")
    return value


def parse_target(url_or_path: str | os.PathLike[str]) -> tuple[sa.URL, Path | None]:
    """(SQLAlchemy URL, SQLite file path or None). A plain path means a SQLite file."""
    text = os.fspath(url_or_path)
    if "://" not in text:
        path = Path(text).expanduser().absolute()
        return sa.URL.create("sqlite", database=str(path)), path
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"--db {text!r} is neither a file path nor a database URL: {exc}") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database).expanduser().absolute()
        return url.set(database=str(path)), path
    return url, None


def describe(url: sa.URL, path: Path | None) -> str:
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def precheck_sqlite_file(path: Path, *, create: bool) -> None:
    """Validate a SQLite path without writing to it; create its folder when asked."""
    if path.is_dir():
        raise StoreError(f"results database {path} is a folder; give a file path")
    if not path.exists():
        if not create:
            raise StoreError(f"no results database at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of results database {path}: {exc.strerror or exc}") from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StoreError(f"cannot create results database {path}: folder {path.parent} is not writable")
        return
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"results database {path} (or its folder) is not writable; SQLite in WAL mode "
                         f"needs to write the file and create {path.name}-wal beside it")
    if path.stat().st_size == 0:
        return  # an empty file is an empty SQLite database
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a SQLite database (bad header); refusing to touch it")
    _inspect_readonly(path)


def _inspect_readonly(path: Path) -> None:
    """Integrity and schema-version check through a read-only connection."""
    con = None
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        result = con.execute("PRAGMA quick_check").fetchall()
        if result != [("ok",)]:
            detail = "; ".join(str(r[0]) for r in result[:3])
            raise StoreError(f"results database {path} is damaged ({detail}); refusing to write to it")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" in tables:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and str(row[0]).isdigit():
                migrations.check_supported(int(row[0]), str(path))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"results database {path} is corrupt or unreadable ({exc}); refusing to write to it") from None
    finally:
        if con is not None:
            con.close()


def _sqlite_events(engine: sa.Engine) -> None:
    """WAL, busy timeout, foreign keys, and real transactions (DDL included) for pysqlite."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see _on_begin
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s() * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A writer takes the write lock up front, so it waits (busy timeout) instead of failing on upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("bench_write") else "BEGIN")


PG_CONNECT_TIMEOUT_S = 10  # an unreachable server is an error after this long, not a hang


def _postgres_url(url: sa.URL) -> sa.URL:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default driver for it is psycopg2)."""
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def _postgres_events(engine: sa.Engine) -> None:
    """Per connection: a write waits for a row or table lock at most the busy timeout (then lock_not_available,
    which :meth:`Store._write` retries with backoff, as SQLite's busy errors)."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = {int(busy_timeout_s() * 1000)}")
        dbapi_conn.commit()


def create_engine(url: sa.URL, path: Path | None) -> sa.Engine:
    """An engine for ``url``; SQLite gets the pragmas above, PostgreSQL psycopg 3 and a lock timeout."""
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s()})
        _sqlite_events(engine)
        return engine
    where = describe(url, path)
    if url.get_backend_name() == "postgresql":
        url = _postgres_url(url)
        try:
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
        except ImportError:
            raise StoreError(f"cannot use database {where}: the PostgreSQL driver psycopg is not installed; "
                             f"pip install 'bench3d[postgres]'") from None
        _postgres_events(engine)
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except (ImportError, sa.exc.ArgumentError) as exc:
        raise StoreError(f"cannot use database {where}: {exc}") from None


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"
