"""The runner: one subprocess per case; every way a case can fail is recorded and the run goes on."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bench.store import Store
from tests.conftest import bench3d_cmd

pytestmark = pytest.mark.slow

EXPECTED = {
    "mode=ok": ("ok", None),
    "mode=exception": ("error", "RuntimeError: deliberate failure in the case"),
    "mode=nan": ("nan", "NaN in metric(s): value"),
    "mode=memory": ("oom", "MemoryError: deliberate allocation failure"),
    "mode=segfault": ("crashed", "SIGSEGV"),
    "mode=exit": ("crashed", "exited with code 3"),
    "mode=skip": ("skipped", "needs a thing this machine lacks"),
}


@pytest.fixture
def faulty_env(bench_env, monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite")
    return bench_env


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(bench3d_cmd(*args), capture_output=True, text=True, env=os.environ.copy())


def test_every_failure_is_recorded_and_the_run_goes_on(faulty_env):
    case_args = [a for name in EXPECTED for a in ("--case", name)]
    proc = run("run", "--suite", "faulty", "--json", "--threads", "1", *case_args)
    assert proc.returncode == 1, proc.stderr  # some cases failed
    out = json.loads(proc.stdout)
    cases = {c["case"]: c for c in out["cases"]}
    assert set(cases) == set(EXPECTED)
    for name, (status, reason) in EXPECTED.items():
        assert cases[name]["status"] == status, (name, cases[name])
        if reason:
            assert reason in cases[name]["error"], (name, cases[name]["error"])
    assert {k: v for k, v in cases["mode=ok"]["metrics"].items() if k != "peak_memory_mb"} == {"value": 1.0,
                                                                                              "process": 1.0}
    assert cases["mode=ok"]["metrics"]["peak_memory_mb"] >= 0  # the harness's own, from the timed call
    assert cases["mode=ok"]["timings"]["noop"]["n"] >= 5

    store = Store.open(str(faulty_env / "reports" / "bench3d.db"), create=False)
    stored = {c.case: c for c in store.cases(out["run_id"])}
    assert stored["mode=ok"].metrics[0].items == [0.5, 1.5]
    assert "running mode exception" in stored["mode=exception"].log_tail
    assert "deliberate failure" in stored["mode=exception"].log_tail  # the traceback is in the log
    assert store.get_run(out["run_id"]).status == "failed"
    run_dir = faulty_env / "reports" / "runs" / out["run_id"]
    for name in ("report.md", "report.html", "report.json"):
        assert (run_dir / name).stat().st_size > 0

    # --resume runs only the cases not stored as ok/skipped, and keeps the earlier ones
    proc2 = run("run", "--resume", out["run_id"], "--json", "--case", "mode=ok", "--case", "mode=exception")
    assert proc2.returncode == 1
    resumed = json.loads(proc2.stdout)
    assert resumed["run_id"] == out["run_id"]
    assert len(resumed["cases"]) == len(EXPECTED)  # all stored cases of the run are reported
    assert ": 1 case(s) of faulty" in proc2.stderr  # only the failed one of the two ran again
    again = {c.case: c for c in store.cases(out["run_id"])}
    assert again["mode=ok"].started_at == stored["mode=ok"].started_at  # kept, not re-run
    assert again["mode=exception"].started_at != stored["mode=exception"].started_at


def test_a_hang_is_killed_at_the_timeout(faulty_env):
    proc = run("run", "--suite", "faulty", "--case", "mode=hang", "--timeout", "10", "--json")
    assert proc.returncode == 1
    (case,) = json.loads(proc.stdout)["cases"]
    assert case["status"] == "timeout" and "per-case timeout of 10 s" in case["error"]


def test_only_ok_cases_exit_zero(faulty_env):
    proc = run("run", "--suite", "faulty", "--case", "mode=ok", "--case", "mode=skip", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {c["status"] for c in json.loads(proc.stdout)["cases"]} == {"ok", "skipped"}


@pytest.mark.parametrize("args, message", [
    (["--suite", "mesh_fiting"], "unknown suite: 'mesh_fiting'; expected one of:"),
    (["--suite", "faulty", "--profile", "smok"], "Did you mean 'smoke'"),
    (["--suite", "faulty", "--case", "mode=okk"], "Did you mean 'mode=ok'"),
    (["--suite", "faulty", "--device", "tpu"], "expected auto, cpu, cuda or cuda:N"),
    (["--suite", "faulty", "--backend", "jax"], "unknown backend: 'jax'"),
    (["--resume", "nope"], "nope"),
])
def test_bad_names_give_one_line_errors(faulty_env, args, message):
    proc = run("run", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_unwritable_output_and_bad_database_are_refused(faulty_env):
    blocker = faulty_env / "a-file"
    blocker.write_text("not a folder")
    proc = run("run", "--suite", "faulty", "--out", str(blocker / "sub"))
    assert proc.returncode == 2 and "not writable" in proc.stderr
    corrupt = faulty_env / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    before = corrupt.read_bytes()
    proc = run("run", "--suite", "faulty", "--case", "mode=ok", "--db", str(corrupt))
    assert proc.returncode == 2 and "corrupt.db" in proc.stderr
    assert corrupt.read_bytes() == before


def test_repeat_pools_timings_of_fresh_processes(faulty_env):
    """--repeat 3: three processes per case, their timing samples pooled with per-sample calibration;
    metrics and files are the first process's (metrics without items also keep every process's value), the
    others' artifacts are not kept."""
    proc = run("run", "--suite", "faulty", "--case", "mode=ok", "--repeat", "3", "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    with Store.open(str(faulty_env / "reports" / "bench3d.db"), create=False) as store:
        (case,) = store.cases(run_id)
        assert store.get_run(run_id).settings.repeat == 3
    (t,) = case.timings
    assert t.processes == 3 and t.n >= 15 and len(t.calibration) == t.n
    assert len(t.process_sizes) == 3 and sum(t.process_sizes) == t.n and min(t.process_sizes) >= 5
    value, process, memory = case.metrics
    assert memory.name == "peak_memory_mb" and len(memory.process_values) == 3  # the harness's, per process
    assert value.items == [0.5, 1.5] and value.process_values is None  # items: the first process's
    assert process.value == 1.0 and process.process_values == [1.0, 2.0, 3.0]  # no items: every process's
    run_dir = faulty_env / "reports" / "runs" / run_id
    (art,) = case.artifacts
    assert (run_dir / art.path).read_text() == "written by process 1"
    report = (run_dir / "report.md").read_text()
    assert f"{t.n} (3 processes)" in report
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in report.splitlines() if line.startswith("|")]
    assert ["mode=ok", "process", "", "1", "1", "1 (3 processes)", ""] in cells  # value 1; std of 1, 2, 3 is 1
    logs = sorted(p.name for p in (run_dir / "logs").iterdir())
    assert logs == ["faulty__mode=ok.log", "faulty__mode=ok.repeat1.log", "faulty__mode=ok.repeat2.log"]


