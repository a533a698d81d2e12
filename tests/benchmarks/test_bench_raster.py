"""Mesh rasterizer timings: soft silhouette forward + backward, as in the book's mesh-fitting chapter.

Run with ``pytest tests/benchmarks/test_bench_raster.py --benchmark-only``. ico_sphere(4) (5120 faces),
sigma = gamma = 1e-4, blur_radius = log(1/1e-4 - 1) * sigma; 128x128 with 50 faces per pixel and
256x256 with 100. A brute-force selection (every face against every pixel, one image row at a time,
the work PyTorch3D's CPU kernel does) is timed beside the binned one at 128x128. Peak resident memory
(VmHWM after resetting it through /proc/self/clear_refs) is stored in each benchmark's extra_info.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.backends.torch3d.renderer import (
    BlendParams,
    FoVPerspectiveCameras,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    RasterizationSettings,
    SoftSilhouetteShader,
    TexturesVertex,
    look_at_view_transform,
)
from bench.backends.torch3d.structures import Meshes
from bench.backends.torch3d.utils import ico_sphere, torus

# The module (its name is shadowed by the function it exports, as in PyTorch3D).
rm = importlib.import_module("bench.backends.torch3d.renderer.mesh.rasterize_meshes")
SIGMA = 1e-4
STATUS = Path("/proc/self/status")


def _vm_mb(field: str) -> float | None:
    if not STATUS.exists():
        return None
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _record_memory(benchmark, config: str) -> None:
    """Peak resident memory of one step of ``config`` in a fresh process (so no memory retained by earlier
    rounds hides the peak): VmHWM after the step, and its growth over VmRSS once the inputs are built."""
    out = subprocess.run([sys.executable, __file__, config], capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parents[2])
    if out.returncode == 0 and out.stdout.strip():
        benchmark.extra_info.update(json.loads(out.stdout.strip().splitlines()[-1]))


def _measure(config: str) -> dict:
    step = _STEPS[config]()
    if not _reset_peak():
        return {}
    start = _vm_mb("VmRSS")
    step()
    peak = _vm_mb("VmHWM")
    return {"peak_rss_mb": round(peak, 1), "peak_growth_mb": round(peak - start, 1)}


def _silhouette_step(size: int, k: int):
    sphere = ico_sphere(4)
    faces = sphere.faces_packed()
    R, T = look_at_view_transform(2.7, 10.0, 20.0)
    cam = FoVPerspectiveCameras(R=R, T=T)
    settings = RasterizationSettings(image_size=size, blur_radius=math.log(1.0 / 1e-4 - 1.0) * SIGMA,
                                     faces_per_pixel=k)
    renderer = MeshRenderer(MeshRasterizer(cam, settings), SoftSilhouetteShader(BlendParams(sigma=SIGMA, gamma=SIGMA)))

    def step():
        verts = sphere.verts_packed().clone().requires_grad_(True)
        alpha = renderer(Meshes([verts], [faces]))[..., 3]
        alpha.sum().backward()
        return alpha.detach(), verts.grad

    return step


def _dense_select(fv, face_mesh, h, w, blur_radius, k, perspective_correct, clip, cull_backfaces):
    """Every face against every pixel of a row, row by row: the brute-force search, same per-pair math."""
    ys, xs = rm.pixel_centers_ndc(h, w, fv.dtype, fv.device)
    coef = rm._bary_plane_coefficients(fv, perspective_correct)
    edges = rm._edge_table(fv)
    n_faces = fv.shape[0]
    cand = []
    for n in range(int(face_mesh.max()) + 1 if n_faces else 0):
        ids = (face_mesh == n).nonzero().squeeze(1)
        for r in range(h):
            fi = ids.repeat(w)
            cc = torch.arange(w).repeat_interleave(ids.numel())
            fvi = fv[fi]
            px, py = xs[cc], ys[r].expand(cc.shape)
            bary, pz, inside = rm._bary_depth_fast(coef[fi], px, py, perspective_correct, clip)
            d2, edge = rm._triangle_dist2_edge(edges[fi], px, py)
            ok = (pz >= 0) & (inside | (d2 < blur_radius))
            area = (fvi[:, 2, 0] - fvi[:, 0, 0]) * (fvi[:, 1, 1] - fvi[:, 0, 1]) - \
                (fvi[:, 2, 1] - fvi[:, 0, 1]) * (fvi[:, 1, 0] - fvi[:, 0, 0])
            ok &= area.abs() > rm._EPS
            cand.append([(n * h + r) * w + cc[ok], pz[ok], fi[ok], bary[ok],
                         torch.where(inside, -d2, d2)[ok], edge[ok].to(torch.int8), inside[ok]])
    cols = [torch.cat(t) for t in zip(*cand, strict=True)]
    slot = rm._output_slots(cols, k)
    _, pz, face, bary, dist, edge, inside = cols
    return rm._Pairs(slot, face, pz, bary, dist, edge, inside)


@pytest.mark.benchmark(group="soft-silhouette-128-k50")
def test_soft_silhouette_128_k50_fwd_bwd(benchmark):
    step = _silhouette_step(128, 50)
    alpha, grad = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    _record_memory(benchmark, "silhouette-128")
    assert float(alpha.sum()) > 1000 and torch.isfinite(grad).all()


@pytest.mark.benchmark(group="soft-silhouette-128-k50")
def test_soft_silhouette_128_k50_brute_force_search(benchmark, monkeypatch):
    step = _silhouette_step(128, 50)
    binned_alpha, binned_grad = step()
    monkeypatch.setattr(rm, "_select_faces", torch.no_grad()(_dense_select))
    alpha, grad = benchmark.pedantic(step, rounds=1, iterations=1, warmup_rounds=0)
    # Same fragments, so the same image and gradients as the binned search.
    torch.testing.assert_close(alpha, binned_alpha)
    torch.testing.assert_close(grad, binned_grad)


@pytest.mark.benchmark(group="soft-silhouette-256-k100")
def test_soft_silhouette_256_k100_fwd_bwd(benchmark):
    step = _silhouette_step(256, 100)
    alpha, grad = benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    _record_memory(benchmark, "silhouette-256")
    assert float(alpha.sum()) > 4000 and torch.isfinite(grad).all()


def _phong_step():
    mesh = torus(0.35, 1.0, 125, 200)  # 2 * 125 * 200 = 50,000 faces
    mesh.textures = TexturesVertex([torch.full_like(mesh.verts_packed(), 0.7)])
    R, T = look_at_view_transform(3.0, 40.0, 30.0)
    cam = FoVPerspectiveCameras(R=R, T=T)
    renderer = MeshRenderer(MeshRasterizer(cam, RasterizationSettings(image_size=512, faces_per_pixel=1)),
                            HardPhongShader(cameras=cam))

    def step():
        with torch.no_grad():
            return renderer(mesh)

    return step


@pytest.mark.benchmark(group="phong-512-50k-faces")
def test_hard_phong_512_torus_50k_faces(benchmark):
    img = benchmark.pedantic(_phong_step(), rounds=3, iterations=1, warmup_rounds=1)
    _record_memory(benchmark, "phong-512")
    assert 0.05 < float(img[..., 3].mean()) < 0.9


_STEPS = {
    "silhouette-128": lambda: _silhouette_step(128, 50),
    "silhouette-256": lambda: _silhouette_step(256, 100),
    "phong-512": _phong_step,
}

if __name__ == "__main__":  # used by _record_memory in a fresh process
    print(json.dumps(_measure(sys.argv[1])))
