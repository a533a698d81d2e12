"""Multi-view renders of one mesh (like PyTorch3D's ``generate_cow_renders``): RGB, silhouettes,
depth and cameras on an azimuth range or a seeded sphere, with a train/test split of the views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import check_images, read_image, read_json
from bench.data.generated.render import backend, check_counts, focal_pixels, load_scene_mesh, render, save_png
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import load_npy
from bench.errors import DataError


def view_angles(num_views: int, azimuth_range: float, elevation: float, sphere: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(elev, azim) in degrees: evenly spaced azimuths around 180 (the mesh's back is 0) or uniform on a sphere."""
    if sphere:
        d = rng.normal(size=(num_views, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return np.degrees(np.arcsin(d[:, 1])), np.degrees(np.arctan2(d[:, 0], d[:, 2]))
    full = azimuth_range >= 360.0
    azim = np.linspace(-azimuth_range / 2, azimuth_range / 2, num_views, endpoint=not full) + 180.0
    return np.full(num_views, float(elevation)), azim


def split_views(n: int, test_every: int) -> dict[str, list[int]]:
    test = list(range(0, n, test_every)) if test_every > 0 else []
    return {"train": [i for i in range(n) if i not in test], "test": test}


def generate_multiview(out: Path, seed: int, mesh: str, num_views: int, image_size: int, azimuth_range: float,
                       elevation: float, sphere: bool, dist: float, fov: float, test_every: int) -> None:
    p3d = backend("torch")  # the built-in renderer: byte-stable output whatever is installed
    rng = np.random.default_rng(seed)
    elev, azim = view_angles(num_views, azimuth_range, elevation, sphere, rng)
    R, T = p3d.renderer.look_at_view_transform(dist=dist, elev=torch.tensor(elev, dtype=torch.float32),
                                               azim=torch.tensor(azim, dtype=torch.float32))
    out_ = render(p3d, load_scene_mesh(p3d, mesh), R, T, fov, image_size)
    for sub in ("images", "silhouettes"):
        (out / sub).mkdir()
    for i in range(num_views):
        save_png(out / "images" / f"{i:03d}.png", out_["images"][i])
        save_png(out / "silhouettes" / f"{i:03d}.png", out_["silhouettes"][i])
    np.save(out / "depth.npy", out_["depth"].numpy().astype(np.float32))
    cams = {"image_size": [image_size, image_size], "fov": fov, "dist": dist, "elev": elev.tolist(),
            "azim": azim.tolist(), "R": R.tolist(), "T": T.tolist(), "splits": split_views(num_views, test_every),
            "mesh": Path(str(mesh)).name}
    (out / "cameras.json").write_text(json.dumps(cams, indent=1) + "\n")


def load_multiview(root: Path, split: str | None = None) -> dict[str, Any]:
    """Tensors of all views (or one split): images (N, H, W, 3), silhouettes (N, H, W), depth (N, H, W) (-1 empty),
    R (N, 3, 3), T (N, 3), fov (N,) degrees, focal (N, 2) and principal_point (N, 2) in pixels, elev/azim (N,),
    splits and the view indices."""
    root = Path(root)
    cams = read_json(root / "cameras.json")
    n = len(cams["R"])
    idx = list(range(n)) if split is None else cams["splits"][split]
    h, w = cams["image_size"]
    f = focal_pixels(cams["fov"], w)
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    return {"images": torch.from_numpy(np.stack([read_image(root / "images" / f"{i:03d}.png") for i in idx])),
            "silhouettes": torch.from_numpy(np.stack([read_image(root / "silhouettes" / f"{i:03d}.png", "L")
                                                      for i in idx])),
            "depth": torch.from_numpy(load_npy(root / "depth.npy")[idx]),
            "R": t(cams["R"])[idx], "T": t(cams["T"])[idx], "fov": torch.full((len(idx),), float(cams["fov"])),
            "focal": torch.full((len(idx), 2), f), "principal_point": torch.tensor([[w / 2.0, h / 2.0]] * len(idx)),
            "elev": t(cams["elev"])[idx], "azim": t(cams["azim"])[idx], "splits": cams["splits"], "indices": idx,
            "image_size": (h, w)}


def _depth_or_none(path: Path, problems: Problems) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        return load_npy(path, "depth")
    except DataError as exc:
        problems.add(path, str(exc).split(": ", 1)[-1])
        return None


def check_multiview(root: Path) -> CheckReport:
    root = Path(root)
    problems = Problems(root)
    try:
        cams = read_json(root / "cameras.json")
    except Exception as exc:
        problems.add(root / "cameras.json", str(exc).split(": ", 1)[-1])
        return problems.report("multiview")
    n = len(cams["R"])
    check_counts("multiview", root, {"images": n, "silhouettes": n}, problems)
    sizes = check_images(sorted((root / "images").glob("*.png")), problems)
    depth = _depth_or_none(root / "depth.npy", problems)
    if depth is None or depth.shape[0] != n:
        problems.add(root / "depth.npy", f"expected {n} depth maps")
    return problems.report("multiview", {"views": n, "splits": {k: len(v) for k, v in cams["splits"].items()},
                                         "image_sizes": sizes, "mesh": cams.get("mesh")})
