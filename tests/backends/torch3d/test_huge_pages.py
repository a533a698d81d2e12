"""The rasteriser's large CPU buffers on transparent huge pages (bench.backends.torch3d.renderer.utils.empty_huge):
each is its own private anonymous mapping advised MADV_HUGEPAGE before it is written, unmapped when the tensor is
freed, and the renders and gradients are bit-identical to those of ordinary buffers."""

from __future__ import annotations

import gc
import sys

import pytest
import torch

from bench.backends import load
from bench.backends.torch3d.renderer import utils

MiB = 1 << 20
thp = pytest.mark.skipif(not (sys.platform.startswith("linux") and utils._thp_advisable()),
                         reason="transparent huge pages cannot be advised here (not Linux, or THP mode 'never')")


def _vma_flags(addr: int) -> list[str] | None:
    """The VmFlags of the mapping of this process holding ``addr``, None when no mapping holds it."""
    inside = False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= addr < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    return None


@thp
def test_a_large_buffer_is_an_advised_mapping_released_with_the_tensor():
    t = utils.empty_huge((4, 1024, 1024), torch.float32, "cpu")  # 16 MiB
    assert t.shape == (4, 1024, 1024) and t.dtype == torch.float32 and t.is_contiguous()
    t.fill_(2.0)
    assert float(t.sum()) == 2.0 * t.numel()
    addr = t.data_ptr() + 8 * MiB
    assert "hg" in _vma_flags(addr)  # MADV_HUGEPAGE
    del t
    gc.collect()
    flags = _vma_flags(addr)
    assert flags is None or "hg" not in flags  # unmapped (or the address reused by another mapping)


def test_small_buffers_and_buffers_below_the_threshold_are_plain_torch_empty(monkeypatch):
    small = utils.empty_huge((100,), torch.int64, "cpu")
    assert small.shape == (100,) and small.dtype == torch.int64
    assert utils.empty_huge((0, 3), torch.float32, "cpu").shape == (0, 3)
    if sys.platform.startswith("linux"):
        assert "hg" not in (_vma_flags(small.data_ptr()) or [])
    monkeypatch.setattr(utils, "HUGE_MIN_BYTES", 1 << 62)
    big = utils.empty_huge((8 * MiB,), torch.uint8, "cpu")
    assert big.shape == (8 * MiB,)
    if sys.platform.startswith("linux"):
        big.fill_(1)
        assert "hg" not in (_vma_flags(big.data_ptr() + 4 * MiB) or [])  # above the size, but not advised


@pytest.mark.parametrize("threads", [1, 2])
def test_soft_silhouette_on_huge_page_buffers_is_bit_identical(monkeypatch, threads):
    t3d = load("torch")
    r = t3d.renderer
    sphere = t3d.utils.ico_sphere(3)
    R, T = r.look_at_view_transform(2.7, 10.0, 20.0)
    cameras = r.FoVPerspectiveCameras(R=R, T=T)
    raster = r.RasterizationSettings(image_size=96, blur_radius=2e-4, faces_per_pixel=40)
    shader = r.SoftSilhouetteShader(blend_params=r.BlendParams(sigma=1e-4))
    renderer = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cameras, raster_settings=raster), shader=shader)

    def render(min_bytes: int) -> tuple[torch.Tensor, torch.Tensor]:
        monkeypatch.setattr(utils, "HUGE_MIN_BYTES", min_bytes)
        verts = sphere.verts_packed().detach().clone().requires_grad_(True)
        alpha = renderer(t3d.structures.Meshes(verts=[verts], faces=[sphere.faces_packed()]))[..., 3]
        (alpha * torch.linspace(0, 1, alpha.numel()).view(alpha.shape)).sum().backward()
        return alpha.detach(), verts.grad

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        plain, mapped = render(1 << 62), render(1)  # 1: every non-empty buffer through empty_huge
    finally:
        torch.set_num_threads(previous)
    assert float(plain[0].sum()) > 100  # the sphere covers pixels
    assert torch.equal(plain[0], mapped[0])
    if threads == 1:
        assert torch.equal(plain[1], mapped[1])
    else:  # band sums added in finishing order (rasterize_meshes._KeptPairsFn): float32 rounding
        torch.testing.assert_close(plain[1], mapped[1], rtol=1e-5, atol=1e-6)
