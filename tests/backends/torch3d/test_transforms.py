"""Rotation conversions and Transform3d against SciPy's Rotation and plain numpy algebra."""

import itertools

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from bench.backends.torch3d import transforms as T

CONVENTIONS = [
    "".join(c) for c in itertools.product("XYZ", repeat=3) if c[0] != c[1] and c[1] != c[2]
]


@pytest.fixture
def rots() -> Rotation:
    return Rotation.random(64, random_state=0)


def test_quaternion_to_matrix_matches_scipy(rots):
    q_xyzw = rots.as_quat()
    q = torch.tensor(np.roll(q_xyzw, 1, axis=1))  # real part first
    np.testing.assert_allclose(T.quaternion_to_matrix(q).numpy(), rots.as_matrix(), atol=1e-12)


def test_matrix_to_quaternion_matches_scipy_up_to_sign(rots):
    q = T.matrix_to_quaternion(torch.tensor(rots.as_matrix())).numpy()
    ref = np.roll(rots.as_quat(), 1, axis=1)
    ref = ref * np.sign(ref[:, :1])
    np.testing.assert_allclose(q, ref, atol=1e-10)
    assert (q[:, 0] >= 0).all()


def test_matrix_to_quaternion_near_pi_rotations():
    # 180-degree rotations make the trace -1: the branch choice matters here.
    rv = np.array([[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi], [np.pi / np.sqrt(2), np.pi / np.sqrt(2), 0]])
    m = torch.tensor(Rotation.from_rotvec(rv).as_matrix())
    back = T.quaternion_to_matrix(T.matrix_to_quaternion(m))
    np.testing.assert_allclose(back.numpy(), m.numpy(), atol=1e-10)


