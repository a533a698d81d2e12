"""Wavefront OBJ reading and writing with PyTorch3D's return types (``io.load_obj``, ``io.save_obj``)."""

from __future__ import annotations

import io
import os
from collections import namedtuple
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image

from .errors import MeshFileError, decode_text
from .mtl_io import load_materials
from .texture_atlas import make_texture_atlas

Faces = namedtuple("Faces", "verts_idx normals_idx textures_idx materials_idx")
Properties = namedtuple("Properties", "normals verts_uvs material_colors texture_images texture_atlas")

PathOrFile = str | os.PathLike | IO


def _open_text(f: PathOrFile) -> tuple[list[str], Path, str]:
    """Lines of the file, its folder (where MTL and images are looked up) and a name for messages."""
    if isinstance(f, (str, os.PathLike)):
        path = Path(f)
        if not path.is_file():
            raise FileNotFoundError(f"load_obj: no such file: {path}")
        return decode_text(path.read_bytes(), str(path)).splitlines(), path.parent, str(path)
    data = f.read()
    name = getattr(f, "name", "<stream>")
    if isinstance(data, bytes):
        data = decode_text(data, str(name))
    folder = Path(name).parent if isinstance(name, str) and name != "<stream>" else Path(".")
    return data.splitlines(), folder, str(name)


def _floats(tokens: list[str], n: int, where: str) -> list[float]:
    try:
        vals = [float(t) for t in tokens[:n]]
    except ValueError:
        raise MeshFileError(f"{where}: expected {n} numbers, got {' '.join(tokens)!r}") from None
    if len(vals) < n:
        raise MeshFileError(f"{where}: expected {n} numbers, got {' '.join(tokens)!r}")
    return vals


