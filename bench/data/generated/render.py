"""Rendering helpers shared by the generated image datasets (built on a backend's PyTorch3D-style renderer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.data.generated.meshes import make_mesh, validate_mesh
from bench.data.report import Problems
from bench.errors import DataError


def backend(name: str = "auto") -> Any:
    from bench.backends import load

    return load(name)


def normalise(verts: torch.Tensor) -> torch.Tensor:
    """Centre at the vertex mean and scale so the farthest vertex is at distance 1 (as generate_cow_renders)."""
    v = verts - verts.mean(0)
    return v / v.norm(dim=1).max()


def vertex_colours(verts: torch.Tensor) -> torch.Tensor:
    """A smooth, asymmetric per-vertex colour (V, 3) in [0.15, 0.95] so poses are distinguishable."""
    return (0.55 + 0.4 * torch.stack([verts[:, 0], verts[:, 1], -verts[:, 2]], 1).clamp(-1, 1)).clamp(0.15, 0.95)


def load_scene_mesh(p3d: Any, mesh: str, **params: Any) -> Any:
    """A normalised ``Meshes`` of one procedural shape name or mesh file; OBJ textures are kept (TexturesUV)."""
    path = Path(str(mesh)).expanduser()
    if path.suffix.lower() == ".obj" and path.is_file():
        try:
            m = p3d.io.load_objs_as_meshes([str(path)], device="cpu")
        except DataError:
            raise
        except (ValueError, OSError) as exc:  # another backend's reader: one line naming the file
            raise DataError(f"{path}: not a readable mesh ({' '.join(str(exc).split())[:200]})") from None
        validate_mesh(m.verts_packed(), m.faces_packed(), path)  # empty, NaN or out-of-range: DataError
        if m.textures is not None:
            v = m.verts_packed()
            return m.offset_verts(-v.mean(0).expand_as(v)).scale_verts(1.0 / (v - v.mean(0)).norm(dim=1).max().item())
        verts, faces = m.verts_packed(), m.faces_packed()
    elif path.suffix:  # any other mesh file (a missing one raises DataError naming it)
        verts, faces = make_mesh("file", path=path)
    else:
        verts, faces = make_mesh(str(mesh), **params)
    verts = normalise(verts)
    return p3d.structures.Meshes([verts], [faces],
                                textures=p3d.renderer.TexturesVertex(verts_features=[vertex_colours(verts)]))


def render(p3d: Any, meshes: Any, R: torch.Tensor, T: torch.Tensor, fov: float, image_size: int,
           light: tuple[float, float, float] = (0.0, 0.0, -3.0)) -> dict[str, torch.Tensor]:
    """RGB (N, S, S, 3) on white, silhouette (N, S, S) {0, 1} and depth (N, S, S) (camera z; -1 where empty)."""
    r = p3d.renderer
    cams = r.FoVPerspectiveCameras(R=R, T=T, fov=fov)
    settings = r.RasterizationSettings(image_size=image_size, blur_radius=0.0, faces_per_pixel=1)
    rasterizer = r.MeshRasterizer(cameras=cams, raster_settings=settings)
    shader = r.HardPhongShader(cameras=cams, lights=r.PointLights(location=[list(light)]),
                               blend_params=r.BlendParams(background_color=(1.0, 1.0, 1.0)))
    batch = meshes.extend(len(R)) if len(meshes) == 1 else meshes
    with torch.no_grad():
        frags = rasterizer(batch)
        rgb = shader(frags, batch)[..., :3].clamp(0, 1)
    sil = (frags.pix_to_face[..., 0] >= 0).float()
    return {"images": rgb, "silhouettes": sil, "depth": frags.zbuf[..., 0]}


def save_png(path: Path, img: torch.Tensor) -> None:
    """float image (H, W[, 3]) in [0, 1] -> 8-bit PNG (byte-stable: no metadata)."""
    arr = (img.detach().cpu().numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def focal_pixels(fov_deg: float, image_size: int) -> float:
    """Pixel focal length of a square FoV camera."""
    return 0.5 * image_size / float(np.tan(np.radians(fov_deg) / 2.0))


def check_counts(name: str, root: Path, expected: dict[str, int], problems: Problems) -> None:
    for folder, n in expected.items():
        got = len(list((Path(root) / folder).glob("*.png")))
        if got != n:
            problems.add(Path(root) / folder, f"{got} images, expected {n} (missing frames)")
