"""3D-aware GAN training images: one or two coloured 3D primitives (sphere, cube) rendered with the built-in
backend's ``MeshRenderer`` from a random camera, GIRAFFE-style.

Scene sampling follows GIRAFFE (Niemeyer & Geiger, CVPR 2021; autonomousvision/giraffe):
- objects: a primitive inscribed in the box [-1, 1]^3, scaled by ``s`` uniform in ``scale_range``, rotated about
  the up axis by an angle uniform in [0, 2 pi) (bounding_box_generator.py: rotation_range [0, 1] of 2 pi), and
  translated on the ground plane (x and z of this y-up world; GIRAFFE's z-up x and y) uniformly in
  ``translation_range`` (bounding_box_generator.py defaults: scale 0.5, translation [-0.75, 0.75]; the clevr2
  configs 0.17 / [-0.713, 0.713] at 256 px, too small to see at 32 px);
- camera: on a sphere of radius ``dist`` (generator.py range_radius 2.732) looking at the origin, fov ``fov``
  (generator.py 49.13); azimuth 2 pi u and polar angle arccos(1 - 2 v) from the up axis with u, v uniform in
  ``range_u`` / ``range_v`` (camera.py ``to_sphere``; generator.py default range_v (0.25, 0.25) = 30 degrees
  elevation, configs/64res/chairs_64.yaml range_v [0.05, 0.5] = 0 to 64 degrees).
Colours: each object one uniform random colour, the background another (Phong-shaded by a point light).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import check_images, read_image, read_json
from bench.data.generated.meshes import make_mesh
from bench.data.generated.render import backend, save_png
from bench.data.report import Problems

KINDS = ("sphere", "cube")
LIGHT = (0.0, 3.0, 2.0)  # world position of the point light (above and in front)


def elevation_deg(v: float) -> float:
    """GIRAFFE's v in [0, 1] -> elevation above the ground plane in degrees (polar angle arccos(1 - 2v))."""
    return 90.0 - math.degrees(math.acos(1.0 - 2.0 * v))


@functools.cache
def primitive(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """verts (V, 3) inside [-1, 1]^3 touching it, faces (F, 3) of a unit-box primitive."""
    if kind == "sphere":
        return make_mesh("ico_sphere", level=2, radius=1.0)
    if kind == "cube":
        return make_mesh("box", extents=(2.0, 2.0, 2.0))
    raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")


def random_scene(rng: np.random.Generator, max_objects: int, scale_range: tuple[float, float],
                 translation_range: tuple[float, float], range_u: tuple[float, float],
                 range_v: tuple[float, float]) -> dict[str, Any]:
    """A scene description (JSON-able): background colour, camera (elev, azim degrees), objects."""
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        x, z = rng.uniform(*translation_range, 2)
        objects.append({"kind": KINDS[int(rng.integers(len(KINDS)))],
                        "scale": round(float(rng.uniform(*scale_range)), 4),
                        "translation": [round(float(x), 4), 0.0, round(float(z), 4)],
                        "rotation": round(float(rng.uniform(0.0, 2.0 * math.pi)), 4),
                        "color": np.round(rng.uniform(0.05, 0.95, 3), 3).tolist()})
    u, v = float(rng.uniform(*range_u)), float(rng.uniform(*range_v))
    return {"background": np.round(rng.uniform(0.05, 0.95, 3), 3).tolist(),
            "camera": {"elev": round(elevation_deg(v), 4), "azim": round(360.0 * u, 4)}, "objects": objects}


def scene_mesh(p3d: Any, scene: dict[str, Any]) -> Any:
    """All objects of ``scene`` joined into one ``Meshes`` with per-vertex colours, in world coordinates."""
    verts, faces, cols, offset = [], [], [], 0
    for o in scene["objects"]:
        v, f = primitive(o["kind"])
        c, s = math.cos(o["rotation"]), math.sin(o["rotation"])
        rot = torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])  # about +y, row vectors
        verts.append(v * o["scale"] @ rot + torch.tensor(o["translation"]))
        faces.append(f + offset)
        cols.append(torch.tensor(o["color"]).expand(len(v), 3))
        offset += len(v)
    return p3d.structures.Meshes([torch.cat(verts)], [torch.cat(faces)],
                                textures=p3d.renderer.TexturesVertex(verts_features=[torch.cat(cols).float()]))


def render_scene(p3d: Any, scene: dict[str, Any], image_size: int, dist: float, fov: float) -> torch.Tensor:
    """RGB (S, S, 3) in [0, 1] of ``scene`` through the backend's MeshRenderer (hard Phong shading)."""
    r = p3d.renderer
    R, T = r.look_at_view_transform(dist=dist, elev=scene["camera"]["elev"], azim=scene["camera"]["azim"])
    cams = r.FoVPerspectiveCameras(R=R, T=T, fov=fov)
    renderer = r.MeshRenderer(
        rasterizer=r.MeshRasterizer(cameras=cams, raster_settings=r.RasterizationSettings(
            image_size=image_size, blur_radius=0.0, faces_per_pixel=1)),
        shader=r.HardPhongShader(cameras=cams, lights=r.PointLights(location=[list(LIGHT)]),
                                 blend_params=r.BlendParams(background_color=tuple(scene["background"]))))
    with torch.no_grad():
        return renderer(scene_mesh(p3d, scene))[0, ..., :3].clamp(0, 1)


def generate_gan_primitives(out: Path, seed: int, count: int, image_size: int, max_objects: int,
                            scale_range: tuple[float, float], translation_range: tuple[float, float],
                            range_u: tuple[float, float], range_v: tuple[float, float], dist: float,
                            fov: float) -> None:
    for name, rng_ in (("scale_range", scale_range), ("translation_range", translation_range),
                       ("range_u", range_u), ("range_v", range_v)):
        if len(rng_) != 2 or rng_[0] > rng_[1]:
            raise ValueError(f"{name}: expected (low, high) with low <= high, got {rng_!r}")
    if not 0.0 <= range_v[0] <= range_v[1] <= 1.0:
        raise ValueError(f"range_v: expected values in [0, 1], got {range_v!r}")
    p3d, rng = backend("torch"), np.random.default_rng(seed)
    (out / "images").mkdir()
    scenes = []
    for i in range(count):
        scene = random_scene(rng, max_objects, scale_range, translation_range, range_u, range_v)
        save_png(out / "images" / f"{i:05d}.png", render_scene(p3d, scene, image_size, dist, fov))
        scenes.append({"file": f"images/{i:05d}.png", **scene})
    doc = {"image_size": image_size, "dist": dist, "fov": fov, "scenes": scenes}
    (out / "scenes.json").write_text(json.dumps(doc, indent=1) + "\n")


def load_gan_primitives(root: Path) -> dict[str, Any]:
    """``images`` (N, H, W, 3) float in [0, 1], the ``scenes`` that describe them, ``dist`` and ``fov``."""
    doc = read_json(Path(root) / "scenes.json")
    imgs = np.stack([read_image(Path(root) / s["file"]) for s in doc["scenes"]])
    return {"images": torch.from_numpy(imgs), "scenes": doc["scenes"], "dist": doc["dist"], "fov": doc["fov"]}


def check_gan_primitives(root: Path):
    problems = Problems(root)
    try:
        doc = read_json(Path(root) / "scenes.json")
    except Exception as exc:
        problems.add(Path(root) / "scenes.json", str(exc).split(": ", 1)[-1])
        return problems.report("gan-primitives")
    sizes = check_images([Path(root) / s["file"] for s in doc["scenes"]], problems)
    return problems.report("gan-primitives", {"images": len(doc["scenes"]), "image_sizes": sizes})
