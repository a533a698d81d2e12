"""Pieces of the pose suite against independent references (scipy, numpy loops, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from bench import backends
from suites.pose.evaluate import wilson_interval
from suites.pose.models import LookAtPose, RigPose, look_at_starts, rig_starts
from suites.pose.render import RenderConfig, candidate_pairs, check_memory, estimate_memory_bytes
from suites.pose.scenes import axis_angle_matrix, compose_rig, make_scene, relative_rig

T3D = backends.load("torch")


def test_axis_angle_matrix_matches_scipy():
    axes = torch.nn.functional.normalize(torch.randn(5, 3, generator=torch.Generator().manual_seed(1)), dim=1)
    ours = axis_angle_matrix(axes, 37.0).numpy()
    ref = Rotation.from_rotvec(axes.numpy() * math.radians(37.0)).as_matrix()
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_rig_maps_camera0_coordinates_to_each_camera():
    R, T = T3D.renderer.look_at_view_transform(dist=3.0, elev=torch.tensor([20.0, 40.0, -10.0]),
                                               azim=torch.tensor([0.0, 90.0, 200.0]))
    rig_R, rig_T = relative_rig(R, T)
    pts = torch.randn(50, 3, dtype=torch.float32)
    x0 = pts @ R[0] + T[0]
    for j in range(3):  # brute force: world -> camera j directly vs camera 0 -> rig
        np.testing.assert_allclose((x0 @ rig_R[j] + rig_T[j]).numpy(), (pts @ R[j] + T[j]).numpy(), atol=1e-5)
    Rc, Tc = compose_rig(R[:1], T[:1], rig_R, rig_T)
    np.testing.assert_allclose(Rc[0].numpy(), R.numpy(), atol=1e-6)
    np.testing.assert_allclose(Tc[0].numpy(), T.numpy(), atol=1e-5)


def test_wilson_interval_closed_form():
    for k, n in [(0, 4), (3, 4), (7, 20), (20, 20)]:
        z, p = 1.959963984540054, k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(max(0.0, centre - half), abs=1e-9)
        assert hi == pytest.approx(min(1.0, centre + half), abs=1e-9)


def test_random_starts_sit_at_the_asked_angle():
    scene = make_scene(T3D, "teapot")
    gen = torch.Generator().manual_seed(0)
    c = look_at_starts(scene, 25.0, 6, gen).double().numpy()
    truth = (-(scene.T[0] @ scene.R[0].T)).double().numpy()
    cosang = c @ truth / (np.linalg.norm(c, axis=1) * np.linalg.norm(truth))
    np.testing.assert_allclose(np.degrees(np.arccos(np.clip(cosang, -1, 1))), 25.0, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), np.linalg.norm(truth), rtol=1e-5)
    R, _ = rig_starts(make_scene(T3D, "multiview"), 25.0, 4, gen, 0.1)
    rel = Rotation.from_matrix((R.double() @ scene.R[0].double().T).numpy()).magnitude()
    np.testing.assert_allclose(np.degrees(rel), 25.0, atol=1e-3)


@pytest.mark.parametrize("rotation", ["so3", "6d"])
def test_rig_pose_starts_at_the_given_pose_and_has_gradients(rotation):
    scene = make_scene(T3D, "multiview", views=3)
    model = RigPose(T3D, scene.R[:1], scene.T[:1], scene.rig_R, scene.rig_T, rotation)
    R, T = model()
    np.testing.assert_allclose(R[0].detach().numpy(), scene.R.numpy(), atol=1e-5)
    (R.sum() + T.sum()).backward()
    assert model.rot.grad is not None and torch.isfinite(model.rot.grad).all()


def test_look_at_pose_matches_look_at_view_transform():
    pos = T3D.renderer.camera_position_from_spherical_angles(3.0, 50.0, 0.0)
    R, T = LookAtPose(T3D, pos)()
    R_ref, T_ref = T3D.renderer.look_at_view_transform(3.0, 50.0, 0.0)
    np.testing.assert_allclose(R[:, 0].detach().numpy(), R_ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(T[:, 0].detach().numpy(), T_ref.numpy(), atol=1e-5)


def test_candidate_pairs_counts_face_boxes_like_a_loop():
    verts = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [-0.4, -0.3, 0.2]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    mesh = T3D.structures.Meshes([verts], [faces])
    R, T = T3D.renderer.look_at_view_transform(3.0, 10.0, 30.0)
    cfg = RenderConfig(image_size=40, faces_per_pixel=4)
    ndc = T3D.renderer.FoVPerspectiveCameras(R=R, T=T).transform_points(verts[None])[0, :, :2].numpy()
    m, s, expected = math.sqrt(cfg.blur_radius), cfg.image_size, 0.0
    for f in faces.numpy():  # box side in pixels: NDC extent + 2 x margin, x s/2, + 1
        ext = [(ndc[f, a].max() - ndc[f, a].min() + 2 * m) * s / 2 + 1 for a in (0, 1)]
        expected += ext[0] * ext[1]
    assert candidate_pairs(T3D, mesh, R, T, cfg) == int(expected)


def test_memory_check_refuses_with_the_reason():
    scene = make_scene(T3D, "teapot")
    cfg = RenderConfig(image_size=256, faces_per_pixel=100)
    est = estimate_memory_bytes(T3D, scene.mesh, scene.R, scene.T, cfg, batch=4)
    assert est >= 4 * 256 * 256 * 100 * 48  # at least the dense (N, S, S, K) buffers
    check_memory(est, est / 2**20 + 1, "teapot", cfg, 2256)  # under the limit: silent
    with pytest.raises(ValueError, match=r"mesh too large .*2256 faces at image_size 256 .*memory_limit_mb=100"):
        check_memory(est, 100, "teapot", cfg, 2256)
