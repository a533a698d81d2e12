"""Conversion between the records of :mod:`bench.results` and table rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from bench.results import ArtifactRecord, CaseResult, MetricRecord, RunRecord, RunSettings, TimingRecord
from bench.store import codec, schema

_TIMING_STATS = ("median", "iqr", "mean", "min")


def run_row(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id, "created_at": run.created_at, "finished_at": run.finished_at, "status": run.status,
        "profile": run.profile, "device": run.device, "seed": int(run.seed), "backend": run.backend,
        "argv": list(run.argv), "suites": list(run.suites), "git_commit": run.git_commit,
        "git_dirty": run.git_dirty, "machine": run.machine, "source": run.source,
        "settings": None if run.settings is None else run.settings.to_dict(),
    }


def run_from_row(row: Mapping[str, Any], env_rows: Sequence[Mapping[str, Any]]) -> RunRecord:
    env = {r["key"]: r["value"] for r in sorted(env_rows, key=lambda r: r["position"])}
    return RunRecord(
        run_id=row["run_id"], created_at=row["created_at"], profile=row["profile"], device=row["device"],
        seed=row["seed"], backend=row["backend"], status=row["status"], finished_at=row["finished_at"],
        argv=list(row["argv"] or []), suites=list(row["suites"] or []), git_commit=row["git_commit"],
        git_dirty=None if row["git_dirty"] is None else bool(row["git_dirty"]), machine=row["machine"],
        environment=env, source=row["source"], settings=_settings(row, env),
    )


# Keys of the environment in which runs stored before schema v5 kept their settings.
_LEGACY_SETTINGS = {"threads": "torch_threads", "repeat": "repeat", "overrides": "overrides",
                    "planned_cases": "planned_cases", "run_dir": "bench3d_run_dir"}


def _settings(row: Mapping[str, Any], env: Mapping[str, Any]) -> RunSettings | None:
    if row.get("settings") is not None:
        return RunSettings.from_dict(dict(row["settings"]))
    if row["source"] != "run":
        return None
    legacy = {k: env[e] for k, e in _LEGACY_SETTINGS.items() if env.get(e) is not None}
    return RunSettings(profile=row["profile"], device=row["device"], seed=row["seed"], backend=row["backend"],
                       **legacy)


def insert_case(conn: sa.Connection, run_id: str, case: CaseResult) -> int:
    """Insert one case and all its children; returns the case's primary key."""
    res = conn.execute(sa.insert(schema.cases).values(
        run_id=run_id, suite=case.suite, case=case.case, params=dict(case.params), status=case.status,
        error=case.error, log_tail=case.log_tail or "", started_at=case.started_at, finished_at=case.finished_at,
        seed=case.seed, device=case.device, backend=case.backend, datasets=dict(case.datasets),
        config_hash=case.config_hash, config_free=list(case.config_free) if case.config_hash else None,
        node=None if case.node is None else dict(case.node),
        **codec.columns("duration_s", case.duration_s)))
    case_pk = res.inserted_primary_key[0]
    for pos, m in enumerate(case.metrics):
        metric_pk = conn.execute(sa.insert(schema.metrics).values(
            case_pk=case_pk, position=pos, name=m.name, unit=m.unit or "", higher_is_better=m.higher_is_better,
            has_items=m.items is not None, has_item_ids=m.item_ids is not None, fingerprint=dict(m.fingerprint),
            process_values=None if m.process_values is None else [codec.to_json(v) for v in m.process_values],
            **codec.columns("value", m.value))).inserted_primary_key[0]
        items = list(m.items or [])
        ids = list(m.item_ids or [])
        if ids and len(ids) != len(items):
            raise ValueError(f"metric {m.name!r} of case {case.suite}/{case.case}: "
                             f"{len(items)} items but {len(ids)} item_ids")
        if items:
            conn.execute(sa.insert(schema.metric_items), [
                {"metric_pk": metric_pk, "idx": i, "item_id": ids[i] if ids else None, **codec.columns("value", v)}
                for i, v in enumerate(items)])
    for pos, t in enumerate(case.timings):
        where = f"timing {t.name!r} of case {case.suite}/{case.case}"
        if t.process_sizes is not None and sum(t.process_sizes) != len(t.samples):
            raise ValueError(f"{where}: process sizes {t.process_sizes} do not add up to its {len(t.samples)} samples")
        cal = list(t.calibration) if t.calibration is not None else None
        if cal is not None and len(cal) != len(t.samples):
            raise ValueError(f"{where}: {len(t.samples)} samples but {len(cal)} calibrations")
        stats = {}
        for s in _TIMING_STATS:
            stats.update(codec.columns(s, getattr(t, s)))
        timing_pk = conn.execute(sa.insert(schema.timings).values(
            case_pk=case_pk, position=pos, name=t.name, n=int(t.n), noisy=bool(t.noisy), unit=t.unit,
            method=t.method, inner_loops=int(t.inner_loops), peak_memory_bytes=t.peak_memory_bytes,
            memory_kind=t.memory_kind, calibration_s=t.calibration_s,
            process_sizes=None if t.process_sizes is None else [int(k) for k in t.process_sizes],
            items_per_call=t.items_per_call, item_unit=t.item_unit, phase=t.phase,
            **stats)).inserted_primary_key[0]
        if t.samples:
            conn.execute(sa.insert(schema.timing_samples), [
                {"timing_pk": timing_pk, "idx": i, "calibration": None if cal is None else float(cal[i]),
                 **codec.columns("value", v)} for i, v in enumerate(t.samples)])
    if case.artifacts:
        conn.execute(sa.insert(schema.artifacts), [
            {"case_pk": case_pk, "position": pos, "name": a.name, "kind": a.kind, "path": a.path,
             "sha256": a.sha256, "bytes": int(a.bytes)} for pos, a in enumerate(case.artifacts)])
    return case_pk


