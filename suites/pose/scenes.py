"""The pose suite's scenes: the book's teapot and cow, and a rig of cameras with known relative poses.

A scene holds the mesh (world = object frame, at the origin), the true camera(s) as PyTorch3D
``(R, T)`` (``X_view = X_world @ R + T``) and, for rigs, each camera's fixed pose relative to the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import NotAvailable

# The tutorial's teapot.obj is Newell's teapot, y-up, base at y = 0, spout towards +X, scaled so the
# body's rim (radius 1.5 at height 2.4 in Newell's units) sits at radius 0.4786, height 0.7658.
# With resolution 6 (2256 triangles, as the tutorial's file) the book's loss at iteration 0 is reproduced.
TUTORIAL_TEAPOT_SCALE = 0.319065
TEAPOT_RESOLUTION = 6
COW_URL = "https://dl.fbaipublicfiles.com/pytorch3d/data/cow_mesh/"
SCENES = ("teapot", "cow", "multiview")


@dataclass
class Scene:
    """A mesh and its true camera(s).

    Attributes:
        mesh: backend ``Meshes`` with one mesh (textured for the cow).
        R: (V, 3, 3) true world-to-view rotations of the V cameras; T: (V, 3) translations.
        rig_R, rig_T: (V, 3, 3), (V, 3) fixed pose of camera j relative to camera 0:
            ``X_j = X_0 @ rig_R[j] + rig_T[j]`` (identity / zero for camera 0).
        radius: bounding radius of the mesh about the world origin (a camera must stay outside it).
    """

    name: str
    mesh: Any
    R: torch.Tensor
    T: torch.Tensor
    rig_R: torch.Tensor
    rig_T: torch.Tensor
    radius: float
    textured: bool = False
    about: dict[str, Any] = field(default_factory=dict)

    @property
    def views(self) -> int:
        return int(self.R.shape[0])


def relative_rig(R: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose of each camera (V, 3, 3), (V, 3) relative to camera 0, from absolute ``(R, T)``."""
    rig_R = R[0].T[None] @ R  # X_j = X_w R_j + T_j and X_w = (X_0 - T_0) R_0^T
    rig_T = T - (T[0][None, None] @ rig_R)[:, 0]
    return rig_R, rig_T


