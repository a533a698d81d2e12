"""The kernels suite: its workloads against independent references, bad settings, and a CLI run."""

from __future__ import annotations

import json
import math
import os
import subprocess

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from bench import backends
from bench.errors import UsageError
from suites.kernels import workloads as wl
from tests.conftest import bench3d_cmd

T3D = backends.load("torch")


def _ray_cast_disc(size: int, dist: float = wl.CAMERA_DIST, fov_deg: float = wl.FOV_DEG) -> np.ndarray:
    """(size, size) bool: pixel rays of a pinhole camera that hit a unit sphere ``dist`` ahead (numpy)."""
    half = math.tan(math.radians(fov_deg) / 2)
    c = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    x, y = np.meshgrid(c * half, c * half)
    d = np.stack([x, y, np.ones_like(x)], -1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    centre = np.array([0.0, 0.0, dist])
    # |t d - c|^2 = 1 has a real root iff (d.c)^2 - (|c|^2 - 1) >= 0
    return (d @ centre) ** 2 - (dist**2 - 1) >= 0


def test_disc_area_formula_matches_ray_casting():
    for size in (64, 256):
        hits = _ray_cast_disc(size).sum()
        assert wl.expected_sphere_disc_area_px(size) == pytest.approx(hits, rel=0.02)


def test_soft_silhouette_covers_the_projected_disc_and_has_gradients():
    w = wl.build(T3D, "soft_silhouette_128_k50", "cpu", {"image_size": 64, "faces_per_pixel": 20, "level": 3})
    alpha, grad = w.step()
    assert alpha.shape == (1, 64, 64)
    mask, ref = alpha[0].numpy() > 0.5, _ray_cast_disc(64)
    iou = (mask & ref).sum() / (mask | ref).sum()
    assert iou > 0.95, iou
    figures = w.check()
    assert figures["silhouette_area_px"] == pytest.approx(float(alpha.sum()), rel=1e-5)
    assert figures["silhouette_area_rel_err"] < 0.06
    assert figures["grad_norm"] > 0 and torch.isfinite(grad).all()
    # Scaling the sphere by s scales the disc area as 1 / (d^2 / s^2 - 1), so d(area)/ds at s = 1 is
    # area * 2 d^2 / (d^2 - 1); the chain rule gives the same as sum(grad . verts). Edges ~1 px wide: 15%.
    verts = T3D.utils.ico_sphere(3).verts_packed()
    d2 = wl.CAMERA_DIST**2
    assert float((grad * verts).sum()) == pytest.approx(float(alpha.sum()) * 2 * d2 / (d2 - 1), rel=0.15)


def test_chamfer_workload_matches_kd_tree_reference():
    w = wl.build(T3D, "chamfer_10k", "cpu", {"points": 400})
    loss, grad = w.step()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 3, generator=g).double().numpy(), torch.randn(400, 3, generator=g).double().numpy()
    dx, ix = cKDTree(y).query(x)
    dy, _ = cKDTree(x).query(y)
    assert float(loss) == pytest.approx(np.mean(dx**2) + np.mean(dy**2), rel=1e-4)
    # d/dx of mean_i |x_i - y_nn(i)|^2 from the x side; plus the y side's terms for points x is nearest to
    ref = 2 * (x - y[ix]) / len(x)
    _, jy = cKDTree(x).query(y)
    np.add.at(ref, jy, -2 * (y - x[jy]) / len(y))
    np.testing.assert_allclose(grad[0].double().numpy(), ref, rtol=1e-3, atol=1e-7)
    assert w.check()["chamfer"] == pytest.approx(float(loss))


