"""Schema versions of the results database and the steps between them.

``STEPS[n]`` upgrades a database at version ``n`` to ``n + 1``. :func:`upgrade` applies every step
a database lacks, and records the new version, inside the caller's single transaction, so an
interrupted or failing migration leaves the database exactly as it was.

Version history:
  0  pre-release layout: no ``meta`` table (so no recorded version) and no ``runs.source`` column.
  1  ``meta.schema_version``; ``runs.source`` ("run" or "ingest").
  2  ``timings.calibration_s`` (the reference kernel's speed in the same process; NULL for older rows).
  3  ``timing_samples.calibration`` (the reference kernel timed right after each sample; NULL for older
     rows) and ``timings.process_sizes`` (sample counts of the worker processes pooled by ``--repeat``;
     NULL for one process, as in older rows).
  4  ``metrics.process_values`` (the value of each worker process under ``--repeat``, for metrics without
     items; NULL otherwise, as in older rows).
  5  ``runs.settings`` (the typed RunSettings; older runs' settings are read from their environment keys),
     ``cases.config_hash`` + ``cases.config_free`` (case identity; NULL: configuration unknown, compared as
     before), ``timings.items_per_call`` + ``item_unit`` (throughput) and ``timings.phase``.
  6  ``cases.node``: where a case ran when not on the run's machine (``--executor ray``); NULL otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bench.errors import StoreError
from bench.store import schema

Step = Callable[[sa.Connection], None]


def _v0_to_v1(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN source VARCHAR(16) NOT NULL DEFAULT 'run'"))
    schema.meta.create(conn, checkfirst=True)


def _v1_to_v2(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE timings ADD COLUMN calibration_s FLOAT"))


def _v2_to_v3(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE timing_samples ADD COLUMN calibration FLOAT"))
    conn.execute(sa.text("ALTER TABLE timings ADD COLUMN process_sizes JSON"))


def _v3_to_v4(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE metrics ADD COLUMN process_values JSON"))


def _v4_to_v5(conn: sa.Connection) -> None:
    for table, column, kind in (("runs", "settings", "JSON"), ("cases", "config_hash", "VARCHAR(32)"),
                                ("cases", "config_free", "JSON"), ("timings", "items_per_call", "FLOAT"),
                                ("timings", "item_unit", "VARCHAR(32)"), ("timings", "phase", "VARCHAR(16)")):
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def _v5_to_v6(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE cases ADD COLUMN node JSON"))


STEPS: dict[int, Step] = {0: _v0_to_v1, 1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6}


def detect_version(conn: sa.Connection, where: str) -> int | None:
    """The schema version of the database behind ``conn``; None for an empty database.

    Raises StoreError for a database that holds other tables but is not a bench3d store.
    """
    tables = set(sa.inspect(conn).get_table_names())
    if "meta" in tables:
        row = conn.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).first()
        if row is not None:
            try:
                return int(row[0])
            except ValueError:
                raise StoreError(f"{where}: unreadable schema_version {row[0]!r} in its meta table") from None
    if "runs" in tables:
        return 0
    if tables:
        raise StoreError(f"{where} is a database but not a bench3d results store "
                         f"(it has tables {', '.join(sorted(tables)[:5])}); give another --db")
    return None


def check_supported(version: int, where: str) -> None:
    """Refuse a database written by a newer bench3d."""
    if version > schema.SCHEMA_VERSION:
        raise StoreError(f"{where}: results database schema version {version} is newer than this bench3d "
                         f"supports ({schema.SCHEMA_VERSION}); upgrade bench3d")


def upgrade(conn: sa.Connection, version: int | None, *, steps: dict[int, Step] | None = None) -> int:
    """Create (version None) or upgrade the schema to ``SCHEMA_VERSION`` within ``conn``'s transaction."""
    steps = STEPS if steps is None else steps
    if version is None:
        schema.metadata.create_all(conn)
    else:
        check_supported(version, "database")
        for v in range(version, schema.SCHEMA_VERSION):
            if v not in steps:
                raise StoreError(f"no migration from results schema version {v} to {v + 1}")
            try:
                steps[v](conn)
            except StoreError:
                raise
            except Exception as exc:  # any failure aborts the whole transaction; report it in one line
                raise StoreError(f"migrating the results database from schema version {v} to {v + 1} failed "
                                 f"({type(exc).__name__}: {exc}); it was left unchanged") from exc
        # Tables added by a later version without their own step (new tables only) appear here.
        schema.metadata.create_all(conn, checkfirst=True)
    conn.execute(sa.delete(schema.meta).where(schema.meta.c.key == "schema_version"))
    conn.execute(sa.insert(schema.meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
    return schema.SCHEMA_VERSION
