"""Contract tests generated for every registered suite: its first smoke case, made tiny, runs on CPU.

No skip lists: a suite that cannot run here must raise NotAvailable, which is checked to carry a reason.
"""

from __future__ import annotations

import math

import pytest

from bench.suite import Registry
from bench.worker import run_spec

SUITES = Registry().names()


@pytest.mark.parametrize("name", SUITES)
def test_suite_contract(name, tmp_path):
    suite = Registry().get(name)
    case = suite.cases("smoke")[0]
    spec = {"suite": name, "case": case.name, "params": {**case.params, **suite.test_params}, "profile": "smoke",
            "device": "cpu", "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "artifacts")}
    result = run_spec(spec)
    if result.status == "skipped":
        assert result.error and len(result.error) > len("not available: "), result.error
        return
    assert result.status == "ok", result.error
    declared = {m.name for m in suite.metrics}
    reported = {m.name for m in result.metrics}
    assert reported, "a suite must report at least one metric"
    assert reported <= declared, f"undeclared metrics: {reported - declared}"
    for m in result.metrics:
        assert m.value is None or math.isfinite(m.value), m
    for a in result.artifacts:
        assert (tmp_path / a.path).is_file(), a
    assert result.backend and result.backend.startswith("torch")