def compose_rig(R0: torch.Tensor, T0: torch.Tensor, rig_R: torch.Tensor, rig_T: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """All cameras of B rigs: R0 (B, 3, 3), T0 (B, 3) -> R (B, V, 3, 3), T (B, V, 3)."""
    R = R0[:, None] @ rig_R[None]
    T = (T0[:, None, None] @ rig_R[None])[:, :, 0] + rig_T[None]
    return R, T


def bounding_radius(verts: torch.Tensor) -> float:
    """Largest distance (V, 3) -> float of a vertex from the world origin."""
    return float(verts.norm(dim=1).max())


def teapot_mesh(t3d: Any) -> Any:
    """The tutorial's teapot (white vertex colours), from ``bench.data.make_mesh``."""
    from bench.data import make_mesh

    v, f = make_mesh("teapot", resolution=TEAPOT_RESOLUTION, normalize=False)
    v = v * TUTORIAL_TEAPOT_SCALE
    tex = t3d.renderer.TexturesVertex(verts_features=torch.ones_like(v)[None])
    return t3d.structures.Meshes([v], [f], textures=tex)


def cow_path(data_root: str | Path | None, explicit: str | None = None) -> Path:
    """``cow.obj``: ``explicit`` if given, else ``<data root>/cow_mesh/cow.obj`` if there, else bench3d's copy."""
    from bench.data import data_root as root_of
    from bench.data.assets import COW_OBJ

    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise NotAvailable(f"--set cow_obj={explicit}: no such file; expected an OBJ with its MTL and texture "
                               f"(the book's cow is at {COW_URL})")
        return path
    path = root_of(data_root) / "cow_mesh" / "cow.obj"
    return path if path.is_file() else COW_OBJ


def resize_texture(t3d: Any, mesh: Any, size: int) -> Any:
    """The mesh with its UV texture map (1, H, W, 3) area-averaged to at most (size, size): the cow's 1024^2 map
    costs ~20% of a 64x64 textured pass on CPU and adds nothing visible at that image size."""
    if int(size) < 1:
        raise ValueError(f"texture_size: expected a positive number of texels, got {size!r}")
    tex = mesh.textures
    maps = tex.maps_padded()
    if max(maps.shape[1:3]) <= int(size):
        return mesh
    hw = [min(int(size), n) for n in maps.shape[1:3]]
    small = torch.nn.functional.interpolate(maps.permute(0, 3, 1, 2), size=hw, mode="area").permute(0, 2, 3, 1)
    out = mesh.clone()
    out.textures = t3d.renderer.TexturesUV(maps=small, faces_uvs=tex.faces_uvs_padded(),
                                           verts_uvs=tex.verts_uvs_padded())
    return out


def look_at(t3d: Any, dist: float, elev: float, azim: float | list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    azim = torch.as_tensor(azim, dtype=torch.float32).reshape(-1)
    return t3d.renderer.look_at_view_transform(dist=dist, elev=elev, azim=azim)


def make_scene(t3d: Any, name: str, *, data_root: str | Path | None = None, cow_obj: str | None = None,
               views: int = 2, view_spacing_deg: float = 90.0, dist: float = 3.0, elev: float = 50.0,
               azim: float = 0.0) -> Scene:
    """The scene ``name`` ("teapot", "cow" or "multiview") with its true camera(s) at (dist, elev, azim).

    "multiview" is the teapot, centred on its bounding box, seen by ``views`` cameras ``view_spacing_deg``
    apart in azimuth.
    """
    if name not in SCENES:
        raise ValueError(f"scene: expected one of {SCENES}, got {name!r}")
    if name == "multiview" and int(views) < 2:
        raise ValueError(f"views: the multi-view case needs at least 2 cameras, got {views!r}")
    if name == "cow":
        mesh = t3d.io.load_objs_as_meshes([str(cow_path(data_root, cow_obj))], device="cpu")
    else:
        mesh = teapot_mesh(t3d)
    if name == "multiview":  # rotate the object about its own centre: centre its bounding box at the origin
        v = mesh.verts_packed()
        mesh = mesh.offset_verts(-(0.5 * (v.amin(0) + v.amax(0))).expand_as(v))
    n = int(views) if name == "multiview" else 1
    R, T = look_at(t3d, dist, elev, [azim + j * float(view_spacing_deg) for j in range(n)])
    rig_R, rig_T = relative_rig(R, T)
    return Scene(name=name, mesh=mesh, R=R, T=T, rig_R=rig_R, rig_T=rig_T,
                 radius=bounding_radius(mesh.verts_packed()), textured=name == "cow",
                 about={"dist": dist, "elev": elev, "azim": azim, "views": n,
                        "faces": int(mesh.num_faces_per_mesh()[0])})


def check_camera_outside(centres: torch.Tensor, radius: float, what: str) -> None:
    """ValueError if any camera centre (B, 3) lies inside the object's bounding sphere."""
    d = centres.detach().norm(dim=-1)
    bad = torch.nonzero(d <= radius).flatten()
    if len(bad):
        i = int(bad[0])
        c = [round(float(x), 3) for x in centres[i]]
        raise ValueError(f"{what}: camera start {c} is inside the object (|start| = {float(d[i]):.3f} <= "
                         f"bounding radius {radius:.3f}); start the camera outside the object")


def random_axes(n: int, generator: torch.Generator, perpendicular_to: torch.Tensor | None = None) -> torch.Tensor:
    """n random unit axes (n, 3), optionally perpendicular to a vector (3,)."""
    a = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    if perpendicular_to is not None:
        p = perpendicular_to.to(torch.float64) / perpendicular_to.norm()
        a = a - (a @ p)[:, None] * p[None]
    return (a / a.norm(dim=1, keepdim=True)).to(torch.float32)


def axis_angle_matrix(axes: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotations (n, 3, 3) by ``angle_deg`` about unit ``axes`` (n, 3) (Rodrigues, column-vector form)."""
    k = torch.zeros(axes.shape[0], 3, 3, dtype=axes.dtype)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axes[:, 2], axes[:, 1], -axes[:, 0]
    k = k - k.transpose(1, 2)
    a = math.radians(angle_deg)
    return torch.eye(3)[None] + math.sin(a) * k + (1.0 - math.cos(a)) * (k @ k)
