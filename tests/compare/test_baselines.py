"""Published baselines: every shipped file loads and matches ../shared/PUBLISHED.md; schema errors name
file and field; run values get within / outside / reference-only statuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.compare import baselines as bl
from tests.conftest import shared_file


def test_every_shipped_file_loads_with_the_registered_suites():
    files = bl.load_dir()
    assert {b.name for b in files} >= {
        "nerf_blender",
        "nerf_llff",
        "nerf_pytorch3d",
        "meshrcnn_shapenet",
        "meshrcnn_pixel2mesh",
        "synsin",
        "synsin_book_kitti",
        "smplify_h36m",
        "book_pose",
    }
    for b in files:
        assert b.source["citation"] and b.source["where"] and b.protocol and b.entries


def test_nerf_and_meshrcnn_entries_equal_the_published_tables():
    text = shared_file("PUBLISHED.md").read_text()  # missing: fails in CI, skips elsewhere
    nerf = {(e.match["scene"], e.metric): e.value for e in bl.load(bl.DEFAULT_DIR / "nerf_blender.yaml").entries}
    rows = re.findall(r"^\| ([a-z]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M)
    assert len(rows) == 8
    for scene, psnr, ssim, lpips in rows:
        assert (nerf[(scene, "psnr")], nerf[(scene, "ssim")], nerf[(scene, "lpips")]) == (
            float(psnr),
            float(ssim),
            float(lpips),
        )
    shapenet = bl.load(bl.DEFAULT_DIR / "meshrcnn_shapenet.yaml")
    mr = {(e.match.get("category"), e.metric): e.value for e in shapenet.entries}
    for cat, vals in re.findall(r"(\w+) (\.\d+/\.\d+/\d+\.\d+/\d+\.\d+/\d+\.\d+)", text):
        got = [mr[(cat, m)] for m in ("chamfer_l2", "normal_consistency", "f1@0.1", "f1@0.3", "f1@0.5")]
        assert got == [float(v) for v in vals.split("/")]
    assert len(mr) == 15 * 5


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "b.yaml"
    p.write_text(text)
    return p


GOOD = """
source: {citation: "A paper", where: "table 1"}
suite: mesh_fitting
protocol: {points: 10000}
metrics:
  chamfer_l2: {higher_is_better: false}
  "f1@0.1": {higher_is_better: true, tolerance: {absolute: 1.0}}
tolerance: {relative: 0.1}
default_reference: {target: sphere}
entries:
  - {case: {target: torus}, metric: chamfer_l2, value: 0.10}
  - {case: {target: torus}, metric: "f1@0.1", value: 50}
  - {case: {target: sphere}, metric: chamfer_l2, value: 0.20}
