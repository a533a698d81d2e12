"""Source/target view pairs of small room scenes with relative pose and depth (SynSin-like).

Each scene is an inward-facing room box (seeded size and wall tint) around a few seeded primitives;
each pair's source camera looks at the scene centre and the target is the source moved by a bounded
random rotation and translation, so every pixel has depth and objects uncover what they hid
(disocclusions). ``scenes`` distinct scenes of ``count`` pairs each; the last ``test_scenes`` scenes are
the test split, so a model is scored on rooms it never saw (SynSin's protocol: test scenes are unseen).
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


def scene_mesh(p3d: Any, rng: np.random.Generator, varied: bool = False) -> Any:
    """Room (inward faces) + primitives placed around the origin, with per-vertex colours.

    ``varied``: a seeded room size and wall tint and 3-5 primitives (else the version-1 room: 8 x 6 x 8,
    three primitives)."""
    verts, faces, colours, offset = [], [], [], 0
    extents = tuple(rng.uniform([7.0, 5.0, 7.0], [10.0, 7.0, 10.0]).tolist()) if varied else (8.0, 6.0, 8.0)
    tint = torch.tensor(rng.uniform(0.55, 0.95, 3) if varied else [0.85, 0.8, 0.7], dtype=torch.float32)
    room_v, room_f = room_box(extents)
    shade = 0.75 + 0.1 * room_v.sign()[:, :1]
    if varied:  # a seeded low-frequency pattern on the walls gives the texture that depth cues need
        k = torch.tensor(rng.uniform(0.8, 2.0, 3), dtype=torch.float32)
        shade = shade + 0.1 * room_v.sign()[:, 1:2] + 0.12 * torch.sin(room_v * k).sum(1, keepdim=True)
    parts = [(room_v, room_f, tint * shade.clamp(0.3, 1.1))]
    for _ in range(int(rng.integers(3, 6)) if varied else 3):
        kind, params = random_shape(rng)
        if varied:  # coarser primitives: many scenes render in seconds on a CPU
            params.update({"ellipsoid": {"level": 2}, "teapot": {"resolution": 4},
                           "torus": {"sections": (20, 8)}}.get(kind, {}))
        v, f = make_mesh(kind, **params)
        v = normalise(v) * float(rng.uniform(0.4, 0.7)) + torch.tensor(rng.uniform(-1.2, 1.2, 3), dtype=torch.float32)
        parts.append((v, f, vertex_colours(normalise(v))))
    for v, f, c in parts:
        verts.append(v), faces.append(f + offset), colours.append(c.expand_as(v))
        offset += len(v)
    v = torch.cat(verts)
    return p3d.structures.Meshes([v], [torch.cat(faces)],
                                textures=p3d.renderer.TexturesVertex(verts_features=[torch.cat(colours)]))


def room_box(extents: tuple[float, float, float], subdivisions: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """An inward-facing box (V, 3), (F, 3) of small triangles: the rasterizer drops a triangle with a vertex behind
    the camera, and a room of 12 large triangles would lose whole walls that way."""
    import trimesh

    v, f = make_mesh("box", extents=extents)
    m = trimesh.Trimesh(v.numpy(), f.flip(1).numpy(), process=False)
    for _ in range(subdivisions):
        m = m.subdivide()
    return torch.tensor(np.asarray(m.vertices), dtype=torch.float32), torch.tensor(np.asarray(m.faces))


def relative_pose(R1: np.ndarray, T1: np.ndarray, R2: np.ndarray, T2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R_rel, T_rel) with ``X_cam2 = X_cam1 @ R_rel + T_rel`` for row-vector PyTorch3D cameras."""
    R_rel = R1.T @ R2
    return R_rel, T2 - T1 @ R_rel


