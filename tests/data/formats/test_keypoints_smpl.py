"""LSP (joints.mat via scipy), COCO keypoint JSON and SMPL model-file checks on written fixtures."""

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from bench.data import registry
from bench.data.formats import smpl
from bench.errors import NotAvailable


def write_images(folder, names, rng, size=(10, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / n)


@pytest.mark.parametrize("layout", ["lsp", "lspet"])
def test_lsp_both_layouts(tmp_path, layout):
    rng = np.random.default_rng(0)
    n = 3
    xy = rng.uniform(0, 100, (n, 14, 2))
    vis = rng.random((n, 14)) > 0.3
    if layout == "lsp":  # 3 x 14 x N, third row 0 = visible
        joints = np.concatenate([xy.transpose(2, 1, 0), (~vis).T[None].astype(float)], 0)
    else:  # 14 x 3 x N, third column 1 = visible
        joints = np.concatenate([xy.transpose(1, 2, 0), vis.T[:, None].astype(float)], 1)
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    write_images(tmp_path / "images", [f"im{i + 1:04d}.jpg" for i in range(n)], rng)
    assert registry.get("lsp").check(tmp_path).ok
    data = registry.load("lsp", tmp_path)
    np.testing.assert_allclose(data["keypoints"].numpy(), xy, atol=1e-4)
    np.testing.assert_array_equal(data["visible"].numpy(), vis)
    assert data["names"][0] == "right_ankle" and data["names"][13] == "head_top"
    (tmp_path / "images" / "im0002.jpg").unlink()
    assert registry.get("lsp").check(tmp_path).problems == ("images: 2 images for 3 joint sets (missing frames)",)


def test_lsp_bad_shape(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.zeros((2, 14, 5))})
    assert registry.get("lsp").check(tmp_path).problems == \
        ("joints.mat: 'joints' has shape (2, 14, 5), expected (3, 14, N) or (14, 3, N)",)


def coco_doc(rng):
    kp = [rng.uniform(0, 50, (17, 3)).round(1) for _ in range(2)]
    for k in kp:
        k[:, 2] = rng.integers(0, 3, 17)
    return {"images": [{"id": 7, "file_name": "000007.jpg", "width": 8, "height": 10}],
            "annotations": [{"id": i, "image_id": 7, "category_id": 1, "keypoints": k.reshape(-1).tolist(),
                             "num_keypoints": int((k[:, 2] > 0).sum()), "bbox": [1, 2, 3, 4]}
                            for i, k in enumerate(kp)],
            "categories": [{"id": 1, "name": "person", "keypoints": [f"j{i}" for i in range(17)],
                            "skeleton": [[16, 14], [14, 12]]}]}, kp


def test_coco_values_and_problems(tmp_path):
    rng = np.random.default_rng(0)
    doc, kp = coco_doc(rng)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(doc))
    write_images(tmp_path / "val2017", ["000007.jpg"], rng)
    report = registry.get("coco-keypoints").check(tmp_path)
    assert report.ok and report.found["val2017"] == {"images": 1, "annotations": 2, "keypoints": 17}
    data = registry.load("coco-keypoints", tmp_path)
    np.testing.assert_allclose(data["keypoints"].numpy(), np.stack(kp)[..., :2], atol=1e-4)
    np.testing.assert_array_equal(data["visibility"].numpy(), np.stack(kp)[..., 2])
    assert data["files"][1].name == "000007.jpg"
    doc["annotations"][1]["keypoints"] = doc["annotations"][1]["keypoints"][:50]
    doc["annotations"][0]["image_id"] = 99
    (tmp_path / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(doc))
    assert registry.get("coco-keypoints").check(tmp_path).problems == (
        "annotations/person_keypoints_val2017.json: annotation 0 refers to unknown image_id 99",
        "annotations/person_keypoints_val2017.json: annotation 1 has 50 keypoint values, expected 51")


def smpl_arrays(n_v=30, n_j=4, n_b=10):
    rng = np.random.default_rng(0)
    return {"v_template": rng.normal(size=(n_v, 3)), "f": rng.integers(0, n_v, (20, 3)),
            "weights": rng.random((n_v, n_j)), "J_regressor": rng.random((n_j, n_v)),
            "kintree_table": np.array([[-1, 0, 1, 2], list(range(n_j))]), "shapedirs": rng.normal(size=(n_v, 3, n_b)),
            "posedirs": rng.normal(size=(n_v, 3, (n_j - 1) * 9))}


