"""chamfer_distance against a naive numpy loop: lengths, norms, reductions, normals, weights, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.backends.torch3d.loss import chamfer_distance


def _one_way(a, b, na=None, nb=None, norm=2, abs_cosine=True):
    """Per-point nearest distance from a to b (and 1 - cos of the matched normals)."""
    diff = a[:, None] - b[None]
    d = (diff**2).sum(-1) if norm == 2 else np.abs(diff).sum(-1)
    j = d.argmin(1)
    dist = d[np.arange(len(a)), j]
    if na is None:
        return dist, None
    cos = (na * nb[j]).sum(1) / np.maximum(np.linalg.norm(na, axis=1) * np.linalg.norm(nb[j], axis=1), 1e-6)
    return dist, 1 - (np.abs(cos) if abs_cosine else cos)


def _naive(x, y, lx, ly, nx=None, ny=None, norm=2, point_reduction="mean", abs_cosine=True, single=False):
    """(per-cloud loss (N,), per-cloud normal loss (N,) or None)."""
    losses, nlosses = [], []
    for n in range(len(x)):
        a, b = x[n, :lx[n]], y[n, :ly[n]]
        na = nx[n, :lx[n]] if nx is not None else None
        nb = ny[n, :ly[n]] if ny is not None else None
        dirs = [_one_way(a, b, na, nb, norm, abs_cosine)]
        if not single:
            dirs.append(_one_way(b, a, nb, na, norm, abs_cosine))
        red = {"mean": np.mean, "sum": np.sum, "max": np.max}[point_reduction]
        vals = [red(d) for d, _ in dirs]
        losses.append(max(vals) if point_reduction == "max" else sum(vals))
        if nx is not None:
            nlosses.append(sum(red(nd) for _, nd in dirs))
    return np.array(losses), (np.array(nlosses) if nx is not None else None)


@pytest.fixture
def clouds():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 12, 3, generator=g), torch.randn(3, 9, 3, generator=g)
    nx, ny = torch.randn(3, 12, 3, generator=g), torch.randn(3, 9, 3, generator=g)
    return x, y, torch.tensor([12, 7, 3]), torch.tensor([9, 9, 4]), nx, ny


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("point_reduction", ["mean", "sum"])
@pytest.mark.parametrize("batch_reduction", ["mean", "sum", None])
def test_matches_naive_with_normals(clouds, norm, point_reduction, batch_reduction):
    x, y, lx, ly, nx, ny = clouds
    loss, loss_n = chamfer_distance(x, y, lx, ly, nx, ny, norm=norm, point_reduction=point_reduction,
                                    batch_reduction=batch_reduction)
    ref, ref_n = _naive(*(t.double().numpy() for t in (x, y)), lx.tolist(), ly.tolist(), nx.double().numpy(),
                        ny.double().numpy(), norm=norm, point_reduction=point_reduction)
    agg = {"mean": np.mean, "sum": np.sum, None: lambda v: v}[batch_reduction]
    np.testing.assert_allclose(loss.numpy(), agg(ref), rtol=1e-5)
    np.testing.assert_allclose(loss_n.numpy(), agg(ref_n), rtol=1e-5)


def test_max_reduction_and_single_direction(clouds):
    x, y, lx, ly, _, _ = clouds
    xs, ys = x.double().numpy(), y.double().numpy()
    loss, none = chamfer_distance(x, y, lx, ly, point_reduction="max", batch_reduction=None)
    assert none is None
    np.testing.assert_allclose(loss.numpy(), _naive(xs, ys, lx.tolist(), ly.tolist(), point_reduction="max")[0],
                               rtol=1e-5)
    loss, _ = chamfer_distance(x, y, lx, ly, single_directional=True, batch_reduction="sum")
    ref = _naive(xs, ys, lx.tolist(), ly.tolist(), single=True)[0].sum()
    assert float(loss) == pytest.approx(ref, rel=1e-5)


def test_signed_cosine(clouds):
    x, y, lx, ly, nx, ny = clouds
    _, loss_n = chamfer_distance(x, y, lx, ly, nx, ny, abs_cosine=False, batch_reduction=None)
    ref_n = _naive(*(t.double().numpy() for t in (x, y)), lx.tolist(), ly.tolist(), nx.double().numpy(),
                   ny.double().numpy(), abs_cosine=False)[1]
    np.testing.assert_allclose(loss_n.numpy(), ref_n, rtol=1e-5)


def test_no_point_reduction_gives_per_point_pairs(clouds):
    x, y, lx, ly, _, _ = clouds
    (cx, cy), normals = chamfer_distance(x, y, lx, ly, point_reduction=None, batch_reduction=None)
    assert cx.shape == (3, 12) and cy.shape == (3, 9) and normals is None  # as PyTorch3D: None, not a pair
    for n in range(3):
        ref = _one_way(x[n, :lx[n]].double().numpy(), y[n, :ly[n]].double().numpy())[0]
        np.testing.assert_allclose(cx[n, :lx[n]].numpy(), ref, rtol=1e-5)
        assert (cx[n, lx[n]:] == 0).all()


def test_weights(clouds):
    x, y, lx, ly, _, _ = clouds
    w = torch.tensor([0.5, 2.0, 0.0])
    per = chamfer_distance(x, y, lx, ly, batch_reduction=None)[0]
    loss, _ = chamfer_distance(x, y, lx, ly, weights=w)
    assert float(loss) == pytest.approx(float((per * w).sum() / w.sum()), rel=1e-5)
    zero, _ = chamfer_distance(x, y, weights=torch.zeros(3))
    assert float(zero) == 0.0
    with pytest.raises(ValueError, match="negative"):
        chamfer_distance(x, y, weights=torch.tensor([1.0, -1.0, 1.0]))


def test_shifted_identical_clouds_closed_form():
    x = torch.randn(1, 50, 3)
    shift = torch.tensor([0.0, 0.0, 1e-3])  # far smaller than the spacing: each point's match is its copy
    loss, _ = chamfer_distance(x, x + shift)
    assert float(loss) == pytest.approx(2 * 1e-6, rel=1e-3)


def test_gradcheck(clouds):
    x, y, lx, ly, nx, ny = (t.double() if t.is_floating_point() else t for t in clouds)
    x.requires_grad_(True)
    y.requires_grad_(True)
    nx.requires_grad_(True)

    def f(a, b, n):
        loss, loss_n = chamfer_distance(a, b, lx, ly, n, ny)
        return loss + loss_n

    assert torch.autograd.gradcheck(f, (x, y, nx))


@pytest.mark.parametrize("kwargs,match", [
    (dict(point_reduction="median"), "point_reduction"),
    (dict(batch_reduction="max"), "batch_reduction"),
    (dict(point_reduction=None), "batch_reduction must be None"),
    (dict(norm=3), "norm"),
    (dict(x_lengths=torch.tensor([1, 2])), "x_lengths"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        chamfer_distance(torch.zeros(1, 4, 3), torch.zeros(1, 5, 3), **kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, P, D\)"):
        chamfer_distance(torch.zeros(4, 3), torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="share N and D"):
        chamfer_distance(torch.zeros(2, 4, 3), torch.zeros(1, 5, 3))
