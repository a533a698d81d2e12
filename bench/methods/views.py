"""Posed views of one scene: built-in multi-view renders or a NeRF Blender scene (used by `volumes` and `nerf`).

Both `volumes` and `nerf` fit a field to training views and score it on held-out views; this
module gives them one container (:class:`Views`) whatever the source, with cameras built
through the run's backend so the suites run unchanged on PyTorch3D. :func:`resolve_mesh` finds
the book's cow (``<data root>/cow_mesh/cow.obj`` when present, else the copy shipped with bench3d).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from bench.errors import NotAvailable

BLENDER_DATASET = "nerf-synthetic"
# NeRF's Blender convention: cameras on a sphere of radius ~4 around a scene inside [-1.5, 1.5]^3.
BLENDER_NEAR, BLENDER_FAR, BLENDER_EXTENT = 2.0, 6.0, 3.0


@dataclass(frozen=True)
class Views:
    """Images of one scene with their cameras (PyTorch3D conventions).

    Attributes:
        images: (N, H, W, 3) RGB in [0, 1], composited on ``background``.
        masks: (N, H, W) silhouettes / alpha in [0, 1].
        R, T: (N, 3, 3), (N, 3) world-to-view rotation and translation.
        ids: one name per view (item ids of the per-view metrics).
        fov: field of view in degrees (FoVPerspectiveCameras), or None for pixel intrinsics.
        focal, principal_point: (N, 2) pixels (PerspectiveCameras, in_ndc=False) when ``fov`` is None.
        background: grey level behind the object; renders are composited on it.
        min_depth, max_depth: the depth range the rays sample.
        extent: side of the cube centred at the origin that holds the scene (the voxel grid's size).
    """

    images: torch.Tensor
    masks: torch.Tensor
    R: torch.Tensor
    T: torch.Tensor
    ids: list[str]
    fov: float | None = None
    focal: torch.Tensor | None = None
    principal_point: torch.Tensor | None = None
    background: float = 1.0
    min_depth: float = 0.1
    max_depth: float = 3.0
    extent: float = 3.0

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, idx: list[int] | torch.Tensor) -> Views:
        """The views at ``idx`` (a list or 1-D index tensor)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        pick = (lambda t: None if t is None else t[idx])  # noqa: E731
        return replace(self, images=self.images[idx], masks=self.masks[idx], R=self.R[idx], T=self.T[idx],
                       ids=[self.ids[i] for i in idx.tolist()], focal=pick(self.focal),
                       principal_point=pick(self.principal_point))

    def cameras(self, t3d: Any, idx: list[int] | torch.Tensor | None = None, device: str = "cpu") -> Any:
        """A batch of the backend's cameras for the views at ``idx`` (all by default)."""
        v = self if idx is None else self.subset(idx)
        r = t3d.renderer
        if v.fov is not None:
            return r.FoVPerspectiveCameras(R=v.R, T=v.T, fov=v.fov, device=device)
        h, w = v.image_size
        return r.PerspectiveCameras(focal_length=v.focal, principal_point=v.principal_point, R=v.R, T=v.T,
                                    in_ndc=False, image_size=[[h, w]] * len(v), device=device)


def resolve_mesh(mesh: str, data_root: str | Path | None) -> str:
    """The mesh argument of the multiview dataset: ``"cow"`` is the book's textured cow, from
    ``<data root>/cow_mesh/cow.obj`` when present, else the copy shipped with bench3d; other names pass through."""
    if mesh != "cow":
        return mesh
    from bench.data import data_root as root_of
    from bench.data.assets import COW_OBJ

    path = root_of(data_root) / "cow_mesh" / "cow.obj"
    return str(path if path.is_file() else COW_OBJ)


def multiview_params(mesh: str, num_views: int, image_size: int, test_every: int,
                     data_root: str | Path | None) -> dict[str, Any]:
    """Parameters of the generated ``multiview`` dataset for a case (the cow resolved to its OBJ)."""
    if test_every < 2:
        raise ValueError(f"test_every: expected an integer >= 2 (every k-th view is held out), got {test_every!r}")
    return {"mesh": resolve_mesh(mesh, data_root), "num_views": int(num_views), "image_size": int(image_size),
            "test_every": int(test_every)}


def multiview_use(**when: Any) -> Any:
    """The ``DatasetUse`` of a suite whose config has mesh, num_views, image_size and test_every fields."""
    from bench.suite import DatasetUse

    return DatasetUse("multiview", when=when, params=lambda c, root: multiview_params(
        c.mesh, c.num_views, c.image_size, c.test_every, root))


def multiview_views(dataset: Any) -> tuple[Views, Views]:
    """(train, test) views of a resolved ``multiview`` dataset (``ctx.dataset("multiview")``)."""
    out = []
    for split in ("train", "test"):
        d = dataset.load(split=split)
        out.append(Views(images=d["images"].float(), masks=d["silhouettes"].float(), R=d["R"], T=d["T"],
                         ids=[f"view{i:03d}" for i in d["indices"]], fov=float(d["fov"][0]), background=1.0))
    return out[0], out[1]


def builtin_views(data_root: str | Path | None, seed: int, *, mesh: str, num_views: int, image_size: int,
                  test_every: int) -> tuple[Views, Views]:
    """(train, test) views of the generated ``multiview`` dataset: renders around the mesh, every
    ``test_every``-th view held out (the scene fills the unit sphere; cameras at distance 2.7). Suites get
    the same through ``ctx.dataset`` and :func:`multiview_views`."""
    from bench.data.resolve import resolve

    use = multiview_use()
    config = SimpleNamespace(mesh=mesh, num_views=num_views, image_size=image_size, test_every=test_every)
    return multiview_views(resolve(use, config, data_root, seed))


def blender_folder(data_root: str | Path | None, scene: str) -> Path:
    """Where scene ``scene`` of the NeRF Blender set is looked for: ``<data root>/nerf-synthetic/<scene>``
    (or ``nerf_synthetic/<scene>``, the archive's own folder name)."""
    from bench.data import data_root as root_of

    base = root_of(data_root)
    candidates = [base / BLENDER_DATASET / scene, base / "nerf_synthetic" / scene]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def blender_views(data_root: str | Path | None, scene: str, split: str, *, max_views: int | None = None) -> Views:
    """One split of a NeRF Blender scene on a white background; every k-th view when ``max_views`` is set.

    Raises:
        NotAvailable: the scene folder is absent (the case is skipped, with where to get it).
        DataError: the folder is not in the Blender format (via ``bench.data.require``).
    """
    from bench.data import get, require

    folder = blender_folder(data_root, scene)
    report = get(BLENDER_DATASET).check(folder)
    if report.missing:
        raise NotAvailable(report.problems[0])
    require(BLENDER_DATASET, folder)
    return blender_split(folder, split, max_views=max_views)


def blender_split(folder: str | Path, split: str, *, max_views: int | None = None) -> Views:
    """One split of the (checked) NeRF Blender scene folder ``folder``; every k-th view when ``max_views`` is set."""
    from bench.data import load

    d = load(BLENDER_DATASET, Path(folder), split=split, background="white")
    n = len(d["names"])
    idx = list(range(n))
    if max_views is not None and 0 < max_views < n:
        step = -(-n // max_views)
        idx = idx[::step]
    views = Views(images=d["images"].float(), masks=d["alpha"].float(), R=d["R"], T=d["T"],
                  ids=[f"{split}/{name}" for name in d["names"]], fov=None, focal=d["focal"],
                  principal_point=d["principal_point"], background=1.0, min_depth=BLENDER_NEAR,
                  max_depth=BLENDER_FAR, extent=BLENDER_EXTENT)
    return views.subset(idx)