def _parse_obj(lines: list[str], name: str):
    verts, normals, uvs = [], [], []
    fv, fn, ft, fm = [], [], [], []
    materials: list[str] = []
    current = -1
    mtl_file = None
    for lineno, line in enumerate(lines, 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        key, rest, where = tokens[0], tokens[1:], f"{name}:{lineno}"
        if key == "v":
            verts.append(_floats(rest, 3, where))
        elif key == "vn":
            normals.append(_floats(rest, 3, where))
        elif key == "vt":
            uvs.append(_floats(rest, 2, where))
        elif key == "mtllib":
            if not rest:
                raise MeshFileError(f"{where}: mtllib without a file name")
            mtl_file = line.split("#", 1)[0].strip()[len("mtllib"):].strip()
        elif key == "usemtl":
            mat = rest[0] if rest else ""
            if mat not in materials:
                materials.append(mat)
            current = materials.index(mat)
        elif key == "f":
            corners = [c.split("/") for c in rest]
            if len(corners) < 3:
                raise MeshFileError(f"{where}: a face needs at least 3 vertices, got {line.strip()!r}")
            try:
                v = [int(c[0]) for c in corners]
                t = [int(c[1]) if len(c) > 1 and c[1] else 0 for c in corners]
                n = [int(c[2]) if len(c) > 2 and c[2] else 0 for c in corners]
            except ValueError:
                raise MeshFileError(f"{where}: bad face indices in {line.strip()!r}") from None
            if any(len(c) > 3 for c in corners):
                raise MeshFileError(f"{where}: bad face statement {line.strip()!r}")
            if 0 in v or 0 in [x for c, x in zip(corners, t, strict=True) if len(c) > 1 and c[1]] \
                    or 0 in [x for c, x in zip(corners, n, strict=True) if len(c) > 2 and c[2]]:
                # OBJ indices are 1-based (negative: relative); PyTorch3D leaves a 0 as index 0 (only warning
                # when out of range), which silently makes a different face: refused here.
                raise MeshFileError(f"{where}: face index 0 in {line.strip()!r}; OBJ indices start at 1")
            for i in range(1, len(v) - 1):  # polygons become a fan of triangles around the first corner
                tri = (0, i, i + 1)
                fv.append([v[k] for k in tri])
                ft.append([t[k] for k in tri])
                fn.append([n[k] for k in tri])
                fm.append(current)
    return verts, normals, uvs, fv, fn, ft, fm, materials, mtl_file


def _to_zero_based(idx: list[list[int]], count: int, what: str, name: str, optional: bool) -> torch.Tensor:
    """OBJ 1-based (or negative, relative) indices to 0-based; missing ones (0) become -1 when optional."""
    t = torch.tensor(idx, dtype=torch.int64).reshape(-1, 3)
    missing = t == 0
    t = torch.where(t > 0, t - 1, t + count)
    bad = ~missing & ((t < 0) | (t >= count))
    if bad.any():
        raise MeshFileError(f"load_obj: {name} has {what} indices out of range (only {count} {what} defined)")
    if optional:
        # a face either has the attribute at all corners or not at all
        rows = missing.all(1)
        if (missing.any(1) & ~rows).any():
            raise MeshFileError(f"load_obj: {name} has faces with {what} indices on only some corners")
        t[rows] = -1
    elif missing.any():
        raise MeshFileError(f"load_obj: {name} has a face with vertex index 0 (OBJ indices start at 1)")
    return t


def load_obj(f: PathOrFile, load_textures: bool = True, create_texture_atlas: bool = False,
             texture_atlas_size: int = 4, texture_wrap: str | None = "repeat", device: str | torch.device = "cpu",
             path_manager=None):
    """Read an OBJ file: verts (V, 3), Faces(verts_idx, normals_idx, textures_idx (F, 3), materials_idx (F,)), aux.

    Polygons are triangulated as fans; absent normal/UV/material indices are -1. Properties holds
    normals (Vn, 3), verts_uvs (T, 2), material_colors, texture_images ((H, W, 3) in [0, 1]) and,
    with create_texture_atlas, a per-face (F, R, R, 3) texture_atlas.
    """
    lines, folder, name = _open_text(f)
    verts, normals, uvs, fv, fn, ft, fm, materials, mtl_file = _parse_obj(lines, name)
    verts_t = torch.tensor(verts, dtype=torch.float32).reshape(-1, 3)
    if not torch.isfinite(verts_t).all():
        raise MeshFileError(f"load_obj: {name} has non-finite (NaN or inf) vertex coordinates")
    normals_t = torch.tensor(normals, dtype=torch.float32).reshape(-1, 3)
    uvs_t = torch.tensor(uvs, dtype=torch.float32).reshape(-1, 2)
    verts_idx = _to_zero_based(fv, len(verts_t), "vertex", name, optional=False)
    normals_idx = _to_zero_based(fn, len(normals_t), "normal", name, optional=True)
    textures_idx = _to_zero_based(ft, len(uvs_t), "texture", name, optional=True)
    materials_idx = torch.tensor(fm, dtype=torch.int64)
    mtl_path = folder / mtl_file if mtl_file else None
    colors, images = load_materials(materials, mtl_path, folder, load_textures, device)
    if colors and not materials:  # one material in the MTL and no usemtl: every face uses it
        materials = [next(iter(colors))]
        materials_idx = materials_idx.clamp(min=0)
    atlas = None
    if create_texture_atlas:
        atlas = make_texture_atlas(colors or {}, images or {}, materials, materials_idx, textures_idx, uvs_t,
                                   texture_atlas_size, texture_wrap)
    faces = Faces(verts_idx.to(device), normals_idx.to(device), textures_idx.to(device), materials_idx.to(device))
    aux = Properties(normals=normals_t.to(device) if len(normals_t) else None,
                     verts_uvs=uvs_t.to(device) if len(uvs_t) else None,
                     material_colors=colors, texture_images=images,
                     texture_atlas=atlas.to(device) if atlas is not None else None)
    return verts_t.to(device), faces, aux


def save_obj(f: str | os.PathLike, verts: torch.Tensor, faces: torch.Tensor, decimal_places: int | None = None,
             path_manager=None, *, normals: torch.Tensor | None = None, faces_normals_idx: torch.Tensor | None = None,
             verts_uvs: torch.Tensor | None = None, faces_uvs: torch.Tensor | None = None,
             texture_map: torch.Tensor | None = None) -> None:
    """Write verts (V, 3) and faces (F, 3) (and optional normals, UVs and an (H, W, 3) texture map) as OBJ."""
    if verts.ndim != 2 or verts.shape[1] != 3 or (len(faces) and (faces.ndim != 2 or faces.shape[1] != 3)):
        raise ValueError(f"save_obj: verts must be (V, 3) and faces (F, 3), got {tuple(verts.shape)} and "
                         f"{tuple(faces.shape)}")
    if len(faces) and (int(faces.min()) < 0 or int(faces.max()) >= len(verts)):
        raise ValueError(f"save_obj: faces index outside [0, {len(verts) - 1}]")
    if (normals is None) != (faces_normals_idx is None):
        raise ValueError("save_obj: give both normals and faces_normals_idx, or neither")
    textured = texture_map is not None or verts_uvs is not None or faces_uvs is not None
    if textured and (texture_map is None or verts_uvs is None or faces_uvs is None):
        raise ValueError("save_obj: texture_map, verts_uvs and faces_uvs must be given together")
    if textured and (texture_map.ndim != 3 or texture_map.shape[2] != 3):
        raise ValueError(f"save_obj: texture_map must have shape (H, W, 3), got {tuple(texture_map.shape)}")
    path = Path(f)
    fmt = f"%.{decimal_places}f" if decimal_places is not None else "%f"
    out = io.StringIO()
    if textured:
        out.write(f"mtllib {path.stem}.mtl\nusemtl mesh\n\n")

    def rows(prefix: str, arr: torch.Tensor) -> None:
        if len(arr):
            out.write("".join(prefix + " " + " ".join(fmt % x for x in r) + "\n" for r in arr.detach().cpu().tolist()))

    rows("v", verts)
    if normals is not None:
        rows("vn", normals)
    if textured:
        rows("vt", verts_uvs)
    fi = (faces.detach().cpu() + 1).tolist()
    ni = (faces_normals_idx.detach().cpu() + 1).tolist() if normals is not None else None
    ti = (faces_uvs.detach().cpu() + 1).tolist() if textured else None
    for k, face in enumerate(fi):
        corners = []
        for c in range(3):
            t = str(ti[k][c]) if ti is not None else ""
            n = f"/{ni[k][c]}" if ni is not None else ""
            corners.append(f"{face[c]}/{t}{n}" if (t or n) else str(face[c]))
        out.write("f " + " ".join(corners) + "\n")
    path.write_text(out.getvalue())
    if textured:
        image = (texture_map.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(image).save(path.with_suffix(".png"))
        path.with_suffix(".mtl").write_text(f"newmtl mesh\nmap_Kd {path.stem}.png\n"
                                            "Ka 1.0 1.0 1.0\nKd 1.0 1.0 1.0\nKs 0.0 0.0 0.0\nNs 10.0\n")
