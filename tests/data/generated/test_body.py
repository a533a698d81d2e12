"""Stick-figure keypoints: bone lengths kept by the kinematics, 2D points on the camera rays of the joints."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bench.data import registry
from bench.data.generated.body import OFFSETS, PARENTS, forward_kinematics


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    folder = registry.generate("body-keypoints", tmp_path_factory.mktemp("b") / "d", seed=5, count=6, noise_px=0.0)
    return registry.get("body-keypoints").load(folder)


def test_bone_lengths_are_preserved(body):
    j = body["joints3d"].double().numpy()
    for child, parent in enumerate(PARENTS):
        if parent >= 0:
            np.testing.assert_allclose(np.linalg.norm(j[:, child] - j[:, parent], axis=1),
                                       np.linalg.norm(OFFSETS[child]), atol=1e-5)


def test_keypoints_lie_on_rays_through_joints(body):
    for i in range(len(body["R"])):
        R, T = body["R"][i].double().numpy(), body["T"][i].double().numpy()
        f, pp = body["focal"][i].double().numpy(), body["principal_point"][i].double().numpy()
        centre = -T @ R.T  # camera centre: X_cam = 0
        uv = body["keypoints2d"][i].double().numpy()
        d_cam = np.stack([-(uv[:, 0] - pp[0]) / f[0], -(uv[:, 1] - pp[1]) / f[1], np.ones(len(uv))], 1)
        d_world = d_cam @ R.T
        to_joint = body["joints3d"][i].double().numpy() - centre
        cos = np.einsum("ij,ij->i", d_world, to_joint)
        cos /= np.linalg.norm(d_world, axis=1) * np.linalg.norm(to_joint, axis=1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-6)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.linalg.det(R) == pytest.approx(1.0, abs=1e-5)


def test_zero_pose_is_the_rest_skeleton():
    j = forward_kinematics(np.zeros((len(PARENTS), 3)))
    np.testing.assert_allclose(j[3], OFFSETS[0] + OFFSETS[1] + OFFSETS[2] + OFFSETS[3])  # head: straight up
    rot = np.zeros((len(PARENTS), 3))
    rot[0] = [0.0, np.pi / 2, 0.0]  # yaw the whole body: the left shoulder goes from +x to -z
    j = forward_kinematics(rot)
    expect = Rotation.from_rotvec(rot[0]).apply(OFFSETS[1] + OFFSETS[2] + OFFSETS[4]) + OFFSETS[0]
    np.testing.assert_allclose(j[4], expect, atol=1e-12)
