"""Issue 20: ``compare`` refuses to compare timings of cases run on different machine types (CPU model and count,
GPU, host class) unless ``--allow-machine-mismatch`` asks, which labels them and keeps them out of the gate;
metric values compare either way. Two runs stored in a real SQLite store and compared through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cli import main
from bench.compare import diff, machines, stats
from bench.results import CaseResult, MetricRecord, RunRecord, TimingRecord
from bench.store import Store

XEON = {"cpu_model": "Intel(R) Xeon(R) Gold 6230", "cpu_cores": 16, "gpu_names": [], "host_class": None}
EPYC = {"cpu_model": "AMD EPYC 7763 64-Core Processor", "cpu_cores": 16, "gpu_names": [], "host_class": None}


def _timing(level: float, rng: np.random.Generator) -> TimingRecord:
    """5 processes x 8 samples at ``level`` s (1% noise): enough for compare to judge a 2x change."""
    s = level * (1 + 0.01 * rng.standard_normal(40))
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return TimingRecord(name="step", samples=s.tolist(), median=float(med), iqr=float(q3 - q1), mean=float(s.mean()),
                        min=float(s.min()), n=40, method="perf_counter", process_sizes=[8] * 5)


def _case(level: float, rng: np.random.Generator, psnr_shift: float = 0.0, node: dict | None = None,
          device: str = "cpu") -> CaseResult:
    items = [30.0 + 0.1 * k + psnr_shift for k in range(12)]
    psnr = MetricRecord(name="psnr", value=float(np.mean(items)), unit="dB", higher_is_better=True, items=items,
                        item_ids=[f"i{k}" for k in range(12)])
    return CaseResult(suite="fit", case="c", device=device, metrics=[psnr], timings=[_timing(level, rng)], node=node)


def _run(run_id: str, env: dict, machine: str, device: str = "cpu") -> RunRecord:
    return RunRecord(run_id=run_id, created_at="2024-05-01T00:00:00+00:00", profile="smoke", device=device, seed=0,
                     status="ok", suites=["fit"], git_commit="a" * 40, machine=machine, environment=dict(env))


@pytest.fixture
def two_runs(tmp_path):
    """A store with run ``base`` (Xeon) and run ``new`` (EPYC): the new run 2x slower and 1 dB worse."""
    rng = np.random.default_rng(7)
    db = str(tmp_path / "b.db")
    with Store.open(db) as store:
        for run, case in ((_run("base", XEON, "host-a"), _case(1.0, rng)),
                          (_run("new", EPYC, "host-b"), _case(2.0, rng, psnr_shift=-1.0))):
            store.create_run(run)
            store.add_case(run.run_id, case)
    return db


def _rows(db: str, *extra: str, capsys) -> dict[str, dict]:
    assert main(["compare", "base", "new", "--db", db, "--json", "--no-baselines", *extra]) == 0
    out = json.loads(capsys.readouterr().out)
    return {r["name"]: r for r in out["rows"]}, out["notes"]


def test_timings_of_different_machine_types_are_refused_metrics_compared(two_runs, capsys):
    rows, notes = _rows(two_runs, capsys=capsys)
    assert rows["step"]["mark"] == "incomparable"
    assert rows["step"]["reason"].startswith("machine type Intel(R) Xeon(R) Gold 6230 x16 CPUs != AMD EPYC")
    assert "cpu Intel(R) Xeon(R) Gold 6230 != AMD EPYC 7763 64-Core Processor" in rows["step"]["reason"]
    assert rows["psnr"]["mark"] == "worse"  # metric values still compare
    assert any("1 case pair(s) ran on different machine types" in n for n in notes)


def test_allow_machine_mismatch_compares_labels_and_never_gates(two_runs, capsys):
    rows, notes = _rows(two_runs, "--allow-machine-mismatch", capsys=capsys)
    step = rows["step"]
    assert step["mark"] == "worse" and step["change"] == pytest.approx(2.0, rel=0.05)
    assert step["reason"].startswith(diff.MISMATCH_LABEL + ": machine type Intel")
    assert step["regression"] is False  # the hardware may explain it: shown, never a gate failure
    assert rows["psnr"]["regression"] is True
    assert any("compared on request" in n for n in notes)
    # --fail-on-regression still fails on the metric, not on the labelled timing
    assert main(["compare", "base", "new", "--db", two_runs, "--no-baselines", "--allow-machine-mismatch",
                 "--fail-on-regression"]) == 1


def test_different_hosts_of_one_machine_type_compare_timings():
    rng = np.random.default_rng(3)
    base, new = _run("b", XEON, "host-a"), _run("n", XEON, "host-b")
    cmp = diff.compare_cases(base, [_case(1.0, rng)], new, [_case(2.0, rng)])
    (step,) = [r for r in cmp.rows if r.name == "step"]
    assert step.mark == stats.WORSE and step.is_regression
    assert any("of the same machine type" in n for n in cmp.notes)


def test_a_ray_case_is_typed_by_its_node_not_the_driver():
    """A Ray case records its node's CPU/GPU: a run whose driver is a Xeon but whose case ran on an EPYC node is
    an EPYC timing; and the GPU of a cuda case is part of the type."""
    rng = np.random.default_rng(5)
    local = _run("b", XEON, "host-a")
    epyc_node = {"host": "n1", "cpu_model": EPYC["cpu_model"], "cpu_cores": 16, "gpu": None}
    xeon_node = {"host": "n2", "cpu_model": XEON["cpu_model"], "cpu_cores": 16, "gpu": None}
    for node, expected in ((epyc_node, "incomparable"), (xeon_node, "worse")):
        cmp = diff.compare_cases(local, [_case(1.0, rng)], _run("n", XEON, "host-a"), [_case(2.0, rng, node=node)])
        assert [r.mark for r in cmp.rows if r.name == "step"] == [expected]
    gpus = dict(XEON, gpu_names=["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"])
    a100 = machines.case_machine(_run("g", gpus, "h", "cuda"), _case(1.0, rng, device="cuda:0"))
    h100 = machines.case_machine(_run("g", gpus, "h", "cuda"), _case(1.0, rng, device="cuda:1"))
    assert machines.type_differences(a100, h100) == ["gpu NVIDIA A100-SXM4-40GB != NVIDIA H100 80GB HBM3"]
    cpu_case = machines.case_machine(_run("g", gpus, "h", "cuda"), _case(1.0, rng, device="cpu"))
    assert cpu_case["gpu"] is None  # a CPU case's type has no GPU


def test_host_class_counts_only_where_both_sides_have_one():
    a = {"cpu": "X", "cpus": 8, "gpu": None, "class": "g5.xlarge"}
    assert machines.type_differences(a, dict(a, **{"class": None})) == []
    assert machines.type_differences(a, dict(a, **{"class": "g5.2xlarge"})) == ["class g5.xlarge != g5.2xlarge"]
    assert machines.describe(a) == "X x8 CPUs [class g5.xlarge]"
