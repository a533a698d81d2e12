"""ctx: what a case reports is what the result holds (metrics, phases, timings, artifacts with hashes)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from bench.config import param
from bench.context import Context, Phase
from bench.metrics import psnr, ssim
from bench.suite import MetricSpec, Profile, Suite


@dataclass(frozen=True)
class SConfig:
    c: int = param(1, "a grid field")
    profile_ops: bool = param(False, "profile switch", identity=False)


class S(Suite):
    name = "s"
    Config = SConfig
    grid = {"c": [1]}
    profiles = {"smoke": Profile()}
    metrics = (MetricSpec("acc", "%", True), MetricSpec.of("psnr"), MetricSpec.of("psnr", "psnr_init"))


def make_ctx(tmp_path, **params):
    (case,) = S().cases("smoke", params)
    return Context(S(), case, device="cpu", seed=3, profile="smoke", artifact_root=tmp_path / "artifacts")


def test_metric_units_from_declaration_and_validation(tmp_path):
    ctx = make_ctx(tmp_path)
    rec = ctx.metric("acc", 91.5, items=[90, 93], item_ids=["a", "b"], fingerprint={"k": 1})
    assert (rec.unit, rec.higher_is_better, rec.items, rec.item_ids) == ("%", True, [90.0, 93.0], ["a", "b"])
    ctx.metric("acc", 92.0)  # re-reporting replaces
    assert [m.value for m in ctx.result.metrics] == [92.0]
    with pytest.raises(ValueError, match="not declared by suite 's'"):
        ctx.metric("undeclared", 1.0)
    with pytest.raises(ValueError, match="2 items but 1 item_ids"):
        ctx.metric("acc", 1.0, items=[1, 2], item_ids=["x"])
    assert ctx.metric("acc", math.nan).is_nan()


def test_a_library_metric_takes_its_result_with_the_fingerprint(tmp_path):
    ctx = make_ctx(tmp_path)
    a, b = torch.rand(2, 16, 16, 3), torch.rand(2, 16, 16, 3)
    res = psnr(a, b, data_range=1.0, layout="NHWC")
    rec = ctx.metric("psnr_init", res, item_ids=["v0", "v1"])
    assert (rec.value, rec.items, rec.unit, rec.higher_is_better) == (res.value, res.items, "dB", True)
    assert rec.fingerprint == res.fingerprint and rec.item_ids == ["v0", "v1"]
    with pytest.raises(ValueError, match="pass its MetricResult"):
        ctx.metric("psnr", 30.0)  # a bare number would lose the convention
    with pytest.raises(ValueError, match="declared as bench.metrics.psnr, but the result passed is 'SSIM'"):
        ctx.metric("psnr", ssim(a, b, data_range=1.0, layout="NHWC"))
    with pytest.raises(ValueError, match="declared as the suite's own quantity"):
        ctx.metric("acc", res)
    with pytest.raises(ValueError, match="carries its own fingerprint"):
        ctx.metric("psnr", res, fingerprint={"other": 1})


def test_phases_time_steps_and_take_peak_memory(tmp_path):
    ctx = make_ctx(tmp_path)
    with ctx.phase("setup", kind="setup"):
        sum(range(10000))
    with ctx.phase("iteration", items_per_step=100, item_unit="rays") as loop:
        for _ in range(4):
            with loop.step():
                sum(range(20000))
    setup, it = ctx.result.timings
    assert setup.n == 1 and setup.phase == "setup" and setup.peak_memory_bytes is not None
    assert it.n == 4 and it.phase == "loop" and it.calibration and len(it.calibration) == 4
    assert it.items_per_call == 100 and it.item_unit == "rays"
    assert it.throughput == pytest.approx(100 / it.median)
    assert loop.elapsed == pytest.approx(sum(it.samples))
    ctx.finish()
    (mem,) = [m for m in ctx.result.metrics if m.name == "peak_memory_mb"]
    assert mem.value == max(setup.peak_memory_bytes, it.peak_memory_bytes) / 2**20 and mem.unit == "MiB"


def test_phases_do_not_nest_and_names_are_unique(tmp_path):
    ctx = make_ctx(tmp_path)
    with pytest.raises(RuntimeError, match="phases do not nest"), ctx.phase("a"), ctx.phase("b"):
        pass
    with ctx.phase("x"):
        pass
    with pytest.raises(ValueError, match="recorded twice"), ctx.phase("x"):
        pass
    with pytest.raises(ValueError, match="items_per_step and item_unit"):
        ctx.phase("y", items_per_step=3)
    standalone = Phase.standalone()
    with standalone.step():
        pass
    assert len(standalone.samples) == 1


def test_undeclared_dataset_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="dataset 'multiview' is not declared"):
        make_ctx(tmp_path).dataset("multiview")


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
    assert rec.n >= 5 and rec.median > 0 and rec.samples and rec.phase == "kernel"
    names = {a.name for a in ctx.result.artifacts}
    assert "sum_profile" in names
    plain = make_ctx(tmp_path / "b")
    plain.timeit("sum", lambda: sum(range(1000)), min_run_time=0.01)
    assert not plain.result.artifacts
