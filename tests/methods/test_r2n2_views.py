"""R2N2 + ShapeNetCore v1 as the view-frame items of `meshrcnn` / `single_view`, on a fixture in the real layout:
cameras against Mesh R-CNN's / PyTorch3D's, voxels against the analytic shape, the `standard` cases end to end,
skipped without the data, and malformed files named."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from bench.data.files import read_image
from bench.data.formats import r2n2 as fmt
from bench.errors import DataError
from bench.methods import r2n2_views as RV
from bench.methods import single_view as SV
from tests.methods.r2n2_fixture import FOV, MODELS, inside_wedge, write_fixture

G = 32


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("r2n2") / "data", size=137)


def _instance(root, synset, model, views=(0, 1, 2, 3)):
    return RV.load_instance(root / "r2n2", root / "shapenetcore-v1", synset, model, list(views), 64, G, {})


def _unit(spec):
    from tests.methods.r2n2_fixture import wedge

    return RV.UNIT_RADIUS / np.linalg.norm(wedge(*spec)[0], axis=1).max()


def _centres():
    ax = -1.0 + (torch.arange(G) + 0.5) * 2.0 / G
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")  # cubify's (D, H, W) = (z, y, x)
    return torch.stack([x, y, z], -1).reshape(-1, 3)


def _iou(a, b):
    return float((a & b).sum()) / float((a | b).sum())


def test_cameras_are_mesh_rcnn_cameras():
    """R2N2 metadata -> PyTorch3D R, T: the centre d (cos el cos az, sin el, cos el sin az) of Mesh R-CNN's
    compute_extrinsic_matrix, aiming at the origin, +y up; and equal to PyTorch3D's R2N2 cameras if installed."""
    rng = np.random.default_rng(0)
    meta = np.c_[rng.uniform(0, 360, 30), rng.uniform(-40, 40, 30), np.zeros(30), rng.uniform(0.5, 1, 30),
                 np.full(30, 25.0)]
    R, T = fmt.r2n2_cameras(meta)
    az, el, d = np.radians(meta[:, 0]), np.radians(meta[:, 1]), meta[:, 3] * 1.75
    centre = np.stack([d * np.cos(el) * np.cos(az), d * np.sin(el), d * np.cos(el) * np.sin(az)], -1)
    np.testing.assert_allclose(-np.einsum("ni,nji->nj", T, R), centre, atol=1e-9)  # C = -T R^T
    np.testing.assert_allclose(T, np.c_[np.zeros((30, 2)), d], atol=1e-9)  # the origin straight ahead
    assert (R[:, 1, 1] > 0).all()  # world up is image up
    assert fmt.FOV_DEG == pytest.approx(49.134, abs=1e-3)
    utils = pytest.importorskip("pytorch3d.datasets.r2n2.utils")
    flip = torch.diag(torch.tensor([-1.0, 1.0, -1.0, 1.0]))  # PyTorch3D's shapenet_to_pytorch3d
    for i in range(len(meta)):
        M = utils.compute_extrinsic_matrix(meta[i, 0], meta[i, 1], d[i]).t().mm(flip)
        np.testing.assert_allclose(R[i], M[:3, :3].numpy(), atol=1e-6)
        np.testing.assert_allclose(T[i], M[3, :3].numpy(), atol=1e-6)


