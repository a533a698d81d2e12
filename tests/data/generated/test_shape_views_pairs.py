"""Image->mesh pairs (voxels inside the silhouette, volume) and SynSin pairs (depth reprojection)."""

import numpy as np
import pytest
import torch

from bench.data import registry
from bench.data.cameras import project


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = registry.generate("shape-views", tmp_path_factory.mktemp("sv") / "d", seed=2, count=3, image_size=48,
                               voxel_size=24)
    return registry.get("shape-views").load(folder)


def test_voxels_project_inside_mask(shapes):
    for item in shapes:
        occ = item["voxels"].numpy()
        c = -1 + (np.arange(24) + 0.5) * 2 / 24
        pts = np.stack(np.meshgrid(c, c, c, indexing="ij"), -1)[occ]
        uv = project(pts, item["R"].double().numpy(), item["T"].double().numpy(), item["focal"].double().numpy(),
                     item["principal_point"].double().numpy())
        px = np.clip(np.floor(uv).astype(int), 0, 47)
        inside = item["mask"].numpy()[px[:, 1], px[:, 0]] > 0.5
        assert inside.mean() > 0.98, item["kind"]


def test_voxel_volume_matches_mesh_volume(shapes):
    for item in shapes:
        tri = item["verts"].double().numpy()[item["faces"].numpy()]
        vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
        assert item["voxels"].sum().item() * (2 / 24) ** 3 == pytest.approx(vol, rel=0.12), item["kind"]


def test_view_pairs_depth_reprojects(tmp_path):
    folder = registry.generate("view-pairs", tmp_path / "p", seed=1, count=2, image_size=40, scenes=1,
                               test_scenes=0)
    d = registry.get("view-pairs").load(folder)
    f, c = d["focal"].double().numpy(), d["principal_point"].double().numpy()
    for i in range(2):
        Rr, Tr = d["R_rel"][i].double().numpy(), d["T_rel"][i].double().numpy()
        Rs, Ts = d["src_R"][i].double().numpy(), d["src_T"][i].double().numpy()
        Rt, Tt = d["tgt_R"][i].double().numpy(), d["tgt_T"][i].double().numpy()
        X = np.random.default_rng(0).normal(size=(5, 3))
        np.testing.assert_allclose((X @ Rs + Ts) @ Rr + Tr, X @ Rt + Tt, atol=1e-5)
        z = d["src_depth"][i].double().numpy()
        v, u = np.nonzero(z > 0)
        zz = z[v, u]
        src_cam = np.stack([-(u + 0.5 - c[0]) * zz / f[0], -(v + 0.5 - c[1]) * zz / f[1], zz], 1)
        tgt_cam = src_cam @ Rr + Tr
        ut = c[0] - f[0] * tgt_cam[:, 0] / tgt_cam[:, 2]
        vt = c[1] - f[1] * tgt_cam[:, 1] / tgt_cam[:, 2]
        ok = (ut >= 0) & (ut < 40) & (vt >= 0) & (vt < 40) & (tgt_cam[:, 2] > 0)
        assert ok.mean() > 0.5
        zt = d["tgt_depth"][i].double().numpy()[vt[ok].astype(int), ut[ok].astype(int)]
        err = np.abs(zt - tgt_cam[ok, 2]) / tgt_cam[ok, 2]
        assert np.median(err) < 0.03 and np.mean(err < 0.1) > 0.8  # occlusions and pixel rounding aside


def test_view_pairs_scenes_split_and_disocclusion(tmp_path):
    """Distinct scenes, the last ones held out; with the centre fixed (pure rotation) a target pixel is
    disoccluded exactly when its ray leaves the source frame (depth-independent, analytic)."""
    folder = registry.generate("view-pairs", tmp_path / "p", seed=2, count=2, image_size=24, scenes=3, test_scenes=1,
                               max_shift=0.0)
    d = registry.get("view-pairs").load(folder)
    assert d["scenes"] == ["scene000"] * 2 + ["scene001"] * 2 + ["scene002"] * 2
    assert d["splits"] == ["train"] * 4 + ["test"] * 2
    assert registry.get("view-pairs").check(folder).ok
    means = d["src_images"].reshape(3, -1).double().mean(1)
    assert (means[:, None] - means[None]).abs().add(torch.eye(3, dtype=torch.float64)).min() > 1e-3
    f, c = d["focal"].double().numpy(), d["principal_point"].double().numpy()
    v, u = np.mgrid[0:24, 0:24] + 0.5
    rays = np.stack([-(u - c[0]) / f[0], -(v - c[1]) / f[1], np.ones_like(u)], -1).reshape(-1, 3)
    for i in range(6):
        Rr, Tr = d["R_rel"][i].double().numpy(), d["T_rel"][i].double().numpy()
        assert np.abs(Tr).max() < 1e-5
        s = rays @ Rr.T
        us, vs = c[0] - f[0] * s[:, 0] / s[:, 2], c[1] - f[1] * s[:, 1] / s[:, 2]
        outside = ~((s[:, 2] > 0) & (us >= 0) & (us < 24) & (vs >= 0) & (vs < 24))
        flagged = d["disoccluded"][i].numpy().reshape(-1)
        assert flagged[outside].all(), i  # every pixel outside the source frame is disoccluded
        assert flagged[~outside].mean() < 0.1, i  # inside: only depth edges (nearest-pixel lookup) are flagged
