"""Point rasterization and compositing against brute-force loops, geometry and finite differences."""

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import timing
from bench.backends.torch3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from bench.backends.torch3d.renderer.points import (
    AlphaCompositor,
    NormWeightedCompositor,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    alpha_composite,
    norm_weighted_sum,
    weighted_sum,
)
from bench.backends.torch3d.renderer.points.rasterize_points import rasterize_points_padded
from bench.backends.torch3d.structures import Pointclouds

# the module, not the same-named function the package re-exports (PyTorch3D's layout)
rp_module = importlib.import_module("bench.backends.torch3d.renderer.points.rasterize_points")


def _brute_force(points: np.ndarray, num: list[int], h: int, w: int, radius: float, k: int) -> np.ndarray:
    """Reference rasterizer: per pixel, all points of the cloud, sorted by (z, index)."""
    n, p, _ = points.shape
    s = min(h, w)
    out = np.full((n, h, w, k), -1, dtype=np.int64)
    for b in range(n):
        pts = points[b, : num[b]]
        for y in range(h):
            yf = h / s - (2 * y + 1) / s
            for x in range(w):
                xf = w / s - (2 * x + 1) / s
                d2 = (pts[:, 0] - xf) ** 2 + (pts[:, 1] - yf) ** 2
                cand = np.nonzero((d2 < radius**2) & (pts[:, 2] >= 0))[0]
                cand = cand[np.lexsort((cand, pts[cand, 2]))][:k]
                out[b, y, x, : len(cand)] = b * p + cand
    return out


@pytest.mark.parametrize("image_size", [(24, 24), (20, 31), (33, 17)])
def test_rasterizer_matches_brute_force(image_size):
    torch.manual_seed(0)
    n, p, k, r = 2, 150, 3, 0.17
    pts = torch.rand(n, p, 3) * 3.0 - 1.5
    pts[..., 2] = torch.rand(n, p) * 4.0 - 0.5  # some behind the camera (z < 0): culled
    num = torch.tensor([150, 97])
    idx, zbuf, dists = rasterize_points_padded(pts, num, image_size, r, k)
    ref = _brute_force(pts.numpy(), num.tolist(), *image_size, r, k)
    assert idx.shape == (n, *image_size, k)
    np.testing.assert_array_equal(idx.numpy(), ref)
    # zbuf / dists are the chosen points' view z and squared NDC distances; -1 where empty
    h, w = image_size
    s = min(h, w)
    xs = w / s - (2 * torch.arange(w) + 1) / s
    ys = h / s - (2 * torch.arange(h) + 1) / s
    sel = pts.reshape(-1, 3)[idx.clamp(min=0)]
    d_ref = (sel[..., 0] - xs.view(1, 1, w, 1)) ** 2 + (sel[..., 1] - ys.view(1, h, 1, 1)) ** 2
    torch.testing.assert_close(dists, torch.where(idx >= 0, d_ref, -1.0))
    torch.testing.assert_close(zbuf, torch.where(idx >= 0, sel[..., 2], -1.0))
    assert (zbuf[..., 1:][idx[..., 1:] >= 0] >= zbuf[..., :-1][idx[..., 1:] >= 0]).all()  # ascending z


def test_chunked_selection_equals_single_pass(monkeypatch):
    torch.manual_seed(1)
    pts = torch.rand(1, 400, 3) * 2 - 1
    pts[..., 2] += 2.0
    one = rasterize_points_padded(pts, None, 40, 0.2, 5)
    monkeypatch.setattr(rp_module, "PAIRS_PER_CHUNK", 5000)  # eight chunks of 50 points
    many = rasterize_points_padded(pts, None, 40, 0.2, 5)
    for a, b in zip(one, many, strict=True):
        torch.testing.assert_close(a, b)
    # pixels fill across chunks: each chunk's hits start after the slots earlier chunks took
    np.testing.assert_array_equal(many[0].numpy(), _brute_force(pts.numpy(), [400], 40, 40, 0.2, 5))


# 200k points of radius 2.2 pixels: a 6 x 6 window each, 7.2M candidate (pixel, point) pairs. The rasterizer holds
# the output, per-point arrays and one chunk of pairs; before chunks were bounded by a pixel count per pixel it held
# every pair at once (228 MiB here). Run with the harness's exact measure (live memory) in a fresh process.
MEMORY_CHILD = """
import importlib, json, sys, torch
sys.path.insert(0, {root!r})
from bench import timing
timing.exact_malloc()
torch.set_num_threads(1)
rp = importlib.import_module("bench.backends.torch3d.renderer.points.rasterize_points")
g = torch.Generator().manual_seed(0)
pts = torch.rand(1, 200_000, 3, generator=g) * 2 - 1
pts[..., 2] += 2.0
rp.rasterize_points_padded(pts, None, 64, 2.2 * 2 / 64, 2)
with timing.PeakMemory() as pm:
    rp.rasterize_points_padded(pts, None, 64, 2.2 * 2 / 64, 2)
print(json.dumps({{"peak": pm.peak_bytes, "kind": pm.kind}}))
"""


