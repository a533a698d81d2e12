"""SMPLify's energy terms against analytic values and scipy's Gaussian density."""

import math
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from bench.errors import DataError
from bench.methods.body_model import axis_angle_to_matrix
from bench.methods.procedural_body import builtin_body
from suites.smplify.fit import flipped, upright
from suites.smplify.priors import (
    Interpenetration,
    MaxMixturePrior,
    bending_prior,
    gmof,
    load_pose_prior,
)


def test_gmof_is_geman_mcclure():
    x = torch.tensor([0.0, 100.0, 1e6, -3.0], dtype=torch.float64)
    out = gmof(x, 100.0)
    assert out[0] == 0 and float(out[1]) == pytest.approx(100.0 ** 2 / 2)  # rho(sigma) = sigma^2 / 2
    assert float(out[2]) == pytest.approx(100.0 ** 2, rel=1e-6)  # bounded by sigma^2
    assert float(out[3]) == pytest.approx(9.0 * 1e4 / (1e4 + 9.0))


def test_bending_prior_penalises_the_unnatural_direction():
    pose = torch.zeros(2, 69, dtype=torch.float64)
    assert bending_prior(pose).tolist() == [4.0, 4.0]  # exp(0)^2 per joint
    pose[0, 52] = 1.0  # left elbow y > 0: bent backwards
    pose[1, 52] = -1.0  # natural bend
    e = bending_prior(pose)
    assert float(e[0]) == pytest.approx(3 + math.exp(2)) and float(e[1]) == pytest.approx(3 + math.exp(-2))


def test_max_mixture_differences_match_scipy_log_density():
    rng = np.random.default_rng(0)
    d = 5
    a = rng.normal(size=(2, d, d))
    cov = a @ a.transpose(0, 2, 1) + np.eye(d)
    means = rng.normal(size=(2, d))
    prior = MaxMixturePrior.from_gmm(means[:1], cov[:1], np.array([1.0]), "test")
    x = torch.from_numpy(rng.normal(size=(3, d)))
    e = prior(x).double().numpy()
    logp = multivariate_normal(means[0], cov[0]).logpdf(x.numpy())
    np.testing.assert_allclose(e - e[0], -(logp - logp[0]), rtol=1e-4)
    # two components: the energy is the lower of the two (max-mixture), each its own -log(w N)
    two = MaxMixturePrior.from_gmm(means, cov, np.array([0.3, 0.7]), "test")
    per = [-(np.log(w) + multivariate_normal(m, c).logpdf(x.numpy()))
           for w, m, c in zip([0.3, 0.7], means, cov, strict=True)]
    ref = np.minimum(*per)
    np.testing.assert_allclose(two(x).double().numpy() - two(x).double().numpy()[0], ref - ref[0], rtol=1e-4)
    np.testing.assert_allclose(two.mean_pose.numpy(), 0.3 * means[0] + 0.7 * means[1], rtol=1e-6)


def test_pose_prior_file_is_validated(tmp_path):
    bad = tmp_path / "gmm_08.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="gmm_08.pkl"):
        load_pose_prior(bad)
    with open(bad, "wb") as f:
        pickle.dump({"means": np.zeros((8, 60)), "covars": np.zeros((8, 60, 60)), "weights": np.ones(8)}, f)
    with pytest.raises(DataError, match=r"gmm_08.pkl: means \(8, 60\)"):
        load_pose_prior(bad)
    good = tmp_path / "ok.pkl"
    with open(good, "wb") as f:
        pickle.dump({"means": np.zeros((2, 69)), "covars": np.stack([np.eye(69)] * 2), "weights": np.ones(2) / 2}, f)
    assert load_pose_prior(good).means.shape == (2, 69)


def test_flip_turns_the_body_about_its_own_vertical_axis():
    o = upright()
    f = flipped(o)
    R, Rf = axis_angle_to_matrix(o), axis_angle_to_matrix(f)
    facing = R @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(Rf @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), -facing)  # faces away
    torch.testing.assert_close(Rf @ torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
                               R @ torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))  # still upright
    torch.testing.assert_close(axis_angle_to_matrix(flipped(f)), R)


def test_interpenetration_is_zero_at_rest_and_grows_when_a_leg_crosses_the_other():
    model = builtin_body(dtype=torch.float64)
    rest = model()
    term = Interpenetration(rest.vertices[0], rest.joints[0], model.lbs_weights, model.parents)
    assert float(term(rest.joints)) == 0.0
    pose = torch.zeros(1, 69, dtype=torch.float64)
    energies = []
    for angle in (0.0, -0.15, -0.2):
        pose[0, 2] = angle  # left hip about z: the left leg swings across the right one
        energies.append(float(term(model(body_pose=pose).joints)))
    assert energies[0] == 0.0 and energies[-1] > energies[-2] > 0.0