def _pair_cameras(p3d: Any, rng: np.random.Generator, dist: float, max_angle: float, max_shift: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(R1, T1, R2, T2) float64: a source looking at the centre, the target rotated about the source centre by
    at most ``max_angle`` degrees and its centre moved by at most ``max_shift`` per axis."""
    R1, T1 = p3d.renderer.look_at_view_transform(dist=dist, elev=float(rng.uniform(-10, 25)),
                                                 azim=float(rng.uniform(0, 360)))
    R1, T1 = R1[0].double().numpy(), T1[0].double().numpy()
    d = Rotation.from_rotvec(np.radians(max_angle) * rng.uniform(-1, 1, 3) / np.sqrt(3)).as_matrix()
    R2 = R1 @ d
    C2 = -T1 @ R1.T + rng.uniform(-max_shift, max_shift, 3)
    return R1, T1, R2, -C2 @ R2


def generate_view_pairs(out: Path, seed: int, count: int, image_size: int, max_angle: float, dist: float,
                        fov: float, scenes: int = 1, test_scenes: int = 0, max_shift: float = 0.3) -> None:
    """``scenes`` x ``count`` pairs; scene k is in the test split when k >= scenes - test_scenes."""
    if int(scenes) < 1 or not 0 <= int(test_scenes) < int(scenes) or int(count) < 1:
        raise ValueError(f"view-pairs: expected count >= 1, scenes >= 1 and 0 <= test_scenes < scenes, got "
                         f"count={count}, scenes={scenes}, test_scenes={test_scenes}")
    p3d = backend("torch")
    rng = np.random.default_rng(seed)
    pairs, i = [], 0
    for k in range(int(scenes)):
        mesh = scene_mesh(p3d, rng, varied=int(scenes) > 1)
        cams = [_pair_cameras(p3d, rng, dist, max_angle, max_shift) for _ in range(count)]
        R = torch.tensor(np.array([m for c in cams for m in (c[0], c[2])]), dtype=torch.float32)
        T = torch.tensor(np.array([v for c in cams for v in (c[1], c[3])]), dtype=torch.float32)
        img = render(p3d, mesh, R, T, fov, image_size, light=(0.0, 2.0, 0.0))
        split = "test" if k >= int(scenes) - int(test_scenes) else "train"
        for j in range(count):
            d = out / f"{i:04d}"
            d.mkdir()
            for v, tag in ((2 * j, "src"), (2 * j + 1, "tgt")):
                save_png(d / f"{tag}.png", img["images"][v])
                np.save(d / f"{tag}_depth.npy", img["depth"][v].numpy().astype(np.float32))
            Rr, Tr = relative_pose(R[2 * j].double().numpy(), T[2 * j].double().numpy(),
                                   R[2 * j + 1].double().numpy(), T[2 * j + 1].double().numpy())
            pairs.append({"id": d.name, "scene": f"scene{k:03d}", "split": split,
                          "src": {"R": R[2 * j].tolist(), "T": T[2 * j].tolist()},
                          "tgt": {"R": R[2 * j + 1].tolist(), "T": T[2 * j + 1].tolist()},
                          "R_rel": Rr.tolist(), "T_rel": Tr.tolist()})
            i += 1
    f = focal_pixels(fov, image_size)
    doc = {"image_size": [image_size, image_size], "fov": fov, "focal": [f, f],
           "principal_point": [image_size / 2.0, image_size / 2.0], "pairs": pairs}
    (out / "pairs.json").write_text(json.dumps(doc, indent=1) + "\n")


def pixel_rays(h: int, w: int, focal: torch.Tensor, principal_point: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) camera-space points at depth 1 through pixel centres (PyTorch3D: +X left, +Y up, +Z in)."""
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5,
                          indexing="ij")
    f, c = focal.double(), principal_point.double()
    return torch.stack([-(u - c[0]) / f[0], -(v - c[1]) / f[1], torch.ones_like(u)], -1)


def disocclusion(src_depth: torch.Tensor, tgt_depth: torch.Tensor, R_rel: torch.Tensor, T_rel: torch.Tensor,
                 focal: torch.Tensor, principal_point: torch.Tensor, rel_tol: float = 0.05) -> torch.Tensor:
    """(N, H, W) bool: target pixels the source does not see (outside its frame, behind it, or hidden there).

    Each target pixel is lifted with its true depth, moved into the source camera
    (``X_src = (X_tgt - T_rel) @ R_rel^T``) and projected; it is seen when the source's depth at the nearest pixel
    agrees within ``rel_tol`` (relative). Args: depths (N, H, W), R_rel (N, 3, 3), T_rel (N, 3).
    """
    n, h, w = tgt_depth.shape
    X = pixel_rays(h, w, focal, principal_point)[None] * tgt_depth.double()[..., None]
    Xs = (X.reshape(n, -1, 3) - T_rel.double()[:, None]) @ R_rel.double().transpose(1, 2)
    z = Xs[..., 2]
    f, c = focal.double(), principal_point.double()
    u = c[0] - f[0] * Xs[..., 0] / z.clamp(min=1e-9)
    v = c[1] - f[1] * Xs[..., 1] / z.clamp(min=1e-9)
    inside = (z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    ui, vi = u.clamp(0, w - 1).long(), v.clamp(0, h - 1).long()
    zs = torch.gather(src_depth.double().reshape(n, -1), 1, vi * w + ui)
    seen = inside & (zs > 0) & ((zs - z).abs() <= rel_tol * z)
    return ~seen.reshape(n, h, w) & (tgt_depth > 0)


def load_view_pairs(root: Path) -> dict[str, Any]:
    """src/tgt images (N, H, W, 3) and depth (N, H, W); src_R, tgt_R (N, 3, 3), src_T, tgt_T (N, 3); R_rel, T_rel
    (``X_tgt_cam = X_src_cam @ R_rel + T_rel``); focal (2,), principal_point (2,) pixels; fov degrees; ids,
    scenes, splits (N lists); disoccluded (N, H, W) bool (target pixels the source does not see)."""
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
               fov=doc["fov"], image_size=tuple(doc["image_size"]), ids=[p["id"] for p in ps],
               scenes=[p.get("scene", "scene000") for p in ps], splits=[p.get("split", "train") for p in ps])
    out["disoccluded"] = disocclusion(out["src_depth"], out["tgt_depth"], out["R_rel"], out["T_rel"], out["focal"],
                                      out["principal_point"])
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
        if p.get("split", "train") not in ("train", "test"):
            problems.add(root / "pairs.json", f"pair {p.get('id')!r}: split {p.get('split')!r}, expected train/test")
        for name in ("src.png", "tgt.png", "src_depth.npy", "tgt_depth.npy"):
            if not (root / p["id"] / name).is_file():
                problems.add(root / p["id"] / name, "file is missing")
    scenes = {p.get("scene", "scene000") for p in doc["pairs"]}
    return problems.report("view-pairs", {"pairs": len(doc["pairs"]), "scenes": len(scenes),
                                          "image_size": doc["image_size"]})
