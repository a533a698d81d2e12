"""Procedural meshes (ico-sphere, torus, ellipsoid, Utah teapot, box) and user OBJ/PLY files.

``make_mesh`` returns plain tensors so any backend's ``Meshes`` can wrap them; the
``meshes`` generated dataset writes a seeded set of them as OBJ files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh

from bench.data.generated.teapot import teapot
from bench.data.report import Problems
from bench.errors import DataError, unknown_name

SHAPES = ("ico_sphere", "torus", "ellipsoid", "teapot", "box", "file")


def _ico(level: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 <= int(level) <= 7:
        raise ValueError(f"level must be an integer in 0..7, got {level!r}")
    m = trimesh.creation.icosphere(subdivisions=int(level), radius=float(radius))
    return np.asarray(m.vertices), np.asarray(m.faces)


def _teapot(resolution: int = 8, normalize: bool = True, y_up: bool = True) -> tuple[np.ndarray, np.ndarray]:
    v, f = teapot(resolution)
    if y_up:  # teapot data is z-up; PyTorch3D's world is y-up: (x, y, z) -> (x, z, -y)
        v = np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)
    if normalize:  # centre the bounding box, fit in the unit sphere
        v = v - 0.5 * (v.min(0) + v.max(0))
        v = v / np.linalg.norm(v, axis=1).max()
    return v, f


def validate_mesh(verts: Any, faces: Any, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(verts (V, 3) float64, faces (F, 3) int64)`` of a mesh read from ``path``, or a one-line DataError:
    at least one vertex and one face, 3-D finite vertices, triangles indexing existing vertices."""
    v = np.asarray(verts.detach().cpu() if isinstance(verts, torch.Tensor) else verts)
    f = np.asarray(faces.detach().cpu() if isinstance(faces, torch.Tensor) else faces)
    if v.dtype.kind not in "iuf" or f.dtype.kind not in "iu":
        raise DataError(f"{path}: vertices/faces are not numeric ({v.dtype}, {f.dtype})")
    if v.ndim != 2 or v.shape[1] != 3:
        raise DataError(f"{path}: vertices have shape {v.shape}; expected (V, 3) 3-D points")
    if len(v) == 0:
        raise DataError(f"{path}: has no vertices; expected a mesh with vertices and faces")
    if f.size == 0:
        raise DataError(f"{path}: has no faces; expected a triangle mesh, not a point cloud")
    if f.ndim != 2 or f.shape[1] != 3:
        raise DataError(f"{path}: faces have shape {f.shape}; expected (F, 3) triangles")
    if not np.all(np.isfinite(v)):
        bad = int(np.flatnonzero(~np.isfinite(v).all(1))[0])
        raise DataError(f"{path}: vertex {bad} has NaN or infinite coordinates {v[bad].tolist()}; "
                        "expected finite numbers")
    if f.min() < 0 or f.max() >= len(v):
        raise DataError(f"{path}: face indices span {int(f.min())}..{int(f.max())}; expected 0..{len(v) - 1}")
    return v.astype(np.float64), f.astype(np.int64)


def load_mesh_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and triangle faces (F, 3) of an OBJ/PLY/OFF/STL file, unchanged (file order, no merging).

    OBJ and PLY are read by the built-in backend's strict readers (1-based OBJ indices, UTF-8 text, finite
    numbers; polygons as triangle fans), other formats by trimesh; every mesh then passes
    :func:`validate_mesh`. Any problem is one DataError naming the file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: mesh file is missing")
    suffix = path.suffix.lower()
    try:
        if suffix == ".obj":
            from bench.backends.torch3d.io import load_obj

            v, faces, _ = load_obj(path, load_textures=False)
            f = faces.verts_idx
        elif suffix == ".ply":
            from bench.backends.torch3d.io import load_ply

            v, f = load_ply(path)
        else:
            m = trimesh.load(path, force="mesh", process=False, skip_materials=True, maintain_order=True)
            if not isinstance(m, trimesh.Trimesh):
                raise DataError(f"{path}: has no triangle faces")
            v, f = np.asarray(m.vertices), np.asarray(m.faces)
    except DataError:
        raise
    except Exception as exc:  # trimesh and the readers raise many types for malformed files
        msg = " ".join(str(exc).split())[:200]
        raise DataError(f"{path}: not a readable mesh ({type(exc).__name__}: {msg})") from None
    return validate_mesh(v, f, path)


