"""ShapeNetCore v1/v2 and R2N2 loaders on fixtures written in their layouts."""

import json

import numpy as np
import pytest
from PIL import Image

from bench.data import registry
from bench.data.formats.binvox import write_binvox
from bench.data.formats.r2n2 import look_at_p3d
from bench.data.generated.meshes import write_obj

TETRA_V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
TETRA_F = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


@pytest.mark.parametrize("version", [1, 2])
def test_shapenetcore_layouts(tmp_path, version):
    rel = "model.obj" if version == 1 else "models/model_normalized.obj"
    for synset, models in (("02691156", ["a1", "a2"]), ("03001627", ["c1"])):
        for m in models:
            (tmp_path / synset / m / rel).parent.mkdir(parents=True)
            write_obj(tmp_path / synset / m / rel, TETRA_V * (1 + len(m)), TETRA_F)
    (tmp_path / "taxonomy.json").write_text(json.dumps([{"synsetId": "02691156", "name": "airplane,aeroplane"}]))
    name = f"shapenetcore-v{version}"
    report = registry.get(name).check(tmp_path)
    assert report.ok and report.found["models_per_synset"] == {"airplane": 2, "03001627": 1}
    ds = registry.load(name, tmp_path)
    assert len(ds) == 3
    item = ds[1]
    assert (item["synset"], item["model_id"], item["category"]) == ("02691156", "a2", "airplane")
    np.testing.assert_allclose(item["verts"].numpy(), TETRA_V * 3)
    np.testing.assert_array_equal(item["faces"].numpy(), TETRA_F)
    (tmp_path / "03001627" / "c2").mkdir()
    assert registry.get(name).check(tmp_path).problems == (f"03001627/c2/{rel}: model file is missing",)


def write_r2n2(root, rng, views=24):
    rdir = root / "ShapeNetRendering" / "02691156" / "m1" / "rendering"
    rdir.mkdir(parents=True)
    meta = np.c_[rng.uniform(0, 360, views), rng.uniform(20, 40, views), np.zeros(views),
                 rng.uniform(0.6, 0.9, views), np.full(views, 25.0)]
    (rdir / "rendering_metadata.txt").write_text("\n".join(" ".join(f"{x:.6f}" for x in row) for row in meta) + "\n")
    for v in range(views):
        Image.fromarray(rng.integers(0, 256, (9, 9, 4), dtype=np.uint8), "RGBA").save(rdir / f"{v:02d}.png")
    vox = rng.random((32, 32, 32)) < 0.2
    (root / "ShapeNetVox32" / "02691156" / "m1").mkdir(parents=True)
    write_binvox(root / "ShapeNetVox32" / "02691156" / "m1" / "model.binvox", vox)
    return meta, vox


def test_r2n2_values_and_cameras(tmp_path):
    meta, vox = write_r2n2(tmp_path, np.random.default_rng(0))
    assert registry.get("r2n2").check(tmp_path).ok
    item = registry.load("r2n2", tmp_path)[0]
    np.testing.assert_array_equal(item["voxels"].numpy(), vox)
    np.testing.assert_allclose(item["metadata"].numpy(), meta, atol=1e-5)
    R, T = item["R"].double().numpy(), item["T"].double().numpy()
    for i in range(24):
        centre = -T[i] @ R[i].T
        az, el, d = np.radians(meta[i, 0]), np.radians(meta[i, 1]), meta[i, 3] * 1.75
        # Mesh R-CNN's compute_extrinsic_matrix (as PyTorch3D's R2N2 reads it): az = 0 on +x, az = 90 on +z
        np.testing.assert_allclose(centre, d * np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)]),
                                   atol=1e-5)
        np.testing.assert_allclose(T[i], [0, 0, d], atol=1e-5)  # the origin lies straight ahead
        assert (np.array([0.0, 1.0, 0.0]) @ R[i])[1] > 0  # world up is camera up
    np.testing.assert_allclose(item["fov"].numpy(), np.degrees(2 * np.arctan(1 / 2.1875)), rtol=1e-6)  # Blender's


