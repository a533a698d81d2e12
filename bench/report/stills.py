"""Turntable stills of mesh artifacts, rendered with the built-in backend's MeshRenderer.

A mesh artifact (``fitted.obj``, a predicted shape) is shown in the report as a strip of views from a few
azimuths around it. The renderer is ``bench.backends.load("torch")`` (PyTorch3D's API in pure PyTorch), so
a still looks the same on every machine, with or without the real PyTorch3D.

Settings, following the PyTorch3D tutorials' mesh renders (docs/tutorials/render_textured_meshes.ipynb,
fit_textured_mesh.ipynb of facebookresearch/pytorch3d): ``FoVPerspectiveCameras`` placed by
``look_at_view_transform(dist, elev, azim)``, ``RasterizationSettings(blur_radius=0, faces_per_pixel=1)``,
``HardPhongShader`` with a ``PointLights`` light, on a white background. Here the light sits at each camera
(a head light, so no view is dark), the mesh is centred on its bounding box and scaled to the unit sphere,
and the camera distance makes that sphere fill the field of view: every mesh is framed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bench.imaging import label_columns

AZIMUTHS = (30.0, 120.0, 210.0, 300.0)  # degrees: four views a quarter turn apart, the first a 3/4 view
ELEVATION = 20.0  # degrees above the horizon
FOV = 30.0  # degrees, vertical field of view
VIEW_PX = 200  # pixels per view (square)
MAX_FACES = 200_000  # larger meshes are listed, not rendered
COLOUR = (0.55, 0.7, 1.0)  # the mesh's vertex colour (RGB in [0, 1])


def frame(verts: np.ndarray) -> tuple[np.ndarray, float]:
    """Vertices (V, 3) centred on their bounding box and scaled into the unit sphere, and the camera distance
    at which that sphere just fits the field of view ``FOV`` (with a 5 % margin)."""
    centre = (verts.max(axis=0) + verts.min(axis=0)) / 2
    radius = float(np.linalg.norm(verts - centre, axis=1).max())
    if not math.isfinite(radius):
        raise ValueError("the mesh has non-finite vertex coordinates")
    unit = (verts - centre) / max(radius, 1e-12)
    return unit, 1.05 / math.sin(math.radians(FOV / 2))


def render_turntable(verts: np.ndarray, faces: np.ndarray, *, azimuths: Sequence[float] = AZIMUTHS,
                     elevation: float = ELEVATION, size: int = VIEW_PX) -> np.ndarray:
    """Views of a triangle mesh, vertices (V, 3) and faces (F, 3), from ``azimuths`` (degrees) at
    ``elevation``, side by side: (size, len(azimuths) * size, 3) uint8 on white."""
    import torch

    from bench.backends import load

    if len(faces) == 0 or len(faces) > MAX_FACES:
        raise ValueError(f"{len(faces)} faces: nothing to render or more than {MAX_FACES}")
    t3d = load("torch")
    r = t3d.renderer
    unit, dist = frame(np.asarray(verts, dtype=np.float64))
    v = torch.as_tensor(unit, dtype=torch.float32)
    f = torch.as_tensor(np.asarray(faces), dtype=torch.int64)
    n = len(azimuths)
    textures = r.TexturesVertex(verts_features=torch.tensor(COLOUR).expand(1, v.shape[0], 3))
    mesh = t3d.structures.Meshes(verts=[v], faces=[f], textures=textures).extend(n)
    R, T = r.look_at_view_transform(dist=dist, elev=elevation, azim=torch.tensor(list(azimuths)))
    cams = r.FoVPerspectiveCameras(R=R, T=T, fov=FOV, znear=max(dist - 1.5, 0.01), zfar=dist + 1.5)
    lights = r.PointLights(location=cams.get_camera_center(), ambient_color=((0.35,) * 3,),
                           diffuse_color=((0.6,) * 3,), specular_color=((0.15,) * 3,))
    raster = r.RasterizationSettings(image_size=size, blur_radius=0.0, faces_per_pixel=1)
    renderer = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cams, raster_settings=raster),
                              shader=r.HardPhongShader(cameras=cams, lights=lights,
                                                       blend_params=r.BlendParams(background_color=(1.0, 1.0, 1.0))))
    with torch.no_grad():
        img = renderer(mesh)[..., :3].clamp(0.0, 1.0)  # (n, size, size, 3)
    strip = img.permute(1, 0, 2, 3).reshape(size, n * size, 3).numpy()
    return (strip * 255.0 + 0.5).astype(np.uint8)


def turntable_png(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The report's still of a mesh: :func:`render_turntable` with each view labelled by its azimuth;
    (BAND + VIEW_PX, len(AZIMUTHS) * VIEW_PX, 3) uint8."""
    strip = render_turntable(verts, faces)
    labels = [f"azimuth {a:g}°" + (f", elevation {ELEVATION:g}°" if i == 0 else "") for i, a in enumerate(AZIMUTHS)]
    return label_columns(strip, labels, min_column_px=VIEW_PX)
