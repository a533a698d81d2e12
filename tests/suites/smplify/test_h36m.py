"""The Human3.6M protocol-2 case on a folder in SPIN's layout written here: h36m_valid_protocol2.npz (imgname,
center, scale, S (N, 24, 4) in metres centred on the pelvis, part (N, 24, 3)), images/, J_regressor_h36m.npy
(17, 6890), and the test-written SMPL-format model. The ground truth is the fixture regressor applied to the
generated bodies' vertices, filled in by joint *name* (SPIN's 24-joint and Human3.6M's 17-joint names), so the
suite's index tables are checked against names, not against themselves."""

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import registry
from bench.methods.body_model import LSP_FROM_SMPL, SMPL_HEAD_TOP_VERTEX
from bench.methods.procedural_body import body_arrays, head_top_vertex
from bench.suite import Registry
from bench.worker import run_spec

pytest.importorskip("smplx", reason="smplx (the real-SMPL loader) is not installed: pip install smplx")
from tests.suites.smplify.test_smplx_model import SMPL_VERTICES, write_smpl_file  # noqa: E402

# SPIN's 24 ground-truth joints (constants.py JOINT_NAMES[25:]), and the 17 Human3.6M joints in the order SPIN
# extracts them and its regressor outputs them, named through datasets/preprocess/h36m.py: 17-joint i -> J24
# global_idx[i] (left leg first)
J24 = ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
       "l_elbow", "l_wrist", "neck", "head_top", "pelvis", "thorax", "spine", "jaw", "head", "nose", "l_eye",
       "r_eye", "l_ear", "r_ear")
H36M = tuple(J24[g] for g in (14, 3, 4, 5, 2, 1, 0, 16, 12, 17, 18, 9, 10, 11, 8, 7, 6))
LSP = ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
       "l_elbow", "l_wrist")
# the 14 joints of the protocol; the ground truth's "head" (SPIN index 18) is Human3.6M's head joint
COMMON = (*LSP, "neck", "head")


def _perm(n):
    perm = np.arange(SMPL_VERTICES)  # as write_smpl_file places the built-in body's vertices
    perm[head_top_vertex()], perm[SMPL_HEAD_TOP_VERTEX] = SMPL_HEAD_TOP_VERTEX, head_top_vertex()
    return perm[:n]


def fixture_regressor():
    """(17, 6890): each Human3.6M joint as the built-in body's regressor row of the matching SMPL joint."""
    jr = body_arrays()["J_regressor"]
    smpl_of = {name: LSP_FROM_SMPL[i] for i, name in enumerate(LSP)} | {"pelvis": 0, "spine": 3, "neck": 12,
                                                                        "jaw": 15}
    reg = np.zeros((17, SMPL_VERTICES))
    perm = _perm(jr.shape[1])
    for k, name in enumerate(H36M):
        if name == "head":
            reg[k, SMPL_HEAD_TOP_VERTEX] = 1.0
        else:
            reg[k, perm] = jr[smpl_of[name]]
    return reg


def write_h36m(tmp_path, n=2, camera="60457274", regressor=True, part=True, images=True):
    targets = registry.get("body-fits").load(registry.generate("body-fits", tmp_path / "gen", seed=0, count=n))
    root = tmp_path / "data" / "h36m-p2"
    (root / "images").mkdir(parents=True)
    reg = fixture_regressor()
    verts = np.zeros((n, SMPL_VERTICES, 3))
    verts[:, _perm(targets["vertices"].shape[1])] = targets["vertices"].double().numpy()
    j17 = np.einsum("jv,nvc->njc", reg, verts)
    s24 = np.zeros((n, 24, 4))
    for name in COMMON + ("pelvis",):
        s24[:, J24.index(name), :3] = j17[:, H36M.index(name)]
        s24[:, J24.index(name), 3] = 1.0
    s24[..., :3] -= s24[:, J24.index("pelvis"), None, :3]  # SPIN: S17 -= S17[0]
    names = [f"images/S{9 if i % 2 == 0 else 11}_Directions_1.{camera}_{5 * i + 1:06d}.jpg" for i in range(n)]
    doc = {"imgname": np.array(names), "center": np.full((n, 2), 128.0), "scale": np.ones(n), "S": s24}
    if part:
        doc["part"] = np.zeros((n, 24, 3))
        doc["part"][:, :14, :2] = targets["keypoints2d"].double().numpy()
        doc["part"][:, :14, 2] = targets["confidence"].double().numpy()
    np.savez(root / "h36m_valid_protocol2.npz", **doc)
    if regressor:
        np.save(root / "J_regressor_h36m.npy", reg)
    size = targets["meta"]["image_size"]
    for name in names if images else []:
        Image.new("RGB", (size[1], size[0]), (128, 128, 128)).save(root / name)
    write_smpl_file(tmp_path / "models")
    return names


