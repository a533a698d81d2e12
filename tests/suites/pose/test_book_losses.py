"""Pose: a book iteration the reference start never reached (threshold crossed earlier, too few iterations,
non-finite loss) is recorded as unavailable with that reason, not left for the report to guess."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.context import Context
from suites.pose import PoseSuite
from suites.pose.evaluate import record_book_losses
from suites.pose.optimize import OptConfig, OptResult


def _ctx(tmp_path) -> Context:
    case = PoseSuite().cases("smoke", {"scene": "teapot"})[0]
    return Context(PoseSuite(), case, device="cpu", seed=0, profile="smoke", artifact_root=tmp_path / "a")


def _res(losses: list[float], reached: bool) -> OptResult:
    n = len(losses)
    return OptResult(np.asarray(losses, dtype=np.float64)[:, None], [n - 1], [reached], [0.1],
                     torch.eye(3)[None, None], torch.zeros(1, 1, 3))


@pytest.mark.parametrize("losses,reached,iterations,why", [
    ([900.0 - 10 * i for i in range(41)] + [80.0], True, 200, "got below the threshold 90 at iteration 41"),
    ([900.0 - i for i in range(50)], False, 50, "the run has 50 iterations"),
    ([900.0] * 10 + [float("nan")], False, 200, "non-finite at iteration 10"),
])
def test_unreached_book_iteration_is_unavailable_with_its_reason(tmp_path, losses, reached, iterations, why):
    ctx = _ctx(tmp_path)
    cfg = OptConfig(iterations=iterations, loss_threshold=90.0)
    record_book_losses(ctx, _res(losses, reached), (0, 87), cfg, 96, textured=False)
    got = {m.name: m for m in ctx.result.metrics}
    assert got["loss_iter0"].value == pytest.approx(900.0) and got["loss_iter0"].unavailable is None
    gone = got["loss_iter87"]
    assert gone.value is None and why in gone.unavailable, gone.unavailable
    assert "iteration 87" in gone.unavailable or "iterations > 87" in gone.unavailable


def test_reached_book_iteration_records_its_loss(tmp_path):
    ctx = _ctx(tmp_path)
    losses = [1000.0 - i for i in range(100)]
    record_book_losses(ctx, _res(losses, True), (0, 87), OptConfig(loss_threshold=90.0), 96, textured=True)
    got = {m.name: m.value for m in ctx.result.metrics}
    assert got == {"loss_iter0": 1000.0, "loss_iter87": 913.0}
