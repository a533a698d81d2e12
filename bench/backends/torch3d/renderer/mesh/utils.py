"""Per-pixel interpolation of per-face-vertex attributes (PyTorch3D's ``ops.interpolate_face_attributes``)."""

from __future__ import annotations

import torch


def interpolate_face_attributes(pix_to_face: torch.Tensor, barycentric_coords: torch.Tensor,
                                face_attributes: torch.Tensor) -> torch.Tensor:
    """Barycentric blend of face-vertex attributes at each fragment; empty fragments (face -1) get 0.

    pix_to_face: (N, H, W, K); barycentric_coords: (N, H, W, K, 3); face_attributes: (F, 3, D).
    Returns (N, H, W, K, D). Only occupied fragments are gathered, so memory follows coverage.
    """
    if face_attributes.dim() != 3 or face_attributes.shape[1] != 3:
        raise ValueError(f"face_attributes: expected shape (F, 3, D), got {tuple(face_attributes.shape)}")
    if barycentric_coords.shape[:-1] != pix_to_face.shape or barycentric_coords.shape[-1] != 3:
        raise ValueError(f"barycentric_coords: expected shape {tuple(pix_to_face.shape) + (3,)}, "
                         f"got {tuple(barycentric_coords.shape)}")
    d = face_attributes.shape[-1]
    flat_faces = pix_to_face.reshape(-1)
    occupied = (flat_faces >= 0).nonzero().squeeze(1)
    faces = flat_faces.index_select(0, occupied)
    bary = barycentric_coords.reshape(-1, 3).index_select(0, occupied)
    vals = (bary[:, :, None] * face_attributes.index_select(0, faces)).sum(1)
    out = face_attributes.new_zeros(flat_faces.shape[0], d).index_put_((occupied,), vals)
    return out.view(pix_to_face.shape + (d,))