@pytest.mark.skipif(not (sys.platform.startswith("linux") and timing._malloc_trim()),
                    reason="the exact CPU peak needs Linux /proc and glibc mallopt/malloc_trim")
def test_rasterizer_memory_is_not_proportional_to_candidate_pairs():
    root = str(Path(__file__).resolve().parents[3])
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD.format(root=root)], capture_output=True, text=True,
                         check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["kind"] == timing.EXACT_KIND
    candidates = 200_000 * 6 * 6
    assert got["peak"] < 4 * candidates  # less than one float32 per candidate pair (measured ~15 MiB of 27.5)


def test_single_point_renders_a_disc_of_area_pi_r_squared():
    s, r = 128, 0.4
    idx, _, _ = rasterize_points_padded(torch.tensor([[[0.013, -0.021, 1.0]]]), None, s, r, 1)
    count = int((idx[..., 0] >= 0).sum())
    r_pix = r * s / 2
    assert count == pytest.approx(math.pi * r_pix**2, rel=0.01)


def _render(points, colours, radius=0.2, size=48, k=4, compositor=None, **kwargs):
    R, T = look_at_view_transform(dist=3.0, elev=0.0, azim=0.0)
    cams = FoVPerspectiveCameras(R=R, T=T, fov=40.0)
    settings = PointsRasterizationSettings(image_size=size, radius=radius, points_per_pixel=k)
    rasterizer = PointsRasterizer(cameras=cams, raster_settings=settings)
    renderer = PointsRenderer(rasterizer=rasterizer, compositor=compositor or AlphaCompositor())
    cloud = Pointclouds(points=[points], features=[colours])
    return renderer(cloud, **kwargs), rasterizer(cloud), cams


def test_renderer_disc_area_and_position_through_camera():
    pts = torch.tensor([[0.1, 0.2, 0.0]])
    img, frags, cams = _render(pts, torch.ones(1, 3), radius=0.3, size=96)
    covered = frags.idx[0, ..., 0] >= 0
    assert int(covered.sum()) == pytest.approx(math.pi * (0.3 * 48) ** 2, rel=0.02)
    # disc centre at the camera projection of the point (NDC +x left, +y up, (+1, +1) top-left)
    ndc = cams.transform_points(pts[None])[0, 0]
    rows, cols = torch.nonzero(covered, as_tuple=True)
    x_c = 1 - (2 * cols.float().mean() + 1) / 96
    y_c = 1 - (2 * rows.float().mean() + 1) / 96
    assert (x_c.item(), y_c.item()) == pytest.approx((ndc[0].item(), ndc[1].item()), abs=0.02)
    # alpha 1 - d^2 / r^2 with a single point: the image is that weight times the colour
    w = 1 - frags.dists[0, ..., 0] / 0.09
    torch.testing.assert_close(img[0, ..., 0], torch.where(covered, w, torch.zeros_like(w)), atol=1e-6, rtol=1e-5)


def test_nearer_point_wins_and_compositing_order_is_by_depth():
    # two overlapping points: red one nearer the camera (camera at z=+3 looking at the origin)
    pts = torch.tensor([[0.0, 0.0, 0.5], [0.05, 0.0, -0.5]])
    cols = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    img, frags, _ = _render(pts, cols)
    both = (frags.idx[0, ..., 1] >= 0)
    assert both.any()
    assert (frags.idx[0, ..., 0][both] == 0).all() and (frags.idx[0, ..., 1][both] == 1).all()
    a1 = 1 - frags.dists[0, ..., 0] / 0.04
    a2 = 1 - frags.dists[0, ..., 1] / 0.04
    torch.testing.assert_close(img[0, ..., 0][both], a1[both])
    torch.testing.assert_close(img[0, ..., 2][both], ((1 - a1) * a2)[both])
    # the cloud's order does not matter
    img2, _, _ = _render(pts.flip(0), cols.flip(0))
    torch.testing.assert_close(img, img2)


def test_background_colour_and_norm_weighted_compositor():
    pts = torch.tensor([[0.0, 0.0, 0.0]])
    img, frags, _ = _render(pts, torch.tensor([[0.2, 0.4, 0.6]]), compositor=NormWeightedCompositor(),
                            background_color=(0.0, 1.0, 0.0))
    empty = frags.idx[0, ..., 0] < 0
    torch.testing.assert_close(img[0][empty], torch.tensor([0.0, 1.0, 0.0]).expand(int(empty.sum()), 3))
    torch.testing.assert_close(img[0][~empty], torch.tensor([0.2, 0.4, 0.6]).expand(int((~empty).sum()), 3))


