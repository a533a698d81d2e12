"""Training and prediction for the `meshrcnn` suite: voxel BCE + per-stage Chamfer + normal + edge losses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bench.context import Phase
from bench.methods.single_view import ShapeSet
from suites.meshrcnn.model import MeshRCNN, mesh_losses


@dataclass(frozen=True)
class LossWeights:
    """Mesh R-CNN's loss terms (its MeshLoss: Chamfer 1.0, edge 0.1-0.2; normal weight set here so the issue's
    four terms are all trained)."""

    voxel: float = 1.0
    chamfer: float = 1.0
    normal: float = 0.05
    edge: float = 0.2


@dataclass
class TrainResult:
    losses: list[float]
    curve: dict[str, list[float]]
    model: MeshRCNN  # the model to evaluate: the trained one, or its weights' average (``ema``)


def gt_samples(backend: Any, data: ShapeSet, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, n, 3) points and normals sampled once from each ground-truth mesh (training targets)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        m = backend.structures.Meshes(data.verts, data.faces)
        return backend.ops.sample_points_from_meshes(m, n, return_normals=True)


def train(model: MeshRCNN, data: ShapeSet, *, iterations: int, batch: int, lr: float, samples: int,
          warmup: float, weights: LossWeights, seed: int, device: str, teacher: bool = False,
          loop: Phase | None = None, schedule: str = "constant", ema: float = 0.0) -> TrainResult:
    """Adam on random batches; the first ``warmup`` share of iterations trains the voxel branch alone (so the
    refinement starts from meaningful cubified meshes). With ``teacher`` the refinement stages train on the
    cubified ground-truth voxels (cubified once, outside the loop) instead of the cubified prediction.
    Each iteration is one step of ``loop``; ``schedule``: the learning-rate schedule (:func:`lr_factor`);
    ``ema``: the decay of the weights' average evaluated instead of the last weights (:class:`WeightEMA`, 0: off)."""
    from bench.methods.single_view import WeightEMA, lr_factor, voxel_meshes

    B = model.backend
    pts, nrm = gt_samples(B, data, samples, seed)
    cubes = voxel_meshes(B, data.voxels, 0.5) if teacher and model.mode == "voxmesh" else None
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(schedule, iterations))
    averaged = WeightEMA(model, ema)
    gen = torch.Generator().manual_seed(seed)
    loop = loop or Phase.standalone("train", device)
    pos_weight = None
    losses: list[float] = []
    curve: dict[str, list[float]] = {k: [] for k in ("total", "voxel", "chamfer", "normal", "edge")}
    model.train()
    for it in range(iterations):
        idx = torch.randint(len(data), (min(batch, len(data)),), generator=gen)
        with loop.step():
            refine = model.mode == "sphere" or (len(model.stages) > 0 and it >= int(warmup * iterations))
            init = None if cubes is None or not refine else B.structures.Meshes(
                [cubes[i][0].to(device) for i in idx.tolist()], [cubes[i][1].to(device) for i in idx.tolist()])
            logits, meshes = model(data.images[idx].to(device), data.T[idx].to(device), data.fov[idx].to(device),
                                   refine=refine, init=init)
            parts: dict[str, torch.Tensor] = {}
            if logits is not None:
                parts["voxel"] = F.binary_cross_entropy_with_logits(logits, data.voxels[idx].to(device),
                                                                    pos_weight=pos_weight)
            for m in meshes[1:]:
                for k, v in mesh_losses(B, m, pts[idx].to(device), nrm[idx].to(device), samples).items():
                    parts[k] = parts.get(k, 0.0) + v
            loss = sum(getattr(weights, k) * v for k, v in parts.items())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            averaged.update()
        value = float(loss.detach())
        losses.append(value)
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss is {value} at iteration {it}")
        curve["total"].append(value)
        for k in ("voxel", "chamfer", "normal", "edge"):
            curve[k].append(float(parts[k].detach()) if k in parts else float("nan"))
    return TrainResult(losses, curve, averaged.final(data.images, batch, device))


@torch.no_grad()
def predict(model: MeshRCNN, data: ShapeSet, batch: int, device: str
            ) -> tuple[torch.Tensor | None, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Voxel probabilities (N, G, G, G) (None without a voxel branch) and the final (verts, faces) per item."""
    model.eval()
    probs, meshes = [], []
    for s in range(0, len(data), batch):
        sl = slice(s, s + batch)
        logits, ms = model(data.images[sl].to(device), data.T[sl].to(device), data.fov[sl].to(device))
        if logits is not None:
            probs.append(torch.sigmoid(logits).cpu())
        meshes += [(v.cpu(), f.cpu()) for v, f in zip(ms[-1].verts_list(), ms[-1].faces_list(), strict=True)]
    return (torch.cat(probs) if probs else None), meshes
