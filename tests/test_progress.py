"""Live progress inside a case: steps, total, values and ETA written by the worker, read and shown by the CLI."""

from __future__ import annotations

import time

import torch

from bench.progress import PROGRESS_ENV, Reporter, describe, read
from tests.test_context import make_ctx


def test_describe_gives_rate_and_eta():
    rec = {"phase": "iteration", "step": 50, "total": 200, "elapsed_s": 10.0, "values": {"loss": 0.0312, "x": None}}
    assert describe(rec) == "iteration 50/200 · ETA 30 s · loss 0.0312 · 0.2 s/step"
    assert describe({"phase": "iteration", "step": 3, "total": None, "elapsed_s": 1.5}) == "iteration 3 · 0.5 s/step"
    assert "ETA 2.5 min" in describe({"phase": "p", "step": 1, "total": 151, "elapsed_s": 1.0})


def test_reporter_is_throttled_atomic_and_off_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert not Reporter("s", "c").update("iteration", 1, 2, 0.1)  # no file named: nothing written
    path = tmp_path / "p.json"
    r = Reporter("s", "c", str(path))
    assert r.update("iteration", 1, 10, 0.1, {"loss": torch.tensor(2.5)})
    assert not r.update("iteration", 2, 10, 0.2)  # within the interval: skipped
    assert read(path)["values"] == {"loss": 2.5} and read(path)["step"] == 1
    assert r.update("iteration", 3, 10, 0.3, force=True) and read(path)["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temp file left behind


def test_phase_steps_report_through_ctx(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(PROGRESS_ENV, str(path))
    ctx = make_ctx(tmp_path)
    with ctx.phase("iteration") as loop:
        loop.expect(3)
        for i in range(3):
            with loop.step():
                pass
            loop.report(loss=float(i))
            ctx._progress._last = -1e9  # let every step write, as if half a second had passed
    rec = read(path)
    assert (rec["suite"], rec["case"], rec["phase"], rec["step"], rec["total"]) == ("s", ctx.case.name,
                                                                                    "iteration", 3, 3)
    assert rec["values"] == {"loss": 1.0}  # the value reported after the step before the last one
    assert ctx.result.timings[0].n == 3  # the timing is unaffected


def test_cli_prints_the_running_case_progress_when_not_a_terminal(tmp_path, capsys):
    from bench.cli_run import _LiveProgress

    live = _LiveProgress(tmp_path, every_s=0.0)
    try:
        live.case = "s/c"
        Reporter("s", "c").update("iteration", 4, 8, 2.0, {"loss": 0.5})
        time.sleep(1.5)
    finally:
        live.close()
    assert "c: iteration 4/8 · ETA 2 s · loss 0.5 · 0.5 s/step" in capsys.readouterr().err
