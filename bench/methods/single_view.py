"""One image -> one object's shape: the data pipeline shared by `meshrcnn` and `single_view`.

Mesh R-CNN's ShapeNet setting (Gkioxari et al. 2019, sec. 4.1) predicts the shape in the camera's frame:
the ground truth is rotated into the view (``X_view = X_obj @ R``, PyTorch3D's row-vector convention;
the camera then sits at ``T`` looking along +z). Voxels live on a grid over [-1, 1]^3 of that frame in
``cubify``'s (N, D, H, W) layout (x along W, y along H, z along D, ``align="corner"``). The image encoder
and the mean-shape baseline are here too, so both suites use the same ones.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.suite import DatasetUse


@dataclass
class ShapeSet:
    """(instance, view) items of one split, in the view frame.

    Attributes:
        images: (N, 3, H, W) RGB in [0, 1].
        voxels: (N, G, G, G) {0, 1} float occupancy in cubify's (D, H, W) layout.
        verts, faces: N ground-truth meshes (V_i, 3) / (F_i, 3) in the view frame.
        T: (N, 3) camera translation; fov: (N,) degrees (the view-frame camera has R = I).
        ids, categories: "category/instance/v<k>" and the category of each item.
        canonical: (N, X, Y, Z) bool object-frame voxels and R (N, 3, 3) for the mean-shape baseline.
    """

    images: torch.Tensor
    voxels: torch.Tensor
    verts: list[torch.Tensor]
    faces: list[torch.Tensor]
    T: torch.Tensor
    fov: torch.Tensor
    ids: list[str]
    categories: list[str]
    canonical: torch.Tensor
    R: torch.Tensor

    def __len__(self) -> int:
        return len(self.ids)


def canonical_to_view(occ: torch.Tensor, R: torch.Tensor, size: int) -> torch.Tensor:
    """Object-frame occupancy (N, X, Y, Z) over [-1, 1]^3 resampled (trilinear) on the view-frame grid:
    (N, size, size, size) in cubify's (D, H, W) layout; a view point p samples the object at p @ R^T."""
    ax = -1.0 + (torch.arange(size, dtype=torch.float32) + 0.5) * 2.0 / size
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")  # (D, H, W) order of the output
    pts = torch.stack([x, y, z], -1).reshape(1, -1, 3)
    obj = pts @ R.float().transpose(1, 2)  # (N, P, 3): back to the object frame
    vol = occ.float().permute(0, 3, 2, 1)[:, None]  # (N, 1, Z, Y, X): grid_sample's (D, H, W) = (z, y, x)
    out = F.grid_sample(vol, obj[:, :, None, None, :], mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(len(occ), size, size, size)


def to_view_set(instances: list[dict[str, Any]], voxel_size: int = 32) -> ShapeSet:
    """Flatten loaded instances (``shapenet-like`` or R2N2 items) into view-frame items, one per view; an item's
    id is ``<instance id>/<view name>`` (an instance's ``view_names``, R2N2's ``00``..``23``) or ``.../v<k>``."""
    images, verts, faces, T, fov, ids, cats, canon, Rs = [], [], [], [], [], [], [], [], []
    for inst in instances:
        for k in range(len(inst["R"])):
            R = inst["R"][k].float()
            images.append(inst["images"][k].permute(2, 0, 1).float())
            verts.append(inst["verts"].float() @ R)
            faces.append(inst["faces"])
            T.append(inst["T"][k].float())
            fov.append(float(inst["fov"][k]) if torch.is_tensor(inst["fov"]) else float(inst["fov"]))
            ids.append(f"{inst['id']}/{inst['view_names'][k]}" if "view_names" in inst else f"{inst['id']}/v{k}")
            cats.append(inst["category"])
            canon.append(inst["voxels"])
            Rs.append(R)
    R = torch.stack(Rs)
    canonical = torch.stack(canon)
    vox = (canonical_to_view(canonical, R, voxel_size) > 0.5).float()
    return ShapeSet(torch.stack(images), vox, verts, faces, torch.stack(T), torch.tensor(fov), ids, cats,
                    canonical, R)


def project(verts: torch.Tensor, T: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """View-frame points (N, V, 3) -> grid_sample coordinates (N, V, 2) of the image (x right, y down), through
    PyTorch3D's FoVPerspectiveCameras(R=I, T) (NDC +x left, +y up, so both flip)."""
    cam = verts + T[:, None, :]
    s = 1.0 / torch.tan(torch.deg2rad(fov) / 2.0)[:, None]
    z = cam[..., 2].clamp(min=1e-3)
    return torch.stack([-s * cam[..., 0] / z, -s * cam[..., 1] / z], -1)


def frustum_to_grid(maps: torch.Tensor, T: torch.Tensor, fov: torch.Tensor, size: int) -> torch.Tensor:
    """Mesh R-CNN's voxel branch predicts occupancy in the camera frustum: per image cell, ``D`` channels over
    depth. maps (N, D, h, w) (image-aligned, depth bins over view-frame z in [-1, 1], nearest first) ->
    (N, size, size, size) on the view-frame grid in cubify's (D, H, W) layout: each voxel centre is projected
    into the image (:func:`project`) and the map is sampled trilinearly there and at its depth. Outside the
    image the border value is used (the object is inside the view)."""
    N = len(maps)
    ax = -1.0 + (torch.arange(size, dtype=maps.dtype, device=maps.device) + 0.5) * 2.0 / size
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    pts = torch.stack([x, y, z], -1).reshape(1, -1, 3).expand(N, -1, -1)
    uv = project(pts, T.to(maps), fov.to(maps))
    coords = torch.cat([uv, pts[..., 2:]], -1)  # grid_sample's (x, y, z) = (image x, image y, depth)
    out = F.grid_sample(maps[:, None], coords[:, :, None, None, :], mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.reshape(N, size, size, size)


class ImageEncoder(nn.Module):
    """A small CNN trained from scratch (smoke): 4 stride-2 conv blocks; returns the feature maps of the last
    two blocks (for vert_align) and a global vector. Mesh R-CNN uses a ResNet-50 at standard scale."""

    def __init__(self, width: int = 32, latent: int = 256) -> None:
        super().__init__()
        chans = [3, width // 2, width, width * 2, width * 4]
        self.blocks = nn.ModuleList(nn.Sequential(
            nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1), nn.BatchNorm2d(chans[i + 1]), nn.ReLU(),
            nn.Conv2d(chans[i + 1], chans[i + 1], 3, padding=1), nn.BatchNorm2d(chans[i + 1]), nn.ReLU())
            for i in range(4))
        self.fc = nn.Linear(chans[-1], latent)
        self.channels = (chans[-2], chans[-1])

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """images (N, 3, H, W) -> ([(N, 2w, H/8, W/8), (N, 4w, H/16, W/16)], (N, latent))."""
        x, maps = images * 2.0 - 1.0, []
        for b in self.blocks:
            x = b(x)
            maps.append(x)
        return maps[-2:], F.relu(self.fc(x.mean((2, 3))))


def mean_shapes(train: ShapeSet) -> dict[str, torch.Tensor]:
    """Mean object-frame occupancy (X, Y, Z) of each category's training instances, and of all ("*")."""
    by_cat: dict[str, list[torch.Tensor]] = {}
    seen: set[int] = set()
    for i, c in enumerate(train.categories):
        instance = train.ids[i].rsplit("/", 1)[0]
        if instance in seen:  # one vote per instance, not per view
            continue
        seen.add(instance)
        by_cat.setdefault(c, []).append(train.canonical[i].float())
    out = {c: torch.stack(v).mean(0) for c, v in by_cat.items()}
    out["*"] = torch.stack([v for vs in by_cat.values() for v in vs]).mean(0)
    return out


def mean_shape_prediction(means: dict[str, torch.Tensor], test: ShapeSet, per_category: bool = True
                          ) -> torch.Tensor:
    """The baseline's view-frame occupancy probabilities (N, G, G, G): the mean training shape of the item's
    category (or of all) rotated into the item's view. It sees the category and camera, never the image."""
    occ = torch.stack([means[c if per_category and c in means else "*"] for c in test.categories])
    return canonical_to_view(occ, test.R, test.voxels.shape[-1])


def voxel_meshes(backend: Any, probs: torch.Tensor, thresh: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """cubify (align="corner", so cubes cover their cells of [-1, 1]^3) of (N, G, G, G) probabilities; an empty
    grid gives the single most probable voxel's cube, so a prediction is never an empty mesh."""
    probs = probs.detach()
    empty = (probs >= thresh).flatten(1).sum(1) == 0
    if bool(empty.any()):
        probs = probs.clone()
        flat = probs.flatten(1)
        flat[empty, flat[empty].argmax(1)] = 1.0
        probs = flat.view_as(probs)
    m = backend.ops.cubify(probs, thresh, align="corner")
    return list(zip(m.verts_list(), m.faces_list(), strict=True))


@dataclass
class ViewData:
    """Both splits of a case in the view frame, and the mean training shapes of the baseline."""

    train: ShapeSet
    test: ShapeSet
    means: dict[str, torch.Tensor]


# The `data` / `splits` fields both suites declare (one wording, used by their Config dataclasses).
DATA_DOC = ("generated: the shapenet-like categories; r2n2: 3D-R2N2 renders + voxels with ShapeNetCore v1 meshes "
            "under --data-root (r2n2/, shapenetcore-v1/)")
SPLITS_DOC = ("r2n2: a splits JSON {split: {synset: {model: [view ids]}}} (Mesh R-CNN's pix2mesh_splits_val05.json; "
              "relative: in the r2n2 folder); empty: the last test_instances models of each synset are held out")


def data_params(config: Any, _root: object) -> dict[str, Any]:
    """``shapenet-like`` generation parameters from a case config (its categories, instances, test_instances,
    views, image_size and mesh_resolution fields): the ``DatasetUse`` params of both suites."""
    from bench.data.generated.shape_parts import CATEGORIES

    return {"categories": list(CATEGORIES[: config.categories]), "instances": config.instances,
            "test_instances": config.test_instances, "views": config.views, "image_size": config.image_size,
            "mesh_resolution": config.mesh_resolution}


def load_view_data(ctx: Any, voxel_size: int, config: Any = None) -> ViewData:
    """The case's dataset as view-frame train/test items on a ``voxel_size``^3 grid, and the mean training
    occupancy per category (:func:`mean_shapes`): ``shapenet-like``, or R2N2 + ShapeNetCore v1 when the config's
    ``data`` is ``"r2n2"`` (:mod:`bench.methods.r2n2_views`)."""
    if getattr(config, "data", "generated") == "r2n2":
        from bench.methods.r2n2_views import r2n2_view_data

        return r2n2_view_data(ctx, config, voxel_size)
    ds = ctx.dataset("shapenet-like")
    train = to_view_set(ds.load(split="train"), voxel_size)
    return ViewData(train, to_view_set(ds.load(split="test"), voxel_size), mean_shapes(train))


def dataset_uses() -> tuple[DatasetUse, ...]:
    """The datasets of both suites: ``shapenet-like`` built from the case (``data=generated``), or the R2N2
    renders and voxels with their ShapeNetCore v1 meshes under the data root (``data=r2n2``)."""
    return (DatasetUse("shapenet-like", when={"data": "generated"}, params=data_params),
            DatasetUse("r2n2", when={"data": "r2n2"}), DatasetUse("shapenetcore-v1", when={"data": "r2n2"}))


def sphere_radius_for(voxels: torch.Tensor) -> float:
    """Radius of the sphere whose volume equals the mean occupied volume of ``voxels`` (N, G, G, G) in [-1, 1]^3."""
    vol = float(voxels.mean()) * 8.0
    return (3.0 * vol / (4.0 * math.pi)) ** (1.0 / 3.0)


def occupancy_logit(p: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Log-odds of occupancy probabilities ``p`` (any shape), clamped to [eps, 1 - eps].

    The prior initialisation of Lin et al., "Focal Loss for Dense Object Detection" (ICCV 2017, sec. 4.1: the
    classifier's bias set to -log((1 - pi) / pi)), so a voxel head starts at the training occupancy instead of
    at probability 0.5 everywhere."""
    p = p.float().clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


class VoxelPrior(nn.Module):
    """Adds a learned view-frame bias to voxel logits (N, G, G, G), initialised to the log-odds of the mean
    training occupancy: ``"scalar"`` one value (Lin et al. 2017's prior), ``"grid"`` one per voxel (the mean
    training grid, the "mean shape (all)" baseline's probabilities, so training starts there), ``"none"``
    nothing (the published heads). Computed from training voxels only."""

    def __init__(self, kind: str, train_voxels: torch.Tensor | None, offset: float = 0.0) -> None:
        super().__init__()
        if kind not in ("none", "scalar", "grid"):
            raise ValueError(f"voxel_prior {kind!r}: expected none, scalar or grid")
        self.kind = kind
        if kind == "none" or train_voxels is None:
            self.bias = None
            return
        mean = train_voxels.float().mean() if kind == "scalar" else train_voxels.float().mean(0)
        init = occupancy_logit(mean) + offset
        self.bias = nn.Parameter(init.reshape(()) if kind == "scalar" else init)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.bias is None else logits + self.bias


def lr_factor(schedule: str, iterations: int, warmup_factor: float = 0.1, warmup_share: float = 0.05):
    """Learning-rate multiplier per iteration for ``torch.optim.lr_scheduler.LambdaLR``: ``"constant"`` (1) or
    ``"cosine"``: a linear warm-up from ``warmup_factor`` over ``warmup_share`` of the iterations, then a cosine
    decay to 0 (Mesh R-CNN's ShapeNet solver offers {constant, cosine} with a 0.1 warm-up factor:
    facebookresearch/meshrcnn shapenet/config/config.py; cosine: Loshchilov & Hutter, SGDR, ICLR 2017)."""
    if schedule == "constant":
        return lambda it: 1.0
    if schedule != "cosine":
        raise ValueError(f"schedule {schedule!r}: expected constant or cosine")
    warm = max(1, int(warmup_share * iterations))

    def f(it: int) -> float:
        if it < warm:
            return warmup_factor + (1.0 - warmup_factor) * it / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (it - warm) / max(1, iterations - warm))))
    return f


def mean_occupancy_points(voxels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` view-frame points (n, 3) drawn from the mean training occupancy of ``voxels`` (N, G, G, G) (cubify's
    (D, H, W) = (z, y, x) layout over [-1, 1]^3) as a density: cells chosen with probability proportional to
    their mean occupancy, each point uniform inside its cell. The "mean shape (all)" as a point cloud."""
    mean = voxels.float().mean(0)
    G = mean.shape[-1]
    gen = torch.Generator().manual_seed(seed)
    cells = torch.multinomial(mean.flatten() + 1e-12, n, replacement=True, generator=gen)
    d, h, w = cells // (G * G), (cells // G) % G, cells % G
    idx = torch.stack([w, h, d], -1).float()  # (x, y, z) cell indices
    return -1.0 + (idx + torch.rand(n, 3, generator=gen)) * 2.0 / G


class WeightEMA:
    """An exponential moving average of a model's weights, used at evaluation in place of the last weights
    (Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", SIAM J. Control Optim. 1992; the
    exponential form: W_ema <- decay * W_ema + (1 - decay) * W after each step, starting at the first step's W).
    It damps the end-of-training noise of a short run at no inference cost.

    Built on torch's ``AveragedModel`` + ``get_ema_multi_avg_fn`` (the averaged copy is made here so that it
    shares the model's backend namespace). Buffers are not averaged (``use_buffers=False``: an integer buffer
    such as a mesh's faces must not be lerped); :meth:`final` recomputes the encoder's BatchNorm statistics for
    the averaged weights on training images instead (``update_bn``, the SWA recipe of Izmailov et al., UAI 2018).
    ``decay`` 0: no average, :meth:`final` returns the model itself."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema {decay!r}: expected a decay in [0, 1) (0: off)")
        self.model, self.avg = model, None
        if decay > 0.0:
            self.avg = AveragedModel(nn.Module(), multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
            # the copy shares the model's backend namespace (a namespace of modules: not deep-copyable)
            memo = {id(m.backend): m.backend for m in model.modules() if getattr(m, "backend", None) is not None}
            self.avg.module = copy.deepcopy(model, memo)

    def update(self) -> None:
        """Fold the model's current weights into the average (call after each optimiser step)."""
        if self.avg is not None:
            self.avg.update_parameters(self.model)

    @torch.no_grad()
    def final(self, images: torch.Tensor, batch: int, device: Any) -> nn.Module:
        """The model to evaluate: the averaged copy, its ``encoder``'s BatchNorm running statistics recomputed on
        ``images`` (N, 3, H, W) in batches of ``batch``; or the model itself when the average is off."""
        from torch.optim.swa_utils import update_bn

        if self.avg is None:
            return self.model
        update_bn((images[s:s + batch].to(device) for s in range(0, len(images), batch)), self.avg.module.encoder)
        return self.avg.module
