"""``bench3d ingest``: real pytest-benchmark files (with and without raw data) stored as runs; bad files refused."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import DataError
from bench.ingest import ingest, load_benchmark_file, to_run
from bench.store import Store
from tests.conftest import bench3d_cmd

TINY = '''
import pytest

@pytest.mark.parametrize("n", [10, 1000])
def test_sum(benchmark, n):
    benchmark.extra_info["n_items"] = n
    benchmark.extra_info["label"] = "sum"
    benchmark(sum, range(n))

def test_sorted(benchmark):
    benchmark.pedantic(sorted, args=(list(range(50)),), rounds=6, iterations=3)
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One real pytest-benchmark run written both ways: --benchmark-json (raw data) and --benchmark-save (stats)."""
    root = tmp_path_factory.mktemp("pb")
    (root / "test_tiny.py").write_text(TINY)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={root}", "test_tiny.py",
         "--benchmark-json=with_data.json", "--benchmark-save=stats_only", f"--benchmark-storage=file://{root}/st",
         "--benchmark-min-time=0.0005", "--benchmark-max-time=0.005", "--benchmark-min-rounds=5"],
        cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"data": root / "with_data.json", "stats": next((root / "st").rglob("*stats_only.json"))}


def test_file_with_raw_data_becomes_a_run_with_its_samples(files, tmp_path):
    doc = json.loads(files["data"].read_text())
    with Store.open(tmp_path / "db.sqlite") as store:
        run_id = ingest(store, files["data"], suite="micro")
        run, cases = store.get_run(run_id), {c.case: c for c in store.cases(run_id)}
    assert run.source == "ingest" and run.status == "ok" and run.suites == ["micro"]
    assert run.environment["hostname"] == platform.node() == doc["machine_info"]["node"]
    assert run.environment["pytest_benchmark_version"] == doc["version"]
    assert "flags" not in run.environment["machine_info"]["cpu"]
    assert run.git_commit is None  # "unversioned": the tmp folder is no git checkout
    assert set(cases) == {b["fullname"] for b in doc["benchmarks"]} and len(cases) == 3
    for b in doc["benchmarks"]:
        c = cases[b["fullname"]]
        (t,) = c.timings
        assert c.suite == "micro" and c.status == "ok" and t.method == "pytest-benchmark"
        assert t.samples == pytest.approx(b["stats"]["data"], rel=1e-12)
        assert t.n == b["stats"]["rounds"] == len(t.samples)
        # the samples are what the file's statistics were computed from
        assert statistics.median(t.samples) == pytest.approx(t.median, rel=1e-9)
        assert min(t.samples) == pytest.approx(t.min, rel=1e-9)
        assert statistics.fmean(t.samples) == pytest.approx(t.mean, rel=1e-9)
        assert t.noisy == (t.iqr / t.median > 0.1)
    sorted_case = cases["test_tiny.py::test_sorted"]
    assert sorted_case.timings[0].inner_loops == 3 and sorted_case.timings[0].n == 6
    big = cases["test_tiny.py::test_sum[1000]"]
    assert {m.name: m.value for m in big.metrics} == {"n_items": 1000.0}
    assert big.params["params"] == {"n": 1000} and big.params["extra_info"] == {"label": "sum"}
    # summing 1000 numbers takes longer than summing 10
    assert big.timings[0].median > cases["test_tiny.py::test_sum[10]"].timings[0].median


def test_file_without_raw_data_keeps_the_statistics(files, tmp_path):
    doc = json.loads(files["stats"].read_text())
    assert all("data" not in b["stats"] for b in doc["benchmarks"])
    with Store.open(tmp_path / "db.sqlite") as store:
        cases = store.cases(ingest(store, files["stats"]))
    by_name = {b["fullname"]: b["stats"] for b in doc["benchmarks"]}
    for c in cases:
        (t,) = c.timings
        s = by_name[c.case]
        assert c.suite == "pytest_benchmark" and t.samples == []
        assert (t.median, t.iqr, t.mean, t.min, t.n) == pytest.approx(
            (s["median"], s["iqr"], s["mean"], s["min"], s["rounds"]), rel=1e-12)


def test_commit_info_of_a_git_checkout_is_kept(files):
    doc = json.loads(files["data"].read_text())
    doc["commit_info"].update(id="0123456789abcdef0123456789abcdef01234567", dirty=True)
    run, _ = to_run(doc, files["data"], machine="lab-box")
    assert run.git_commit == doc["commit_info"]["id"] and run.git_dirty is True and run.machine == "lab-box"
    assert run.created_at.startswith(doc["datetime"][:19])


