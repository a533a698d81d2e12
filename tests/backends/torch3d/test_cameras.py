"""Cameras against analytic pinhole/orthographic projections and PyTorch3D's documented values."""

import math

import numpy as np
import pytest
import torch

from bench.backends.torch3d.renderer import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    look_at_rotation,
    look_at_view_transform,
)

D = torch.float64


def _pts(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(1, n, 3, generator=g, dtype=D) - 0.5
    return p


def test_look_at_documented_values():
    R, T = look_at_view_transform(3.0, 0.0, 0.0)
    np.testing.assert_allclose(R[0].numpy(), np.diag([-1.0, 1.0, -1.0]), atol=1e-6)
    np.testing.assert_allclose(T[0].numpy(), [0.0, 0.0, 3.0], atol=1e-6)


def test_look_at_spherical_matches_eye_and_centre():
    dist, elev, azim = 2.5, 30.0, 45.0
    e, a = math.radians(elev), math.radians(azim)
    eye = [dist * math.cos(e) * math.sin(a), dist * math.sin(e), dist * math.cos(e) * math.cos(a)]
    R1, T1 = look_at_view_transform(dist, elev, azim)
    R2, T2 = look_at_view_transform(eye=[eye])
    np.testing.assert_allclose(R1.numpy(), R2.numpy(), atol=1e-6)
    np.testing.assert_allclose(T1.numpy(), T2.numpy(), atol=1e-5)
    cam = FoVPerspectiveCameras(R=R1, T=T1)
    np.testing.assert_allclose(cam.get_camera_center()[0].numpy(), eye, atol=1e-5)
    # The origin is straight ahead: view coordinates (0, 0, dist).
    view = cam.get_world_to_view_transform().transform_points(torch.zeros(1, 1, 3))
    np.testing.assert_allclose(view[0, 0].numpy(), [0, 0, dist], atol=1e-5)
    Rn = R1[0].numpy()
    np.testing.assert_allclose(Rn @ Rn.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(Rn) == pytest.approx(1.0, abs=1e-6)


def test_look_at_from_straight_above_is_finite_rotation():
    R = look_at_rotation([[0.0, 2.0, 0.0]])
    assert torch.isfinite(R).all()
    np.testing.assert_allclose((R[0] @ R[0].T).numpy(), np.eye(3), atol=1e-5)


def test_fov_perspective_matches_pinhole_and_depth_mapping():
    znear, zfar, fov = 0.5, 20.0, 50.0
    cam = FoVPerspectiveCameras(znear=znear, zfar=zfar, fov=fov, R=torch.eye(3, dtype=D)[None],
                                T=torch.tensor([[0.1, -0.2, 3.0]], dtype=D))
    p = _pts()
    view = p + torch.tensor([0.1, -0.2, 3.0], dtype=D)
    t = math.tan(math.radians(fov) / 2)
    ndc = cam.transform_points(p)
    np.testing.assert_allclose(ndc[..., 0].numpy(), (view[..., 0] / (view[..., 2] * t)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(ndc[..., 1].numpy(), (view[..., 1] / (view[..., 2] * t)).numpy(), rtol=1e-10)
    zn = zfar / (zfar - znear) * (1 - znear / view[..., 2])
    np.testing.assert_allclose(ndc[..., 2].numpy(), zn.numpy(), rtol=1e-10)


def test_plus_x_world_is_on_the_left_of_the_image():
    cam = FoVPerspectiveCameras(T=torch.tensor([[0.0, 0.0, 3.0]]))
    scr = cam.transform_points_screen(torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]]), image_size=((64, 64),))
    assert scr[0, 0, 0] < 32 and scr[0, 0, 1] == pytest.approx(32.0)  # +X -> left
    assert scr[0, 1, 1] < 32 and scr[0, 1, 0] == pytest.approx(32.0)  # +Y -> top


def test_screen_space_perspective_matches_opencv_pinhole():
    # PyTorch3D view axes are OpenCV's with x and y negated; OpenCV: u = fx X/Z + cx.
    fx, fy, cx, cy, h, w = 120.0, 110.0, 40.0, 25.0, 60, 90
    cam = PerspectiveCameras(focal_length=((fx, fy),), principal_point=((cx, cy),), in_ndc=False,
                             image_size=((h, w),), R=torch.eye(3, dtype=D)[None],
                             T=torch.tensor([[0.0, 0.0, 2.0]], dtype=D))
    p = _pts()
    v = p + torch.tensor([0.0, 0.0, 2.0], dtype=D)
    u_cv = fx * (-v[..., 0]) / v[..., 2] + cx
    v_cv = fy * (-v[..., 1]) / v[..., 2] + cy
    scr = cam.transform_points_screen(p)
    np.testing.assert_allclose(scr[..., 0].numpy(), u_cv.numpy(), rtol=1e-9)
    np.testing.assert_allclose(scr[..., 1].numpy(), v_cv.numpy(), rtol=1e-9)
    # NDC: shorter side (height 60) spans [-1, 1], +X left: x_ndc = (w/2 - u) / (h/2).
    ndc = cam.transform_points_ndc(p)
    np.testing.assert_allclose(ndc[..., 0].numpy(), ((w / 2 - u_cv) / (h / 2)).numpy(), rtol=1e-9)
    np.testing.assert_allclose(ndc[..., 1].numpy(), ((h / 2 - v_cv) / (h / 2)).numpy(), rtol=1e-9)


def test_orthographic_cameras_scale_and_offset():
    cam = OrthographicCameras(focal_length=2.0, principal_point=((0.1, -0.3),), R=torch.eye(3, dtype=D)[None],
                              T=torch.zeros(1, 3, dtype=D))
    p = _pts()
    ndc = cam.transform_points(p)
    np.testing.assert_allclose(ndc[..., 0].numpy(), (2 * p[..., 0] + 0.1).numpy(), rtol=1e-10)
    np.testing.assert_allclose(ndc[..., 1].numpy(), (2 * p[..., 1] - 0.3).numpy(), rtol=1e-10)
    fov = FoVOrthographicCameras(znear=0.0, zfar=10.0, max_x=2.0, min_x=-2.0, max_y=2.0, min_y=-2.0,
                                 R=torch.eye(3, dtype=D)[None], T=torch.zeros(1, 3, dtype=D))
    ndc = fov.transform_points(p + torch.tensor([0, 0, 5.0], dtype=D))
    np.testing.assert_allclose(ndc[..., :2].numpy(), (p[..., :2] / 2).numpy(), rtol=1e-10)
    np.testing.assert_allclose(ndc[..., 2].numpy(), ((p[..., 2] + 5) / 10).numpy(), rtol=1e-10)
    assert not fov.is_perspective() and not cam.is_perspective()


def _cameras():
    R, T = look_at_view_transform(3.0, 20.0, -35.0)
    R, T = R.to(D), T.to(D)
    return [
        FoVPerspectiveCameras(R=R, T=T, znear=0.3),
        FoVOrthographicCameras(R=R, T=T, znear=0.3),
        PerspectiveCameras(focal_length=1.7, principal_point=((0.1, 0.05),), R=R, T=T),
        PerspectiveCameras(focal_length=((90.0, 80.0),), principal_point=((30.0, 20.0),), R=R, T=T,
                           in_ndc=False, image_size=((48, 64),)),
        OrthographicCameras(focal_length=0.8, R=R, T=T),
    ]


@pytest.mark.parametrize("idx", range(5))
def test_unproject_inverts_projection(idx):
    cam = _cameras()[idx]
    p = _pts(seed=idx)
    depth = cam.get_world_to_view_transform().transform_points(p)[..., 2:]
    xy = cam.transform_points(p)[..., :2]
    back = cam.unproject_points(torch.cat((xy, depth), -1), world_coordinates=True)
    np.testing.assert_allclose(back.numpy(), p.numpy(), atol=1e-9)
    view = cam.unproject_points(torch.cat((xy, depth), -1), world_coordinates=False)
    np.testing.assert_allclose(view.numpy(), cam.get_world_to_view_transform().transform_points(p).numpy(),
                               atol=1e-9)


def test_camera_centre_matches_closed_form():
    R, T = look_at_view_transform(torch.tensor([2.0, 3.0]), torch.tensor([10.0, -20.0]), torch.tensor([0.0, 90.0]))
    cams = FoVPerspectiveCameras(R=R, T=T)
    centre = -np.einsum("nij,nj->ni", R.numpy(), T.numpy())  # C = -R T (row-vector convention)
    np.testing.assert_allclose(cams.get_camera_center().numpy(), centre, atol=1e-5)
    assert len(cams) == 2 and len(cams[1]) == 1
    np.testing.assert_allclose(cams[1].R.numpy(), R[1:].numpy())
    assert cams[[1]].is_perspective()


def test_bad_camera_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="R"):
        FoVPerspectiveCameras(R=torch.eye(3))
    with pytest.raises(ValueError, match="image_size"):
        PerspectiveCameras(in_ndc=False)
    with pytest.raises(ValueError, match="batch"):
        FoVPerspectiveCameras(R=torch.eye(3).repeat(2, 1, 1), T=torch.zeros(3, 3))
