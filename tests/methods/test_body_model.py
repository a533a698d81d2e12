"""The body model's SMPL maths checked analytically on the built-in procedural body."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from bench.methods.body_model import BodyModel, axis_angle_to_matrix
from bench.methods.procedural_body import PARENTS, body_arrays, builtin_body, head_top_vertex, sample_body_poses


@pytest.fixture(scope="module")
def model():
    return builtin_body(dtype=torch.float64)


def test_zero_pose_returns_the_template_and_regressed_joints(model):
    out = model()
    torch.testing.assert_close(out.vertices[0], model.v_template, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.joints[0], model.J_regressor @ model.v_template, rtol=0, atol=1e-12)
    assert out.joints[0, 15, 1] > out.joints[0, 12, 1] > out.joints[0, 0, 1] > out.joints[0, 7, 1]  # head up, feet down
    assert out.joints[0, 16, 0] > 0 > out.joints[0, 17, 0]  # left side is +x (SMPL's axes)
    assert out.vertices[0, head_top_vertex(), 1] == out.vertices[0, :, 1].max()


def test_translation_and_shape_only_shift_and_reshape(model):
    betas = torch.zeros(1, 10, dtype=torch.float64)
    betas[0, 0] = 2.0
    shaped = model(betas=betas)
    expect = model.v_template + 2.0 * model.shapedirs[:, :, 0]
    torch.testing.assert_close(shaped.vertices[0], expect, rtol=0, atol=1e-12)
    moved = model(betas=betas, transl=torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64))
    torch.testing.assert_close(moved.vertices - shaped.vertices, torch.tensor([1.0, -2.0, 0.5]).double().expand(
        1, len(expect), 3), rtol=0, atol=1e-12)


@pytest.mark.parametrize("joint", [4, 16, 18, 12])
def test_rotating_one_joint_moves_only_its_descendants(model, joint):
    pose = torch.zeros(1, 69, dtype=torch.float64)
    pose[0, 3 * (joint - 1): 3 * joint] = torch.tensor([0.3, -0.5, 0.4], dtype=torch.float64)
    rest, posed = model(), model(body_pose=pose)
    below = model.descendants(joint)
    moved_j = (posed.joints - rest.joints).norm(dim=-1)[0] > 1e-9
    assert set(torch.nonzero(moved_j).flatten().tolist()) == below - {joint}
    w_below = model.lbs_weights[:, sorted(below)].sum(1)
    moved_v = (posed.vertices - rest.vertices).norm(dim=-1)[0]
    assert float(moved_v[w_below == 0].max()) < 1e-12
    # a vertex skinned to the joint alone turns rigidly about the joint (pose blend shapes aside)
    rigid = torch.nonzero(model.lbs_weights[:, joint] == 1).flatten()
    R = torch.from_numpy(Rotation.from_rotvec([0.3, -0.5, 0.4]).as_matrix())
    jrest = rest.joints[0, joint]
    v_posed = model.v_template + (model.posedirs @ _pose_feature(pose)).reshape(-1, 3)
    expect = (v_posed[rigid] - jrest) @ R.T + jrest
    torch.testing.assert_close(posed.vertices[0, rigid], expect, rtol=0, atol=1e-10)


def _pose_feature(body_pose: torch.Tensor) -> torch.Tensor:
    R = axis_angle_to_matrix(body_pose.reshape(-1, 23, 3))
    return (R - torch.eye(3, dtype=R.dtype)).reshape(-1)


def test_global_orient_rotates_the_body_about_the_root(model):
    go = torch.tensor([[0.0, np.pi / 2, 0.0]], dtype=torch.float64)
    rest, turned = model(), model(global_orient=go)
    R = torch.from_numpy(Rotation.from_rotvec([0.0, np.pi / 2, 0.0]).as_matrix())
    root = rest.joints[0, 0]
    torch.testing.assert_close(turned.vertices[0], (rest.vertices[0] - root) @ R.T + root, rtol=0, atol=1e-10)


def test_batched_equals_looped(model):
    rng = np.random.default_rng(0)
    b = 4
    betas = torch.from_numpy(rng.normal(size=(b, 10)))
    pose = torch.from_numpy(sample_body_poses(rng, b))
    go = torch.from_numpy(rng.normal(size=(b, 3)))
    tr = torch.from_numpy(rng.normal(size=(b, 3)))
    batched = model(betas=betas, global_orient=go, body_pose=pose, transl=tr)
    for i in range(b):
        one = model(betas=betas[i: i + 1], global_orient=go[i: i + 1], body_pose=pose[i: i + 1], transl=tr[i: i + 1])
        torch.testing.assert_close(batched.vertices[i: i + 1], one.vertices, rtol=0, atol=1e-12)
        torch.testing.assert_close(batched.joints[i: i + 1], one.joints, rtol=0, atol=1e-12)


def test_gradcheck_float64(model):
    small = BodyModel(body_arrays(), dtype=torch.float64, head_top_vertex=head_top_vertex())
    rng = np.random.default_rng(1)
    betas = torch.from_numpy(rng.normal(size=(1, 10))).requires_grad_()
    go = torch.from_numpy(rng.normal(size=(1, 3)) * 0.5).requires_grad_()
    pose = torch.from_numpy(sample_body_poses(rng, 1)).requires_grad_()
    sel = torch.arange(0, len(small.v_template), 97)

    def f(b, g, p):
        out = small(betas=b, global_orient=g, body_pose=p)
        return out.vertices[:, sel], out.joints

    assert torch.autograd.gradcheck(f, (betas, go, pose), eps=1e-6, atol=1e-6)


def test_arrays_have_smpl_layout():
    a = body_arrays()
    n_v = len(a["v_template"])
    assert a["shapedirs"].shape == (n_v, 3, 10) and a["posedirs"].shape == (n_v, 3, 207)
    assert a["J_regressor"].shape == (24, n_v) and a["weights"].shape == (n_v, 24)
    np.testing.assert_allclose(a["weights"].sum(1), 1.0)
    np.testing.assert_allclose(a["J_regressor"].sum(1), 1.0)
    assert a["kintree_table"][0, 1:].tolist() == list(PARENTS[1:])
    assert a["f"].max() == n_v - 1
    from bench.data.formats.smpl import shape_problems

    assert shape_problems(a) == []
