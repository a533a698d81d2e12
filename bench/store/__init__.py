"""Results database: runs, cases, metrics (with per-item values), timing samples, artifacts.

SQLite (WAL mode) by default, any SQLAlchemy URL otherwise. See :class:`Store` and, for the
table layout and schema versions, :mod:`bench.store.schema` and :mod:`bench.store.migrations`.
"""

from bench.store.schema import SCHEMA_VERSION
from bench.store.store import RUN_STATUSES, Store

__all__ = ["RUN_STATUSES", "SCHEMA_VERSION", "Store"]