def _loop_composite(idx, alphas, feats, mode):
    n, k, h, w = idx.shape
    out = torch.zeros(n, feats.shape[0], h, w, dtype=torch.float64)
    for b in range(n):
        for y in range(h):
            for x in range(w):
                trans, total = 1.0, 0.0
                acc = torch.zeros(feats.shape[0], dtype=torch.float64)
                for j in range(k):
                    p = int(idx[b, j, y, x])
                    if p < 0:
                        continue
                    a = float(alphas[b, j, y, x])
                    if mode == "alpha":
                        acc += trans * a * feats[:, p]
                        trans *= 1 - a
                    else:
                        acc += a * feats[:, p]
                        total += a
                out[b, :, y, x] = acc / max(total, 1e-4) if mode == "norm" else acc
    return out


COMPOSITORS = [("alpha", alpha_composite), ("norm", norm_weighted_sum), ("sum", weighted_sum)]


def _composite_inputs(seed):
    """Random ids (2, 4, 3, 5) with empty slots (-1) among 9 points, float64 alphas and 3-channel features."""
    torch.manual_seed(seed)
    idx = torch.randint(-1, 9, (2, 4, 3, 5))
    return idx, torch.rand(2, 4, 3, 5, dtype=torch.float64), torch.rand(3, 9, dtype=torch.float64)


@pytest.mark.parametrize("mode, fn", COMPOSITORS)
def test_compositing_matches_hand_loop(mode, fn):
    idx, alphas, feats = _composite_inputs(2)
    torch.testing.assert_close(fn(idx, alphas, feats), _loop_composite(idx, alphas, feats, mode))