def test_cli_ingest_then_report(files, bench_env):
    db = bench_env / "r.db"
    proc = subprocess.run(bench3d_cmd("ingest", str(files["data"]), "--db", str(db), "--suite", "micro", "--json"),
                          capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {c["case"] for c in out["cases"]} == {"test_tiny.py::test_sum[10]", "test_tiny.py::test_sum[1000]",
                                                 "test_tiny.py::test_sorted"}
    rep = subprocess.run(bench3d_cmd("report", out["run_id"], "--db", str(db), "--format", "json"),
                         capture_output=True, text=True, env=os.environ.copy())
    assert rep.returncode == 0, rep.stderr
    assert "test_tiny.py::test_sorted" in rep.stdout
    resume = subprocess.run(bench3d_cmd("run", "--resume", out["run_id"], "--db", str(db)),
                            capture_output=True, text=True, env=os.environ.copy())
    assert resume.returncode == 2 and "stored by `bench3d ingest`" in resume.stderr


BAD = {
    "not_json.json": ("{not json", "not JSON"),
    "list.json": ("[1, 2]", "no 'benchmarks' list"),
    "no_machine.json": (json.dumps({"benchmarks": [], "commit_info": {}}), "no 'machine_info' object"),
    "empty.json": (json.dumps({"benchmarks": [], "machine_info": {}, "commit_info": {}}), "holds no benchmarks"),
    "no_median.json": (json.dumps({"benchmarks": [{"fullname": "t::x", "stats": {"iqr": 1, "mean": 1, "min": 1,
                                                                                  "rounds": 3}}],
                                   "machine_info": {}, "commit_info": {}}), r"stats field\(s\) median missing"),
    "bad_data.json": (json.dumps({"benchmarks": [{"fullname": "t::x", "stats": {
        "median": 1, "iqr": 1, "mean": 1, "min": 1, "rounds": 2, "data": ["a"]}}], "machine_info": {},
        "commit_info": {}}), "stats.data must be a list of numbers"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_refused_with_one_line(name, tmp_path):
    text, message = BAD[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        load_benchmark_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_cli_refuses_bad_input_and_stores_nothing(files, bench_env):
    db = bench_env / "r.db"
    env = os.environ.copy()
    assert subprocess.run(bench3d_cmd("ingest", str(files["data"]), "--db", str(db)), env=env,
                          capture_output=True).returncode == 0
    bad = bench_env / "bad.json"
    bad.write_text('{"benchmarks": "nope"}')
    for args, message in (([str(bad)], "bad.json: not a pytest-benchmark file"),
                          ([str(bench_env / "missing.json")], "missing.json: cannot read"),
                          ([str(files["data"]), "--suite", "a b"], "--suite 'a b': expected a name")):
        proc = subprocess.run(bench3d_cmd("ingest", *args, "--db", str(db)), capture_output=True, text=True, env=env)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "bench3d ingest: error:" in proc.stderr
        assert message in proc.stderr
    with Store.open(db, create=False) as store:
        assert len(store.list_runs()) == 1
    proc = subprocess.run(bench3d_cmd("ingest", str(bad), "--db", str(bench_env / "new.db")), env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "bad.json" in proc.stderr and not (bench_env / "new.db").exists()


def _pytest_json(root: Path, name: str) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={root}", "test_tiny.py",
         f"--benchmark-json={name}", "--benchmark-min-time=0.0005", "--benchmark-max-time=0.005",
         "--benchmark-min-rounds=5"], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / name


def test_several_files_become_one_run_of_several_processes(files, bench_env):
    """Three pytest processes' files: one run whose timings pool the files' samples in order, with their
    sizes as processes, so compare tests two such runs on process medians."""
    root = files["data"].parent
    paths = [files["data"], _pytest_json(root, "second.json"), _pytest_json(root, "third.json")]
    docs = [json.loads(p.read_text()) for p in paths]
    db = bench_env / "many.db"
    for _ in range(2):
        proc = subprocess.run(bench3d_cmd("ingest", *map(str, paths), "--db", str(db), "--suite", "micro"),
                              capture_output=True, text=True, env=os.environ.copy())
        assert proc.returncode == 0 and "3 files (pooled as processes)" in proc.stdout, proc.stderr
    with Store.open(db, create=False) as store:
        new, base = store.list_runs()
        cases = {c.case: c for c in store.cases(new.run_id)}
    assert new.environment["source_files"] == [str(p.resolve()) for p in paths]
    for b in docs[0]["benchmarks"]:
        t = cases[b["fullname"]].timings[0]
        per_file = [next(x for x in d["benchmarks"] if x["fullname"] == b["fullname"])["stats"]["data"] for d in docs]
        assert t.samples == pytest.approx([v for data in per_file for v in data])
        assert t.process_sizes == [len(d) for d in per_file] and t.processes == 3
    cmp = subprocess.run(bench3d_cmd("compare", base.run_id, new.run_id, "--db", str(db), "--json", "--all"),
                         capture_output=True, text=True, env=os.environ.copy())
    rows = [r for r in json.loads(cmp.stdout)["rows"] if r["kind"] == "timing"]
    assert len(rows) == 3 and all(r["test"] == "welch-t on process medians (3 vs 3 processes)" for r in rows)


def test_pooled_files_must_hold_the_same_benchmarks_with_raw_samples(files, tmp_path):
    from bench.ingest import prepare_many

    doc = json.loads(files["data"].read_text())
    doc["benchmarks"] = doc["benchmarks"][:2]
    fewer = tmp_path / "fewer.json"
    fewer.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"fewer\.json: benchmark .* is only in .*with_data\.json"):
        prepare_many([files["data"], fewer])
    with pytest.raises(DataError, match=r"has no raw samples \(stats\.data\)"):
        prepare_many([files["data"], files["stats"]])


def test_cli_ingest_json_into_a_closed_pipe_ends_quietly(files, bench_env):
    from tests.test_cli_paths import closed_reader

    done = closed_reader(bench3d_cmd("ingest", str(files["data"]), "--out", str(bench_env / "o"), "--json"))
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert (bench_env / "o" / "bench3d.db").is_file()  # stored where --out says, as for `run --out`