def test_sampled_points_lie_between_the_faces_and_the_unit_sphere():
    w = wl.build(T3D, "sample_points_10k", "cpu", {"points": 2000, "level": 1})
    pts = w.step()
    assert pts.shape == (1, 2000, 3)
    mesh = T3D.utils.ico_sphere(1)
    v, f = mesh.verts_packed().double().numpy(), mesh.faces_packed().numpy()
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    plane_dist = np.abs((n / np.linalg.norm(n, axis=1, keepdims=True) * v[f[:, 0]]).sum(1))
    r = pts[0].double().norm(dim=1).numpy()
    assert r.min() >= plane_dist.min() - 1e-5 and r.max() <= 1 + 1e-5
    figures = w.check()
    assert plane_dist.min() - 1e-5 <= figures["sample_mean_radius"] <= figures["sample_max_radius"] <= 1 + 1e-5
    # the figures do not depend on how many timed calls came before (that number follows machine speed)
    for _ in range(3):
        w.step()
    state = torch.get_rng_state()
    assert w.check() == figures
    assert torch.equal(torch.get_rng_state(), state)  # and check() leaves the global generator alone


def test_point_disc_closed_form():
    # pixel offsets with dx^2 + dy^2 < r^2 (strict), each weighing 1 - d^2 / r^2, by hand
    assert wl.expected_point_disc_weight_sum(1.0) == pytest.approx(1.0)  # the neighbours at d = 1 are out
    assert wl.expected_point_disc_weight_sum(1.5) == pytest.approx(1 + 4 * (1 - 1 / 2.25) + 4 * (1 - 2 / 2.25))
    assert wl.expected_point_disc_weight_sum(2.0) == pytest.approx(1 + 4 * 0.75 + 4 * 0.5)


@pytest.mark.parametrize("radius_px", [1.5, 2.0])
def test_points_render_workload_renders_the_disc_and_has_gradients(radius_px):
    w = wl.points_render(T3D, "cpu", {**wl.KERNELS["points_render_synsin"], "image_size": 24, "points": 300,
                                      "radius_px": radius_px})
    images, g_pts, g_feats = w.step()
    assert images.shape == (16, 24, 24, 16)
    assert torch.isfinite(g_pts).all() and g_pts.abs().sum() > 0 and torch.isfinite(g_feats).all()
    figures = w.check()
    assert figures["point_disc_weight_sum"] == pytest.approx(wl.expected_point_disc_weight_sum(radius_px), rel=1e-5)
    assert figures["point_disc_rel_err"] < 1e-5 and figures["points_image_sum"] == pytest.approx(float(images.sum()))


def test_unknown_kernel_and_bad_settings_are_one_line_errors():
    with pytest.raises(UsageError, match="unknown kernel: 'chamfer_1k'.*chamfer_10k"):
        wl.build(T3D, "chamfer_1k", "cpu")
    with pytest.raises(ValueError, match="'image_size': expected a positive integer, got 0"):
        wl.build(T3D, "soft_silhouette_128_k50", "cpu", {"image_size": 0})
    with pytest.raises(ValueError, match="'points': expected a positive integer"):
        wl.build(T3D, "chamfer_10k", "cpu", {"points": "many"})


def test_case_settings_override_only_known_keys():
    w = wl.build(T3D, "chamfer_10k", "cpu", {"points": 10, "image_size": 5, "kind": "sample_points"})
    assert "10 x 10 points" in w.description


@pytest.mark.slow
def test_smoke_run_stores_timings_memory_and_checks(bench_env):
    proc = subprocess.run(bench3d_cmd("run", "--suite", "kernels", "--case", "kernel=soft_silhouette_128_k50",
                                      "--case", "kernel=sample_points_10k", "--backend", "torch",
                                      "--json", "--no-report"),
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    cases = {c["case"]: c for c in json.loads(proc.stdout)["cases"]}
    sil, sample = cases["kernel=soft_silhouette_128_k50"], cases["kernel=sample_points_10k"]
    assert sil["timings"]["step"]["n"] >= 3 and sil["timings"]["step"]["median"] > 0
    assert sil["metrics"]["silhouette_area_rel_err"] < 0.05
    assert sil["metrics"]["silhouette_area_px"] == pytest.approx(wl.expected_sphere_disc_area_px(128), rel=0.05)
    assert sil["metrics"]["peak_memory_mb"] >= 0
    assert 0.99 < sample["metrics"]["sample_mean_radius"] <= sample["metrics"]["sample_max_radius"] <= 1 + 1e-5
