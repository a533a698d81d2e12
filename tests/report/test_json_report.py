"""The JSON report is strict JSON holding exactly what the store holds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.errors import UsageError
from bench.report import render_report


def _strict_loads(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_json_matches_records(stored):
    obj = _strict_loads(render_report(stored.store, stored.run.run_id, "json"))
    assert list(obj) == ["schema", "run", "summary", "cases", "published"]
    assert obj["run"]["run_id"] == stored.run.run_id
    assert obj["run"]["environment"] == stored.run.environment
    assert obj["summary"] == {"nan": 1, "ok": 3, "skipped": 1, "timeout": 1}
    assert [(c["suite"], c["case"], c["status"]) for c in obj["cases"]] == [
        (c.suite, c.case, c.status) for c in stored.cases]
    for got, want in zip(obj["cases"], stored.cases, strict=True):
        assert list(got) == ["suite", "case", "status", "metrics", "unavailable", "timings", "error", "details"]
        assert got["error"] == want.error
        for m in want.metrics:
            value = got["metrics"][m.name]
            assert (value == "NaN") if math.isnan(m.value) else value == m.value
        for t in want.timings:
            stats = got["timings"][t.name]
            assert list(stats) == ["median", "iqr", "n", "mean", "min"]
            samples = np.asarray(got["details"]["timings"][[x.name for x in want.timings].index(t.name)]["samples"])
            q1, med, q3 = np.percentile(samples, [25, 50, 75])  # recomputed from the reported raw samples
            assert stats["median"] == pytest.approx(med) and stats["iqr"] == pytest.approx(q3 - q1)
            assert stats["n"] == len(samples) and stats["min"] == samples.min()
        assert [a["sha256"] for a in got["details"]["artifacts"]] == [a.sha256 for a in want.artifacts]
    first = obj["cases"][0]["details"]["metrics"][0]
    assert first["items"] == stored.cases[0].metrics[0].items and first["fingerprint"]["squared"] is True


def test_json_is_deterministic_and_resolves_refs(stored):
    a = render_report(stored.store, stored.run.run_id, "json")
    assert render_report(stored.store, "latest", "json") == a
    assert render_report(stored.store, stored.run.git_commit[:8], "json") == a


def test_unknown_format_and_run(stored):
    with pytest.raises(UsageError, match="unknown report format:? 'htm'.*Did you mean 'html'"):
        render_report(stored.store, "latest", "htm")
    with pytest.raises(UsageError, match="unknown run"):
        render_report(stored.store, "no-such-run", "json")
