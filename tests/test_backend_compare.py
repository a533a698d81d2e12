"""Backend comparison of one run: cases paired by base name across backends, on a hand-written store."""

from __future__ import annotations

import math

import pytest

from bench.backend_compare import backend_comparison, backend_comparison_markdown, compare_cases, split_backend
from bench.errors import UsageError
from bench.results import CaseResult, MetricRecord, RunRecord
from bench.store import Store
from bench.timing import TimingResult


def _case(name: str, status: str = "ok", metrics: dict | None = None, seconds: list[float] | None = None,
          fingerprints: dict | None = None, error: str | None = None) -> CaseResult:
    backend = split_backend(name)[1]
    return CaseResult(
        suite="demo", case=name, status=status, error=error,
        backend=f"{backend} 1.0" if backend and status == "ok" else None,
        params={"backend": backend} if backend else {},
        metrics=[MetricRecord(k, v, unit="dB" if k == "psnr" else "", higher_is_better=k == "psnr",
                              fingerprint=(fingerprints or {}).get(k, {"impl": "bench"}))
                 for k, v in (metrics or {}).items()],
        timings=[TimingResult.from_samples(seconds).to_record("step")] if seconds else [])


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "cmp.db")
    s.create_run(RunRecord(run_id="r1", created_at="2026-01-01T00:00:00+00:00", profile="smoke", device="cpu",
                           seed=0, backend="torch,pytorch3d"))
    for c in (
        _case("x@torch", metrics={"psnr": 30.0, "chamfer": 0.5, "iou": 0.8}, seconds=[0.2, 0.2, 0.21, 0.19]),
        _case("x@pytorch3d", metrics={"psnr": 29.0, "chamfer": 0.5, "iou": 0.9}, seconds=[0.4, 0.41, 0.39],
              fingerprints={"iou": {"impl": "other", "threshold": 0.5}}),
        _case("y@torch", metrics={"psnr": 20.0}, seconds=[1.0]),
        _case("y@pytorch3d", status="error", error="RuntimeError: boom\ntraceback line"),
        _case("z", metrics={"psnr": 1.0}),
    ):
        s.add_case("r1", c)
    yield s
    s.close()


def test_split_backend():
    assert split_backend("kernel=a@torch") == ("kernel=a", "torch")
    assert split_backend("a@b@pytorch3d") == ("a@b", "pytorch3d")
    assert split_backend("plain") == ("plain", None)
    assert split_backend("trailing@") == ("trailing@", None)


def test_pairs_cases_and_differences_metrics_and_times(store):
    cmp = backend_comparison(store, "r1")
    assert cmp["backends"] == ["torch", "pytorch3d"] and cmp["reference"] == "torch"
    assert cmp["unpaired"] == ["demo/z"]
    x, y = cmp["cases"]
    assert (x["case"], y["case"]) == ("x", "y")
    assert x["backend_versions"] == {"torch": "torch 1.0", "pytorch3d": "pytorch3d 1.0"}
    m = {r["name"]: r for r in x["metrics"]}
    assert m["psnr"]["values"] == {"torch": 30.0, "pytorch3d": 29.0}
    assert m["psnr"]["diff"] == {"pytorch3d": pytest.approx(-1.0)}
    assert m["psnr"]["rel_diff"] == {"pytorch3d": pytest.approx(-1 / 30)}
    assert m["psnr"]["unit"] == "dB" and m["psnr"]["higher_is_better"] is True
    assert m["chamfer"]["diff"] == {"pytorch3d": 0.0}
    # different conventions are shown, never differenced
    assert m["iou"]["comparable"] is False and m["iou"]["diff"] == {}
    (t,) = x["timings"]
    assert t["median"] == {"torch": pytest.approx(0.2), "pytorch3d": pytest.approx(0.4)}
    assert t["ratio"] == {"pytorch3d": pytest.approx(2.0)} and t["n"] == {"torch": 4, "pytorch3d": 3}
    # a failed backend: its status and reason, the other's values alone
    assert y["status"] == {"torch": "ok", "pytorch3d": "error"} and y["errors"]["pytorch3d"].startswith("RuntimeError")
    assert [r["values"] for r in y["metrics"]] == [{"torch": 20.0}] and y["timings"][0]["ratio"] == {}


