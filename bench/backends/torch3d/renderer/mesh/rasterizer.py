"""``MeshRasterizer``: world meshes -> per-pixel fragments, as ``pytorch3d.renderer.MeshRasterizer``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .rasterize_meshes import rasterize_meshes


class Fragments(NamedTuple):
    """Per-pixel top-K faces: pix_to_face (N, H, W, K) packed face ids or -1, zbuf (N, H, W, K) view depth,
    bary_coords (N, H, W, K, 3), dists (N, H, W, K) signed squared NDC distances (negative inside)."""

    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: torch.Tensor | None

    def detach(self) -> Fragments:
        return Fragments(*(t.detach() if t is not None else None for t in self))


@dataclass
class RasterizationSettings:
    """Rasteriser options with PyTorch3D's names; ``image_size`` is an int or (H, W).

    ``blur_radius`` is compared with squared NDC distances (as in PyTorch3D). ``bin_size`` and
    ``max_faces_per_bin`` are accepted for compatibility; binning is automatic here.
    """

    image_size: int | tuple[int, int] = 256
    blur_radius: float = 0.0
    faces_per_pixel: int = 1
    bin_size: int | None = None
    max_faces_per_bin: int | None = None
    perspective_correct: bool | None = None
    clip_barycentric_coords: bool | None = None
    cull_backfaces: bool = False
    z_clip_value: float | None = None
    cull_to_frustum: bool = False


class MeshRasterizer(nn.Module):
    """Projects world meshes with ``cameras`` and rasterises them; returns :class:`Fragments`."""

    def __init__(self, cameras=None, raster_settings: RasterizationSettings | None = None) -> None:
        super().__init__()
        self.cameras = cameras
        self.raster_settings = raster_settings if raster_settings is not None else RasterizationSettings()

    def to(self, device):  # type: ignore[override]
        if self.cameras is not None:
            self.cameras = self.cameras.to(device)
        return self

    def transform(self, meshes_world, **kwargs):
        """Meshes with vertices in NDC (x, y) and view-space depth (z)."""
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError("cameras: none given to MeshRasterizer or to its forward call")
        n_cam, n_mesh = len(cameras), len(meshes_world)
        if n_cam not in (1, n_mesh):
            raise ValueError(f"cameras: expected 1 or {n_mesh} cameras (one per mesh), got {n_cam}")
        eps = kwargs.get("eps", None)
        verts_world = meshes_world.verts_padded()
        verts_view = cameras.get_world_to_view_transform(**kwargs).transform_points(verts_world, eps=eps)
        to_ndc = cameras.get_projection_transform(**kwargs).compose(cameras.get_ndc_camera_transform(**kwargs))
        verts_ndc = to_ndc.transform_points(verts_view, eps=eps)
        verts_ndc = torch.cat((verts_ndc[..., :2], verts_view[..., 2:3]), -1)
        return meshes_world.update_padded(new_verts_padded=verts_ndc)

    def forward(self, meshes_world, **kwargs) -> Fragments:
        """Fragments of ``meshes_world``; kwargs may override ``cameras``, ``raster_settings``, ``R``, ``T``."""
        settings = kwargs.get("raster_settings", self.raster_settings)
        cameras = kwargs.get("cameras", self.cameras)
        meshes_proj = self.transform(meshes_world, **kwargs)
        perspective_correct = settings.perspective_correct
        if perspective_correct is None:
            perspective_correct = cameras.is_perspective()
        clip = settings.clip_barycentric_coords
        if clip is None:  # PyTorch3D's MeshRasterizer: clip where blurred pixels lie outside their faces
            clip = settings.blur_radius > 0.0
        pix_to_face, zbuf, bary, dists = rasterize_meshes(
            meshes_proj, image_size=settings.image_size, blur_radius=settings.blur_radius,
            faces_per_pixel=settings.faces_per_pixel, bin_size=settings.bin_size,
            max_faces_per_bin=settings.max_faces_per_bin, perspective_correct=perspective_correct,
            clip_barycentric_coords=clip, cull_backfaces=settings.cull_backfaces,
            z_clip_value=settings.z_clip_value, cull_to_frustum=settings.cull_to_frustum)
        return Fragments(pix_to_face=pix_to_face, zbuf=zbuf, bary_coords=bary, dists=dists)
