"""Source/target view pairs of a small room scene with relative pose and depth (SynSin-like).

The scene is an inward-facing room box around a few seeded primitives; each pair's source camera
looks at the scene centre and the target is the source moved by a bounded random rotation and
translation, so every pixel has depth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from bench.data.files import read_image, read_json
from bench.data.generated.meshes import make_mesh, random_shape
from bench.data.generated.render import backend, focal_pixels, normalise, render, save_png, vertex_colours
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import load_npy


def scene_mesh(p3d: Any, rng: np.random.Generator) -> Any:
    """Room (inward faces) + three primitives placed around the origin, with per-vertex colours."""
    verts, faces, colours, offset = [], [], [], 0
    room_v, room_f = make_mesh("box", extents=(8.0, 6.0, 8.0))
    parts = [(room_v, room_f.flip(1), torch.tensor([0.85, 0.8, 0.7]) * (0.75 + 0.1 * room_v.sign()[:, :1]))]
    for _ in range(3):
        kind, params = random_shape(rng)
        v, f = make_mesh(kind, **params)
        v = normalise(v) * float(rng.uniform(0.4, 0.7)) + torch.tensor(rng.uniform(-1.2, 1.2, 3), dtype=torch.float32)
        parts.append((v, f, vertex_colours(normalise(v))))
    for v, f, c in parts:
        verts.append(v), faces.append(f + offset), colours.append(c.expand_as(v))
        offset += len(v)
    v = torch.cat(verts)
    return p3d.structures.Meshes([v], [torch.cat(faces)],
                                textures=p3d.renderer.TexturesVertex(verts_features=[torch.cat(colours)]))


def relative_pose(R1: np.ndarray, T1: np.ndarray, R2: np.ndarray, T2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R_rel, T_rel) with ``X_cam2 = X_cam1 @ R_rel + T_rel`` for row-vector PyTorch3D cameras."""
    R_rel = R1.T @ R2
    return R_rel, T2 - T1 @ R_rel


def generate_view_pairs(out: Path, seed: int, count: int, image_size: int, max_angle: float, dist: float,
                        fov: float) -> None:
    p3d = backend("torch")
    rng = np.random.default_rng(seed)
    mesh = scene_mesh(p3d, rng)
    Rs, Ts = [], []
    for _ in range(count):
        R1, T1 = p3d.renderer.look_at_view_transform(dist=dist, elev=float(rng.uniform(-10, 25)),
                                                     azim=float(rng.uniform(0, 360)))
        R1, T1 = R1[0].double().numpy(), T1[0].double().numpy()
        d = Rotation.from_rotvec(np.radians(max_angle) * rng.uniform(-1, 1, 3) / np.sqrt(3)).as_matrix()
        R2 = R1 @ d  # a rotation about the camera centre ...
        C1 = -T1 @ R1.T
        C2 = C1 + rng.uniform(-0.3, 0.3, 3)  # ... then a small move of the centre
        Rs += [R1, R2]
        Ts += [T1, -C2 @ R2]
    R = torch.tensor(np.array(Rs), dtype=torch.float32)
    T = torch.tensor(np.array(Ts), dtype=torch.float32)
    img = render(p3d, mesh, R, T, fov, image_size, light=(0.0, 2.0, 0.0))
    pairs = []
    for i in range(count):
        d = out / f"{i:04d}"
        d.mkdir()
        for k, tag in ((2 * i, "src"), (2 * i + 1, "tgt")):
            save_png(d / f"{tag}.png", img["images"][k])
            np.save(d / f"{tag}_depth.npy", img["depth"][k].numpy().astype(np.float32))
        Rr, Tr = relative_pose(R[2 * i].double().numpy(), T[2 * i].double().numpy(),
                               R[2 * i + 1].double().numpy(), T[2 * i + 1].double().numpy())
        pairs.append({"id": d.name, "src": {"R": R[2 * i].tolist(), "T": T[2 * i].tolist()},
                      "tgt": {"R": R[2 * i + 1].tolist(), "T": T[2 * i + 1].tolist()},
                      "R_rel": Rr.tolist(), "T_rel": Tr.tolist()})
    f = focal_pixels(fov, image_size)
    doc = {"image_size": [image_size, image_size], "fov": fov, "focal": [f, f],
           "principal_point": [image_size / 2.0, image_size / 2.0], "pairs": pairs}
    (out / "pairs.json").write_text(json.dumps(doc, indent=1) + "\n")


def load_view_pairs(root: Path) -> dict[str, Any]:
    """src/tgt images (N, H, W, 3) and depth (N, H, W); src_R, tgt_R (N, 3, 3), src_T, tgt_T (N, 3); R_rel, T_rel
    (``X_tgt_cam = X_src_cam @ R_rel + T_rel``); focal (2,), principal_point (2,) pixels; fov degrees."""
    root = Path(root)
    doc = read_json(root / "pairs.json")
    ps = doc["pairs"]
    out: dict[str, Any] = {}
    for tag in ("src", "tgt"):
        out[f"{tag}_images"] = torch.from_numpy(np.stack([read_image(root / p["id"] / f"{tag}.png") for p in ps]))
        out[f"{tag}_depth"] = torch.from_numpy(np.stack([load_npy(root / p["id"] / f"{tag}_depth.npy") for p in ps]))
        out[f"{tag}_R"] = torch.tensor([p[tag]["R"] for p in ps])
        out[f"{tag}_T"] = torch.tensor([p[tag]["T"] for p in ps])
    out.update(R_rel=torch.tensor([p["R_rel"] for p in ps]), T_rel=torch.tensor([p["T_rel"] for p in ps]),
               focal=torch.tensor(doc["focal"]), principal_point=torch.tensor(doc["principal_point"]),
               fov=doc["fov"], image_size=tuple(doc["image_size"]))
    return out


def check_view_pairs(root: Path) -> CheckReport:
    root = Path(root)
    problems = Problems(root)
    try:
        doc = read_json(root / "pairs.json")
    except Exception as exc:
        problems.add(root / "pairs.json", str(exc).split(": ", 1)[-1])
        return problems.report("view-pairs")
    for p in doc["pairs"]:
        for name in ("src.png", "tgt.png", "src_depth.npy", "tgt_depth.npy"):
            if not (root / p["id"] / name).is_file():
                problems.add(root / p["id"] / name, "file is missing")
    return problems.report("view-pairs", {"pairs": len(doc["pairs"]), "image_size": doc["image_size"]})
