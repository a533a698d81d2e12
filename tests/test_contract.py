"""Contract tests generated for every registered suite: every case of every profile, made tiny, runs on CPU.

No skip lists: a case that cannot run here must end *skipped* through NotAvailable, and the reason must
name an optional dependency or a dataset of the registry (with where to get it); anything else fails.
"""

from __future__ import annotations

import math

import pytest

from bench import data
from bench.suite import Registry
from bench.worker import run_spec

OPTIONAL = ("pytorch3d", "lpips", "torchvision", "smplx", "weights", "checkpoint")


def all_cases() -> list[tuple[str, str, str]]:
    """(suite, profile, case) for every distinct case name of every profile of every registered suite."""
    out, reg = [], Registry()
    for name in reg.names():
        suite, seen = reg.get(name), set()
        for profile in suite.profiles:
            for case in suite.cases(profile, suite.tiny):
                if case.name not in seen:
                    seen.add(case.name)
                    out.append((name, profile, case.name))
    return out


@pytest.mark.parametrize("name, profile, case_name", all_cases())
def test_suite_case_contract(name, profile, case_name, tmp_path):
    suite = Registry().get(name)
    case = {c.name: c for c in suite.cases(profile, suite.tiny)}[case_name]
    spec = {"suite": name, "case": case.name, "params": case.params, "profile": profile, "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "artifacts"),
            "data_root": str(tmp_path / "data")}
    result = run_spec(spec)
    if result.status == "skipped":
        reason = result.error or ""
        named = [d for d in data.names() if d in reason] + [o for o in OPTIONAL if o in reason.lower()]
        assert named, f"a skip must name the missing optional dependency or dataset: {reason!r}"
        return
    assert result.status == "ok", result.error
    declared = {m.name for m in suite.metrics} | {"peak_memory_mb"}
    reported = {m.name for m in result.metrics}
    assert reported, "a suite must report at least one metric"
    assert reported <= declared, f"undeclared metrics: {reported - declared}"
    for m in result.metrics:
        assert m.value is None or math.isfinite(m.value), m
    for a in result.artifacts:
        assert (tmp_path / a.path).is_file(), a
    assert result.backend and result.backend.startswith("torch")
    assert result.config_hash and result.params == case.params
    used = [u.name for u in suite.datasets if u.applies(case.config)]
    assert sorted(result.datasets) == sorted(used)
    assert all(v.startswith("v") and "sha256:" in v for v in result.datasets.values()), result.datasets
    assert result.timings, "the harness times at least one phase of every case"
