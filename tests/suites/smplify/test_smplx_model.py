"""The real-SMPL path: a model file in SMPL's format (the built-in body padded to SMPL's 6,890 vertices, the
head-top vertex moved to SMPLify's index 411) read by smplx, checked against bench3d's own LBS and run
through the suite end to end; files that are not models refused naming the file."""

import pickle

import numpy as np
import pytest
import torch

from bench.data.formats.smpl import read_model
from bench.errors import DataError
from bench.methods.body_model import SMPL_HEAD_TOP_VERTEX, BodyModel
from bench.methods.procedural_body import body_arrays, builtin_body, head_top_vertex, sample_body_poses
from bench.suite import Registry
from bench.worker import run_spec

smplx = pytest.importorskip("smplx", reason="smplx (the real-SMPL loader) is not installed: pip install smplx")
SMPL_VERTICES = 6890


def write_smpl_file(folder):
    """SMPL_NEUTRAL.pkl in smpl/ under ``folder``: the built-in body in SMPL's layout with 6,890 vertices."""
    a = body_arrays()
    n = len(a["v_template"])
    perm = np.arange(SMPL_VERTICES)  # new index of each old vertex: swap the head top with 411
    h = head_top_vertex()
    perm[h], perm[SMPL_HEAD_TOP_VERTEX] = SMPL_HEAD_TOP_VERTEX, h

    def place(arr, fill=0.0):
        out = np.full((SMPL_VERTICES, *arr.shape[1:]), fill, dtype=np.float64)
        out[perm[:n]] = arr
        return out

    weights = place(a["weights"])
    weights[perm[n:], 0] = 1.0  # padding vertices ride on the root
    doc = {"v_template": place(a["v_template"]), "shapedirs": place(a["shapedirs"]), "posedirs": place(a["posedirs"]),
           "weights": weights, "J_regressor": place(a["J_regressor"].T).T, "f": perm[a["f"]].astype(np.uint32),
           "kintree_table": a["kintree_table"].astype(np.uint32), "bs_style": "lbs", "bs_type": "lrotmin"}
    (folder / "smpl").mkdir(parents=True, exist_ok=True)
    path = folder / "smpl" / "SMPL_NEUTRAL.pkl"
    with open(path, "wb") as f:
        pickle.dump(doc, f, protocol=2)
    return path


def test_smplx_and_bench3d_lbs_agree_on_the_file(tmp_path):
    path = write_smpl_file(tmp_path)
    ours = BodyModel.from_arrays(read_model(path), dtype=torch.float64)
    ref = smplx.SMPL(model_path=str(path), num_betas=10, dtype=torch.float64, batch_size=3)
    rng = np.random.default_rng(0)
    kw = {"betas": torch.from_numpy(rng.normal(size=(3, 10))),
          "global_orient": torch.from_numpy(rng.normal(size=(3, 3))),
          "body_pose": torch.from_numpy(sample_body_poses(rng, 3)),
          "transl": torch.from_numpy(rng.normal(size=(3, 3)))}
    a, b = ours(**kw), ref(**kw)
    # smplx's Rodrigues adds 1e-8 to the rotation vector before its norm: agreement to ~1e-7 m
    torch.testing.assert_close(a.vertices, b.vertices, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.joints, b.joints[:, :24], rtol=0, atol=1e-6)
    # the padded file poses the built-in body exactly: same keypoints (head top at SMPLify's vertex 411)
    builtin = builtin_body(dtype=torch.float64)
    torch.testing.assert_close(ours.keypoints(a), builtin.keypoints(builtin(**kw)), rtol=0, atol=1e-9)


def _spec(tmp_path, **params):
    suite = Registry().get("smplify")
    case = suite.cases("smoke", {**suite.tiny, **params})[0]
    return {"suite": "smplify", "case": case.name, "params": case.params, "profile": "smoke", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "artifacts"),
            "data_root": str(tmp_path / "data")}


def test_suite_runs_through_smplx_end_to_end(tmp_path):
    write_smpl_file(tmp_path / "models")
    result = run_spec(_spec(tmp_path, model_path=str(tmp_path / "models"), stage_iterations=5, images=1,
                            random_starts=1))
    assert result.status == "ok", result.error
    values = {m.name: m.value for m in result.metrics}
    assert values["pa_mpjpe"] is not None and values["reprojection_error"] is not None
    assert "vertex_error" not in values  # 6,890 fitted vertices against the targets' 1,400


def test_a_file_that_is_not_a_model_is_refused_by_name(tmp_path):
    from suites.smplify.models import load_smpl

    (tmp_path / "smpl").mkdir()
    bad = tmp_path / "smpl" / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(b"this is not a pickle")
    with pytest.raises(DataError, match="SMPL_NEUTRAL.pkl: cannot be read"):
        load_smpl(str(tmp_path), "neutral")
    with open(bad, "wb") as f:
        pickle.dump({"v_template": np.zeros((10, 3))}, f)
    with pytest.raises(DataError, match="SMPL_NEUTRAL.pkl: not an SMPL model file .*lacks"):
        load_smpl(str(tmp_path), "neutral")
    with pytest.raises(DataError, match="no SMPL model file SMPL_FEMALE.pkl"):
        load_smpl(str(tmp_path), "female")
    result = run_spec(_spec(tmp_path / "run", model_path=str(bad)))
    assert result.status == "error" and "SMPL_NEUTRAL.pkl" in (result.error or "")
