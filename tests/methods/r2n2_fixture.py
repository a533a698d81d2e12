"""A tiny 3D-R2N2 + ShapeNetCore v1 copy in the real on-disk layout, written for the tests.

2 synsets x 2 models of wedges (right-triangle prisms, asymmetric in every axis, so a swapped or flipped axis
shows), 24 RGBA renders per model made by the built-in renderer from R2N2-style ``rendering_metadata.txt``
lines, 32^3 binvox files over each mesh's bounding box (written here, in binvox's x-z-y run-length order), the
v1 ``model.obj`` meshes and a Mesh R-CNN-style splits JSON. The cameras are built here from R2N2's camera
placement (the centre ``d (cos el cos az, sin el, cos el sin az)`` of Mesh R-CNN's ``compute_extrinsic_matrix``
in ShapeNet's frame, +y up, aiming at the origin; Blender's focal 2.1875) through the backend's
``look_at_view_transform``, independently of the loader under test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.backends import load
from bench.data.generated.meshes import write_obj

T3D = load("torch")
FOV = math.degrees(2.0 * math.atan(1.0 / 2.1875))
# synset -> model -> (legs a, b along x, y; half depth c along z; offset of the right angle's corner)
MODELS = {"02691156": {"a1": (0.8, 0.45, 0.3, (-0.45, -0.2, 0.05)), "a2": (0.7, 0.5, 0.25, (-0.35, -0.3, 0.0))},
          "03001627": {"c1": (0.5, 0.8, 0.2, (-0.2, -0.4, -0.05)), "c2": (0.55, 0.7, 0.3, (-0.3, -0.35, 0.0))}}
SPLITS = {"train": {"02691156": {"a1": list(range(24))}, "03001627": {"c1": list(range(24))}},
          "val": {},
          "test": {"02691156": {"a2": [0, 5, 9]}, "03001627": {"c2": [3, 4]}}}


def wedge(a: float, b: float, c: float, off: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Right-triangle prism: legs ``a`` (x) and ``b`` (y) from the corner ``off``, z in [-c, c] about off's z;
    outward-facing triangles."""
    tri = np.array([[0.0, 0.0], [a, 0.0], [0.0, b]])
    verts = np.concatenate([np.c_[tri, np.full(3, -c)], np.c_[tri, np.full(3, c)]]) + np.array(off)
    faces = np.array([[0, 2, 1], [3, 4, 5], [0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4], [2, 0, 3], [2, 3, 5]])
    return verts, faces


def inside_wedge(p: np.ndarray, a: float, b: float, c: float, off: tuple[float, float, float]) -> np.ndarray:
    """(..., 3) points -> bool: inside the wedge (analytic)."""
    q = p - np.array(off)
    return (q[..., 0] >= 0) & (q[..., 1] >= 0) & (q[..., 0] / a + q[..., 1] / b <= 1) & (np.abs(q[..., 2]) <= c)


def binvox_bytes(occ: np.ndarray, translate: np.ndarray, scale: float) -> bytes:
    """A binvox file: text header, then (value, count <= 255) runs over x (slowest), z, y (fastest)."""
    d = occ.shape[0]
    head = f"#binvox 1\ndim {d} {d} {d}\ntranslate {translate[0]:.6f} {translate[1]:.6f} {translate[2]:.6f}\n" \
           f"scale {scale:.6f}\ndata\n"
    out, run_v, run_n = bytearray(), None, 0
    for x in range(d):
        for z in range(d):
            for y in range(d):
                v = int(occ[x, y, z])
                if v == run_v and run_n < 255:
                    run_n += 1
                    continue
                if run_v is not None:
                    out += bytes((run_v, run_n))
                run_v, run_n = v, 1
    out += bytes((run_v, run_n))
    return head.encode("ascii") + bytes(out)


def cameras(meta: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """R, T (V, 3, 3), (V, 3) of metadata rows from R2N2's camera centres through look_at_view_transform."""
    az, el, d = np.radians(meta[:, 0]), np.radians(meta[:, 1]), meta[:, 3] * 1.75
    eye = np.stack([d * np.cos(el) * np.cos(az), d * np.sin(el), d * np.cos(el) * np.sin(az)], -1)
    return T3D.renderer.look_at_view_transform(eye=torch.tensor(eye, dtype=torch.float32))


def render(verts: np.ndarray, faces: np.ndarray, meta: np.ndarray, size: int) -> np.ndarray:
    """(V, size, size, 4) uint8 RGBA: each face coloured by its normal, alpha = coverage."""
    R, T = cameras(meta)
    n = len(meta)
    v, f = torch.tensor(verts, dtype=torch.float32), torch.tensor(faces)
    mesh = T3D.structures.Meshes([v] * n, [f] * n)
    cams = T3D.renderer.FoVPerspectiveCameras(R=R, T=T, fov=FOV)
    rast = T3D.renderer.MeshRasterizer(cameras=cams, raster_settings=T3D.renderer.RasterizationSettings(
        image_size=size, blur_radius=0.0, faces_per_pixel=1))
    p2f = rast(mesh).pix_to_face[..., 0]  # (V, H, W) packed face index or -1
    normals = torch.nn.functional.normalize(torch.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=1),
                                            dim=1)
    colours = torch.cat([0.3 + 0.7 * normals.abs()] * n)
    rgb = torch.where(p2f[..., None] >= 0, colours[p2f.clamp(min=0)], torch.zeros(3))
    rgba = torch.cat([rgb, (p2f >= 0).float()[..., None]], -1)
    return (rgba * 255).round().to(torch.uint8).numpy()


def write_fixture(root: Path, size: int = 64, seed: int = 0) -> Path:
    """The data root: ``r2n2/ShapeNetRendering``, ``r2n2/ShapeNetVox32``, ``r2n2/splits.json`` and
    ``shapenetcore-v1/<synset>/<model>/model.obj``. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for synset, models in MODELS.items():
        for model, spec in models.items():
            verts, faces = wedge(*spec)
            obj = root / "shapenetcore-v1" / synset / model / "model.obj"
            obj.parent.mkdir(parents=True)
            write_obj(obj, verts, faces)
            rdir = root / "r2n2" / "ShapeNetRendering" / synset / model / "rendering"
            rdir.mkdir(parents=True)
            meta = np.c_[rng.uniform(0, 360, 24), rng.uniform(25, 30, 24), np.zeros(24),
                         rng.uniform(0.65, 0.9, 24), np.full(24, 25.0)]
            (rdir / "rendering_metadata.txt").write_text(
                "".join(f"{r[0]:.10g} {r[1]:.10g} 0 {r[3]:.10g} 25\n" for r in meta))
            for k, img in enumerate(render(verts, faces, meta, size)):
                Image.fromarray(img, "RGBA").save(rdir / f"{k:02d}.png")
            lo, hi = verts.min(0), verts.max(0)
            idx = np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1)
            occ = inside_wedge(lo + (idx + 0.5) * (hi - lo) / 32, *spec)
            vox = root / "r2n2" / "ShapeNetVox32" / synset / model / "model.binvox"
            vox.parent.mkdir(parents=True)
            vox.write_bytes(binvox_bytes(occ, lo, float((hi - lo).max())))
    (root / "r2n2" / "splits.json").write_text(json.dumps(SPLITS))
    return root
