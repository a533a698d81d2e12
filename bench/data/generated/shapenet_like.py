"""A ShapeNet-like dataset: procedural categories, several instances each, split by instance, renders
from several views with their cameras, watertight meshes and 32^3 voxels (like R2N2's ShapeNetVox32).

Layout (``<category>/<k>`` per instance)::

    objects.json                  image size, fov, categories, and per instance: id, category, split, parts,
                                  per view elev/azim/R/T (PyTorch3D look_at_view_transform)
    <category>/<k>/model.ply      watertight mesh (marching cubes of the signed distance), object frame
    <category>/<k>/voxels.binvox  solid occupancy (voxel_size^3 over [-1, 1]^3, indexed (x, y, z))
    <category>/<k>/view_<v>.png, mask_<v>.png   RGB on white and silhouette of view v
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage import measure

from bench.data.files import check_images, read_image, read_json
from bench.data.formats.binvox import Voxels, read_binvox, write_binvox
from bench.data.generated.meshes import load_mesh_file
from bench.data.generated.render import backend, render, save_png, vertex_colours
from bench.data.generated.shape_parts import Part, make_instance, object_sdf
from bench.data.report import CheckReport, Problems
from bench.errors import DataError


def grid_points(n: int, cell_centres: bool) -> np.ndarray:
    """(n^3, 3) points of an n^3 grid over [-1, 1]^3 (cell centres or corners), x slowest (index (x, y, z))."""
    ax = -1.0 + (np.arange(n) + 0.5) * 2.0 / n if cell_centres else np.linspace(-1.0, 1.0, n)
    return np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)


def surface(parts: list[Part], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Watertight outward-wound mesh (verts (V, 3), faces (F, 3)) of the parts' zero level set."""
    sdf = object_sdf(parts, grid_points(resolution, False)).reshape((resolution,) * 3)
    padded = np.pad(sdf, 1, constant_values=1.0)  # closes any surface touching the grid's border
    v, f, _, _ = measure.marching_cubes(padded, level=0.0)
    v = -1.0 + (v - 1.0) * 2.0 / (resolution - 1)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    if np.einsum("ij,ij->i", a, np.cross(b, c)).sum() < 0:  # signed volume: wind the faces outward
        f = f[:, ::-1]
    return v, np.ascontiguousarray(f)


def voxels(parts: list[Part], size: int) -> np.ndarray:
    """(size, size, size) bool indexed (x, y, z): the cells whose centre is inside the object."""
    return (object_sdf(parts, grid_points(size, True)) < 0).reshape((size,) * 3)


def _split(k: int, instances: int, test_instances: int) -> str:
    return "test" if k >= instances - test_instances else "train"


def generate_shapenet_like(out: Path, seed: int, categories: list[str], instances: int, test_instances: int,
                           views: int, image_size: int, voxel_size: int, mesh_resolution: int, dist: float,
                           fov: float, elevation: list[float]) -> None:
    """Write the dataset: ``instances`` per category (the last ``test_instances`` of each are the test split)."""
    if not 0 < test_instances < instances:
        raise ValueError(f"test_instances={test_instances}: expected 0 < test_instances < instances={instances}")
    p3d = backend("torch")  # the built-in renderer: byte-stable output whatever is installed
    objects = []
    for ci, cat in enumerate(categories):
        for k in range(instances):
            rng = np.random.default_rng([seed, ci, k])
            parts = make_instance(cat, rng)
            v, f = surface(parts, mesh_resolution)
            elev = rng.uniform(elevation[0], elevation[1], views)
            azim = rng.uniform(0.0, 360.0, views)
            R, T = p3d.renderer.look_at_view_transform(dist=dist, elev=torch.tensor(elev, dtype=torch.float32),
                                                       azim=torch.tensor(azim, dtype=torch.float32))
            vt = torch.tensor(v, dtype=torch.float32)
            mesh = p3d.structures.Meshes([vt], [torch.tensor(f)],
                                         textures=p3d.renderer.TexturesVertex(verts_features=[vertex_colours(vt)]))
            img = render(p3d, mesh, R, T, fov, image_size)
            d = out / cat / f"{k:03d}"
            d.mkdir(parents=True)
            p3d.io.save_ply(d / "model.ply", vt, torch.tensor(f))
            write_binvox(d / "voxels.binvox", Voxels(voxels(parts, voxel_size), (-1.0, -1.0, -1.0), 2.0))
            for i in range(views):
                save_png(d / f"view_{i}.png", img["images"][i])
                save_png(d / f"mask_{i}.png", img["silhouettes"][i])
            objects.append({"id": f"{cat}/{k:03d}", "category": cat, "split": _split(k, instances, test_instances),
                            "parts": [{"kind": p.kind, "centre": p.centre, "size": p.size, "axis": p.axis,
                                       "carve": p.carve} for p in parts],
                            "views": [{"elev": float(elev[i]), "azim": float(azim[i]), "R": R[i].tolist(),
                                       "T": T[i].tolist()} for i in range(views)]})
    doc = {"image_size": image_size, "voxel_size": voxel_size, "fov": fov, "dist": dist,
           "categories": list(categories), "objects": objects}
    (out / "objects.json").write_text(json.dumps(doc, indent=1) + "\n")


