"""Table definitions of the results database (SQLAlchemy Core), at the current schema version.

Layout, one row per thing a comparison may query:
  meta(key, value)                              schema_version lives here
  runs(run_id, ...)                             one row per ``RunRecord``
  environment(run_id, key, position, value)     the run's environment, value as JSON
  cases(case_pk, run_id, suite, case, ...)      one row per ``CaseResult``; unique (run_id, suite, case)
  metrics(metric_pk, case_pk, name, value, ...) aggregate value + fingerprint JSON
  metric_items(metric_pk, idx, item_id, value)  per-item raw values (per image, shape, seed)
  timings(timing_pk, case_pk, name, stats...)   statistics of one timed callable
  timing_samples(timing_pk, idx, value)         its raw samples, one row each
  artifacts(artifact_pk, case_pk, name, kind, path, sha256, bytes)

Floats that may be NaN or +-inf are stored as a REAL column plus a ``<name>_special`` text
column ("nan", "inf", "-inf"), because SQLite turns NaN into NULL and some databases reject
non-finite REALs; see :mod:`bench.store.codec`.
"""

from __future__ import annotations

import sqlalchemy as sa

# Version of the layout below. Bump it together with a new step in ``migrations.STEPS``.
SCHEMA_VERSION = 6

metadata = sa.MetaData()


def _float(name: str, *, nullable: bool = True) -> list[sa.Column]:
    """A float column and its non-finite marker column."""
    return [sa.Column(name, sa.Float, nullable=nullable), sa.Column(f"{name}_special", sa.String(8))]


def _case_fk() -> sa.Column:
    return sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.case_pk", ondelete="CASCADE"), nullable=False)


meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("profile", sa.String(32), nullable=False),
    sa.Column("device", sa.String(32), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("backend", sa.String(64), nullable=False),
    sa.Column("argv", sa.JSON, nullable=False),
    sa.Column("suites", sa.JSON, nullable=False),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_dirty", sa.Boolean),
    sa.Column("machine", sa.String(255)),
    sa.Column("source", sa.String(16), nullable=False, server_default="run"),
    sa.Column("settings", sa.JSON),  # RunSettings (v5); NULL before, read from the environment's keys then
    sa.Index("ix_runs_git_commit", "git_commit"),
    sa.Index("ix_runs_created_at", "created_at"),
    sa.Index("ix_runs_machine", "machine"),
)

environment = sa.Table(
    "environment", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("value", sa.JSON),
)

cases = sa.Table(
    "cases", metadata,
    sa.Column("case_pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    sa.Column("suite", sa.String(128), nullable=False),
    sa.Column("case", sa.String(255), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("log_tail", sa.Text, nullable=False),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    *_float("duration_s"),
    sa.Column("seed", sa.Integer),
    sa.Column("device", sa.String(32)),
    sa.Column("backend", sa.String(128)),
    sa.Column("datasets", sa.JSON, nullable=False),
    # hash of the resolved configuration's identity fields and the names of the other fields (v5); NULL before:
    # the case's configuration is unknown
    sa.Column("config_hash", sa.String(32)),
    sa.Column("config_free", sa.JSON),
    sa.Column("node", sa.JSON),  # where the case ran (host, Ray node, GPUs) when not on the run's machine (v6)
    sa.UniqueConstraint("run_id", "suite", "case", name="uq_cases_run_suite_case"),
    sa.Index("ix_cases_suite_case", "suite", "case"),
)

metrics = sa.Table(
    "metrics", metadata,
    sa.Column("metric_pk", sa.Integer, primary_key=True, autoincrement=True),
    _case_fk(),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    *_float("value"),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("higher_is_better", sa.Boolean),
    sa.Column("has_items", sa.Boolean, nullable=False),
    sa.Column("has_item_ids", sa.Boolean, nullable=False),
    sa.Column("fingerprint", sa.JSON, nullable=False),
    # value of each worker process (--repeat, metrics without items), NaN/inf as their codec markers (v4)
    sa.Column("process_values", sa.JSON),
    sa.UniqueConstraint("case_pk", "name", name="uq_metrics_case_name"),
)

metric_items = sa.Table(
    "metric_items", metadata,
    sa.Column("metric_pk", sa.Integer, sa.ForeignKey("metrics.metric_pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.String(255)),
    *_float("value"),
)

timings = sa.Table(
    "timings", metadata,
    sa.Column("timing_pk", sa.Integer, primary_key=True, autoincrement=True),
    _case_fk(),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    *_float("median"),
    *_float("iqr"),
    *_float("mean"),
    *_float("min"),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("noisy", sa.Boolean, nullable=False),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("inner_loops", sa.Integer, nullable=False),
    sa.Column("peak_memory_bytes", sa.BigInteger),
    sa.Column("memory_kind", sa.String(32)),
    sa.Column("calibration_s", sa.Float),  # reference-kernel seconds per call in the same process (v2)
    sa.Column("process_sizes", sa.JSON),  # samples of each pooled process, in order; NULL for one (v3)
    sa.Column("items_per_call", sa.Float),  # throughput: items (rays, images) per call (v5)
    sa.Column("item_unit", sa.String(32)),
    sa.Column("phase", sa.String(16)),  # setup | loop | evaluate | kernel (v5)
    sa.UniqueConstraint("case_pk", "name", name="uq_timings_case_name"),
)

timing_samples = sa.Table(
    "timing_samples", metadata,
    sa.Column("timing_pk", sa.Integer, sa.ForeignKey("timings.timing_pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    *_float("value"),
    sa.Column("calibration", sa.Float),  # the reference kernel's seconds per call right after this sample (v3)
)

artifacts = sa.Table(
    "artifacts", metadata,
    sa.Column("artifact_pk", sa.Integer, primary_key=True, autoincrement=True),
    _case_fk(),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
)

# Child tables are looked up by their parent's key; SQLite does not index foreign keys itself.
sa.Index("ix_metrics_case", metrics.c.case_pk)
sa.Index("ix_metrics_name", metrics.c.name)
sa.Index("ix_timings_case", timings.c.case_pk)
sa.Index("ix_artifacts_case", artifacts.c.case_pk)
