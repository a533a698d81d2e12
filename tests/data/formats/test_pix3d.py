"""Pix3D loader on a pix3d.json fixture; projection checked with the stated mm-sensor pinhole model."""

import json

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from bench.data import registry
from bench.data.cameras import project
from bench.data.generated.meshes import write_obj

W, H = 24, 16


def write_pix3d(root, rng, n=2):
    entries = []
    for i in range(n):
        for sub in ("img/chair", "mask/chair", f"model/chair/m{i}"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / f"img/chair/{i:04d}.png")
        Image.fromarray((rng.random((H, W)) > 0.5).astype(np.uint8) * 255).save(root / f"mask/chair/{i:04d}.png")
        write_obj(root / f"model/chair/m{i}/model.obj", rng.normal(size=(4, 3)), np.array([[0, 1, 2], [0, 2, 3]]))
        entries.append({"img": f"img/chair/{i:04d}.png", "mask": f"mask/chair/{i:04d}.png", "category": "chair",
                        "model": f"model/chair/m{i}/model.obj", "img_size": [W, H],
                        "rot_mat": Rotation.from_rotvec(rng.normal(size=3) * 0.3).as_matrix().tolist(),
                        "trans_mat": [0.05, -0.02, 2.5], "focal_length": 35.0, "bbox": [2, 3, 20, 14]})
    (root / "pix3d.json").write_text(json.dumps(entries))
    return entries


def test_values_and_projection(tmp_path):
    entries = write_pix3d(tmp_path, np.random.default_rng(0))
    assert registry.get("pix3d").check(tmp_path).ok
    ds = registry.load("pix3d", tmp_path)
    item = ds[1]
    e = entries[1]
    f = 35.0 * W / 32.0
    X = item["verts"].double().numpy()
    cam = X @ np.array(e["rot_mat"]).T + np.array(e["trans_mat"])  # Pix3D: rot_mat @ X + trans_mat
    want = np.stack([W / 2 - f * cam[:, 0] / cam[:, 2], H / 2 - f * cam[:, 1] / cam[:, 2]], 1)  # +X left, +Y up
    got = project(X, item["R"].double().numpy(), item["T"].double().numpy(), item["focal"].double().numpy(),
                  item["principal_point"].double().numpy())
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert item["image"].shape == (H, W, 3) and item["mask"].shape == (H, W) and item["category"] == "chair"


def test_problems_named(tmp_path):
    write_pix3d(tmp_path, np.random.default_rng(1))
    doc = json.loads((tmp_path / "pix3d.json").read_text())
    doc[0]["rot_mat"] = [[1, 0], [0, 1]]
    doc[1]["img_size"] = [W + 1, H]
    del doc[1]["focal_length"]
    (tmp_path / "pix3d.json").write_text(json.dumps(doc))
    (tmp_path / "mask/chair/0000.png").unlink()
    problems = registry.get("pix3d").check(tmp_path).problems
    assert problems == ("pix3d.json: [0].rot_mat: expected a list of 3 items, got 2",
                        "mask/chair/0000.png: mask file is missing",
                        "pix3d.json: [1].focal_length: is missing")
    (tmp_path / "pix3d.json").write_text("[{\"img\": ")
    assert "truncated" in registry.get("pix3d").check(tmp_path).problems[0]
    with pytest.raises(Exception, match="pix3d.json"):
        registry.load("pix3d", tmp_path)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.__setitem__(0, "img/chair/0000.png"), "[0]: expected an object, got a string"),
    (lambda d: d[0].update(img=5), "[0].img: expected a non-empty string, got 5"),
    (lambda d: d[1].update(focal_length="35"), "[1].focal_length: expected a finite number"),
    (lambda d: d[0].update(trans_mat=[0, float("nan"), 1]), "[0].trans_mat[1]: expected a finite number"),
    (lambda d: d[0].update(img_size={"w": 1}), "[0].img_size: expected a list of 2 items"),
])
def test_wrong_json_types_are_one_line_errors(tmp_path, mutate, needle):
    from bench.errors import DataError

    write_pix3d(tmp_path, np.random.default_rng(1))
    doc = json.loads((tmp_path / "pix3d.json").read_text())
    mutate(doc)
    (tmp_path / "pix3d.json").write_text(json.dumps(doc))
    problems = registry.get("pix3d").check(tmp_path).problems
    assert any(p == f"pix3d.json: {needle}" or p.startswith(f"pix3d.json: {needle}") for p in problems), problems
    from bench.data.formats import pix3d

    with pytest.raises(DataError) as info:
        pix3d.load(tmp_path)
    assert str(info.value).startswith(str(tmp_path / "pix3d.json")) and needle in str(info.value)
    (tmp_path / "pix3d.json").write_text("{}")
    assert registry.get("pix3d").check(tmp_path).problems == (
        "pix3d.json: (top level): expected a JSON list of annotations",)