def test_a_failure_in_a_later_process_fails_the_case(faulty_env):
    proc = run("run", "--suite", "faulty", "--case", "mode=ok", "--repeat", "3", "--set", "fail_on_repeat=1",
               "--json")
    assert proc.returncode == 1
    (case,) = json.loads(proc.stdout)["cases"]
    assert case["status"] == "error"
    assert case["error"] == "process 2 of 3 (--repeat): RuntimeError: deliberate failure in process 2"
    bad = run("run", "--suite", "faulty", "--case", "mode=ok", "--repeat", "0")
    assert bad.returncode == 2 and "--repeat 0: expected a number of processes per case >= 1" in bad.stderr
    # --resume completes the same run: only its planned case, with its --repeat and --set
    run_id = json.loads(proc.stdout)["run_id"]
    for flag, value, stored in (("--repeat", "2", "3"), ("--set", "fail_on_repeat=2", "fail_on_repeat=1")):
        clash = run("run", "--resume", run_id, flag, value)
        assert clash.returncode == 2 and f"run {run_id} was made with {flag} {stored}" in clash.stderr
    again = run("run", "--resume", run_id, "--json")
    assert again.returncode == 1, again.stderr
    (case,) = json.loads(again.stdout)["cases"]  # not the suite's other (crashing, hanging) cases
    assert case["error"] == "process 2 of 3 (--repeat): RuntimeError: deliberate failure in process 2"


