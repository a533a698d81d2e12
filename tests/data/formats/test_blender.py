"""NeRF Blender loader on a fixture written in the real format; camera round trip against OpenGL projection."""

import json

import numpy as np
import pytest
from PIL import Image

from bench.data import registry
from bench.data.cameras import project
from bench.data.formats import blender
from bench.errors import DataError

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
    assert "transforms_test.json: frames[0].transform_matrix: expected a list of 4 items, got 3" in problems
    assert f"test/r_2.png: image size 8x8 differs from the other images ({H}x{W})" in problems
    with pytest.raises(Exception, match="nerf-synthetic"):
        registry.require("nerf-synthetic", tmp_path)


# ---- malformed metadata: one line naming the file and the field (issue 15) -------------------------------------

@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(camera_angle_x=float("nan")), "camera_angle_x: expected a finite number in (0, 3.14159)"),
    (lambda d: d.update(camera_angle_x="0.7"), "camera_angle_x: expected a finite number"),
    (lambda d: d.update(frames={"0": 1}), "frames: expected a list"),
    (lambda d: d["frames"].__setitem__(1, "r_1"), "frames[1]: expected an object, got a string"),
    (lambda d: d["frames"][2].update(file_path=7), "frames[2].file_path: expected a non-empty string, got 7"),
    (lambda d: d["frames"][0].update(transform_matrix=[[1, 0, 0, "x"]] * 4),
     "frames[0].transform_matrix[0][3]: expected a finite number"),
])
def test_wrong_json_types_are_one_line_errors(scene, mutate, field):
    jf = scene / "transforms_train.json"
    doc = json.loads(jf.read_text())
    mutate(doc)
    jf.write_text(json.dumps(doc))  # NaN is written as the (non-standard) NaN literal Python's json reads
    with pytest.raises(DataError) as info:
        blender.load(scene, "train")
    msg = str(info.value)
    assert msg.startswith(str(jf)) and field in msg and "\n" not in msg, msg
    report = registry.get("nerf-synthetic").check(scene)
    assert any(p.startswith("transforms_train.json: ") and field in p for p in report.problems), report.problems


def test_non_utf8_and_deeply_nested_json_are_one_line_errors(scene):
    jf = scene / "transforms_train.json"
    jf.write_bytes(b'{"camera_angle_x": 0.7, "frames": [], "note": "\xff\xfe"}')
    with pytest.raises(DataError, match=r"transforms_train.json: line 1: not UTF-8 text"):
        blender.load(scene, "train")
    jf.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DataError, match=r"transforms_train.json: JSON is nested too deeply"):
        blender.load(scene, "train")
    jf.write_text('{"a":' * 100 + "1" + "}" * 100)
    with pytest.raises(DataError, match=r"nested too deeply"):
        blender.load(scene, "train")
    report = registry.get("nerf-synthetic").check(scene)
    assert any("nested too deeply" in p for p in report.problems)


def test_truncated_png_and_bomb_header_are_one_line_errors(scene):
    png = scene / "train" / "r_0.png"
    raw = png.read_bytes()
    png.write_bytes(raw[: len(raw) - 40])  # header intact, pixel data cut
    report = registry.get("nerf-synthetic").check(scene)
    assert any(p.startswith("train/r_0.png: not a readable image") for p in report.problems), report.problems
    with pytest.raises(DataError, match=r"r_0.png: not a readable image"):
        blender.load(scene, "train")
    # valid PNG headers claiming huge sizes (decompression bombs), a few bytes on disk: over bench3d's cap,
    # and over PIL's own bomb limit (DecompressionBombError, caught and reported in one line)
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    for side, needle in ((9000, "image header says 9000x9000 pixels"), (100000, "decompression bomb")):
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                        + chunk(b"IEND", b""))
        report = registry.get("nerf-synthetic").check(scene)
        assert any(p.startswith("train/r_0.png: ") and needle in p and "\n" not in p for p in report.problems), \
            report.problems
        with pytest.raises(DataError, match=rf"r_0.png: .*{needle}"):
            blender.load(scene, "train")
