"""CO3D v2 loader/check on gzipped annotation fixtures; NDC intrinsics round trip."""

import gzip
import json

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from bench.data import registry
from bench.data.cameras import project

H, W = 12, 20


def write_co3d(root, rng, fmt="ndc_isotropic"):
    frames = []
    for seq in ("s1", "s2"):
        for k in range(2):
            for sub in ("images", "masks"):
                (root / "teddy" / seq / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(
                root / "teddy" / seq / "images" / f"frame{k:06d}.jpg")
            Image.fromarray(rng.integers(0, 256, (H, W), dtype=np.uint8)).save(
                root / "teddy" / seq / "masks" / f"frame{k:06d}.png")
            frames.append({"sequence_name": seq, "frame_number": k, "frame_timestamp": 0.1 * k,
                           "image": {"path": f"teddy/{seq}/images/frame{k:06d}.jpg", "size": [H, W]},
                           "mask": {"path": f"teddy/{seq}/masks/frame{k:06d}.png", "mass": 10.0},
                           "viewpoint": {"R": Rotation.from_rotvec(rng.normal(size=3) * 0.2).as_matrix().tolist(),
                                         "T": [0.1, 0.0, 3.0], "focal_length": [1.8, 1.9],
                                         "principal_point": [0.05, -0.1], "intrinsics_format": fmt}})
    with gzip.open(root / "teddy" / "frame_annotations.jgz", "wt") as f:
        json.dump(frames[::-1], f)
    with gzip.open(root / "teddy" / "sequence_annotations.jgz", "wt") as f:
        json.dump([{"sequence_name": s, "category": "teddy"} for s in ("s1", "s2")], f)
    return frames


def ndc_project(X, vp):
    """PyTorch3D NDC projection, then NDC -> pixel: +X/+Y NDC point left/up; the shorter side spans [-1, 1]."""
    cam = X @ np.array(vp["R"]) + np.array(vp["T"])
    ndc = np.array(vp["focal_length"]) * cam[:, :2] / cam[:, 2:] + np.array(vp["principal_point"])
    if vp["intrinsics_format"] == "ndc_isotropic":
        s = np.array([min(H, W) / 2.0] * 2)
    else:
        s = np.array([W / 2.0, H / 2.0])
    return np.array([W / 2.0, H / 2.0]) - ndc * s


def test_round_trip_both_formats(tmp_path):
    for fmt in ("ndc_isotropic", "ndc_norm_image_bounds"):
        root = tmp_path / fmt
        frames = write_co3d(root, np.random.default_rng(0), fmt)
        report = registry.get("co3d-v2").check(root)
        assert report.ok and report.found["categories"]["teddy"] == {"frames": 4, "sequences": 2}
        data = registry.load("co3d-v2", root, category="teddy")
        assert data["sequence"] == ["s1", "s1", "s2", "s2"] and data["frame_number"] == [0, 1, 0, 1]
        X = np.array([[0.2, -0.3, 0.4], [0.0, 0.1, -0.2]])
        for i, fr in enumerate(frames):  # written in the same (sequence, frame) order the loader sorts to
            got = project(X, data["R"][i].double().numpy(), data["T"][i].double().numpy(),
                          data["focal"][i].double().numpy(), data["principal_point"][i].double().numpy())
            np.testing.assert_allclose(got, ndc_project(X, fr["viewpoint"]), atol=1e-4)


def test_problems_named(tmp_path):
    write_co3d(tmp_path, np.random.default_rng(1))
    (tmp_path / "teddy" / "s2" / "masks" / "frame000001.png").unlink()
    raw = (tmp_path / "teddy" / "sequence_annotations.jgz").read_bytes()
    (tmp_path / "teddy" / "sequence_annotations.jgz").write_bytes(raw[: len(raw) // 2])
    problems = registry.get("co3d-v2").check(tmp_path).problems
    assert problems[0].startswith("teddy/sequence_annotations.jgz: ")
    assert "teddy/s2/masks/frame000001.png: mask is missing" in problems


def _rewrite_frames(root, mutate):
    path = root / "teddy" / "frame_annotations.jgz"
    with gzip.open(path, "rt") as f:
        frames = json.load(f)
    mutate(frames)
    with gzip.open(path, "wt") as f:
        json.dump(frames, f)
    return path



@pytest.mark.parametrize("mutate, needle", [
    (lambda fr: fr.__setitem__(0, ["s1"]), "[0]: expected an object"),
    (lambda fr: fr[1]["viewpoint"].update(R="identity"), "[1].viewpoint.R: expected a list of 3 items"),
    (lambda fr: fr[2].update(frame_number="3"), "[2].frame_number: expected an integer"),
    (lambda fr: fr[0]["image"].update(size=[12.5, 20]), "[0].image.size[0]: expected an integer"),
    (lambda fr: fr[3]["viewpoint"].update(focal_length=[float("inf"), 1.0]),
     "[3].viewpoint.focal_length[0]: expected a finite number"),
    (lambda fr: fr[0]["viewpoint"].update(intrinsics_format="pixels"),
     "[0].viewpoint.intrinsics_format: expected one of"),
])
def test_wrong_json_types_are_one_line_errors(tmp_path, mutate, needle):
    from bench.errors import DataError

    write_co3d(tmp_path, np.random.default_rng(2))
    path = _rewrite_frames(tmp_path, mutate)
    problems = registry.get("co3d-v2").check(tmp_path).problems
    assert any(p.startswith(f"teddy/frame_annotations.jgz: {needle}") for p in problems), problems
    with pytest.raises(DataError) as info:
        registry.load("co3d-v2", tmp_path, category="teddy")
    assert "frame_annotations.jgz" in str(info.value) and needle in str(info.value) and "\n" not in str(info.value)
    from bench.data.formats import co3d

    with pytest.raises(DataError, match="frame_annotations.jgz: ") as info:
        co3d.load(tmp_path, "teddy")
    assert str(info.value).startswith(str(path)) and needle in str(info.value)


def test_sequence_annotations_of_wrong_type_and_deep_json(tmp_path):
    write_co3d(tmp_path, np.random.default_rng(3))
    with gzip.open(tmp_path / "teddy" / "sequence_annotations.jgz", "wt") as f:
        json.dump({"s1": {}}, f)
    problems = registry.get("co3d-v2").check(tmp_path).problems
    assert problems == ("teddy/sequence_annotations.jgz: (top level): expected a list of items, got an object",)
    with gzip.open(tmp_path / "teddy" / "frame_annotations.jgz", "wt") as f:
        f.write("[" * 50000 + "]" * 50000)
    problems = registry.get("co3d-v2").check(tmp_path).problems
    assert problems[0].startswith("teddy/frame_annotations.jgz: JSON is nested too deeply")
