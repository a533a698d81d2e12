"""Per-face texture atlas: an R x R grid of colours per triangle, sampled from its material."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _face_barycentric_grid(R: int, device: torch.device) -> torch.Tensor:
    """(R, R, 3) barycentric coordinates of the texel centres of a triangle split into R x R cells."""
    rng = torch.arange(R, device=device, dtype=torch.float32)
    y, x = torch.meshgrid(rng, rng, indexing="ij")
    grid = torch.stack([x, y], -1)
    lower = grid.sum(-1) < R  # cells below the anti-diagonal map inside the triangle directly
    b01 = torch.where(lower[..., None], (grid + 1.0 / 3.0) / R, ((R - 1.0 - grid) + 2.0 / 3.0) / R)
    return torch.cat([b01, 1.0 - b01.sum(-1, keepdim=True)], -1)


def sample_image_at_uvs(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear colours (..., C) of an (H, W, C) image at UVs (..., 2) with (0, 0) at the bottom-left."""
    grid = uv * 2.0 - 1.0
    grid = torch.stack([grid[..., 0], -grid[..., 1]], -1)
    flat = grid.reshape(1, 1, -1, 2).to(image.dtype)
    out = F.grid_sample(image.permute(2, 0, 1)[None], flat, mode="bilinear", align_corners=False)
    return out[0, :, 0].t().reshape(*uv.shape[:-1], image.shape[2])


def make_texture_atlas(material_colors: dict, texture_images: dict, material_names: list[str],
                       materials_idx: torch.Tensor, textures_idx: torch.Tensor, verts_uvs: torch.Tensor,
                       texture_size: int, texture_wrap: str | None) -> torch.Tensor:
    """(F, R, R, 3) atlas: white, or the material's diffuse colour, or its texture sampled over the face."""
    if texture_wrap not in ("repeat", "clamp", None):
        raise ValueError(f"load_obj: texture_wrap must be 'repeat', 'clamp' or None, got {texture_wrap!r}")
    if not isinstance(texture_size, int) or texture_size < 1:
        raise ValueError(f"load_obj: texture_atlas_size must be a positive int, got {texture_size!r}")
    R, Fn = texture_size, len(materials_idx)
    atlas = torch.ones((Fn, R, R, 3))
    bary = _face_barycentric_grid(R, atlas.device)
    for m, name in enumerate(material_names):
        faces = (materials_idx == m).nonzero()[:, 0]
        if not len(faces):
            continue
        props = material_colors.get(name, {})
        if "diffuse_color" in props:
            atlas[faces] = props["diffuse_color"].cpu()[:3].view(1, 1, 1, 3)
        if name in texture_images and verts_uvs is not None and len(verts_uvs):
            faces = faces[(textures_idx[faces] >= 0).all(1)]
            uv = verts_uvs[textures_idx[faces]]  # (F', 3, 2)
            if texture_wrap == "repeat":
                uv = torch.where((uv > 1) | (uv < 0), uv % 1, uv)
            elif texture_wrap == "clamp":
                uv = uv.clamp(0, 1)
            uv_pos = (uv[:, None, None] * bary[None, ..., None]).sum(-2)  # (F', R, R, 2)
            atlas[faces] = sample_image_at_uvs(texture_images[name].cpu()[..., :3].float(), uv_pos)
    return atlas
