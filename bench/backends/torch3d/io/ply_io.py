"""PLY reading and writing through trimesh, with PyTorch3D's ``io.load_ply`` / ``io.save_ply`` types."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import trimesh

from .errors import MeshFileError


def load_ply(f: str | os.PathLike, *, path_manager=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a PLY mesh or point cloud: verts (V, 3) float32 in file order, faces (F, 3) int64 ((0, 3) if none).

    Polygon faces are triangulated as fans around their first vertex.
    """
    path = Path(f)
    if not path.is_file():
        raise FileNotFoundError(f"load_ply: no such file: {path}")
    try:
        data = trimesh.exchange.ply.load_ply(open(path, "rb"), prefer_color=None, fix_texture=False)
    except Exception as exc:  # trimesh raises a variety of parse errors
        raise MeshFileError(f"load_ply: cannot parse {path}: {' '.join(str(exc).split())[:200]}") from None
    verts = torch.as_tensor(np.asarray(data.get("vertices", np.zeros((0, 3))), dtype=np.float32)).reshape(-1, 3)
    faces_np = data.get("faces")
    if faces_np is None or len(faces_np) == 0:
        faces = torch.zeros((0, 3), dtype=torch.int64)
    else:
        faces_np = np.asarray(faces_np)
        if faces_np.ndim > 2 or (faces_np.ndim == 2 and faces_np.shape[1] < 3) or (
                faces_np.ndim == 1 and faces_np.dtype != object) or (
                faces_np.ndim == 1 and any(np.ndim(p) != 1 or len(p) < 3 for p in faces_np)):
            raise MeshFileError(f"load_ply: {path} has faces of fewer than 3 vertex indices (or counts that do not "
                                f"match the header's element sizes)")
        if faces_np.ndim == 1:  # ragged polygons
            faces_np = np.array([[p[0], p[i], p[i + 1]] for p in faces_np for i in range(1, len(p) - 1)])
        elif faces_np.shape[1] > 3:
            faces_np = np.concatenate([faces_np[:, [0, i, i + 1]] for i in range(1, faces_np.shape[1] - 1)], 0)
        faces = torch.as_tensor(faces_np.astype(np.int64)).reshape(-1, 3)
    if not torch.isfinite(verts).all():
        raise MeshFileError(f"load_ply: {path} has non-finite (NaN or inf) vertex coordinates")
    if len(faces) and (int(faces.min()) < 0 or int(faces.max()) >= len(verts)):
        raise MeshFileError(f"load_ply: {path} has face indices outside [0, {len(verts) - 1}]")
    return verts, faces


def save_ply(f: str | os.PathLike, verts: torch.Tensor, faces: torch.Tensor | None = None,
             verts_normals: torch.Tensor | None = None, ascii: bool = False, decimal_places: int | None = None,
             path_manager=None) -> None:
    """Write verts (V, 3), optional faces (F, 3) and per-vertex normals (V, 3) as PLY (binary unless ascii)."""
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"save_ply: verts must have shape (V, 3), got {tuple(verts.shape)}")
    if faces is not None and len(faces):
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"save_ply: faces must have shape (F, 3), got {tuple(faces.shape)}")
        if int(faces.min()) < 0 or int(faces.max()) >= len(verts):
            raise ValueError(f"save_ply: faces index outside [0, {len(verts) - 1}]")
    if verts_normals is not None and verts_normals.shape != verts.shape:
        raise ValueError(f"save_ply: verts_normals must have shape {tuple(verts.shape)}")
    v = verts.detach().cpu().double().numpy()
    if decimal_places is not None:
        v = v.round(decimal_places)
    encoding = "ascii" if ascii else "binary"
    if faces is not None and len(faces):
        mesh = trimesh.Trimesh(v, faces.detach().cpu().numpy(), process=False, validate=False)
        if verts_normals is not None:
            mesh.vertex_normals = verts_normals.detach().cpu().numpy()
        blob = trimesh.exchange.ply.export_ply(mesh, encoding=encoding,
                                               include_attributes=verts_normals is not None)
    else:
        cloud = trimesh.PointCloud(v)
        blob = trimesh.exchange.ply.export_ply(cloud, encoding=encoding)
        if verts_normals is not None:
            raise ValueError("save_ply: verts_normals without faces is not supported; save a mesh or drop the normals")
    Path(f).write_bytes(blob)
