"""ctx: what a case reports is what the result holds (metrics, timings, artifacts with hashes)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from bench.context import Context
from bench.suite import Case, MetricSpec, Suite


class S(Suite):
    name = "s"
    profiles = {"smoke": {}}
    metrics = (MetricSpec("acc", "%", True),)


def make_ctx(tmp_path, **params):
    return Context(S(), Case("s", "c=1", params), device="cpu", seed=3, profile="smoke",
                   artifact_root=tmp_path / "artifacts")


def test_metric_defaults_from_declaration_and_validation(tmp_path):
    ctx = make_ctx(tmp_path)
    rec = ctx.metric("acc", 91.5, items=[90, 93], item_ids=["a", "b"], fingerprint={"k": 1})
    assert (rec.unit, rec.higher_is_better, rec.items, rec.item_ids) == ("%", True, [90.0, 93.0], ["a", "b"])
    ctx.metric("acc", 92.0)  # re-reporting replaces
    assert [m.value for m in ctx.result.metrics] == [92.0]
    with pytest.raises(ValueError, match="not declared by suite 's'"):
        ctx.metric("undeclared", 1.0)
    with pytest.raises(ValueError, match="2 items but 1 item_ids"):
        ctx.metric("acc", 1.0, items=[1, 2], item_ids=["x"])
    assert ctx.metric("nan_metric", math.nan, unit="").is_nan()


def test_artifacts_are_hashed_and_relative_to_the_run_folder(tmp_path):
    ctx = make_ctx(tmp_path)
    img = ctx.image("strip", np.linspace(0, 1, 12).reshape(3, 4))
    curve = ctx.curve("loss", [0, 1, 2], {"total": [3.0, 2.0, float("nan")]})
    for rec in (img, curve):
        path = tmp_path / rec.path
        assert path.is_file() and rec.path.startswith("artifacts/s/c=1/")
        assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and rec.bytes == path.stat().st_size
    payload = json.loads((tmp_path / curve.path).read_text())
    assert payload["series"]["total"] == [3.0, 2.0, None]  # NaN is not valid JSON: stored as null


def test_timeit_and_profile_switch(tmp_path):
    ctx = make_ctx(tmp_path, profile_ops=True)
    rec = ctx.timeit("sum", lambda: sum(range(1000)), min_run_time=0.01)
    assert rec.n >= 5 and rec.median > 0 and rec.samples
    names = {a.name for a in ctx.result.artifacts}
    assert "sum_profile" in names
    plain = make_ctx(tmp_path / "b")
    plain.timeit("sum", lambda: sum(range(1000)), min_run_time=0.01)
    assert not plain.result.artifacts