def test_axis_angle_matches_scipy(rots):
    rv = torch.tensor(rots.as_rotvec())
    np.testing.assert_allclose(T.axis_angle_to_matrix(rv).numpy(), rots.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(T.matrix_to_axis_angle(torch.tensor(rots.as_matrix())).numpy(), rots.as_rotvec(),
                               atol=1e-9)


def test_axis_angle_small_angles_and_gradient_at_zero():
    rv = torch.tensor([[1e-9, 0, 0], [0, 0, 0]], dtype=torch.float64, requires_grad=True)
    m = T.axis_angle_to_matrix(rv)
    m.sum().backward()
    assert torch.isfinite(rv.grad).all()
    np.testing.assert_allclose(m.detach().numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-8)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_euler_matches_scipy_intrinsic_and_round_trips(convention, rots):
    angles = Rotation.random(32, random_state=1).as_euler(convention)  # scipy: uppercase = intrinsic
    m = T.euler_angles_to_matrix(torch.tensor(angles), convention)
    np.testing.assert_allclose(m.numpy(), Rotation.from_euler(convention, angles).as_matrix(), atol=1e-12)
    back = T.matrix_to_euler_angles(torch.tensor(rots.as_matrix()), convention)
    np.testing.assert_allclose(T.euler_angles_to_matrix(back, convention).numpy(), rots.as_matrix(), atol=1e-9)


def test_euler_bad_convention_is_a_clear_error():
    with pytest.raises(ValueError, match="convention"):
        T.euler_angles_to_matrix(torch.zeros(3), "XXY")


def test_rotation_6d_round_trip_and_gram_schmidt(rots):
    m = torch.tensor(rots.as_matrix())
    np.testing.assert_allclose(T.rotation_6d_to_matrix(T.matrix_to_rotation_6d(m)).numpy(), m.numpy(), atol=1e-12)
    d6 = torch.randn(10, 6, dtype=torch.float64)
    r = T.rotation_6d_to_matrix(d6)
    np.testing.assert_allclose((r @ r.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), (10, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r.numpy()), 1.0, atol=1e-12)


def test_quaternion_multiply_composes_like_matrices(rots):
    q = T.matrix_to_quaternion(torch.tensor(rots.as_matrix()))
    a, b = q[:32], q[32:]
    ab = T.quaternion_to_matrix(T.quaternion_multiply(a, b))
    ref = (rots[:32] * rots[32:]).as_matrix()
    np.testing.assert_allclose(ab.numpy(), ref, atol=1e-10)
    p = torch.randn(32, 3, dtype=torch.float64)
    np.testing.assert_allclose(T.quaternion_apply(a, p).numpy(), rots[:32].apply(p.numpy()), atol=1e-10)
    ident = T.quaternion_multiply(a, T.quaternion_invert(a))
    np.testing.assert_allclose(ident.numpy(), np.tile([1.0, 0, 0, 0], (32, 1)), atol=1e-10)


def test_random_rotations_are_rotations():
    r = T.random_rotations(100, dtype=torch.float64)
    np.testing.assert_allclose((r @ r.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), (100, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(r).numpy(), 1.0, atol=1e-12)


def test_so3_exp_log_match_scipy(rots):
    rv = rots.as_rotvec()
    rv = rv[np.linalg.norm(rv, axis=1) < 3.0]  # log map is ill-conditioned right at pi
    R = T.so3_exp_map(torch.tensor(rv))
    np.testing.assert_allclose(R.numpy(), Rotation.from_rotvec(rv).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(T.so3_log_map(R).numpy(), rv, atol=1e-6)


def test_so3_relative_angle_matches_scipy_and_has_finite_grad(rots):
    R1, R2 = torch.tensor(rots[:32].as_matrix()), torch.tensor(rots[32:].as_matrix())
    ref = (rots[:32] * rots[32:].inv()).magnitude()
    np.testing.assert_allclose(T.so3_relative_angle(R1, R2).numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(T.so3_relative_angle(R1, R2, cos_angle=True).numpy(), np.cos(ref), atol=1e-10)
    same = R1.clone().requires_grad_(True)
    T.so3_relative_angle(same, R1).sum().backward()
    assert torch.isfinite(same.grad).all()


def test_so3_rejects_non_rotation_trace():
    with pytest.raises(ValueError, match="trace"):
        T.so3_rotation_angle(5 * torch.eye(3)[None])


def test_se3_exp_log_round_trip():
    log = torch.tensor([[0.3, -0.2, 0.5, 0.4, -0.1, 0.7], [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    M = T.se3_exp_map(log)
    np.testing.assert_allclose(T.se3_log_map(M).numpy(), log.numpy(), atol=1e-5)
    # The rotation block (row-vector form) is the transpose of so3_exp_map.
    np.testing.assert_allclose(M[:, :3, :3].numpy(), T.so3_exp_map(log[:, 3:]).transpose(1, 2).numpy(), atol=1e-10)


def test_transform3d_compose_matches_numpy_and_inverts():
    R = torch.tensor(Rotation.random(3, random_state=2).as_matrix())
    t = torch.randn(3, 3, dtype=torch.float64)
    s = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64)
    tf = T.Rotate(R).compose(T.Translate(t), T.Scale(s[0], s[1], s[2]))
    p = torch.randn(3, 7, 3, dtype=torch.float64)
    ref = ((p.numpy() @ R.numpy()) + t.numpy()[:, None]) * s.numpy()
    np.testing.assert_allclose(tf.transform_points(p).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(tf.inverse().transform_points(tf.transform_points(p)).numpy(), p.numpy(), atol=1e-10)
    np.testing.assert_allclose(tf.inverse(invert_composed=True).get_matrix().numpy(),
                               np.linalg.inv(tf.get_matrix().numpy()), atol=1e-10)
    # Method chaining builds the same transform.
    chained = T.Transform3d(dtype=torch.float64).rotate(R).translate(t).scale(s[0], s[1], s[2])
    np.testing.assert_allclose(chained.get_matrix().numpy(), tf.get_matrix().numpy(), atol=1e-12)


def test_transform_normals_uses_inverse_transpose():
    tf = T.Scale(2.0, 1.0, 1.0, dtype=torch.float64)
    # Plane x + y = 0 has normal (1, 1, 0); after stretching x by 2 the plane is x/2 + y = 0.
    n = tf.transform_normals(torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64))
    np.testing.assert_allclose((n / n.norm()).numpy(), np.array([[0.5, 1.0, 0.0]]) / np.sqrt(1.25), atol=1e-12)


def test_rotate_axis_angle_is_counter_clockwise():
    p = torch.tensor([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(T.RotateAxisAngle(90, axis="Z").transform_points(p).numpy(), [[0, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(T.RotateAxisAngle(90, axis="Y").transform_points(p).numpy(), [[0, 0, -1]], atol=1e-6)


def test_transform_points_divides_by_w_with_eps_and_batch_broadcast():
    m = torch.eye(4)
    m[2, 3] = 1.0  # w = z
    m[3, 3] = 0.0
    tf = T.Transform3d(matrix=m)
    out = tf.transform_points(torch.tensor([[2.0, 4.0, 2.0], [1.0, 1.0, 0.0]]), eps=1e-3)
    np.testing.assert_allclose(out[0].numpy(), [1.0, 2.0, 1.0])
    np.testing.assert_allclose(out[1].numpy(), [1000.0, 1000.0, 0.0])
    tr = T.Translate(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    assert len(tr) == 2 and tr.transform_points(torch.zeros(5, 3)).shape == (2, 5, 3)
    assert len(tr[1]) == 1


def test_transform_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="points"):
        T.Translate(1.0, 2.0, 3.0).transform_points(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="matrix"):
        T.Transform3d(matrix=torch.eye(3))