def load_shapenet_like(root: Path, split: str | None = None) -> list[dict[str, Any]]:
    """Per instance (of one split, or all): id, category, split, verts (V, 3), faces (F, 3) in the object frame,
    voxels (D, D, D) bool indexed (x, y, z) over [-1, 1]^3, images (N, H, W, 3), masks (N, H, W), R (N, 3, 3),
    T (N, 3), fov (degrees)."""
    root = Path(root)
    doc = read_json(root / "objects.json")
    if split not in (None, "train", "test"):
        raise ValueError(f"split {split!r}: expected 'train', 'test' or None")
    out = []
    for o in doc["objects"]:
        if split is not None and o["split"] != split:
            continue
        d = root / o["id"]
        v, f = load_mesh_file(d / "model.ply")
        n = len(o["views"])
        out.append({"id": o["id"], "category": o["category"], "split": o["split"],
                    "verts": torch.tensor(v, dtype=torch.float32), "faces": torch.tensor(f, dtype=torch.int64),
                    "voxels": torch.from_numpy(read_binvox(d / "voxels.binvox").data),
                    "images": torch.from_numpy(np.stack([read_image(d / f"view_{i}.png") for i in range(n)])),
                    "masks": torch.from_numpy(np.stack([read_image(d / f"mask_{i}.png", "L") for i in range(n)])),
                    "R": torch.tensor([w["R"] for w in o["views"]]), "T": torch.tensor([w["T"] for w in o["views"]]),
                    "fov": float(doc["fov"])})
    return out


def check_shapenet_like(root: Path) -> CheckReport:
    """Every instance has its mesh, voxels and views; both splits are present for every category."""
    root = Path(root)
    problems = Problems(root)
    try:
        doc = read_json(root / "objects.json")
    except DataError as exc:
        problems.add(root / "objects.json", str(exc).split(": ", 1)[-1])
        return problems.report("shapenet-like")
    counts: dict[str, dict[str, int]] = {}
    images = []
    for o in doc["objects"]:
        counts.setdefault(o["category"], {"train": 0, "test": 0})[o["split"]] += 1
        d = root / o["id"]
        for name in ("model.ply", "voxels.binvox"):
            if not (d / name).is_file():
                problems.add(d / name, "file is missing")
        images += [d / f"{kind}_{i}.png" for i in range(len(o["views"])) for kind in ("view", "mask")]
    for cat, c in counts.items():
        if not c["train"] or not c["test"]:
            problems.add(root / cat, f"category {cat!r} has {c['train']} train / {c['test']} test instances; "
                                     "expected both splits")
    sizes = check_images(images, problems)
    return problems.report("shapenet-like", {"instances": len(doc["objects"]), "categories": counts,
                                             "image_sizes": sizes, "voxel_size": doc["voxel_size"]})