def test_repeat_runs_processes_in_rounds_and_stores_each_case_when_complete(monkeypatch, tmp_path):
    """--repeat 3 over cases a, b, c: round-robin (a0 b0 c0 a1 b1 c1 ...), so a case's processes are
    spread over the run; a case failing in round 1 is stored at once and not run again; a case is
    stored after its last process, with the samples of all of them pooled."""
    from bench import runner
    from bench.results import CaseResult, RunSettings
    from bench.suite import Case, EmptyConfig
    from bench.timing import TimingResult

    calls, stored = [], []

    def fake_process(case, run, opts, run_dir, repeat=0):
        calls.append(f"{case.name}{repeat}")
        status = "error" if case.name == "b" else "ok"
        timing = TimingResult.from_samples([1.0 + repeat, 2.0 + repeat]).to_record("t")
        return CaseResult(case.suite, case.name, status=status, timings=[timing], duration_s=1.0)

    class FakeStore:
        def add_case(self, run_id, result, *, wait=None):
            stored.append((result.case, len(calls)))

    monkeypatch.setattr(runner, "run_case_subprocess", fake_process)
    cases = [Case("s", name, EmptyConfig()) for name in ("a", "b", "c")]
    events = []
    settings = RunSettings(repeat=3, run_dir=str(tmp_path))
    run = runner.make_run_record(settings, [])
    out = runner.execute(FakeStore(), run, cases, settings,
                         progress=lambda ev, case, res: events.append((ev, case.name)))
    assert calls == ["a0", "b0", "c0", "a1", "c1", "a2", "c2"]
    assert stored == [("b", 2), ("a", 6), ("c", 7)]  # b when it failed, a and c after their last process
    assert not list((tmp_path / "spool").glob("*.json"))  # each spooled case was removed once stored
    assert [r.case for r in out] == ["a", "b", "c"] and out[1].status == "error"
    assert out[0].timings[0].samples == [1.0, 2.0, 2.0, 3.0, 3.0, 4.0]
    assert out[0].timings[0].process_sizes == [2, 2, 2] and out[0].duration_s == 3.0
    assert events.count(("start", "a")) == 3 and events.count(("done", "a")) == 1


def _proc_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a live process from /proc, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    state = _proc_state(pid)
    return state is not None and state[0] != "Z"


def _workers_of(pid: int) -> list[int]:
    """Live ``bench.worker`` processes whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path

    out = []
    for d in Path("/proc").iterdir():
        try:
            is_worker = d.name.isdigit() and b"bench.worker" in (d / "cmdline").read_bytes()
        except OSError:
            continue
        state = _proc_state(int(d.name)) if is_worker else None
        if state is not None and state[0] != "Z" and state[1] == pid:
            out.append(int(d.name))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_sigterm_to_the_runner_kills_the_running_worker(faulty_env):
    import signal
    import time

    proc = subprocess.Popen(bench3d_cmd("run", "--suite", "faulty", "--case", "mode=hang", "--timeout", "120"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while not (workers := _workers_of(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        assert workers, "the hanging case's worker never started"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        time.sleep(0.5)
        alive = [w for w in workers if _alive(w)]
        assert not alive, f"worker(s) {alive} outlived the runner"
    finally:  # never leave a hanging worker behind, even when the test fails
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
        proc.kill()
        proc.communicate()

