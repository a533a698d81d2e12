"""Perspective-corrected barycentrics of blurred pixels beyond a face's vanishing line: values and gradients.

The textured pose case (pose/scene=cow) disagreed between the backends: the soft Phong pass's gradient
w.r.t. the camera translation was (338, -204, 0.27) on the built-in backend and (70946, -2308, -12118) on
PyTorch3D. Reduced op by op (shader on identical fragments: equal; rasterizer without perspective
correction: equal), the whole difference comes from (pixel, face) pairs where the blur radius keeps a
pixel outside a face whose perspective denominator ``sum_i b_i z_j z_k`` is <= 1e-8 (the pixel lies past
the line where the face plane runs to infinity; 83 of 24119 pairs for the cow at 64x64).

PyTorch3D's forward clamps that denominator at kEpsilon = 1e-8, after which clipping and renormalising
the barycentrics makes the result independent of the denominator. Its backward
(``BarycentricPerspectiveCorrectionBackward`` in ``pytorch3d/csrc/utils/geometry_utils.h``) still adds
``-sum_i top_i g_i / denom**2`` with ``denom = 1e-8``: the exact value of that sum is 0 (the clip
renormalisation is scale invariant), so what is left is float32 rounding times 1e16. The built-in backend
differentiates the forward as written. Here both are compared with central finite differences, in
float64, of an independent one-pixel implementation of PyTorch3D's forward formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.backends.conformance.common import pair

pytestmark = pytest.mark.pytorch3d

EPS = 1e-8  # PyTorch3D's kEpsilon
SIZE = 24
BLUR = math.log(1.0 / 1e-4 - 1.0) * 1e-4  # the pose suite's blur radius (sigma = 1e-4)
# One triangle (NDC x, y; view depth z) seen nearly edge-on: vertex 0 at depth 0.1, the others at 10.
# The pixel row 0.02 below the edge (v1, v2) lies in the blur band, with b0 < 0 and b0 / z0 + (1 - b0) / z1 < 0.
TRIANGLE = np.array([[0.0, 0.7, 0.1], [-0.6, -0.355, 10.0], [0.6, -0.355, 10.0]])


def _pixel_centre(row: int, col: int) -> tuple[float, float]:
    """NDC centre of a pixel of the square image (PyTorch3D: +X left, +Y up, row 0 at the top)."""
    return 1.0 - (2 * col + 1) / SIZE, 1.0 - (2 * row + 1) / SIZE


def _reference(fv: np.ndarray, px: float, py: float) -> tuple[np.ndarray, float, float]:
    """PyTorch3D's forward for one pixel and one face, float64: clipped corrected barycentrics (3,), zbuf,
    and the perspective denominator before its clamp."""
    def edge(p, a, b):
        return (p[0] - a[0]) * (b[1] - a[1]) - (p[1] - a[1]) * (b[0] - a[0])

    v0, v1, v2 = fv[0, :2], fv[1, :2], fv[2, :2]
    p = (px, py)
    area = edge(v2, v0, v1) + EPS
    b = np.array([edge(p, v1, v2), edge(p, v2, v0), edge(p, v0, v1)]) / area
    z = fv[:, 2]
    top = b * np.array([z[1] * z[2], z[0] * z[2], z[0] * z[1]])
    denom = top.sum()
    w = top / max(denom, EPS)
    w = np.maximum(w, 0.0)
    w = w / max(w.sum(), 1e-5)
    return w, float(w @ z), float(denom)


def _rasterize(t3d, fv: torch.Tensor):
    meshes = t3d.structures.Meshes([fv], [torch.tensor([[0, 1, 2]])])
    return t3d.renderer.mesh.rasterize_meshes(meshes, image_size=SIZE, blur_radius=BLUR, faces_per_pixel=1,
                                              perspective_correct=True, clip_barycentric_coords=True)


def _pixels_and_weights(p2f: torch.Tensor) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Covered pixels and fixed weights (P, 4) for (zbuf, bary 0-2) of each."""
    pix = [tuple(int(i) for i in rc) for rc in (p2f[0, :, :, 0] >= 0).nonzero()]
    rng = np.random.default_rng(7)
    return pix, rng.uniform(0.5, 1.5, size=(len(pix), 4))


def _loss_reference(fv: np.ndarray, pix, wts, keep) -> float:
    total = 0.0
    for (r, c), w, k in zip(pix, wts, keep, strict=True):
        if k:
            bary, z, _ = _reference(fv, *_pixel_centre(r, c))
            total += w[0] * z + w[1:] @ bary
    return total


