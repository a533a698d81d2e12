"""Crash safety: SIGKILL a writer mid-run; the database opens and holds every finished case intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.store import Store

WRITER = textwrap.dedent('''
    import sys
    from bench.results import CaseResult, MetricRecord, RunRecord, TimingRecord
    from bench.store import Store

    def case(i):
        items = [i + k / 1000 for k in range(3000)]  # big enough that a transaction takes a while
        return CaseResult(suite="crash", case=f"c{i:04d}", params={"i": i}, log_tail="x" * 2000,
                          metrics=[MetricRecord("m", float(i), items=items, item_ids=[str(k) for k in range(3000)])],
                          timings=[TimingRecord("t", [i * 1e-3] * 500, i * 1e-3, 0.0, i * 1e-3, i * 1e-3, 500)])

    store = Store.open(sys.argv[1])
    store.create_run(RunRecord(run_id="crash-run", created_at="2024-01-01T00:00:00", profile="smoke",
                               device="cpu", seed=0))
    print("run", flush=True)
    i = 0
    while True:
        store.add_case("crash-run", case(i))
        print(i, flush=True)
        i += 1
''')


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_run_keeps_every_finished_case(tmp_path: Path):
    db = tmp_path / "crash.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    finished: list[int] = []
    try:
        assert proc.stdout.readline().strip() == "run"
        while len(finished) < 12:
            line = proc.stdout.readline()
            assert line, f"writer died early (rc={proc.poll()})"
            finished.append(int(line))
        proc.send_signal(signal.SIGKILL)  # the writer is already inside the next case's transaction
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with Store.open(db) as store:
        stored = store.cases("crash-run")
    names = [c.case for c in stored]
    # every reported case is there; at most the one in flight may have committed unreported
    assert names[: len(finished)] == [f"c{i:04d}" for i in finished]
    assert len(stored) in (len(finished), len(finished) + 1)
    for c in stored:
        i = c.params["i"]
        assert c.metrics[0].value == float(i)
        assert c.metrics[0].items == [i + k / 1000 for k in range(3000)]
        assert c.metrics[0].item_ids == [str(k) for k in range(3000)]
        assert c.timings[0].samples == [i * 1e-3] * 500
        assert c.log_tail == "x" * 2000
