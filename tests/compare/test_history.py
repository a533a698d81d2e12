"""Change points of stored series: a step inserted at a known commit is found with its commit range."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cli import main
from bench.compare import history
from bench.store import Store

N_RUNS, STEP_AT = 14, 8


def _store(tmp_path, rec, rng):
    """14 runs at commits c00..c13; from c08 the timing is 30% slower and the metric 1.0 lower."""
    db = tmp_path / "h.db"
    with Store.open(db) as st:
        for i in range(N_RUNS):
            rid = f"run{i:02d}"
            st.create_run(rec.run(rid, commit=f"c{i:02d}" + "0" * 37, created=f"2024-05-{i + 1:02d}T00:00:00+00:00"))
            slow = 1.3 if i >= STEP_AT else 1.0
            t = rec.timing("step", 0.01 * slow * rng.lognormal(0, 0.02, 20))
            quality = rec.metric("score", value=float(20.0 - (i >= STEP_AT) + rng.normal(0, 0.05)), hib=True)
            flat = rec.metric("flat", value=float(5.0 + rng.normal(0, 0.2)), hib=True)
            st.add_case(rid, rec.case("x", metrics=[quality, flat], timings=[t]))
    return str(db)


def test_step_is_found_at_the_inserted_commit(tmp_path, rec, rng):
    db = _store(tmp_path, rec, rng)
    with Store.open(db, create=False) as st:
        series = {s.name: s for s in history.collect(st)}
    step, score, flat = series["step"], series["score"], series["flat"]
    assert [p.run_id for p in step.points] == [f"run{i:02d}" for i in range(N_RUNS)]  # oldest first
    assert len(step.changes) == 1 and len(score.changes) == 1
    for s in (step, score):
        c = s.changes[0]
        assert c.index == STEP_AT and c.mark == "worse"
        assert c.before.commit.startswith(f"c{STEP_AT - 1:02d}") and c.after.commit.startswith(f"c{STEP_AT:02d}")
    # levels are the medians of the two segments (reference: numpy on the stored medians)
    med = np.array([p.value for p in step.points])
    assert step.changes[0].level_before == pytest.approx(np.median(med[:STEP_AT]))
    assert step.changes[0].level_after == pytest.approx(np.median(med[STEP_AT:]))
    assert step.changes[0].relative == pytest.approx(0.3, abs=0.03)
    assert flat.changes == []  # noise only: no change point


def test_change_points_respect_the_noise_and_the_minimum_segment():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1.0, 40)
    assert history.change_points(noise) == []
    assert sum(bool(history.change_points(rng.normal(0, 1, 30))) for _ in range(200)) <= 2  # false alarms
    small = noise + np.r_[np.zeros(20), np.full(20, 0.5)]  # half a sigma: below the noise
    assert history.change_points(small) == []
    big = noise + np.r_[np.zeros(20), np.full(20, 6.0)]
    ((i, lb, la, sig),) = history.change_points(big)
    assert i == 20 and la - lb == pytest.approx(np.median(big[20:]) - np.median(big[:20]))
    assert sig > 3
    # an exactly constant series with one step (deterministic metric): found, and nothing else
    assert [c[0] for c in history.change_points(np.r_[np.ones(5), np.full(5, 2.0)])] == [5]
    assert history.change_points(np.r_[np.ones(5), 9.0, np.ones(5)]) == []  # one odd run is not a step


def test_history_cli_json_and_text(tmp_path, rec, rng, capsys):
    db = _store(tmp_path, rec, rng)
    assert main(["history", "--db", db, "--json", "--metric", "step"]) == 0
    out = json.loads(capsys.readouterr().out)
    (s,) = out["series"]
    assert s["changes"][0]["commit_range"] == f"c{STEP_AT - 1:02d}" + "0" * 9 + f"..c{STEP_AT:02d}" + "0" * 9
    assert main(["history", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "2 change point(s)" in text and "worse" in text and "flat" not in text
    assert main(["history", "--db", db, "--machine", "other"]) == 0
    assert "no stored values match" in capsys.readouterr().out