def test_voxels_align_with_the_mesh_in_object_and_view_frames(root):
    """The binvox, aligned to the v1 mesh by bounding box, covers the analytic wedge; rotated into each view it
    still does (two 32^3 resamplings cost some IoU), and a mirrored wedge does not match."""
    for synset, models in MODELS.items():
        for model, spec in models.items():
            inst, unit = _instance(root, synset, model), _unit(spec)
            ax = (-1.0 + (np.arange(G) + 0.5) * 2.0 / G) / unit
            grid = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1)  # canonical (X, Y, Z)
            iou = _iou(inst["voxels"], torch.from_numpy(inside_wedge(grid, *spec)))
            # align_bbox maps the outer voxel centres onto the mesh's extremes (half a binvox voxel wider on
            # each side): a thin wedge gains a 32^3 layer here and there, hence 0.76..0.97, not 1
            mirrors = [_iou(inst["voxels"], torch.from_numpy(inside_wedge(grid * np.array(f), *spec)))
                       for f in ([-1, 1, 1], [1, -1, 1])]
            assert iou > 0.75 and iou > max(mirrors) + 0.25, (synset, model, iou, mirrors)
            views = SV.to_view_set([inst], G)
            for k in range(len(views)):
                obj = (_centres() @ views.R[k].T).numpy() / unit  # view frame -> mesh frame
                ref = torch.from_numpy(inside_wedge(obj, *spec)).reshape(G, G, G)
                assert _iou(views.voxels[k] > 0.5, ref) > 0.7, (synset, model, k)
            np.testing.assert_allclose(views.verts[0].numpy(), inst["verts"].numpy() @ views.R[0].numpy(), atol=1e-6)


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")  # inside PyTorch3D's read_binvox_coords
def test_voxels_cover_pytorch3d_aligned_coords(root):
    """PyTorch3D's read_binvox_coords + align_bbox (Mesh R-CNN's) voxel centres fall in our occupied cells."""
    utils = pytest.importorskip("pytorch3d.datasets.r2n2.utils")
    synset, model = "03001627", "c1"
    inst, unit = _instance(root, synset, model), _unit(MODELS[synset][model])
    with open(root / "r2n2" / "ShapeNetVox32" / synset / model / "model.binvox", "rb") as f:
        coords = utils.read_binvox_coords(f)
    pts = utils.align_bbox(coords, inst["verts"] / unit) * unit

    def hit(p):
        cell = ((p + 1.0) * G / 2.0).floor().long().clamp(0, G - 1)
        return float(inst["voxels"][cell[:, 0], cell[:, 1], cell[:, 2]].float().mean())

    # binvox cells are about half a canonical cell here: a few centres by the surface land in an empty cell
    assert hit(pts) > 0.9 and hit(pts * torch.tensor([-1.0, 1.0, 1.0])) < hit(pts) - 0.2
    assert hit(pts[:, [1, 0, 2]]) < hit(pts) - 0.2


def _on_silhouette(views, root, synset, model):
    """Per view: the share of occupied view-frame voxel centres that project (loaded T, fov) onto the render's
    alpha (grid_sample x right, y down)."""
    out = []
    for k in range(len(views)):
        occ = _centres()[(views.voxels[k] > 0.5).reshape(-1)]
        uv = SV.project(occ[None], views.T[k:k + 1], views.fov[k:k + 1])[0]
        alpha = torch.from_numpy(read_image(root / "r2n2" / fmt.RENDER / synset / model / "rendering" /
                                            f"{k:02d}.png", "RGBA")[..., 3])
        px = ((uv + 1.0) * alpha.shape[0] / 2.0 - 0.5).round().long().clamp(0, alpha.shape[0] - 1)
        out.append(float((alpha[px[:, 1], px[:, 0]] > 0.5).float().mean()))
    return np.array(out)


def test_cameras_and_voxels_agree_with_the_renders(root):
    """Occupied view-frame voxels land on the rendered silhouette: the images, cameras and voxels of an item
    are one scene, image orientation included; the azimuth convention the loader had before (look-at at
    ``az`` from +z, not Mesh R-CNN's) does not fit."""
    synset, model = "02691156", "a2"
    inst = _instance(root, synset, model, range(6))
    views = SV.to_view_set([inst], G)
    assert views.fov.tolist() == pytest.approx([FOV] * 6) and views.images.shape == (6, 3, 64, 64)
    assert (_on_silhouette(views, root, synset, model) > 0.95).all()
    meta = fmt.read_metadata(root / "r2n2" / fmt.RENDER / synset / model / "rendering" / "rendering_metadata.txt")
    R_old, _ = fmt.look_at_p3d(meta[:6, 3] * 1.75, meta[:6, 1], meta[:6, 0])
    old = SV.to_view_set([{**inst, "R": torch.tensor(R_old, dtype=torch.float32)}], G)
    assert _on_silhouette(old, root, synset, model).mean() < 0.85


def test_splits_file_and_its_errors(root, tmp_path):
    r2n2, v1 = root / "r2n2", root / "shapenetcore-v1"
    got = RV.case_splits(r2n2, v1, "splits.json", 1)
    assert got["test"] == {"02691156": {"a2": [0, 5, 9]}, "03001627": {"c2": [3, 4]}}
    assert RV.case_splits(r2n2, v1, "", 1)["train"] == {"02691156": {"a1": list(range(24))},
                                                         "03001627": {"c1": list(range(24))}}
    bad = tmp_path / "bad.json"
    for doc, needle in (({"train": {}}, "expected an object with a 'test' split"),
                        ({"train": {"02691156": {"a1": [24]}}, "test": {}}, "train.02691156.a1: expected a non-empty")):
        bad.write_text(json.dumps(doc))
        with pytest.raises(DataError, match=needle) as info:
            RV.case_splits(r2n2, v1, str(bad), 1)
        assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="gone.json: splits file not found"):
        RV.case_splits(r2n2, v1, "gone.json", 1)