def test_reference_backend_can_be_chosen(store):
    cmp = backend_comparison(store, "r1", reference="pytorch3d")
    x = cmp["cases"][0]
    psnr = next(r for r in x["metrics"] if r["name"] == "psnr")
    assert psnr["diff"] == {"torch": pytest.approx(1.0)} and x["timings"][0]["ratio"]["torch"] == pytest.approx(0.5)
    with pytest.raises(UsageError, match="reference backend 'jax'.*torch, pytorch3d"):
        backend_comparison(store, "r1", reference="jax")


def test_zero_reference_and_no_pairs():
    cmp = compare_cases([_case("a@torch", metrics={"e": 0.0}), _case("a@pytorch3d", metrics={"e": 0.25})])
    assert cmp["cases"][0]["metrics"][0]["rel_diff"] == {"pytorch3d": math.inf}
    with pytest.raises(UsageError, match="no cross-backend cases.*--backend torch,pytorch3d"):
        compare_cases([_case("plain", metrics={"e": 1.0})])


def test_markdown_tables(store):
    md = backend_comparison_markdown(backend_comparison(store, "r1"))
    lines = md.splitlines()
    psnr = next(ln for ln in lines if "demo/x" in ln and "| psnr" in ln)
    cells = [c.strip() for c in psnr.strip("|").split("|")]
    assert cells == ["demo/x", "psnr", "30", "29", "-1", "-3.33%", "—", "—"]  # no tolerance declared
    iou = next(ln for ln in lines if "demo/x" in ln and "| iou" in ln)
    assert "fingerprints differ" in iou
    step = next(ln for ln in lines if "demo/x" in ln and "| step" in ln)
    # the peak columns: none recorded here (test_markdown_shows_each_backend_s_peak_and_its_measure)
    assert [c.strip() for c in step.strip("|").split("|")] == ["demo/x", "step", "200 ms", "400 ms", "2x", "—", "—"]
    assert "Peaks:" not in md
    assert "- **demo/y@pytorch3d**: `error`: RuntimeError: boom" in md and "traceback line" not in md
    assert "demo/z" in md


def test_markdown_shows_each_backend_s_peak_and_its_measure():
    import dataclasses

    def with_peak(name: str, seconds: list[float], mib: float) -> CaseResult:
        c = _case(name, seconds=seconds)
        c.timings = [dataclasses.replace(c.timings[0], peak_memory_bytes=int(mib * 2**20),
                                         memory_kind="rss_anon_exact")]
        return c

    md = backend_comparison_markdown({"run_id": "r", **compare_cases(
        [with_peak("x@torch", [0.2, 0.2], 39.5), with_peak("x@pytorch3d", [0.1, 0.1], 40.25)], reference="pytorch3d")})
    step = next(ln for ln in md.splitlines() if "| step" in ln)
    assert [c.strip() for c in step.strip("|").split("|")] == ["demo/x", "step", "200 ms", "100 ms", "2x",
                                                               "39.5 MiB", "40.25 MiB"]
    assert "measured as rss_anon_exact" in md


