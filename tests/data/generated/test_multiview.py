"""Multi-view renders: analytic sphere silhouette, depth unprojected onto the real cow's surface, determinism."""

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from bench.data import registry
from bench.data.assets import COW_OBJ as COW  # the copy shipped as package data


def tree_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def unproject(data, i):
    """World points (P, 3) of the silhouette pixels of view i, from depth and the loaded camera."""
    sil = data["silhouettes"][i].numpy() > 0.5
    v, u = np.nonzero(sil)
    z = data["depth"][i].numpy()[sil].astype(np.float64)
    f = data["focal"][i].double().numpy()
    c = data["principal_point"][i].double().numpy()
    cam = np.stack([-(u + 0.5 - c[0]) * z / f[0], -(v + 0.5 - c[1]) * z / f[1], z], 1)  # +X left, +Y up
    R, T = data["R"][i].double().numpy(), data["T"][i].double().numpy()
    return (cam - T) @ R.T


def test_sphere_silhouette_depth_and_cameras(tmp_path):
    size, dist, fov = 48, 3.0, 60.0
    folder = registry.generate("multiview", tmp_path / "s", mesh="ico_sphere", num_views=3, image_size=size,
                               dist=dist, fov=fov, elevation=20.0, test_every=2)
    data = registry.get("multiview").load(folder)
    # unit sphere at distance d: NDC radius = cot(fov/2) * tan(asin(1/d)); the shorter side spans 2 NDC units
    radius_px = size / 2 / math.tan(math.radians(fov / 2)) * math.tan(math.asin(1 / dist))
    for i in range(3):
        assert data["silhouettes"][i].sum().item() == pytest.approx(math.pi * radius_px**2, rel=0.04)
        np.testing.assert_allclose(np.linalg.norm(unproject(data, i), axis=1), 1.0, atol=0.02)
        centre = -data["T"][i].double().numpy() @ data["R"][i].double().numpy().T
        e, a = math.radians(data["elev"][i].item()), math.radians(data["azim"][i].item())
        np.testing.assert_allclose(centre, dist * np.array([math.cos(e) * math.sin(a), math.sin(e),
                                                            math.cos(e) * math.cos(a)]), atol=1e-5)
        empty = data["silhouettes"][i].numpy() < 0.5
        assert (data["images"][i].numpy()[empty] == 1.0).all() and (data["depth"][i].numpy()[empty] == -1).all()
    assert data["splits"] == {"train": [1], "test": [0, 2]}
    assert registry.get("multiview").load(folder, split="test")["R"].shape == (2, 3, 3)


def test_real_cow_mesh_renders_onto_its_surface(tmp_path):
    folder = registry.generate("multiview", tmp_path / "cow", mesh=str(COW), num_views=3, image_size=40)
    data = registry.get("multiview").load(folder)
    lines = COW.read_text().splitlines()
    v = np.array([[float(t) for t in ln.split()[1:4]] for ln in lines if ln.startswith("v ")])
    f = np.array([[int(t.split("/")[0]) - 1 for t in ln.split()[1:4]] for ln in lines if ln.startswith("f ")])
    v = v - v.mean(0)
    v /= np.linalg.norm(v, axis=1).max()  # the documented normalisation, done independently
    w = np.random.default_rng(0).dirichlet(np.ones(3), 40)
    surface = np.einsum("sk,fkd->fsd", w, v[f]).reshape(-1, 3)
    tree = cKDTree(surface)
    for i in range(3):
        pts = unproject(data, i)
        assert len(pts) > 50
        assert np.quantile(tree.query(pts)[0], 0.95) < 0.03
        sil = data["silhouettes"][i].numpy() > 0.5
        colours = data["images"][i].numpy()[sil]
        assert colours.std(0).max() > 0.05  # textured, not a flat fill


def test_byte_identical_for_same_seed(tmp_path):
    kw = {"mesh": "ellipsoid", "num_views": 3, "image_size": 24, "sphere": True}
    a = registry.generate("multiview", tmp_path / "a", seed=7, **kw)
    b = registry.generate("multiview", tmp_path / "b", seed=7, **kw)
    c = registry.generate("multiview", tmp_path / "c", seed=8, **kw)
    assert tree_bytes(a) == tree_bytes(b)
    assert tree_bytes(a)["cameras.json"] != tree_bytes(c)["cameras.json"]
    assert registry.get("multiview").check(a).ok
    (a / "silhouettes" / "001.png").unlink()
    problems = registry.get("multiview").check(a).problems
    assert "silhouettes/001.png: listed in the manifest but missing" in problems
    assert "silhouettes: 2 images, expected 3 (missing frames)" in problems


def test_odd_depth_npy_is_named_by_check(tmp_path):
    """An .npz renamed to depth.npy, or a unicode array, is one problem naming the file (not a traceback)."""
    from bench.data.generated.multiview import check_multiview

    out = registry.generate("multiview", tmp_path / "mv", mesh="ico_sphere", num_views=2, image_size=8, test_every=0)
    np.savez(out / "depth.npz", depth=np.zeros((2, 8, 8)))
    (out / "depth.npz").replace(out / "depth.npy")
    assert check_multiview(out).problems == ("depth.npy: is a .npz (zip) archive, not a .npy array",
                                             "depth.npy: expected 2 depth maps")
    np.save(out / "depth.npy", np.full((2, 8, 8), "x"))
    assert check_multiview(out).problems[0] == ("depth.npy: depth has dtype <U1; expected a real numeric array "
                                                "(bool/int/uint/float)")
