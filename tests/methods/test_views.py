"""Views of the built-in renders and of NeRF Blender scenes: splits, cameras against pinhole geometry, bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from bench.backends import load
from bench.errors import DataError, NotAvailable
from bench.methods.views import blender_views, builtin_views, resolve_mesh

T3D = load("torch")
W, H, ANGLE = 20, 16, 0.9


def gl_c2w(eye):
    """OpenGL camera-to-world looking at the origin (x right, y up, z back)."""
    back = eye / np.linalg.norm(eye)
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([right, np.cross(back, right), back], 1)
    c2w[:3, 3] = eye
    return c2w


def write_blender(root, frames=4):
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        docs = []
        for i in range(frames):
            eye = np.array([4.0 * np.sin(i), 1.0 + 0.3 * i, 4.0 * np.cos(i)])
            Image.fromarray(rng.integers(0, 256, (H, W, 4), dtype=np.uint8), "RGBA").save(root / split / f"r_{i}.png")
            docs.append({"file_path": f"./{split}/r_{i}", "transform_matrix": gl_c2w(eye).tolist()})
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": ANGLE, "frames": docs}))


def test_builtin_split_and_cameras(tmp_path):
    train, test = builtin_views(tmp_path, 0, mesh="teapot", num_views=10, image_size=16, test_every=5)
    assert test.ids == ["view000", "view005"] and len(train) == 8 and not set(train.ids) & set(test.ids)
    assert train.images.shape == (8, 16, 16, 3) and test.masks.shape == (2, 16, 16)
    assert set(torch.unique(train.masks).tolist()) == {0.0, 1.0}
    centres = -torch.einsum("nij,nj->ni", test.R, test.T)  # row vectors: X_cam = X R + T, so C = -T R^T
    np.testing.assert_allclose(centres.norm(dim=1).numpy(), 2.7, rtol=1e-5)  # the dataset's default distance
    assert test.subset([1]).ids == ["view005"]
    with pytest.raises(ValueError, match="test_every"):
        builtin_views(tmp_path, 0, mesh="teapot", num_views=10, image_size=16, test_every=1)


def test_cow_is_looked_up_under_the_data_root_then_shipped(tmp_path):
    from bench.data.assets import COW_OBJ

    assert resolve_mesh("cow", tmp_path) == str(COW_OBJ) and COW_OBJ.is_file()
    (tmp_path / "cow_mesh").mkdir()
    (tmp_path / "cow_mesh" / "cow.obj").write_text("v 0 0 0\n")
    assert resolve_mesh("cow", tmp_path) == str(tmp_path / "cow_mesh" / "cow.obj")
    assert resolve_mesh("teapot", tmp_path) == "teapot"


def test_blender_rays_are_the_pinhole_rays_of_the_scene(tmp_path):
    write_blender(tmp_path / "nerf-synthetic" / "toy")
    views = blender_views(tmp_path, "toy", "test")
    assert views.ids == [f"test/r_{i}" for i in range(4)] and views.image_size == (H, W)
    sampler = T3D.renderer.NDCMultinomialRaysampler(image_width=W, image_height=H, n_pts_per_ray=4,
                                                    min_depth=views.min_depth, max_depth=views.max_depth)
    bundle = sampler(views.cameras(T3D))
    f = 0.5 * W / np.tan(0.5 * ANGLE)
    v, u = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    local = np.stack([(u + 0.5 - W / 2) / f, -(v + 0.5 - H / 2) / f, -np.ones_like(u, dtype=float)], -1)
    doc = json.loads((tmp_path / "nerf-synthetic" / "toy" / "transforms_test.json").read_text())
    for i, frame in enumerate(doc["frames"]):
        c2w = np.array(frame["transform_matrix"])
        expected = local @ c2w[:3, :3].T
        d = bundle.directions[i].double().numpy()
        np.testing.assert_allclose(d / np.linalg.norm(d, axis=-1, keepdims=True),
                                   expected / np.linalg.norm(expected, axis=-1, keepdims=True), atol=1e-5)
        to_eye = c2w[:3, 3] - bundle.origins[i].double().numpy()
        assert np.abs(np.cross(to_eye, d)).max() < 1e-4 * np.abs(d).max() * np.linalg.norm(c2w[:3, 3])


def test_blender_subset_missing_and_malformed(tmp_path):
    write_blender(tmp_path / "nerf_synthetic" / "toy")  # the archive's own folder name is accepted too
    assert blender_views(tmp_path, "toy", "test", max_views=2).ids == ["test/r_0", "test/r_2"]
    with pytest.raises(NotAvailable, match="nerf-synthetic.*not found"):
        blender_views(tmp_path, "lego", "train")
    bad = tmp_path / "nerf-synthetic" / "lego"
    bad.mkdir(parents=True)
    (bad / "transforms_train.json").write_text("{not json")
    with pytest.raises(DataError, match="nerf-synthetic: .*transforms_"):
        blender_views(tmp_path, "lego", "train")