def test_smpl_check_and_load(tmp_path):
    (tmp_path / "smpl").mkdir()
    np.savez(tmp_path / "smpl" / "SMPL_NEUTRAL.npz", **smpl_arrays())
    bad = smpl_arrays()
    bad["weights"] = bad["weights"][:, :3]
    np.savez(tmp_path / "smpl" / "SMPL_MALE.npz", **bad)
    report = registry.get("smpl").check(tmp_path)
    assert report.problems == ("smpl/SMPL_MALE.npz: weights has shape (30, 3), expected (30, 4)",)
    assert report.found["models"]["smpl/SMPL_NEUTRAL.npz"] == "unknown model (30 vertices)"
    (tmp_path / "smpl" / "SMPL_MALE.npz").unlink()
    try:
        import smplx  # noqa: F401  (third-party, optional: the SMPL loader's only dependency)
    except ImportError:  # the usual case: without smplx, loading is NotAvailable and names it
        with pytest.raises(NotAvailable, match="smplx"):
            registry.load("smpl", tmp_path)
    else:  # pragma: no cover - only where smplx is installed
        pytest.skip("optional dependency smplx is installed: building its model needs a real SMPL file, "
                    "which the test cannot ship")


def test_smpl_pickle_needing_chumpy_is_named(tmp_path):
    # a pickle that refers to a module that is not installed, as original SMPL files refer to chumpy
    (tmp_path / "basicmodel_f_lbs_10_207_0_v1.0.0.pkl").write_bytes(b"\x80\x02cno_such_chumpy\nCh\nq\x00.")
    problem = registry.get("smpl").check(tmp_path).problems[0]
    assert problem.startswith("basicmodel_f_lbs_10_207_0_v1.0.0.pkl: needs the 'no_such_chumpy' package")
    assert smpl.model_files(tmp_path)


# ---- wrong types and structures: one line naming the file and field (issue 15) ----------------------------------

def test_lsp_joints_as_strings_are_one_line_error(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.array(["a" * 14] * 3)})
    problems = registry.get("lsp").check(tmp_path).problems
    assert len(problems) == 1 and problems[0].startswith("joints.mat: 'joints' has dtype <U14; expected a real "
                                                         "numeric array"), problems
    nan = np.zeros((3, 14, 2))
    nan[0, 0, 0] = np.nan
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": nan})
    assert registry.get("lsp").check(tmp_path).problems == (
        "joints.mat: 'joints' has NaN or infinite values; expected finite numbers",)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(images={"7": {}}), "images: expected a list"),
    (lambda d: d["images"][0].update(file_name=None), "images[0].file_name: expected a non-empty string, got null"),
    (lambda d: d["annotations"][1].update(keypoints="1 2 3"), "annotations[1].keypoints: expected a list"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(4, "x"), "annotations[0].keypoints[4]: expected a finite"),
    (lambda d: d["categories"][0].update(keypoints=[1, 2]), "categories[0].keypoints[0]: expected a non-empty string"),
    (lambda d: d.pop("categories"), "categories: is missing"),
])
def test_coco_wrong_json_types_are_one_line_errors(tmp_path, mutate, needle):
    from bench.data.formats import keypoints
    from bench.errors import DataError

    doc, _ = coco_doc(np.random.default_rng(0))
    mutate(doc)
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "person_keypoints_val2017.json"
    path.write_text(json.dumps(doc))
    problems = registry.get("coco-keypoints").check(tmp_path).problems
    assert len(problems) == 1 and problems[0].startswith(f"annotations/person_keypoints_val2017.json: {needle}")
    with pytest.raises(DataError) as info:
        keypoints.load_coco(tmp_path)
    assert str(info.value).startswith(f"{path}: {needle}") and "\n" not in str(info.value)


@pytest.mark.parametrize("obj, needle", [
    ([1, 2, 3], "expected a pickled dict of model arrays, got list"),
    ({1: np.zeros(3)}, "expected string keys, got int"),
    ({**smpl_arrays(), "f": np.zeros((20, 3))}, "f has dtype float64, expected an integer array"),
    ({**smpl_arrays(), "v_template": np.array(["x"] * 30)}, "v_template has dtype <U1, expected a float array"),
    ({**smpl_arrays(), "kintree_table": np.int64(3)}, "kintree_table has shape (), expected 2 dimensions"),
    ({**smpl_arrays(), "weights": np.full((30, 4), np.nan)}, "weights has NaN or infinite values"),
    ({k: v for k, v in smpl_arrays().items() if k != "shapedirs"}, "lacks shapedirs"),
])
def test_smpl_pickles_of_wrong_structure_are_named(tmp_path, obj, needle):
    import pickle

    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(obj))
    problems = registry.get("smpl").check(tmp_path).problems
    assert len(problems) == 1 and problems[0].startswith("SMPL_NEUTRAL.pkl: ") and needle in problems[0], problems


def test_smpl_sparse_j_regressor_is_accepted(tmp_path):
    import pickle

    import scipy.sparse

    arrays = smpl_arrays()
    arrays["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])  # as in the original SMPL pickles
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(arrays))
    assert registry.get("smpl").check(tmp_path).ok