def test_cli_compare_backends(store, tmp_path, capsys):
    from bench.cli import main

    db = str(tmp_path / "cmp.db")
    store.close()
    assert main(["compare", "r1", "--backends", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "| demo/x" in out and "| 2x" in out  # the speed ratio column: median 0.4 s / 0.2 s
    assert main(["compare", "r1", "--backends", "--db", db, "--json"]) == 0
    data = __import__("json").loads(capsys.readouterr().out)
    assert data["backends"] == ["torch", "pytorch3d"]


def test_declared_tolerances_are_checked():
    from bench.suite import BackendTolerance

    cases = [_case("x@torch", metrics={"psnr": 30.0, "chamfer": 0.5}),
             _case("x@pytorch3d", metrics={"psnr": 29.0, "chamfer": 0.5004}),
             _case("y@torch", metrics={"psnr": 20.0}), _case("y@pytorch3d", status="error", error="boom")]
    tols = {"demo": {"psnr": BackendTolerance(abs=0.5, why="test"),
                     "chamfer": BackendTolerance(rel=1e-3, why="test")}}
    out = compare_cases(cases, "torch,pytorch3d", tolerances=tols)
    x = {m["name"]: m for m in next(c for c in out["cases"] if c["case"] == "x")["metrics"]}
    assert x["psnr"]["within"] == {"pytorch3d": False}  # |29 - 30| = 1 > 0.5
    assert x["chamfer"]["within"] == {"pytorch3d": True}  # 4e-4 <= 1e-3 * 0.5
    assert x["psnr"]["tolerance"] == {"abs": 0.5, "rel": 0.0, "why": "test"}
    assert len(out["failures"]) == 2
    assert out["failures"][0] == "demo/x psnr@pytorch3d: 29.0 vs 30.0 on torch, outside 0.5 + 0 * |ref|"
    assert out["failures"][1] == "demo/y@pytorch3d: error"  # and no "not comparable" line for its lone value
    flipped = compare_cases(cases, "torch,pytorch3d", reference="pytorch3d", tolerances=tols)["failures"]
    assert [f for f in flipped if f.startswith("demo/y")] == ["demo/y@pytorch3d: error"]  # no "not comparable"
    md = backend_comparison_markdown(out)
    row = next(ln for ln in md.splitlines() if "| psnr" in ln)
    assert "## Outside tolerance or not ok" in md
    assert "| 0.5 + 0·\\|ref\\| " in row and row.replace(" ", "").endswith("|NO|")
    # loose enough: no failures left but the failed case
    out = compare_cases(cases[:2], "torch,pytorch3d", tolerances={"demo": {"psnr": BackendTolerance(abs=1.0,
                                                                                                    why="t")}})
    assert out["failures"] == []


def test_cli_compare_backends_fails_on_a_failed_pair(store, tmp_path, capsys):
    from bench.cli import main

    db = str(tmp_path / "cmp.db")
    store.close()
    assert main(["compare", "r1", "--backends", "--db", db, "--fail-on-regression"]) == 1  # y@pytorch3d: error
    assert "demo/y@pytorch3d: error" in capsys.readouterr().out


def test_suite_tolerances_must_name_declared_metrics():
    from bench.suite import BackendTolerance, MetricSpec, Profile, Suite

    class S(Suite):
        name = "s"
        profiles = {"smoke": Profile({})}
        metrics = (MetricSpec("loss"),)
        backend_tolerances = {"los": BackendTolerance(abs=1.0, why="x")}

    with pytest.raises(UsageError, match="los"):
        S().validate()
    S.backend_tolerances = {"loss": BackendTolerance(abs=1.0)}
    with pytest.raises(UsageError, match="reason"):
        S().validate()


def test_cli_reference_backend_gives_builtin_over_pytorch3d_ratios(store, tmp_path, capsys):
    from bench.cli import main

    db = str(tmp_path / "cmp.db")
    store.close()
    assert main(["compare", "r1", "--backends", "--reference", "pytorch3d", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "| 0.5x" in out and "ratio torch" in out  # 0.2 s / 0.4 s
    assert main(["compare", "r1", "--reference", "pytorch3d", "--db", db]) != 0
    assert "--reference names a backend" in capsys.readouterr().err


def test_known_difference_is_listed_not_failed():
    from bench.suite import BackendTolerance

    cases = [_case("x@torch", metrics={"psnr": 30.0}), _case("x@pytorch3d", metrics={"psnr": 20.0}),
             _case("y@torch", metrics={"psnr": 30.0}), _case("y@pytorch3d", metrics={"psnr": 20.0}),
             _case("z@torch", metrics={"psnr": 30.0}), _case("z@pytorch3d", status="error", error="boom")]
    tols = {"demo": {"psnr": BackendTolerance(abs=0.5, why="test")}}
    known = {"demo": {"x": "a defect of one backend", "z": "same"}}
    out = compare_cases(cases, "torch,pytorch3d", tolerances=tols, known=known)
    assert out["failures"] == ["demo/y psnr@pytorch3d: 20.0 vs 30.0 on torch, outside 0.5 + 0 * |ref|",
                               "demo/z@pytorch3d: error"]  # a pair not ok stays a failure
    assert out["known"] == ["demo/x psnr@pytorch3d: 20.0 vs 30.0 on torch, outside 0.5 + 0 * |ref| "
                            "(known: a defect of one backend)"]
    md = backend_comparison_markdown(out)
    assert "## Outside tolerance, known differences (not failures)" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| demo/x"))
    assert row.replace(" ", "").endswith("|NO(known)|")


def test_known_differences_must_name_grid_fields_and_a_reason():
    from dataclasses import dataclass

    from bench.config import param
    from bench.suite import MetricSpec, Profile, Suite

    @dataclass(frozen=True)
    class SceneConfig:
        scene: str = param("a", "a scene")

    class S(Suite):
        name = "s"
        Config = SceneConfig
        grid = {"scene": ["a", "b"]}
        profiles = {"smoke": Profile({})}
        metrics = (MetricSpec("loss"),)
        backend_known_differences = {"scen=a": "x"}

    with pytest.raises(UsageError, match="scen"):
        S().validate()
    S.backend_known_differences = {"scene=a": ""}
    with pytest.raises(UsageError, match="reason"):
        S().validate()


def test_metric_missing_on_every_backend_is_not_a_failure_missing_on_one_is():
    from bench.suite import BackendTolerance

    nan = math.nan
    cases = [_case("x@torch", metrics={"psnr": 30.0, "lpips": nan}), _case("x@pytorch3d", metrics={"psnr": 30.0,
                                                                                                  "lpips": nan}),
             _case("y@torch", metrics={"lpips": 0.2}), _case("y@pytorch3d", metrics={"lpips": nan})]
    tols = {"demo": {"psnr": BackendTolerance(abs=0.5, why="t"), "lpips": BackendTolerance(abs=0.01, why="t")}}
    out = compare_cases(cases, "torch,pytorch3d", tolerances=tols)
    # x: LPIPS recorded on neither backend (no weights): nothing to compare, no failure; y: on one only
    assert out["failures"] == ["demo/y lpips@pytorch3d: not comparable with torch (not finite or fingerprints)"]
    fp = [_case("z@torch", metrics={"psnr": 30.0}),
          _case("z@pytorch3d", metrics={"psnr": 30.0}, fingerprints={"psnr": {"impl": "other"}})]
    assert compare_cases(fp, "torch,pytorch3d", tolerances=tols)["failures"] == [
        "demo/z psnr@pytorch3d: not comparable with torch (not finite or fingerprints)"]


def test_case_tolerance_replaces_the_suite_bound_for_that_case_only():
    from bench.suite import BackendTolerance

    cases = [_case("x@torch", metrics={"psnr": 30.0}), _case("x@pytorch3d", metrics={"psnr": 28.0}),
             _case("y@torch", metrics={"psnr": 30.0}), _case("y@pytorch3d", metrics={"psnr": 28.0})]
    tols = {"demo": {"psnr": BackendTolerance(abs=0.5, why="suite")},
            "demo/x": {"psnr": BackendTolerance(abs=2.5, why="case x spreads")}}
    out = compare_cases(cases, "torch,pytorch3d", tolerances=tols)
    assert out["failures"] == ["demo/y psnr@pytorch3d: 28.0 vs 30.0 on torch, outside 0.5 + 0 * |ref|"]
    x = next(c for c in out["cases"] if c["case"] == "x")["metrics"][0]
    assert x["within"] == {"pytorch3d": True} and x["tolerance"]["why"] == "case x spreads"


def test_case_tolerances_must_name_grid_fields_metrics_and_a_reason():
    from dataclasses import dataclass

    from bench.backend_compare import declared_tolerances
    from bench.config import param
    from bench.suite import BackendTolerance, MetricSpec, Profile, Suite

    @dataclass(frozen=True)
    class SceneConfig:
        scene: str = param("a", "a scene")

    class S(Suite):
        name = "s"
        Config = SceneConfig
        grid = {"scene": ["a", "b"]}
        profiles = {"smoke": Profile({})}
        metrics = (MetricSpec("loss"),)
        backend_case_tolerances = {"scen=a": {"loss": BackendTolerance(abs=1.0, why="x")}}

    with pytest.raises(UsageError, match="scen"):
        S().validate()
    S.backend_case_tolerances = {"scene=a": {"los": BackendTolerance(abs=1.0, why="x")}}
    with pytest.raises(UsageError, match="los"):
        S().validate()
    S.backend_case_tolerances = {"scene=a": {"loss": BackendTolerance(abs=1.0)}}
    with pytest.raises(UsageError, match="reason"):
        S().validate()
    tols = declared_tolerances(["pose"])  # a registered suite's case bounds reach compare as "suite/case"
    assert tols["pose/scene=multiview"]["rotation_error_deg"].abs > tols["pose"]["rotation_error_deg"].abs