def _group(rows: Sequence[Any], key: str) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def load_cases(conn: sa.Connection, run_id: str) -> list[CaseResult]:
    """All cases of a run, in insertion order, with metrics, items, timings, samples and artifacts."""
    c, m, mi, t, ts, a = (schema.cases, schema.metrics, schema.metric_items, schema.timings,
                          schema.timing_samples, schema.artifacts)
    case_rows = conn.execute(sa.select(c).where(c.c.run_id == run_id).order_by(c.c.case_pk)).mappings().all()
    in_run = sa.select(c.c.case_pk).where(c.c.run_id == run_id)
    metric_rows = conn.execute(sa.select(m).where(m.c.case_pk.in_(in_run)).order_by(m.c.position)).mappings().all()
    # Items and samples can be many (per image, per call): read them as plain tuples.
    items_by: dict[int, list[tuple[Any, ...]]] = {}
    for pk, value, special, item_id in conn.execute(
            sa.select(mi.c.metric_pk, mi.c.value, mi.c.value_special, mi.c.item_id)
            .join(m, m.c.metric_pk == mi.c.metric_pk).where(m.c.case_pk.in_(in_run))
            .order_by(mi.c.metric_pk, mi.c.idx)):
        items_by.setdefault(pk, []).append((codec.decode(value, special), item_id))
    timing_rows = conn.execute(sa.select(t).where(t.c.case_pk.in_(in_run)).order_by(t.c.position)).mappings().all()
    samples_by: dict[int, list[tuple[float | None, float | None]]] = {}
    for pk, value, special, cal in conn.execute(
            sa.select(ts.c.timing_pk, ts.c.value, ts.c.value_special, ts.c.calibration)
            .join(t, t.c.timing_pk == ts.c.timing_pk).where(t.c.case_pk.in_(in_run))
            .order_by(ts.c.timing_pk, ts.c.idx)):
        samples_by.setdefault(pk, []).append((codec.decode(value, special), cal))
    art_rows = conn.execute(sa.select(a).where(a.c.case_pk.in_(in_run)).order_by(a.c.position)).mappings().all()

    metrics_by, timings_by, arts_by = (_group(metric_rows, "case_pk"), _group(timing_rows, "case_pk"),
                                       _group(art_rows, "case_pk"))
    out = []
    for r in case_rows:
        pk = r["case_pk"]
        out.append(CaseResult(
            suite=r["suite"], case=r["case"], params=dict(r["params"] or {}), status=r["status"], error=r["error"],
            log_tail=r["log_tail"], started_at=r["started_at"], finished_at=r["finished_at"],
            duration_s=codec.from_row(r, "duration_s"), seed=r["seed"], device=r["device"], backend=r["backend"],
            datasets=dict(r["datasets"] or {}), config_hash=r.get("config_hash"),
            config_free=list(r.get("config_free") or []), node=None if r.get("node") is None else dict(r["node"]),
            metrics=[_metric(mr, items_by.get(mr["metric_pk"], [])) for mr in metrics_by.get(pk, [])],
            timings=[_timing(tr, samples_by.get(tr["timing_pk"], [])) for tr in timings_by.get(pk, [])],
            artifacts=[ArtifactRecord(name=ar["name"], kind=ar["kind"], path=ar["path"], sha256=ar["sha256"],
                                      bytes=ar["bytes"]) for ar in arts_by.get(pk, [])],
        ))
    return out


def _metric(r: Mapping[str, Any], items: Sequence[tuple[float | None, str | None]]) -> MetricRecord:
    return MetricRecord(
        name=r["name"], value=codec.from_row(r, "value"), unit=r["unit"],
        higher_is_better=None if r["higher_is_better"] is None else bool(r["higher_is_better"]),
        items=[v for v, _ in items] if r["has_items"] else None,
        item_ids=[i for _, i in items] if r["has_item_ids"] else None,
        fingerprint=dict(r["fingerprint"] or {}),
        process_values=None if r.get("process_values") is None else [codec.from_json(v) for v in r["process_values"]],
    )


def _timing(r: Mapping[str, Any], rows: list[tuple[float | None, float | None]]) -> TimingRecord:
    cal = [c for _, c in rows]
    return TimingRecord(
        name=r["name"], samples=[v for v, _ in rows],
        median=codec.from_row(r, "median"), iqr=codec.from_row(r, "iqr"), mean=codec.from_row(r, "mean"),
        min=codec.from_row(r, "min"), n=r["n"], noisy=bool(r["noisy"]), unit=r["unit"], method=r["method"],
        inner_loops=r["inner_loops"], peak_memory_bytes=r["peak_memory_bytes"], memory_kind=r["memory_kind"],
        calibration_s=r.get("calibration_s"),
        process_sizes=None if r.get("process_sizes") is None else list(r["process_sizes"]),
        calibration=cal if cal and all(c is not None for c in cal) else None,
        items_per_call=r.get("items_per_call"), item_unit=r.get("item_unit"), phase=r.get("phase"),
    )
