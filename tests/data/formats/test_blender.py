"""NeRF Blender loader on a fixture written in the real format; camera round trip against OpenGL projection."""

import json

import numpy as np
import pytest
from PIL import Image

from bench.data import registry
from bench.data.cameras import project
from bench.data.formats import blender

W, H, ANGLE = 20, 16, 0.7


def gl_c2w(eye):
    back = eye / np.linalg.norm(eye)  # camera looks at the origin along -z
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([right, up, back], 1)
    c2w[:3, 3] = eye
    return c2w


def write_scene(root, rng, frames=3, sizes=None):
    for split in blender.SPLITS:
        (root / split).mkdir(parents=True)
        docs = []
        for i in range(frames):
            eye = rng.normal(size=3)
            eye = 4.0 * eye / np.linalg.norm(eye)
            h, w = (sizes or {}).get((split, i), (H, W))
            Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA").save(root / split / f"r_{i}.png")
            docs.append({"file_path": f"./{split}/r_{i}", "rotation": 0.0, "transform_matrix": gl_c2w(eye).tolist()})
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": ANGLE, "frames": docs}))


@pytest.fixture
def scene(tmp_path):
    write_scene(tmp_path, np.random.default_rng(0))
    return tmp_path


@pytest.mark.parametrize("background", ["white", "black"])
def test_values_and_compositing(scene, background):
    data = blender.load(scene, "val", background=background)
    raw = np.asarray(Image.open(scene / "val" / "r_1.png")).astype(np.float64) / 255
    bg = 1.0 if background == "white" else 0.0
    np.testing.assert_allclose(data["images"][1].numpy(), raw[..., :3] * raw[..., 3:] + bg * (1 - raw[..., 3:]),
                               atol=1e-6)
    np.testing.assert_allclose(data["alpha"][1].numpy(), raw[..., 3], atol=1e-6)
    assert data["images"].shape == (3, H, W, 3) and data["image_size"] == (H, W)
    assert data["focal"][0, 0].item() == pytest.approx(0.5 * W / np.tan(0.5 * ANGLE), rel=1e-6)
    assert data["fov_x"] == pytest.approx(np.degrees(ANGLE))


def test_camera_round_trip(scene):
    data = blender.load(scene, "train")
    point = np.array([[0.3, -0.2, 0.1], [-0.4, 0.25, 0.3]])
    f = 0.5 * W / np.tan(0.5 * ANGLE)
    for i in range(3):
        c2w = data["c2w"][i].double().numpy()
        cam = (np.linalg.inv(c2w) @ np.c_[point, np.ones(2)].T).T  # OpenGL: the camera looks down -z
        want = np.stack([W / 2 + f * cam[:, 0] / -cam[:, 2], H / 2 - f * cam[:, 1] / -cam[:, 2]], 1)
        got = project(point, data["R"][i].double().numpy(), data["T"][i].double().numpy(),
                      data["focal"][i].double().numpy(), data["principal_point"][i].double().numpy())
        np.testing.assert_allclose(got, want, atol=1e-3)


def test_check_reports_counts(scene):
    report = registry.get("nerf-synthetic").check(scene)
    assert report.ok, report.problems
    assert report.found["train_frames"] == 3 and report.found["image_sizes"] == {f"{H}x{W}": 9}


def test_check_names_each_problem(tmp_path):
    write_scene(tmp_path, np.random.default_rng(1), sizes={("test", 2): (8, 8)})
    text = (tmp_path / "transforms_val.json").read_text()
    (tmp_path / "transforms_val.json").write_text(text[: len(text) // 2])
    (tmp_path / "train" / "r_1.png").unlink()
    doc = json.loads((tmp_path / "transforms_test.json").read_text())
    doc["frames"][0]["transform_matrix"] = doc["frames"][0]["transform_matrix"][:3]
    (tmp_path / "transforms_test.json").write_text(json.dumps(doc))
    problems = registry.get("nerf-synthetic").check(tmp_path).problems
    joined = "\n".join(problems)
    assert "transforms_val.json: malformed or truncated JSON" in joined
    assert "train/r_1.png: image is missing" in problems
    assert "transforms_test.json: frame 0 transform_matrix has shape (3, 4), expected (4, 4)" in problems
    assert f"test/r_2.png: image size 8x8 differs from the other images ({H}x{W})" in problems
    with pytest.raises(Exception, match="nerf-synthetic"):
        registry.require("nerf-synthetic", tmp_path)