def _fd_grad(fv: np.ndarray, pix, wts, keep, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(fv)
    for i in np.ndindex(fv.shape):
        up, down = fv.copy(), fv.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (_loss_reference(up, pix, wts, keep) - _loss_reference(down, pix, wts, keep)) / (2 * h)
    return grad


def _backend_grad(t3d, dtype, pix, wts, keep) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    fv = torch.tensor(TRIANGLE, dtype=dtype, requires_grad=True)
    p2f, zbuf, bary, _ = _rasterize(t3d, fv)
    rows = torch.tensor([r for r, _ in pix])
    cols = torch.tensor([c for _, c in pix])
    w = torch.tensor(wts * np.asarray(keep, dtype=float)[:, None], dtype=dtype)
    z, b = zbuf[0, rows, cols, 0], bary[0, rows, cols, 0]
    (w[:, 0] * z + (w[:, 1:] * b).sum(1)).sum().backward()
    return fv.grad.double().numpy(), z.detach(), b.detach()


def _setup():
    builtin, p3d = pair()
    p2f_ref = _rasterize(p3d, torch.tensor(TRIANGLE, dtype=torch.float32))[0]
    p2f = _rasterize(builtin, torch.tensor(TRIANGLE, dtype=torch.float32))[0]
    assert torch.equal(p2f, p2f_ref), "the two backends cover different pixels"
    pix, wts = _pixels_and_weights(p2f)
    denom = np.array([_reference(TRIANGLE, *_pixel_centre(r, c))[2] for r, c in pix])
    return builtin, p3d, pix, wts, denom <= EPS


def test_forward_equal_including_beyond_vanishing_line():
    builtin, p3d, pix, wts, beyond = _setup()
    assert beyond.sum() >= 3, "the triangle must have blurred pixels beyond its vanishing line"
    ref = np.array([np.r_[_reference(TRIANGLE, *_pixel_centre(r, c))[1], _reference(TRIANGLE, *_pixel_centre(r, c))[0]]
                    for r, c in pix])
    keep = [True] * len(pix)
    for t3d in (builtin, p3d):
        _, z, b = _backend_grad(t3d, torch.float32, pix, wts, keep)
        got = torch.cat((z[:, None], b), 1).double().numpy()
        # float32 maths on depths up to 10: 1e-5 relative of the depth.
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4, err_msg=f"{t3d.name} forward")


def test_gradients_against_finite_differences():
    """Regular pairs: both backends match float64 finite differences. Pairs beyond the vanishing line: the
    built-in matches them; PyTorch3D's gradient there is documented in docs/backends.md, not asserted."""
    builtin, p3d, pix, wts, beyond = _setup()
    regular = list(~beyond)
    fd = _fd_grad(TRIANGLE, pix, wts, regular)
    scale = np.abs(fd).max()
    for t3d in (builtin, p3d):
        got, _, _ = _backend_grad(t3d, torch.float32, pix, wts, regular)
        # float32 forward and backward: 1e-4 of the largest component.
        np.testing.assert_allclose(got, fd, atol=1e-4 * scale, err_msg=f"{t3d.name}, regular pairs")
    everything = [True] * len(pix)
    fd_all = _fd_grad(TRIANGLE, pix, wts, everything)
    got64, _, _ = _backend_grad(builtin, torch.float64, pix, wts, everything)
    np.testing.assert_allclose(got64, fd_all, rtol=1e-6, atol=1e-6 * np.abs(fd_all).max(),
                               err_msg="built-in float64, all pairs")
    got32, _, _ = _backend_grad(builtin, torch.float32, pix, wts, everything)
    np.testing.assert_allclose(got32, fd_all, atol=1e-4 * np.abs(fd_all).max(), err_msg="built-in float32, all pairs")


def test_rasterize_meshes_default_does_not_clip():
    """``rasterize_meshes`` called directly with a blur radius: PyTorch3D's default is
    ``clip_barycentric_coords=False`` (only ``MeshRasterizer`` turns clipping on), so blurred pixels outside
    a face keep negative barycentrics (the built-in clipped them: 1.44 apart on an ico_sphere at 64x64)."""
    builtin, p3d = pair()
    out = []
    for t3d in (builtin, p3d):
        meshes = t3d.structures.Meshes([torch.tensor(TRIANGLE, dtype=torch.float32)], [torch.tensor([[0, 1, 2]])])
        out.append(t3d.renderer.mesh.rasterize_meshes(meshes, image_size=SIZE, blur_radius=BLUR,
                                                      faces_per_pixel=1))
    (p2f_a, z_a, b_a, d_a), (p2f_b, z_b, b_b, d_b) = out
    assert torch.equal(p2f_a, p2f_b)
    assert (b_b[p2f_b >= 0] < 0).any(), "blurred pixels outside the face must have a negative barycentric"
    torch.testing.assert_close(b_a, b_b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z_a, z_b, rtol=1e-5, atol=1e-5)