def spec(tmp_path, **params):
    suite = Registry().get("smplify")
    case = suite.cases("smoke", {**suite.tiny, "data": "h36m", "facing": "front", "interpenetration": False,
                                 "model_path": str(tmp_path / "models"), **params})[0]
    return {"suite": "smplify", "case": case.name, "params": case.params, "profile": "smoke", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "artifacts"),
            "data_root": str(tmp_path / "data")}


def test_the_suites_joint_tables_pick_the_named_joints():
    from suites.smplify.h36m import H36M_PELVIS, H36M_TO_J14, J24_PELVIS, J24_TO_J14

    assert [H36M[i] for i in H36M_TO_J14] == list(COMMON)
    assert [J24[i] for i in J24_TO_J14] == list(COMMON)
    assert H36M[H36M_PELVIS] == J24[J24_PELVIS] == "pelvis"


def test_protocol2_case_runs_end_to_end_through_smplx(tmp_path):
    from suites.smplify.h36m import h36m_keypoints, load_h36m_targets

    names = write_h36m(tmp_path)
    # the evaluation scores the ground-truth bodies 0: regressor, joint tables and pelvis centring agree
    data = load_h36m_targets(tmp_path / "data" / "h36m-p2", 2, "models")
    targets = registry.get("body-fits").load(tmp_path / "gen")
    verts = torch.zeros(2, SMPL_VERTICES, 3, dtype=torch.float64)
    verts[:, _perm(targets["vertices"].shape[1])] = targets["vertices"].double()
    kp = h36m_keypoints(verts, data["regressor"])
    torch.testing.assert_close(kp - kp[:, -1:], data["gt"], rtol=0, atol=1e-12)

    result = run_spec(spec(tmp_path, stage_iterations=10, camera_iterations=10, images=1))
    assert result.status == "ok", result.error
    m = {r.name: r for r in result.metrics}
    assert m["pa_mpjpe"].unit == "mm" and m["pa_mpjpe"].fingerprint["params"]["unit"] == "mm"
    assert m["pa_mpjpe"].item_ids == [names[0].split("/")[1][:-4]]
    # the fit improves on the mean pose (how far is test_fit's question, on many more iterations)
    assert m["pa_mpjpe"].value < m["pa_mpjpe_init"].value
    assert m["mpjpe"].value < 250.0 and m["reprojection_error"].value < 20.0
    assert "vertex_error" not in m and "orientation_error_deg" not in m  # no truth for them on Human3.6M


def test_missing_pieces_skip_naming_each_file(tmp_path):
    write_h36m(tmp_path, regressor=False, part=False, images=False)
    result = run_spec(spec(tmp_path, model_path=None))
    assert result.status == "skipped", result.error
    for what in ("model_path", "J_regressor_h36m.npy", "est_joints.npz", "images/S9_Directions_1.60457274_000001",
                 "fetch_data.sh"):
        assert what in result.error


def test_frames_of_another_camera_are_refused_naming_the_frame(tmp_path):
    write_h36m(tmp_path, camera="54138969")
    result = run_spec(spec(tmp_path))
    assert result.status == "error"
    assert "54138969" in result.error and "60457274" in result.error and "h36m_valid_protocol2.npz" in result.error
