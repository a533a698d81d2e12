"""Single-object image -> mesh pairs (ShapeNet-like): a seeded primitive, one rendered view, its camera
and solid voxels, for the Mesh R-CNN and single-view reconstruction suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import read_image, read_json
from bench.data.formats.binvox import Voxels, read_binvox, write_binvox
from bench.data.generated.meshes import load_mesh_file, make_mesh, random_shape, write_obj
from bench.data.generated.render import backend, focal_pixels, normalise, render, save_png, vertex_colours
from bench.data.generated.voxelize import voxelize
from bench.data.report import CheckReport, Problems


def generate_shape_views(out: Path, seed: int, count: int, image_size: int, voxel_size: int, dist: float,
                         fov: float) -> None:
    p3d = backend("torch")
    rng = np.random.default_rng(seed)
    objects = []
    for i in range(count):
        kind, params = random_shape(rng)
        while kind == "teapot":  # voxels need a closed surface; the Bezier teapot is open at the rim and lid
            kind, params = random_shape(rng)
        v, f = make_mesh(kind, **params)
        v = normalise(v) * 0.9  # inside the voxel cube [-1, 1]^3 with a margin
        elev, azim = float(rng.uniform(10, 40)), float(rng.uniform(0, 360))
        R, T = p3d.renderer.look_at_view_transform(dist=dist, elev=elev, azim=azim)
        mesh = p3d.structures.Meshes([v], [f], textures=p3d.renderer.TexturesVertex(verts_features=[vertex_colours(v)]))
        img = render(p3d, mesh, R, T, fov, image_size)
        d = out / f"{i:04d}"
        d.mkdir()
        write_obj(d / "model.obj", v.numpy(), f.numpy())
        save_png(d / "view.png", img["images"][0])
        save_png(d / "mask.png", img["silhouettes"][0])
        write_binvox(d / "voxels.binvox", Voxels(voxelize(v.numpy(), f.numpy(), voxel_size), (-1.0, -1.0, -1.0), 2.0))
        objects.append({"id": d.name, "kind": kind, "params": params, "elev": elev, "azim": azim, "dist": dist,
                        "fov": fov, "R": R[0].tolist(), "T": T[0].tolist()})
    (out / "objects.json").write_text(json.dumps({"image_size": image_size, "voxel_size": voxel_size,
                                                  "objects": objects}, indent=1) + "\n")


def load_shape_views(root: Path) -> list[dict[str, Any]]:
    """Per object: verts (V, 3), faces (F, 3), image (H, W, 3), mask (H, W), voxels (D, D, D) bool indexed (x, y, z)
    over [-1, 1]^3, R (3, 3), T (3,), fov, focal (2,) and principal_point (2,) in pixels, kind."""
    root = Path(root)
    doc = read_json(root / "objects.json")
    s = doc["image_size"]
    out = []
    for o in doc["objects"]:
        d = root / o["id"]
        v, f = load_mesh_file(d / "model.obj")
        out.append({"verts": torch.tensor(v, dtype=torch.float32), "faces": torch.tensor(f, dtype=torch.int64),
                    "image": torch.from_numpy(read_image(d / "view.png")),
                    "mask": torch.from_numpy(read_image(d / "mask.png", "L")),
                    "voxels": torch.from_numpy(read_binvox(d / "voxels.binvox").data),
                    "R": torch.tensor(o["R"]), "T": torch.tensor(o["T"]), "fov": o["fov"],
                    "focal": torch.full((2,), focal_pixels(o["fov"], s)), "principal_point": torch.full((2,), s / 2.0),
                    "kind": o["kind"]})
    return out


def check_shape_views(root: Path) -> CheckReport:
    root = Path(root)
    problems = Problems(root)
    try:
        doc = read_json(root / "objects.json")
    except Exception as exc:
        problems.add(root / "objects.json", str(exc).split(": ", 1)[-1])
        return problems.report("shape-views")
    kinds: dict[str, int] = {}
    for o in doc["objects"]:
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
        for name in ("model.obj", "view.png", "mask.png", "voxels.binvox"):
            if not (root / o["id"] / name).is_file():
                problems.add(root / o["id"] / name, "file is missing")
    return problems.report("shape-views", {"objects": len(doc["objects"]), "kinds": kinds,
                                           "image_size": doc["image_size"], "voxel_size": doc["voxel_size"]})
