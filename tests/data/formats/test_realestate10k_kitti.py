"""RealEstate10K and KITTI odometry loaders; OpenCV-convention projections as the independent reference."""

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from bench.data import registry
from bench.data.cameras import project

W, H = 20, 12


def random_w2c(rng):
    w2c = np.zeros((3, 4))
    w2c[:, :3] = Rotation.from_rotvec(rng.normal(size=3) * 0.2).as_matrix()
    w2c[:, 3] = [0.1, -0.2, 3.0]
    return w2c


def write_re10k(root, rng, n=4, skip=None):
    (root / "cameras" / "test").mkdir(parents=True)
    fdir = root / "frames" / "test" / "seqA"
    fdir.mkdir(parents=True)
    lines, poses = ["https://www.youtube.com/watch?v=abc"], []
    for i in range(n):
        ts = 1000 + 33366 * i
        w2c = random_w2c(rng)
        poses.append(w2c)
        lines.append(" ".join(map(str, [ts, 0.9, 1.2, 0.48, 0.52, 0, 0, *w2c.reshape(-1)])))
        if i != skip:
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(fdir / f"{ts}.png")
    (root / "cameras" / "test" / "seqA.txt").write_text("\n".join(lines) + "\n")
    return poses


def test_re10k_round_trip(tmp_path):
    poses = write_re10k(tmp_path, np.random.default_rng(0))
    report = registry.get("realestate10k").check(tmp_path)
    assert report.ok and report.found["test"] == {"sequences": 1, "frames": 4}
    seq = registry.load("realestate10k", tmp_path)[0]
    X = np.array([[0.2, 0.1, 0.5], [-0.3, 0.2, -0.1]])
    fx, fy, cx, cy = 0.9 * W, 1.2 * H, 0.48 * W, 0.52 * H
    for i, w2c in enumerate(poses):
        c = X @ w2c[:, :3].T + w2c[:, 3]  # OpenCV camera
        want = np.stack([fx * c[:, 0] / c[:, 2] + cx, fy * c[:, 1] / c[:, 2] + cy], 1)
        got = project(X, seq["R"][i].double().numpy(), seq["T"][i].double().numpy(), seq["focal"][i].double().numpy(),
                      seq["principal_point"][i].double().numpy())
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert seq["images"].shape == (4, H, W, 3) and seq["url"].endswith("abc")


def test_re10k_problems(tmp_path):
    write_re10k(tmp_path, np.random.default_rng(1), skip=2)
    assert registry.get("realestate10k").check(tmp_path).problems == ("frames/test/seqA/67732.png: frame is missing",)
    path = tmp_path / "cameras" / "test" / "seqA.txt"
    path.write_text(path.read_text() + "5 1 2 3\n")
    assert registry.get("realestate10k").check(tmp_path).problems[0] == \
        "cameras/test/seqA.txt: line 6 has 4 values, expected 19 (timestamp, fx fy cx cy, 0 0, 3x4 pose)"


def write_kitti(root, rng, n=3, drop=False):
    seq = root / "sequences" / "00"
    (seq / "image_2").mkdir(parents=True)
    (root / "poses").mkdir()
    K = np.array([[50.0, 0, 9.5], [0, 52.0, 6.0], [0, 0, 1]])
    b = np.array([0.06, 0.0, 0.0])  # camera 2 sits 6 cm from camera 0 (in camera-2 coordinates)
    P = {f"P{i}": np.c_[K, K @ (b if i == 2 else np.zeros(3))] for i in range(4)}
    (seq / "calib.txt").write_text("".join(f"{k}: {' '.join(map(str, v.reshape(-1)))}\n" for k, v in P.items()))
    c2w = []
    for i in range(n):
        m = np.eye(4)
        m[:3, :3] = Rotation.from_rotvec([0, 0.1 * i, 0]).as_matrix()
        m[:3, 3] = [0.0, 0.0, 0.8 * i]
        c2w.append(m[:3])
        if not (drop and i == 1):
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(seq / "image_2" / f"{i:06d}.png")
    np.savetxt(root / "poses" / "00.txt", np.array([m.reshape(-1) for m in c2w]))
    return P["P2"], c2w


def test_kitti_round_trip(tmp_path):
    P2, c2w = write_kitti(tmp_path, np.random.default_rng(0))
    assert registry.get("kitti-synsin").check(tmp_path).ok
    ds = registry.load("kitti-synsin", tmp_path)
    X = np.array([[0.3, -0.1, 4.0], [-0.5, 0.2, 6.0]])
    for i in range(len(ds)):
        item = ds[i]
        full = np.vstack([c2w[i], [0, 0, 0, 1]])
        h = P2 @ np.linalg.inv(full) @ np.c_[X, np.ones(2)].T  # KITTI: P2 applied to camera-0 coordinates
        want = (h[:2] / h[2]).T
        got = project(X, item["R"].double().numpy(), item["T"].double().numpy(), item["focal"].double().numpy(),
                      item["principal_point"].double().numpy())
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_kitti_missing_frame(tmp_path):
    write_kitti(tmp_path, np.random.default_rng(1), drop=True)
    assert registry.get("kitti-synsin").check(tmp_path).problems == \
        ("sequences/00/image_2: 2 images for 3 poses (missing frames)",)
    with pytest.raises(Exception, match="2 images for 3 poses"):
        registry.get("kitti-synsin").load(tmp_path)
