"""The measured interpenetration against hand-computed capsule depths, zero on the rest pose and on the crossed-legs
targets, growing when one leg swings through the other; and on a crossed-legs target whose fit interpenetrates,
the sphere term is non-zero and fitting with it lowers the measured interpenetration."""

import numpy as np
import pytest
import torch

from bench.data import registry
from bench.methods.procedural_body import builtin_body, sample_body_poses
from suites.smplify import evaluate_fits
from suites.smplify.fit import FitConfig, SMPLify
from suites.smplify.penetration import CapsulePenetration, segment_penetration
from suites.smplify.priors import Interpenetration, fit_pose_prior


def test_segment_penetration_is_the_capsule_depth():
    start = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]], dtype=torch.float64)
    end = torch.tensor([[[0.0, 1.0, 0.0], [5.0, 1.0, 0.0]]], dtype=torch.float64)  # two unit bones along y
    radii = torch.tensor([0.1, 0.3], dtype=torch.float64)
    points = torch.tensor([[[0.03, 0.5, 0.04],  # 0.05 from bone 0: depth 0.05
                            [0.0, 1.06, 0.0],  # past bone 0's end, 0.06 from its cap: depth 0.04
                            [0.2, 0.5, 0.0],  # outside bone 0, 4.8 from bone 1: 0
                            [5.0, 0.5, 0.1],  # inside bone 1 (depth 0.2) but masked out
                            [4.9, 0.5, 0.0]]], dtype=torch.float64)  # inside bone 1 by 0.2 and allowed
    mask = torch.tensor([[True, True], [True, True], [True, True], [True, False], [False, True]])
    got = segment_penetration(points, start, end, radii, mask)
    torch.testing.assert_close(got, torch.tensor([[0.05, 0.04, 0.0, 0.0, 0.2]], dtype=torch.float64))


@pytest.fixture(scope="module")
def body():
    model = builtin_body(dtype=torch.float64)
    rest = model()
    args = (rest.vertices[0], rest.joints[0], model.lbs_weights, model.parents)
    return model, CapsulePenetration(*args), Interpenetration(*args)


def crossed(tmp_path_factory):
    folder = registry.generate("body-fits", tmp_path_factory.mktemp("crossed") / "d", seed=0, count=4,
                               legs="crossed")
    return registry.get("body-fits").load(folder)


def test_measure_is_zero_at_rest_and_on_the_true_crossed_legs_and_grows_through_a_leg(body, tmp_path_factory):
    model, measure, _ = body
    rest = model()
    assert float(measure(rest.vertices, rest.joints)[0]) == 0.0
    data = crossed(tmp_path_factory)
    depth, share = measure(data["vertices"].double(), data["joints3d"].double())
    assert float(depth.max()) == 0.0 and float(share.max()) == 0.0  # the true legs pass each other
    pose = torch.zeros(3, 69, dtype=torch.float64)
    pose[:, 2] = torch.tensor([0.0, -0.12, -0.2], dtype=torch.float64)  # left hip about z: through the right leg
    out = model(body_pose=pose)
    depth, share = measure(out.vertices, out.joints)
    assert depth[0] == 0.0 and 0.0 < depth[1] < depth[2] and 0.0 < share[1] < share[2]


def test_fitting_with_the_term_lowers_the_measured_interpenetration(body, tmp_path_factory):
    model, measure, term = body
    data = crossed(tmp_path_factory)
    i = 0  # the target whose fit crosses the legs by swinging one through the other
    prior = fit_pose_prior(sample_body_poses(np.random.default_rng(10_000), 2000), 8, seed=0)
    depths, terms = [], []
    for weight in (0.0, 1000.0):
        cfg = FitConfig(stage_iterations=30, camera_iterations=30, interpenetration_weight=weight)
        fitter = SMPLify(model, prior, cfg, torch.tensor([128.0, 128.0]), term if weight else None)
        pred = evaluate_fits(fitter, [fitter.fit(data["keypoints2d"][i], data["confidence"][i])])
        depths.append(float(measure(pred["vertices"], pred["joints"])[0]))
        terms.append(float(term(pred["joints"])))
    assert terms[0] > 0.0 and depths[0] > 0.0  # without the term the fitted legs interpenetrate
    assert depths[1] < 0.5 * depths[0], depths
