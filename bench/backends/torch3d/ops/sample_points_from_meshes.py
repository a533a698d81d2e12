"""Uniform random points on mesh surfaces (PyTorch3D's ``ops.sample_points_from_meshes``)."""

from __future__ import annotations

import sys
from collections import namedtuple

import torch

from ..structures.meshes import Meshes
from .packed_to_padded import packed_to_padded

# Same fields as the rasteriser's Fragments: textures only read pix_to_face and bary_coords.
_Fragments = namedtuple("Fragments", "pix_to_face zbuf bary_coords dists")


def _rand_barycentric_coords(size1: int, size2: int, dtype: torch.dtype, device: torch.device):
    """Barycentric weights (w0, w1, w2), each (size1, size2), uniform over a triangle (sqrt trick)."""
    uv = torch.rand(2, size1, size2, dtype=dtype, device=device)
    u, v = uv[0], uv[1]
    u_sqrt = u.sqrt()
    return 1.0 - u_sqrt, u_sqrt * (1.0 - v), u_sqrt * v


def sample_points_from_meshes(meshes: Meshes, num_samples: int = 10000, return_normals: bool = False,
                              return_textures: bool = False):
    """Sample (N, num_samples, 3) points uniformly by area on each mesh; differentiable in the vertices.

    Faces are drawn with probability proportional to their area, then a uniform point in the face.
    Returns samples, plus (N, S, 3) face normals and/or (N, S, C) texture values when asked.
    Meshes without faces get all-zero samples.
    """
    if not isinstance(meshes, Meshes):
        raise ValueError(f"sample_points_from_meshes: meshes must be a Meshes, got {type(meshes).__name__}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"sample_points_from_meshes: num_samples must be a positive int, got {num_samples!r}")
    if meshes.isempty():
        raise ValueError("sample_points_from_meshes: meshes are empty (no faces)")
    verts = meshes.verts_packed()
    if not torch.isfinite(verts).all():
        raise ValueError("sample_points_from_meshes: meshes contain NaN or inf vertices")
    if return_textures and meshes.textures is None:
        raise ValueError("sample_points_from_meshes: return_textures=True but the meshes have no textures")
    faces = meshes.faces_packed()
    valid = meshes.valid
    n_valid = int(valid.sum())
    first = meshes.mesh_to_faces_packed_first_idx()[valid]
    fv = verts.index_select(0, faces.reshape(-1)).view(-1, 3, 3)  # (F, 3, 3), differentiable
    with torch.no_grad():
        # Face areas as mesh_face_areas_normals computes them (same values, so the same seeded draws).
        areas = 0.5 * torch.linalg.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0], dim=1).norm(dim=1)
        max_faces = int(meshes.num_faces_per_mesh().max())
        areas_padded = areas[None] if len(meshes) == 1 else packed_to_padded(areas, first, max_faces)
        zero_area = areas_padded.sum(1) <= 0
        if zero_area.any():  # all faces degenerate: fall back to uniform over real faces
            counts = meshes.num_faces_per_mesh()[valid]
            uniform = (torch.arange(max_faces, device=verts.device)[None] < counts[:, None]).to(areas_padded.dtype)
            areas_padded = torch.where(zero_area[:, None], uniform, areas_padded)
        face_idx = areas_padded.multinomial(num_samples, replacement=True) + first[:, None]
    # One row gather (n_valid * S, 3, 3) instead of three advanced-index gathers.
    sel = fv.index_select(0, face_idx.reshape(-1)).view(n_valid, num_samples, 3, 3)
    w0, w1, w2 = _rand_barycentric_coords(n_valid, num_samples, verts.dtype, verts.device)
    pts = w0[..., None] * sel[:, :, 0] + w1[..., None] * sel[:, :, 1] + w2[..., None] * sel[:, :, 2]
    rows = valid.nonzero()[:, 0]
    samples = pts if n_valid == len(meshes) else verts.new_zeros((len(meshes), num_samples, 3)).index_put((rows,), pts)
    out = [samples]
    if return_normals:
        v0, v1, v2 = fv.unbind(1)
        n = torch.linalg.cross(v1 - v0, v2 - v1, dim=1)
        n = n / n.norm(dim=1, keepdim=True).clamp(min=sys.float_info.epsilon)
        normals = verts.new_zeros((len(meshes), num_samples, 3))
        out.append(normals.index_put((rows,), n[face_idx]))
    if return_textures:
        out.append(_sample_textures(meshes, face_idx, valid, (w0, w1, w2)))
    return out[0] if len(out) == 1 else tuple(out)


def _sample_textures(meshes: Meshes, face_idx: torch.Tensor, valid: torch.Tensor, bary) -> torch.Tensor:
    """(N, S, C) texture values at the sampled points, through the textures' own sampler."""
    N = len(meshes)
    S = face_idx.shape[1]
    pix = face_idx.new_full((N, S), -1)
    pix[valid] = face_idx
    b = torch.stack(bary, 2)
    bary_full = b.new_zeros((N, S, 3))
    bary_full[valid] = b
    dummy = b.new_zeros((N, S, 1, 1))
    frags = _Fragments(pix_to_face=pix.view(N, S, 1, 1), zbuf=dummy,
                       bary_coords=bary_full.view(N, S, 1, 1, 3), dists=dummy)
    return meshes.sample_textures(frags)[:, :, 0, 0, :]
