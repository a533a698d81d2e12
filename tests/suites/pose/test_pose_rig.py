"""The multi-view rig case and the smoke-size settings: rig recovery, per-scene settings, thresholds, textures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from bench import backends
from suites.pose import PoseSuite, loss_threshold
from suites.pose.models import RigPose, reference_rig_start
from suites.pose.optimize import OptConfig, optimise, pose_loss
from suites.pose.render import RenderConfig, make_renderers, render_soft_masks, render_targets
from suites.pose.scenes import make_scene, resize_texture

T3D = backends.load("torch")


@pytest.mark.slow
def test_rig_recovers_pose_from_30_degrees_with_three_views():
    """Full R, T of a 3-camera rig (known relative poses) from 30 deg off against soft masks: < 5 deg."""
    torch.manual_seed(0)
    scene = make_scene(T3D, "multiview", views=3, view_spacing_deg=120.0)
    rs = make_renderers(T3D, RenderConfig(image_size=64, faces_per_pixel=20), "cpu", False)
    targets = render_soft_masks(rs, scene.mesh, scene.R, scene.T)
    R0, T0 = reference_rig_start(scene, 30.0, 0.1)
    cfg = OptConfig(iterations=80, loss_threshold=0.02 * float(targets.sum()))
    res = optimise(RigPose(T3D, R0, T0, scene.rig_R, scene.rig_T), rs, scene.mesh, targets, None, cfg, "cpu")
    start_deg = np.degrees(Rotation.from_matrix((R0[0].T @ scene.R[0]).double().numpy()).magnitude())
    err_deg = np.degrees(Rotation.from_matrix((res.R[0, 0].T @ scene.R[0]).double().numpy()).magnitude())
    assert start_deg == pytest.approx(30.0, abs=1e-3)
    assert res.reached[0] and err_deg < 5.0, (err_deg, res.losses[-1])
    for j in range(3):  # every camera of the rig, centre against the truth's
        c = -(res.T[0, j] @ res.R[0, j].T).numpy()
        c_true = -(scene.T[j] @ scene.R[j].T).numpy()
        assert np.linalg.norm(c - c_true) < 0.1 * np.linalg.norm(c_true)


def test_soft_targets_put_the_loss_minimum_at_the_true_rig_pose():
    """Against soft masks the loss is 0 at the truth and grows for 2-degree rotations about each axis."""
    scene = make_scene(T3D, "multiview", views=3, view_spacing_deg=120.0)
    rs = make_renderers(T3D, RenderConfig(image_size=48, faces_per_pixel=20), "cpu", False)
    soft = render_soft_masks(rs, scene.mesh, scene.R, scene.T)
    _, hard = render_targets(rs, scene.mesh, scene.R, scene.T)
    assert soft.shape == hard.shape == (3, 48, 48)
    on = (soft > 0.5).numpy()  # the soft masks are the object's silhouettes: IoU with the hard masks (a numpy count)
    inter, union = np.logical_and(on, hard.numpy() > 0).sum(), np.logical_or(on, hard.numpy() > 0).sum()
    assert inter / union > 0.8
    axes = np.eye(3)
    R_start = torch.from_numpy(np.stack([Rotation.from_rotvec(np.radians(2.0) * a).as_matrix() for a in axes]
                                        + [np.eye(3)])).float() @ scene.R[0][None]
    model = RigPose(T3D, R_start, scene.T[:1].expand(4, 3), scene.rig_R, scene.rig_T)
    with torch.no_grad():
        R, T = model()
        loss, _, _ = pose_loss(rs, scene.mesh.extend(12), R, T, soft, None, 0.0)
    assert float(loss[3]) == pytest.approx(0.0, abs=1e-3)
    assert (loss[:3] > 1.0).all(), loss


def test_every_profile_gives_every_scene_a_stop_rule():
    for name in ("smoke", "standard", "full"):  # per-scene settings resolve for every scene
        for case in PoseSuite().cases(name):
            c = case.config
            assert (c.loss_threshold is None) != (c.loss_threshold_per_area is None), (name, case.name)
    smoke = {c.name: c.config for c in PoseSuite().cases("smoke")}
    assert smoke["scene=teapot"].image_size == 96 and smoke["scene=cow"].image_size == 64


def test_loss_threshold_relative_to_the_target_area():
    assert loss_threshold({"loss_threshold": 90.0, "loss_threshold_per_area": None}, 1234.0) == 90.0
    assert loss_threshold({"loss_threshold": None, "loss_threshold_per_area": 0.02}, 1500.0) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="loss_threshold_per_area"):
        loss_threshold({"loss_threshold_per_area": 0.02}, 0.0)


def test_resize_texture_is_the_block_mean():
    rng = np.random.default_rng(0)
    tex = rng.random((1, 8, 8, 3)).astype(np.float32)
    verts = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    faces = torch.tensor([[0, 1, 2]])
    uv = T3D.renderer.TexturesUV(maps=torch.from_numpy(tex), faces_uvs=faces[None], verts_uvs=verts[None, :, :2])
    mesh = T3D.structures.Meshes([verts], [faces], textures=uv)
    small = resize_texture(T3D, mesh, 4).textures.maps_padded().numpy()
    ref = tex.reshape(1, 4, 2, 4, 2, 3).mean(axis=(2, 4))  # numpy 2x2 block means
    np.testing.assert_allclose(small, ref, atol=1e-6)
    assert resize_texture(T3D, mesh, 16) is mesh  # already small enough: unchanged
    with pytest.raises(ValueError, match="texture_size"):
        resize_texture(T3D, mesh, 0)
