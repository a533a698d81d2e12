"""GAN training images: coloured primitives (discs, squares, triangles) composed on a background."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from skimage.draw import disk, polygon

from bench.data.files import check_images, read_image, read_json
from bench.data.report import Problems

KINDS = ("disc", "square", "triangle")


def draw(scene: dict[str, Any], size: int) -> np.ndarray:
    """Render a scene description to uint8 (H, W, 3); objects are painted in list order (last on top)."""
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = scene["background"]
    for obj in scene["objects"]:
        cy, cx, r = obj["center"][1], obj["center"][0], obj["radius"]
        if obj["kind"] == "disc":
            rr, cc = disk((cy, cx), r, shape=img.shape[:2])
        else:
            n = 4 if obj["kind"] == "square" else 3
            ang = obj["angle"] + 2 * np.pi * np.arange(n) / n
            rr, cc = polygon(cy + r * np.sin(ang), cx + r * np.cos(ang), shape=img.shape[:2])
        img[rr, cc] = obj["color"]
    return img


def random_scene(rng: np.random.Generator, size: int, max_objects: int) -> dict[str, Any]:
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        r = float(rng.uniform(0.12, 0.25) * size)
        objects.append({"kind": KINDS[int(rng.integers(len(KINDS)))],
                        "center": [round(float(rng.uniform(r, size - r)), 3),
                                   round(float(rng.uniform(r, size - r)), 3)],
                        "radius": round(r, 3), "angle": round(float(rng.uniform(0, 2 * np.pi)), 4),
                        "color": rng.integers(0, 256, 3).tolist()})
    return {"background": rng.integers(0, 256, 3).tolist(), "objects": objects}


def generate_gan_shapes(out: Path, seed: int, count: int, image_size: int, max_objects: int) -> None:
    rng = np.random.default_rng(seed)
    (out / "images").mkdir()
    scenes = []
    for i in range(count):
        scene = random_scene(rng, image_size, max_objects)
        Image.fromarray(draw(scene, image_size)).save(out / "images" / f"{i:05d}.png")
        scenes.append({"file": f"images/{i:05d}.png", **scene})
    (out / "scenes.json").write_text(json.dumps({"image_size": image_size, "scenes": scenes}, indent=1) + "\n")


def load_gan_shapes(root: Path) -> dict[str, Any]:
    """``images`` (N, H, W, 3) float in [0, 1] and the ``scenes`` that describe them."""
    doc = read_json(Path(root) / "scenes.json")
    imgs = np.stack([read_image(Path(root) / s["file"]) for s in doc["scenes"]])
    return {"images": torch.from_numpy(imgs), "scenes": doc["scenes"]}


def check_gan_shapes(root: Path):
    problems = Problems(root)
    try:
        doc = read_json(Path(root) / "scenes.json")
    except Exception as exc:
        problems.add(Path(root) / "scenes.json", str(exc).split(": ", 1)[-1])
        return problems.report("gan-shapes")
    sizes = check_images([Path(root) / s["file"] for s in doc["scenes"]], problems)
    return problems.report("gan-shapes", {"images": len(doc["scenes"]), "image_sizes": sizes})