"""


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('source: {citation: "A paper", where: "table 1"}\n', ""), r"field 'source': missing"),
        (
            lambda t: t.replace("chamfer_l2: {higher", "psnr: {higher"),
            r"field 'metrics.psnr': unknown metric for suite 'mesh_fitting'",
        ),
        (lambda t: t.replace("value: 0.10}", "value: fast}"), r"field 'entries\[0\].value': expected a finite number"),
        (
            lambda t: t.replace("metric: chamfer_l2, value: 0.20", "value: 0.20"),
            r"field 'entries\[2\].metric': missing",
        ),
        (lambda t: t.replace("{relative: 0.1}", "{relative: -1}"), r"field 'tolerance.relative'"),
        (lambda t: t + "extra: 1\n", r"field 'extra': unknown field"),
    ],
)
def test_schema_errors_name_the_file_and_the_field(tmp_path, edit, message):
    p = _write(tmp_path, edit(GOOD))
    with pytest.raises(bl.BaselineError, match=message) as info:
        bl.load(p)
    assert str(p) in str(info.value)


def test_statuses_beside_run_values(tmp_path, rec):
    b = bl.load(_write(tmp_path, GOOD))
    fp = {"metric": "chamfer", "params": {"points": 10000}}
    torus = rec.case(
        "target=torus",
        suite="mesh_fitting",
        params={"target": "torus"},
        metrics=[rec.metric("chamfer_l2", value=0.105, hib=False, fp=fp), rec.metric("f1@0.1", value=47.0, fp=fp)],
    )
    other = rec.case(
        "target=cube",
        suite="mesh_fitting",
        params={"target": "cube"},
        metrics=[rec.metric("chamfer_l2", value=0.3, hib=False, fp=fp)],
    )
    coarse = rec.case(
        "target=torus,coarse",
        suite="mesh_fitting",
        params={"target": "torus"},
        metrics=[rec.metric("chamfer_l2", value=0.105, hib=False, fp={"params": {"points": 1000}})],
    )
    rows = {(r["case"], r["metric"]): r for r in bl.rows_for_cases([torus, other, coarse], [b])}
    assert rows[("target=torus", "chamfer_l2")]["status"] == bl.WITHIN  # |0.105 - 0.10| <= 10%
    assert rows[("target=torus", "f1@0.1")]["status"] == bl.OUTSIDE_WORSE  # 3 points below, tolerance 1
    ref = rows[("target=cube", "chamfer_l2")]
    assert ref["status"] == bl.REFERENCE and "nearest: target=sphere" in ref["reason"] and ref["published"] == 0.2
    co = rows[("target=torus,coarse", "chamfer_l2")]
    assert co["status"] == bl.REFERENCE and co["reason"] == "points 1000 (published: 10000)"
    assert [r["case"] for r in bl.outside_worse(list(rows.values()))] == ["target=torus"]


def test_meshrcnn_tables_match_what_the_suite_records(rec):
    """The Mesh R-CNN tables name the `meshrcnn` suite and its voxmesh case; a run's metrics (with the
    fingerprint compare_meshes really writes) show beside them, as reference only where the protocol differs:
    the generated data and 3000 samples here; the same dataset and 10k samples make a real comparison."""
    import torch

    from bench.metrics import compare_meshes

    tri = (torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]),
           torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))
    tables = [b for b in bl.load_dir() if b.name in ("meshrcnn_shapenet", "meshrcnn_pixel2mesh")]
    assert {b.suite for b in tables} == {"meshrcnn"}

    def run_case(dataset: str, samples: int):
        res = compare_meshes(tri, tri, num_samples=samples)
        metrics = []
        for name, key in (("f1@0.3", "F1@0.3"), ("normal_consistency", "AbsNormalConsistency")):
            for suffix in ("", "_category_mean"):
                metrics.append(rec.metric(name + suffix, value=res[key].value, fp=res[key].fingerprint))
        return rec.case("mode=voxmesh", suite="meshrcnn", params={"mode": "voxmesh"}, metrics=metrics,
                        datasets={dataset: "v1 sha256:0"})

    rows = {(r["baseline"], r["metric"]): r for r in bl.rows_for_cases([run_case("shapenet-like", 3000)], tables)}
    f1 = rows[("meshrcnn_shapenet", "f1@0.3_category_mean")]
    assert f1["published"] == 81.5031 and f1["run"] > 90.0 and f1["status"] == bl.REFERENCE
    assert "num_samples 3000 (published: 10000)" in f1["reason"] and "shapenet-like" in f1["reason"]
    assert rows[("meshrcnn_shapenet", "f1@0.3")]["published"] == 82.4107  # the instance mean
    p2m = rows[("meshrcnn_pixel2mesh", "normal_consistency_category_mean")]
    assert p2m["status"] == bl.REFERENCE and "protocol meshrcnn (published: pixel2mesh)" in p2m["reason"]
    same = {(r["baseline"], r["metric"]): r for r in bl.rows_for_cases([run_case("shapenet", 10000)], tables)}
    assert same[("meshrcnn_shapenet", "f1@0.3")]["status"] == bl.OUTSIDE_BETTER  # ~97 against 82.4: compared
    assert len(same) == len(rows) == 4 + 1  # no per-category row matches a run (they live in table.md)


def test_cli_compare_with_a_baseline_file(tmp_path, rec, capsys):
    from bench.cli import main
    from bench.store import Store

    p = _write(tmp_path, GOOD)
    db = tmp_path / "s.db"
    fp = {"params": {"points": 10000}}
    with Store.open(db) as st:
        st.create_run(rec.run("r1", suites=["mesh_fitting"]))
        st.add_case(
            "r1",
            rec.case(
                "target=torus",
                suite="mesh_fitting",
                params={"target": "torus"},
                metrics=[rec.metric("chamfer_l2", value=0.2, hib=False, fp=fp)],
            ),
        )
    assert main(["compare", str(p), "latest", "--db", str(db), "--fail-on-regression"]) == 1  # 0.2 vs 0.10
    assert "outside (worse)" in capsys.readouterr().out
    other = _write(
        tmp_path,
        GOOD.replace("suite: mesh_fitting", "suite: nerf").replace("chamfer_l2", "psnr").replace('"f1@0.1"', "ssim"),
    )
    assert main(["compare", str(other), "latest", "--db", str(db)]) == 2
    assert "is for suite 'nerf'" in capsys.readouterr().err


def test_reason_names_only_the_fields_of_the_metric_and_compares_by_meaning(tmp_path, rec):
    text = GOOD.replace("protocol: {points: 10000}", "protocol: {points: 10000, data_range: 1}").replace(
        '"f1@0.1": {higher_is_better: true, tolerance: {absolute: 1.0}}',
        '"f1@0.1": {higher_is_better: true, tolerance: {absolute: 1.0}, protocol: {threshold: 0.1}}')
    b = bl.load(_write(tmp_path, text))
    fp = {"params": {"points": 10000, "data_range": [0.0, 1.0]}}  # the range [0, 1] means data_range 1
    torus = rec.case("target=torus", suite="mesh_fitting", params={"target": "torus"},
                     metrics=[rec.metric("chamfer_l2", value=0.105, hib=False, fp=fp),
                              rec.metric("f1@0.1", value=50.0, fp=fp)])
    rows = {r["metric"]: r for r in bl.rows_for_cases([torus], [b])}
    assert rows["chamfer_l2"]["status"] == bl.WITHIN and rows["chamfer_l2"]["reason"] == ""  # no threshold asked
    assert rows["f1@0.1"]["reason"] == "run does not record threshold (published: 0.1)"
    assert bl.same_value("1", 1.0) and bl.same_value((0, 255), 255) and not bl.same_value([0.5, 1.0], 1)
    assert not bl.same_value("800x800", "400x400") and bl.same_value("VGG", "vgg")


def test_sources_outside_the_repository_are_refused(tmp_path):
    p = _write(tmp_path, GOOD.replace('where: "table 1"', 'where: "table 1; ../shared/PUBLISHED.md"'))
    with pytest.raises(bl.BaselineError, match="source.where.*outside the repository"):
        bl.load(p)
