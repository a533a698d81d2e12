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


# ---- malformed camera text files: one line naming the file and line (issue 15) ----------------------------------

def _one_line(call, *needles):
    from bench.errors import DataError

    with pytest.raises(DataError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and all(n in msg for n in needles), msg


def test_re10k_non_utf8_and_nan_pose_are_one_line_errors(tmp_path):
    from bench.data.formats import realestate10k

    write_re10k(tmp_path, np.random.default_rng(0))
    cam = tmp_path / "cameras" / "test" / "seqA.txt"
    lines = cam.read_text().splitlines()
    parts = lines[2].split()
    parts[10] = "nan"
    cam.write_text("\n".join(lines[:2] + [" ".join(parts)] + lines[3:]) + "\n")
    _one_line(lambda: realestate10k.load(tmp_path)[0], "seqA.txt: line 3", "NaN or infinite")
    report = registry.get("realestate10k").check(tmp_path)
    assert report.problems == ("cameras/test/seqA.txt: line 3: has NaN or infinite values; expected finite numbers",)
    cam.write_bytes(b"https://www.youtube.com/watch?v=\xff\xfe\n")
    _one_line(lambda: realestate10k.load(tmp_path)[0], "seqA.txt: line 1: not UTF-8 text")
    assert "not UTF-8" in registry.get("realestate10k").check(tmp_path).problems[0]


def test_kitti_non_utf8_calib_and_nan_pose_are_one_line_errors(tmp_path):
    from bench.data.formats import kitti

    write_kitti(tmp_path, np.random.default_rng(0))
    calib = tmp_path / "sequences" / "00" / "calib.txt"
    good = calib.read_bytes()
    calib.write_bytes(good + b"Tr: \xe9\xe9\n")
    _one_line(lambda: kitti.load(tmp_path), "calib.txt: line 5: not UTF-8 text")
    assert any(p.startswith("sequences/00/calib.txt: line 5: not UTF-8")
               for p in registry.get("kitti-synsin").check(tmp_path).problems)
    calib.write_bytes(good.replace(b"P2: 50.0", b"P2: nan", 1))
    _one_line(lambda: kitti.load(tmp_path), "calib.txt: line 3 (P2)", "NaN or infinite")
    calib.write_bytes(good)
    poses = tmp_path / "poses" / "00.txt"
    rows = poses.read_text().splitlines()
    poses.write_text("\n".join([rows[0], rows[1].replace(rows[1].split()[3], "inf", 1), rows[2]]) + "\n")
    _one_line(lambda: kitti.load(tmp_path), "00.txt: line 2", "NaN or infinite")
    poses.write_bytes(b"\xff" * 10)
    _one_line(lambda: kitti.load(tmp_path), "00.txt: line 1: not UTF-8 text")