def test_r2n2_problems_are_named(tmp_path):
    write_r2n2(tmp_path, np.random.default_rng(1), views=23)
    problems = registry.get("r2n2").check(tmp_path).problems
    assert "ShapeNetRendering/02691156/m1/rendering/rendering_metadata.txt: 23 lines, expected 24" in problems
    assert "ShapeNetRendering/02691156/m1/rendering/23.png: image is missing" in problems


def test_look_at_matches_axis_cases():
    R, T = look_at_p3d(np.array([2.0]), np.array([0.0]), np.array([0.0]))  # on +z looking at the origin
    np.testing.assert_allclose(R[0], np.diag([-1.0, 1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(T[0], [0, 0, 2.0], atol=1e-12)


# ---- garbage that used to pass (issue 15) ------------------------------------------------------------------------

def _shapenet(root, files):
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_shapenet_check_parses_model_obj(tmp_path):
    """Random bytes as model.obj passed the check (it never parsed the file)."""
    rng = np.random.default_rng(0)
    good = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    _shapenet(tmp_path, {"02691156/a/model.obj": rng.bytes(2000), "02691156/b/model.obj": good,
                         "03001627/c/model.obj": b"v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n",
                         "04379243/d/model.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n"})
    report = registry.get("shapenetcore-v1").check(tmp_path)
    by_file = {p.split(": ", 1)[0]: p for p in report.problems}
    assert set(by_file) == {"02691156/a/model.obj", "03001627/c/model.obj", "04379243/d/model.obj"}, report.problems
    assert "binary" in by_file["02691156/a/model.obj"] or "not UTF-8" in by_file["02691156/a/model.obj"]
    assert "non-finite" in by_file["03001627/c/model.obj"] and "start at 1" in by_file["04379243/d/model.obj"]
    assert all("\n" not in p for p in report.problems)


@pytest.mark.parametrize("taxonomy, needle", [
    (b'{"synsetId": "02691156"}', "(top level): expected a list"),
    (b'[{"synsetId": 2691156, "name": "airplane"}]', "[0].synsetId: expected a non-empty string, got 2691156"),
    (b'[{"synsetId": "02691156", "name": ["airplane"]}]', "[0].name: expected a non-empty string"),
    (b'["02691156"]', "[0]: expected an object"),
    (b"\xff\xfe[]", "not UTF-8"),
])
def test_shapenet_taxonomy_of_wrong_types_is_one_line_error(tmp_path, taxonomy, needle):
    from bench.errors import DataError

    _shapenet(tmp_path, {"02691156/b/model.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
                         "taxonomy.json": taxonomy})
    problems = registry.get("shapenetcore-v1").check(tmp_path).problems
    assert len(problems) == 1 and problems[0].startswith("taxonomy.json: ") and needle in problems[0], problems
    with pytest.raises(DataError, match="taxonomy.json: ") as info:
        registry.load("shapenetcore-v1", tmp_path)
    assert needle in str(info.value) or "shapenetcore-v1" in str(info.value)


def test_r2n2_metadata_non_utf8_and_nan_are_named(tmp_path):
    write_r2n2(tmp_path, np.random.default_rng(2))
    meta = tmp_path / "ShapeNetRendering" / "02691156" / "m1" / "rendering" / "rendering_metadata.txt"
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join(lines[:3] + ["nan 1 2 3 4"] + lines[4:]) + "\n")
    problems = registry.get("r2n2").check(tmp_path).problems
    assert "ShapeNetRendering/02691156/m1/rendering/rendering_metadata.txt: line 4: has NaN or infinite values; " \
           "expected finite numbers" in problems
    meta.write_bytes(b"\xff\xfe" + b"1 2 3 4 5\n" * 24)
    problems = registry.get("r2n2").check(tmp_path).problems
    assert any("rendering_metadata.txt: line 1: not UTF-8 text" in p for p in problems), problems
