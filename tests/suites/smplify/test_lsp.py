"""The LSP case on a small LSP-layout folder written here (joints.mat, images, SMPLify's est_joints.npz made
from generated keypoints at half scale, as SMPLify fits LSP at 2x): 2D fit, skip without est_joints.npz,
one-line refusal of bad confidences."""

import numpy as np
import pytest
import scipy.io
from PIL import Image

from bench.data import registry
from bench.suite import Registry
from bench.worker import run_spec


def write_lsp(root, est=True, conf_scale=1.0):
    targets = registry.get("body-fits").load(registry.generate("body-fits", root / "gen", seed=0, count=2))
    (root / "data" / "lsp" / "images").mkdir(parents=True)
    lsp = root / "data" / "lsp"
    kp = targets["keypoints2d"].double().numpy() / 2.0  # SMPLify fits LSP images scaled by 2
    joints = np.concatenate([kp.transpose(2, 1, 0), np.zeros((1, 14, 2))], 0)  # LSP flag 0 = visible
    scipy.io.savemat(lsp / "joints.mat", {"joints": joints})
    for i in range(2):
        Image.new("RGB", (128, 128), (200, 200, 200)).save(lsp / "images" / f"im{i + 1:04d}.jpg")
    if est:
        conf = targets["confidence"].double().numpy() * conf_scale
        np.savez(lsp / "est_joints.npz", est_joints=np.concatenate([kp.transpose(2, 1, 0), conf.T[None]], 0))
    return root / "data"


def spec(tmp_path, data_root, **params):
    suite = Registry().get("smplify")
    case = suite.cases("smoke", {**suite.tiny, "data": "lsp", "facing": "front", "interpenetration": False,
                                 **params})[0]
    return {"suite": "smplify", "case": case.name, "params": case.params, "profile": "smoke", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "artifacts"), "data_root": str(data_root)}


def test_lsp_case_fits_smplify_detections(tmp_path):
    data_root = write_lsp(tmp_path)
    result = run_spec(spec(tmp_path, data_root, stage_iterations=20, camera_iterations=20, images=2))
    assert result.status == "ok", result.error
    values = {m.name: m for m in result.metrics}
    assert "pa_mpjpe" not in values  # no 3D truth on LSP
    assert values["reprojection_error"].value < 15.0  # px at SMPLify's 2x scale, 2 px detector noise
    assert values["fit_seconds"].item_ids == ["im0001", "im0002"]


def test_lsp_without_est_joints_is_skipped_naming_it(tmp_path):
    result = run_spec(spec(tmp_path, write_lsp(tmp_path, est=False)))
    assert result.status == "skipped" and "est_joints.npz" in result.error and "lsp" in result.error


def test_lsp_confidences_outside_unit_range_are_refused(tmp_path):
    result = run_spec(spec(tmp_path, write_lsp(tmp_path, conf_scale=3.0)))
    assert result.status == "error"
    assert "est_joints.npz: confidences (row 2) outside [0, 1]" in result.error


@pytest.mark.parametrize("bad", ["shape", "nan"])
def test_lsp_bad_arrays_are_refused(tmp_path, bad):
    data_root = write_lsp(tmp_path)
    est = data_root / "lsp" / "est_joints.npz"
    a = np.load(est)["est_joints"]
    a = a[:, :13] if bad == "shape" else np.where(np.arange(a.size).reshape(a.shape) == 5, np.nan, a)
    np.savez(est, est_joints=a)
    result = run_spec(spec(tmp_path, data_root))
    assert result.status == "error"
    assert ("expected numbers (3, 14, N)" if bad == "shape" else "NaN or infinite") in result.error
