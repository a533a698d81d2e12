"""SMPLify on generated targets: the fit beats the mean pose, the flip test fixes a back-facing side view,
bad targets are refused with one line."""

import numpy as np
import pytest
import torch

from bench.data import registry
from bench.methods.procedural_body import builtin_body, sample_body_poses
from bench.metrics import pa_mpjpe
from suites.smplify import check_targets, evaluate_fits
from suites.smplify.evaluate import orientation_error_deg
from suites.smplify.fit import FitConfig, SMPLify
from suites.smplify.priors import fit_pose_prior


@pytest.fixture(scope="module")
def fitter():
    prior = fit_pose_prior(sample_body_poses(np.random.default_rng(10_000), 2000), 8, seed=0)
    cfg = FitConfig(stage_iterations=30, camera_iterations=30)
    return SMPLify(builtin_body(dtype=torch.float64), prior, cfg, torch.tensor([128.0, 128.0]))


def targets(tmp_path_factory, facing, count, seed=1):
    folder = registry.generate("body-fits", tmp_path_factory.mktemp(facing) / "d", seed=seed, count=count,
                               facing=facing, yaw_range_deg=15.0 if facing == "side" else 45.0)
    return registry.get("body-fits").load(folder)


def pa_mm(kp, gt):
    return pa_mpjpe(kp.double() * 1000, gt.double() * 1000).items


def test_fit_is_well_below_the_mean_pose(fitter, tmp_path_factory):
    data = targets(tmp_path_factory, "front", 3, seed=0)
    fits = [fitter.fit(data["keypoints2d"][i], data["confidence"][i]) for i in range(3)]
    pred = evaluate_fits(fitter, fits)
    n = len(fits)
    with torch.no_grad():
        init, _ = fitter.keypoints(torch.zeros(n, 10, dtype=torch.float64), fits[0].global_orient.expand(n, 3),
                                   fitter.prior.mean_pose.double().expand(n, -1), torch.zeros(n, 3).double())
    before, after = pa_mm(init, data["keypoints3d"]), pa_mm(pred["keypoints"], data["keypoints3d"])
    # monocular depth ambiguity leaves single images far from the truth; the mean must drop well below the start
    assert np.mean(after) < 0.6 * np.mean(before) and max(after) < max(before), (before, after)
    vis = data["visible"]
    err2d = (pred["keypoints2d"] - data["keypoints2d"].double()).norm(dim=-1)[vis]
    assert float(err2d.median()) < 10.0  # pixels, with 2 px detector noise


def test_flip_test_fixes_a_back_facing_side_view(fitter, tmp_path_factory):
    data = targets(tmp_path_factory, "side", 4)
    i = 3  # turned away from the camera, shoulders 18 px apart: the start orientation converges facing the wrong way
    shoulders = float((data["keypoints2d"][i, 8] - data["keypoints2d"][i, 9]).norm())
    assert shoulders < fitter.cfg.flip_threshold_px
    fit = fitter.fit(data["keypoints2d"][i], data["confidence"][i])
    assert fit.flip_tried and fit.flip_chosen and fit.noflip is not None
    err_flip, err_noflip = orientation_error_deg(torch.stack([fit.global_orient, fit.noflip.global_orient]),
                                                 data["global_orient"][[i, i]])
    assert err_noflip > 120.0 and err_flip < 30.0, (err_noflip, err_flip)
    pa_flip, pa_noflip = pa_mm(evaluate_fits(fitter, [fit, fit.noflip])["keypoints"], data["keypoints3d"][[i, i]])
    assert pa_flip < 0.5 * pa_noflip


def test_bad_targets_are_refused_with_the_field_named():
    good = {"keypoints2d": torch.zeros(2, 14, 2), "confidence": torch.ones(2, 14)}
    check_targets(good)
    with pytest.raises(ValueError, match=r"keypoints2d: expected shape \(N, 14, 2\).*\(2, 13, 2\)"):
        check_targets({**good, "keypoints2d": torch.zeros(2, 13, 2)})
    with pytest.raises(ValueError, match=r"confidence: expected values in \[0, 1\]"):
        check_targets({**good, "confidence": torch.full((2, 14), 1.5)})
    nan = torch.zeros(2, 14, 2)
    nan[1, 4, 0] = float("nan")
    with pytest.raises(ValueError, match=r"keypoints2d: NaN or infinite values in image\(s\) \[1\]"):
        check_targets({**good, "keypoints2d": nan})
