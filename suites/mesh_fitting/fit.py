"""Book ch. 3: deform an ico-sphere to a target point cloud with Chamfer and mesh regularisers.

Written against PyTorch3D's API through a backend namespace, so it runs unchanged on
the built-in backend and on the real PyTorch3D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch

from bench.context import Phase

# Loss weights of the book's full objective, and its two ablations.
LOSS_WEIGHTS: dict[str, dict[str, float]] = {
    "full": {"chamfer": 1.0, "edge": 1.0, "normal": 0.01, "laplacian": 0.1},
    "chamfer": {"chamfer": 1.0, "edge": 0.0, "normal": 0.0, "laplacian": 0.0},
    "chamfer+edge": {"chamfer": 1.0, "edge": 1.0, "normal": 0.0, "laplacian": 0.0},
}


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings (book: ico_sphere(4), SGD lr 1.0 momentum 0.9, 2000 iterations)."""

    loss: str = "full"
    iterations: int = 2000
    sphere_level: int = 4
    samples: int = 5000
    lr: float = 1.0
    momentum: float = 0.9
    curve_every: int = 10


@dataclass
class FitResult:
    mesh: Any  # backend Meshes, detached
    losses: list[float]
    curve_iters: list[int]
    curve: dict[str, list[float]]


def fit_mesh(t3d: SimpleNamespace, target_points: torch.Tensor, cfg: FitConfig, device: str,
             loop: Phase | None = None) -> FitResult:
    """Optimise per-vertex offsets of an ico-sphere so its surface matches ``target_points`` (P, 3); each
    iteration is one step of ``loop`` (the case's timed phase)."""
    if cfg.loss not in LOSS_WEIGHTS:
        raise ValueError(f"loss {cfg.loss!r}: expected one of {sorted(LOSS_WEIGHTS)}")
    w = LOSS_WEIGHTS[cfg.loss]
    src = t3d.utils.ico_sphere(cfg.sphere_level, device)
    target = target_points.to(device)[None]
    deform = torch.zeros_like(src.verts_packed(), requires_grad=True)
    opt = torch.optim.SGD([deform], lr=cfg.lr, momentum=cfg.momentum)
    loop = loop or Phase.standalone("iteration", device)
    losses: list[float] = []
    curve_iters: list[int] = []
    curve: dict[str, list[float]] = {k: [] for k in ("total", "chamfer", "edge", "normal", "laplacian")}
    loop.expect(cfg.iterations)
    for it in range(cfg.iterations):
        with loop.step():
            opt.zero_grad()
            mesh = src.offset_verts(deform)
            sample = t3d.ops.sample_points_from_meshes(mesh, cfg.samples)
            parts = {"chamfer": t3d.loss.chamfer_distance(sample, target)[0]}
            if w["edge"]:
                parts["edge"] = t3d.loss.mesh_edge_loss(mesh)
            if w["normal"]:
                parts["normal"] = t3d.loss.mesh_normal_consistency(mesh)
            if w["laplacian"]:
                parts["laplacian"] = t3d.loss.mesh_laplacian_smoothing(mesh, method="uniform")
            loss = sum(w[k] * v for k, v in parts.items())
            loss.backward()
            opt.step()
        value = float(loss.detach())
        losses.append(value)
        loop.report(loss=value)
        if not math.isfinite(value):
            break
        if it % cfg.curve_every == 0 or it == cfg.iterations - 1:
            curve_iters.append(it)
            curve["total"].append(value)
            for k in ("chamfer", "edge", "normal", "laplacian"):
                curve[k].append(float(parts[k].detach()) if k in parts else float("nan"))
    final = src.offset_verts(deform.detach())
    return FitResult(final, losses, curve_iters, curve)


def mean_edge_length(mesh: Any) -> float:
    """Mean length of the unique edges of a (single) mesh."""
    verts, edges = mesh.verts_packed(), mesh.edges_packed()
    return float((verts[edges[:, 0]] - verts[edges[:, 1]]).norm(dim=1).mean())