def make_mesh(name: str, **params: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A procedural mesh: verts FloatTensor (V, 3), faces LongTensor (F, 3), outward-facing.

    Shapes and parameters: ``ico_sphere(level=3, radius=1)``, ``torus(major=1, minor=0.3,
    sections=(32, 16))``, ``ellipsoid(radii=(1, 0.7, 0.5), level=3)``, ``teapot(resolution=8,
    normalize=True, y_up=True)``, ``box(extents=(1, 1, 1))``, ``file(path=...)`` (OBJ/PLY).
    """
    try:
        if name == "ico_sphere":
            v, f = _ico(params.get("level", 3), params.get("radius", 1.0))
        elif name == "ellipsoid":
            v, f = _ico(params.get("level", 3), 1.0)
            v = v * np.asarray(params.get("radii", (1.0, 0.7, 0.5)), dtype=np.float64)
        elif name == "torus":
            sections = params.get("sections", (32, 16))
            m = trimesh.creation.torus(major_radius=float(params.get("major", 1.0)),
                                       minor_radius=float(params.get("minor", 0.3)),
                                       major_sections=int(sections[0]), minor_sections=int(sections[1]))
            v, f = np.asarray(m.vertices), np.asarray(m.faces)
        elif name == "teapot":
            v, f = _teapot(**params)
        elif name in ("box", "cube"):
            m = trimesh.creation.box(extents=params.get("extents", (1.0, 1.0, 1.0)))
            v, f = np.asarray(m.vertices), np.asarray(m.faces)
        elif name == "file":
            if "path" not in params:
                raise ValueError("shape 'file' needs path=<OBJ/PLY file>")
            v, f = load_mesh_file(params["path"])
        else:
            raise unknown_name("mesh shape", name, SHAPES)
    except TypeError as exc:
        raise ValueError(f"bad parameters for mesh shape {name!r}: {exc}") from exc
    return torch.tensor(v, dtype=torch.float32), torch.tensor(f, dtype=torch.int64)


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """A plain OBJ (fixed 6-decimal floats, 1-based faces): byte-stable for the same mesh."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(verts, dtype=np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, dtype=np.int64)]
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")


def random_shape(rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    """A primitive with seeded random proportions (for datasets of varied shapes)."""
    kind = ("ellipsoid", "box", "torus", "teapot")[int(rng.integers(4))]
    if kind == "ellipsoid":
        return kind, {"radii": tuple(np.round(rng.uniform(0.4, 1.0, 3), 3).tolist()), "level": 3}
    if kind == "box":
        return kind, {"extents": tuple(np.round(rng.uniform(0.5, 1.4, 3), 3).tolist())}
    if kind == "torus":
        return kind, {"major": round(float(rng.uniform(0.6, 0.9)), 3),
                      "minor": round(float(rng.uniform(0.15, 0.35)), 3),
                      "sections": (32, 12)}
    return kind, {"resolution": 6}


def generate_meshes(out: Path, seed: int, shapes: list[str], random_count: int) -> None:
    """The ``meshes`` dataset: one OBJ per named default shape plus ``random_count`` seeded primitives."""
    rng = np.random.default_rng(seed)
    for name in shapes:
        v, f = make_mesh(name)
        write_obj(out / f"{name}.obj", v.numpy(), f.numpy())
    for i in range(random_count):
        kind, params = random_shape(rng)
        v, f = make_mesh(kind, **params)
        write_obj(out / f"random_{i:03d}_{kind}.obj", v.numpy(), f.numpy())


def load_meshes(root: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{stem: (verts (V, 3), faces (F, 3))}`` of every OBJ in a ``meshes`` folder, sorted by name."""
    out = {}
    for p in sorted(Path(root).glob("*.obj")):
        v, f = load_mesh_file(p)
        out[p.stem] = (torch.tensor(v, dtype=torch.float32), torch.tensor(f, dtype=torch.int64))
    return out


def check_meshes(root: Path):
    """Every OBJ parses and has faces indexing existing vertices."""
    problems = Problems(root)
    objs = sorted(Path(root).glob("*.obj"))
    if not objs:
        problems.add(root, "no .obj files")
    counts = {}
    for p in objs:
        try:
            v, f = load_mesh_file(p)
            counts[p.stem] = f"{len(v)} verts, {len(f)} faces"
        except DataError as exc:
            problems.add(p, str(exc).split(": ", 1)[-1])
    return problems.report("meshes", {"meshes": len(objs), "sizes": counts})