# ---- the suites' standard cases, end to end ------------------------------------------------------------------

def _run(suite_name, data_root, tmp_path, **over):
    from bench.suite import Registry
    from bench.worker import run_spec

    suite = Registry().get(suite_name)
    settings = {**suite.tiny, "categories": 13, "instances": 2, "test_instances": 1, "views": 2,
                "splits": "splits.json", **over}
    case = suite.cases("standard", settings)[0]
    assert case.config.data == "r2n2" and case.config.image_size == 32
    spec = {"suite": suite_name, "case": case.name, "params": case.params, "profile": "standard", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "a"), "data_root": str(data_root)}
    return run_spec(spec)


@pytest.mark.parametrize("suite_name, over", [("meshrcnn", {"mode": "voxmesh"}), ("single_view", {"decoder": "voxel"})])
def test_standard_case_runs_on_the_r2n2_fixture(root, tmp_path, suite_name, over):
    res = _run(suite_name, root, tmp_path, **over)
    assert res.status == "ok", res.error
    m = {r.name: r for r in res.metrics}
    assert 0.0 <= m["voxel_iou"].value <= 1.0
    for kind in ("all", "category", "oracle"):  # the three mean-shape baselines, each per item
        assert 0.0 <= m[f"baseline_{kind}_voxel_iou"].value <= 1.0
    # the test split of splits.json, the first two views of each (a2: 0, 5; c2: 3, 4), named as R2N2's images
    ids = ["02691156/a2/00", "02691156/a2/05", "03001627/c2/03", "03001627/c2/04"]
    assert m["f1@0.3"].item_ids == ids
    for kind in ("all", "category", "oracle"):
        assert m[f"baseline_{kind}_f1@0.3"].item_ids == ids
        assert all(0.0 <= v <= 100.0 for v in m[f"baseline_{kind}_f1@0.3"].items)
    assert m["chamfer_l2_category_mean"].value is not None and np.isfinite(m["chamfer_l2_category_mean"].value)
    assert sorted(res.datasets) == ["r2n2", "shapenetcore-v1"]
    table = next(a for a in res.artifacts if a.name == "table")
    text = (tmp_path / table.path).read_text()
    for cat in ("airplane", "chair"):  # R2N2's names of the synsets, one row per category and method
        # methods: the model and the three mean-shape baselines (all, category, true-pose oracle)
        assert sum(f"| {cat} | 2 |" in line for line in text.splitlines()) == 4, text


def test_standard_case_is_skipped_without_the_data(root, tmp_path):
    res = _run("single_view", tmp_path / "empty", tmp_path)
    assert res.status == "skipped" and "'r2n2' not found" in res.error and "3d-r2n2.stanford.edu" in res.error
    partial = tmp_path / "partial"
    shutil.copytree(root / "r2n2", partial / "r2n2")
    res = _run("single_view", partial, tmp_path)
    assert res.status == "skipped" and "'shapenetcore-v1' not found" in res.error and "shapenet.org" in res.error


@pytest.mark.parametrize("damage, needle", [
    ("metadata", "02691156/a1/rendering/rendering_metadata.txt: 23 lines, expected 24"),
    ("binvox", "03001627/c2/model.binvox: not a binvox file"),
])
def test_malformed_fixture_is_a_one_line_error_naming_the_file(root, tmp_path, damage, needle):
    data = tmp_path / "data"
    shutil.copytree(root, data)
    if damage == "metadata":
        meta = data / "r2n2" / fmt.RENDER / "02691156" / "a1" / "rendering" / "rendering_metadata.txt"
        meta.write_text("".join(meta.read_text().splitlines(keepends=True)[:-1]))
    else:
        vox = data / "r2n2" / fmt.VOX / "03001627" / "c2" / "model.binvox"
        vox.write_bytes(vox.read_bytes().replace(b"#binvox 1", b"#voxbin 1", 1))
    res = _run("single_view", data, tmp_path)
    assert res.status == "error" and needle in res.error and "\n" not in res.error.strip(), res.error