@pytest.mark.parametrize("mode, fn", COMPOSITORS)
def test_non_finite_features_reach_only_the_pixels_that_hold_their_point(mode, fn):
    # empty slots are gathered as point 0 with weight 0: with point 0's features infinite or NaN that would be
    # 0 * inf = NaN in every pixel with an empty slot; the compositor gathers only filled slots then
    idx, alphas, feats = _composite_inputs(4)
    feats[0, 0], feats[2, 0] = math.inf, math.nan
    got, ref = fn(idx, alphas, feats), _loop_composite(idx, alphas, feats, mode)
    holds_zero = (idx == 0).any(1, keepdim=True).expand_as(got)
    assert holds_zero.any() and (~holds_zero).any()
    assert torch.isfinite(got[~holds_zero]).all()
    torch.testing.assert_close(got, ref, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_compositing_leaves_its_inputs_unchanged(dtype):
    # the rasterizer's ids are int32 (N, H, W, K): the compositor clamps a copy of them, never the caller's fragments
    torch.manual_seed(6)
    frags = torch.randint(-1, 9, (2, 3, 5, 4), dtype=dtype)  # (N, H, W, K), as PointFragments.idx
    alphas, feats = torch.rand(2, 4, 3, 5), torch.rand(3, 9)
    before = [t.clone() for t in (frags, alphas, feats)]
    for fn in (alpha_composite, norm_weighted_sum, weighted_sum):
        fn(frags.permute(0, 3, 1, 2), alphas, feats)  # the renderer's layout: a view of the fragments
        fn(frags.permute(0, 3, 1, 2).contiguous(), alphas, feats)
    for a, b in zip((frags, alphas, feats), before, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("fn", [alpha_composite, norm_weighted_sum, weighted_sum])
def test_compositing_gradients_match_finite_differences(fn):
    # the compositors' own backwards (slot by slot; alpha's back-to-front recurrence), with empty slots and opaque
    # points (alpha exactly 1, where a division by 1 - a would fail), against finite differences in float64
    torch.manual_seed(7)
    idx = torch.randint(-1, 6, (2, 5, 3, 4))
    alphas = torch.rand(2, 5, 3, 4, dtype=torch.float64)
    alphas[0, 1, 0, :] = 1.0
    feats = torch.rand(3, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, f: fn(idx, a, f), (alphas.requires_grad_(), feats.requires_grad_()))


def test_rasterize_and_composite_gradcheck():
    # image(points, features): gradients through dists (xy) and features, vs finite differences
    torch.manual_seed(3)
    pts = torch.tensor([[[0.1, 0.05, 1.0], [-0.15, 0.1, 2.0], [0.0, -0.2, 1.5]]], dtype=torch.float64)
    feats = torch.rand(2, 3, dtype=torch.float64)
    r = 0.5

    def image(p, f):
        idx, _, d = rasterize_points_padded(p, None, 12, r, 3)
        alphas = (1 - d / r**2).permute(0, 3, 1, 2)
        return alpha_composite(idx.permute(0, 3, 1, 2), alphas, f)

    assert torch.autograd.gradcheck(image, (pts.requires_grad_(), feats.requires_grad_()), fast_mode=True)

    def depth(p):
        _, z, _ = rasterize_points_padded(p, None, 12, r, 3)
        return z

    assert torch.autograd.gradcheck(depth, (pts,), fast_mode=True)


def test_renderer_gradients_match_finite_differences():
    torch.manual_seed(4)
    pts = torch.tensor([[0.1, 0.0, 0.2], [-0.2, 0.1, -0.3], [0.05, -0.1, 0.0]])
    cols = torch.rand(3, 3)
    weights = torch.rand(1, 24, 24, 3)

    def loss(p, c):
        img, _, _ = _render(p, c, radius=0.3, size=24, k=3)
        return (img * weights).sum()

    p = pts.clone().requires_grad_()
    c = cols.clone().requires_grad_()
    loss(p, c).backward()
    assert p.grad.abs().sum() > 0 and c.grad.abs().sum() > 0
    eps = 1e-3
    for i, j in [(0, 0), (1, 1), (2, 0), (1, 2)]:
        e = torch.zeros_like(pts)
        e[i, j] = eps
        fd = (loss(pts + e, cols) - loss(pts - e, cols)) / (2 * eps)
        assert p.grad[i, j].item() == pytest.approx(fd.item(), rel=0.05, abs=0.05)
    e = torch.zeros_like(cols)
    e[1, 2] = eps
    fd = (loss(pts, cols + e) - loss(pts, cols - e)) / (2 * eps)
    assert c.grad[1, 2].item() == pytest.approx(fd.item(), rel=0.01, abs=1e-3)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="points"):
        rasterize_points_padded(torch.rand(2, 3), None, 8, 0.1, 1)
    with pytest.raises(ValueError, match="image_size"):
        rasterize_points_padded(torch.rand(1, 3, 3), None, (8, 8, 1), 0.1, 1)
    with pytest.raises(ValueError, match="radius"):
        rasterize_points_padded(torch.rand(1, 3, 3), None, 8, -0.1, 1)
    with pytest.raises(ValueError, match="pointsidx"):
        alpha_composite(torch.zeros(1, 2, 3, dtype=torch.long), torch.zeros(1, 2, 3), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="cameras"):
        PointsRasterizer()._project(None)


def test_heterogeneous_batch_gives_packed_indices_and_per_point_radius():
    from bench.backends.torch3d.renderer.points import rasterize_points

    torch.manual_seed(5)
    short, long = torch.rand(12, 3) * 1.6 - 0.8, torch.rand(30, 3) * 1.6 - 0.8
    short[:, 2] += 1.0
    long[:, 2] += 1.0
    cloud = Pointclouds(points=[short, long])  # padded P = 30; packed ids of cloud 1 start at 12
    idx, _, _ = rasterize_points(cloud, image_size=16, radius=0.2, points_per_pixel=3)
    assert idx.dtype == torch.int32
    ref0 = _brute_force(short[None].numpy(), [12], 16, 16, 0.2, 3)[0]
    ref1 = _brute_force(long[None].numpy(), [30], 16, 16, 0.2, 3)[0]
    np.testing.assert_array_equal(idx[0].numpy(), ref0)
    np.testing.assert_array_equal(idx[1].numpy(), np.where(ref1 >= 0, ref1 + 12, -1))
    # per-point radii (packed (P_total,)): each cloud rasterized with its own radius
    radius = torch.cat((torch.full((12,), 0.05), torch.full((30,), 0.3)))
    idx_r, _, _ = rasterize_points(cloud, image_size=16, radius=radius, points_per_pixel=3)
    ref0 = _brute_force(short[None].numpy(), [12], 16, 16, 0.05, 3)[0]
    ref1 = _brute_force(long[None].numpy(), [30], 16, 16, 0.3, 3)[0]
    np.testing.assert_array_equal(idx_r[0].numpy(), ref0)
    np.testing.assert_array_equal(idx_r[1].numpy(), np.where(ref1 >= 0, ref1 + 12, -1))


def test_transform_gives_ndc_xy_and_view_depth():
    R, T = look_at_view_transform(dist=2.5, elev=30.0, azim=-40.0)
    cams = FoVPerspectiveCameras(R=R, T=T)
    pts = torch.rand(1, 20, 3) - 0.5
    out = PointsRasterizer(cameras=cams).transform(Pointclouds(points=pts)).points_padded()
    torch.testing.assert_close(out[..., :2], cams.transform_points(pts)[..., :2])
    # view depth by hand: distance along the viewing axis from the camera centre
    centre = cams.get_camera_center()[0]
    axis = torch.nn.functional.normalize(-centre, dim=0)  # the camera looks at the origin
    torch.testing.assert_close(out[0, :, 2], (pts[0] - centre) @ axis, rtol=1e-5, atol=1e-5)
