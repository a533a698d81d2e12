"""Conformance: cubify, vert_align, GraphConv (the ops of the Mesh R-CNN / single-view suites) and so3 /
rotation conversions (built-in vs real PyTorch3D)."""

from __future__ import annotations

import pytest
import torch

from tests.backends.conformance.common import DTYPES, assert_same, close, gen, pair

pytestmark = pytest.mark.pytorch3d


@pytest.mark.parametrize("align", ["topleft", "corner", "center"])
def test_cubify(align):
    """Voxels to a watertight mesh: grid positions and integer faces, no arithmetic beyond a scale, so the
    meshes are identical: same vertices, faces, order and triangle diagonals (the edges GraphConv uses).
    Before the fix the built-in split every square by the other diagonal (10.6% of face corners differed)."""
    g = gen(41)
    vox = torch.rand(4, 5, 6, 4, generator=g)
    vox[1] = 0.0
    vox[1, 1:3, 2:4, 1:3] = 1.0  # a second, smaller occupied block: a heterogeneous batch
    vox[2] = 0.0  # an empty grid between two others (the batch is split into meshes in one pass)
    feats = torch.rand(4, 3, 5, 6, 4, generator=g) if align == "center" else None
    a, b = (t3d.ops.cubify(vox, 0.5, align=align, feats=feats) for t3d in pair())
    for name in ("verts_list", "faces_list"):
        for x, y in zip(getattr(a, name)(), getattr(b, name)(), strict=True):
            assert torch.equal(x, y), f"cubify {name} ({align})"
    if feats is not None:
        for x, y in zip(a.textures.atlas_list(), b.textures.atlas_list(), strict=True):
            assert torch.equal(x, y), "cubify feats atlas"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"padding_mode": "border"}, {"align_corners": False}, {"return_packed": True}])
def test_vert_align(kw, dtype):
    """Bilinear sampling of image features at projected vertices (grid_sample on both): rounding only."""
    g = gen(42)
    feats = torch.rand(2, 5, 8, 10, generator=g, dtype=dtype)
    verts = (torch.rand(2, 30, 3, generator=g, dtype=dtype) - 0.5) * 2.4  # some outside [-1, 1]

    def fn(t3d, v):
        return t3d.ops.vert_align(v[0], v[1], **kw)

    assert_same(fn, [feats, verts], dtype, msg=str(kw))


@pytest.mark.parametrize("directed", [False, True])
def test_graph_conv(directed):
    """GraphConv with the same weights (copied from one to the other): w0 x_i + sum_{j ~ i} w1 x_j."""
    ours, ref = pair()
    torch.manual_seed(43)
    c1 = ours.ops.GraphConv(5, 4, directed=directed)
    c2 = ref.ops.GraphConv(5, 4, directed=directed)
    c2.load_state_dict(c1.state_dict())
    m = ours.utils.ico_sphere(1)
    edges, x = m.edges_packed(), torch.randn(len(m.verts_packed()), 5, generator=gen(44))

    def fn(t3d, v):
        conv = c1 if t3d is ours else c2
        return conv(v[0], edges)

    assert_same(fn, [x], torch.float32, scale=10, msg="GraphConv")
    # the weight gradients too
    for conv in (c1, c2):
        conv.zero_grad()
        conv(x, edges).sum().backward()
    for (n1, p1), (n2, p2) in zip(c1.named_parameters(), c2.named_parameters(), strict=True):
        assert n1 == n2
        close(p1.grad, p2.grad, grad=True, scale=10, msg=n1)


def _rotations(dtype, n=64):
    axis_angle = torch.randn(n, 3, generator=gen(45), dtype=dtype)
    axis_angle[:4] = torch.tensor([[0.0, 0.0, 0.0], [1e-6, 0, 0], [3.1, 0, 0], [0, 0, -3.14]], dtype=dtype)
    return axis_angle


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["so3_exp_map", "axis_angle_to_matrix", "axis_angle_to_quaternion",
                                "so3_log_map", "matrix_to_quaternion", "matrix_to_axis_angle", "quaternion_to_matrix",
                                "matrix_to_rotation_6d", "rotation_6d_to_matrix", "euler_angles_to_matrix",
                                "matrix_to_euler_angles", "so3_rotation_angle", "so3_relative_angle",
                                "quaternion_multiply", "quaternion_apply", "se3_exp_map", "se3_log_map"])
def test_rotation_conversions(op, dtype):
    """Closed-form conversions: rounding only, O(1) values (angles up to pi): the suite's rule x 10, since
    the log maps divide by sin(angle) near pi (our inputs stay >= 0.04 rad from pi)."""
    aa = _rotations(dtype)
    ours, _ = pair()
    R = ours.transforms.axis_angle_to_matrix(aa)
    q = ours.transforms.axis_angle_to_quaternion(aa)
    inputs = {"so3_exp_map": [aa], "axis_angle_to_matrix": [aa], "axis_angle_to_quaternion": [aa],
              "so3_log_map": [R[4:]], "matrix_to_quaternion": [R], "matrix_to_axis_angle": [R[4:]],
              "quaternion_to_matrix": [q], "matrix_to_rotation_6d": [R], "rotation_6d_to_matrix": [R[:, :2].flatten(1)],
              "euler_angles_to_matrix": [aa], "matrix_to_euler_angles": [R], "so3_rotation_angle": [R[4:]],
              "so3_relative_angle": [R[4:], R.flip(0)[:-4]], "quaternion_multiply": [q, q.flip(0)],
              "quaternion_apply": [q, aa.flip(0)], "se3_exp_map": [torch.cat([aa, aa.flip(0)], 1)],
              "se3_log_map": [None]}[op]
    if op == "se3_log_map":
        T = ours.transforms.se3_exp_map(torch.cat([aa[4:], aa.flip(0)[:-4]], 1))
        inputs = [T]
    extra = {"euler_angles_to_matrix": ("XYZ",), "matrix_to_euler_angles": ("ZYX",)}.get(op, ())

    def fn(t3d, v):
        out = getattr(t3d.transforms, op)(*v, *extra)
        return out

    assert_same(fn, inputs, dtype, scale=10, msg=op)
