"""LLFF loader on a poses_bounds.npy fixture; projection checked in LLFF's own [down, right, back] frame."""

import numpy as np
import pytest
from PIL import Image

from bench.data import registry
from bench.data.cameras import project
from bench.data.formats import llff

N, H, W, F = 10, 12, 18, 15.0


def write_scene(root, rng, n=N):
    rows, mats = [], []
    for _ in range(n):
        eye = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), 3.0])
        back = eye - np.array([0.0, 0.0, 0.0])
        back /= np.linalg.norm(back)
        right = np.cross([0.0, 1.0, 0.0], back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        mat = np.stack([-up, right, back, eye, [H, W, F]], axis=1)  # columns: down, right, back, t, hwf
        mats.append(mat)
        rows.append(np.concatenate([mat.reshape(-1), [1.0, 6.0]]))
    np.save(root / "poses_bounds.npy", np.array(rows))
    for folder, (h, w) in (("images", (H, W)), ("images_2", (H // 2, W // 2))):
        (root / folder).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / folder / f"IMG_{i:04d}.png")
    return np.array(mats)


def test_round_trip_and_values(tmp_path):
    mats = write_scene(tmp_path, np.random.default_rng(0))
    data = llff.load(tmp_path)
    point = np.array([[0.2, -0.1, 0.3], [-0.3, 0.2, -0.2]])
    for i in range(N):
        d = (point - mats[i][:, 3]) @ mats[i][:, :3]  # coordinates along (down, right, back)
        want = np.stack([W / 2 + F * d[:, 1] / -d[:, 2], H / 2 + F * d[:, 0] / -d[:, 2]], 1)
        got = project(point, data["R"][i].double().numpy(), data["T"][i].double().numpy(),
                      data["focal"][i].double().numpy(), data["principal_point"][i].double().numpy())
        np.testing.assert_allclose(got, want, atol=1e-3)
    raw = np.asarray(Image.open(tmp_path / "images" / "IMG_0003.png")) / 255.0
    np.testing.assert_allclose(data["images"][3].numpy(), raw, atol=1e-6)
    np.testing.assert_allclose(data["bounds"].numpy(), [[1.0, 6.0]] * N)
    assert data["splits"]["test"] == [0, 8] and len(data["splits"]["train"]) == 8


def test_downscaled_folder_and_split(tmp_path):
    write_scene(tmp_path, np.random.default_rng(1))
    data = llff.load(tmp_path, factor=2, split="test")
    assert data["images"].shape == (2, H // 2, W // 2, 3)
    assert data["focal"][0, 0].item() == pytest.approx(F / 2)
    assert data["names"] == ["IMG_0000.png", "IMG_0008.png"]
    report = registry.get("llff").check(tmp_path)
    assert report.ok and report.found["splits"] == {"train": 8, "test": 2}


def test_bad_inputs_are_named(tmp_path):
    write_scene(tmp_path, np.random.default_rng(2))
    (tmp_path / "images" / "IMG_0004.png").unlink()
    problems = registry.get("llff").check(tmp_path).problems
    assert problems == ("images: 9 images for 10 poses (missing or extra frames)",)
    np.save(tmp_path / "poses_bounds.npy", np.zeros((N, 15)))
    problems = registry.get("llff").check(tmp_path).problems
    assert problems == ("poses_bounds.npy: poses_bounds has shape (10, 15); expected (N, 17)",)


# ---- odd poses_bounds.npy files and images: one line naming the file (issue 15) ---------------------------------

@pytest.mark.parametrize("write, needle", [
    (lambda p: p.write_bytes(b""), "file is empty"),
    (lambda p: np.savez(p.with_suffix(".tmp.npz"), a=np.zeros((10, 17))) or p.with_suffix(".tmp.npz").rename(p),
     "is a .npz (zip) archive"),
    (lambda p: np.save(p, np.full((10, 17), "1.0")), "dtype <U3"),
    (lambda p: np.save(p, np.zeros((10, 17), dtype=np.complex128)), "dtype complex128"),
    (lambda p: np.save(p, np.array([{"a": 1}] * 10, dtype=object), allow_pickle=True), "cannot be read as a .npy"),
    (lambda p: p.write_bytes(b"random bytes, not numpy"), "no NUMPY magic"),
])
def test_odd_npy_files_are_one_line_errors(tmp_path, write, needle):
    write_scene(tmp_path, np.random.default_rng(0))
    pb = tmp_path / "poses_bounds.npy"
    pb.unlink()
    write(pb)
    from bench.errors import DataError

    with pytest.raises(DataError) as info:
        llff.load(tmp_path)
    msg = str(info.value)
    assert msg.startswith(str(pb)) and needle in msg and "\n" not in msg, msg
    problems = registry.get("llff").check(tmp_path).problems
    assert len(problems) == 1 and problems[0].startswith("poses_bounds.npy: ") and needle in problems[0]


def test_complex_poses_with_real_values_are_refused(tmp_path):
    """complex poses used to pass the check (np.isfinite is true for complex numbers)."""
    write_scene(tmp_path, np.random.default_rng(0))
    pb = tmp_path / "poses_bounds.npy"
    np.save(pb, np.load(pb).astype(np.complex64))
    assert registry.get("llff").check(tmp_path).problems == (
        "poses_bounds.npy: poses_bounds has dtype complex64; expected a real numeric array (int/uint/float)",)


def test_truncated_png_fails_the_check(tmp_path):
    """Only headers were read: a PNG cut after its header passed the check."""
    write_scene(tmp_path, np.random.default_rng(0))
    png = tmp_path / "images" / "IMG_0004.png"
    raw = png.read_bytes()
    png.write_bytes(raw[: len(raw) - 30])
    problems = registry.get("llff").check(tmp_path).problems
    assert len(problems) == 1 and problems[0].startswith("images/IMG_0004.png: not a readable image"), problems
