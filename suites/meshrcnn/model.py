"""Mesh R-CNN's mesh predictor in the ShapeNet setting (Gkioxari, Malik, Johnson, ICCV 2019, sec. 3-4.1):
image encoder -> voxel head (G^3 occupancy, image-aligned, depth as channels) -> cubify -> refinement
stages (vert_align of image features at the projected vertices + GraphConv + a tanh offset per vertex).

Written on the backend namespace (``ops.cubify``, ``ops.vert_align``, ``ops.GraphConv``,
``ops.sample_points_from_meshes``, ``loss.chamfer_distance``, ``loss.mesh_edge_loss``), so it runs on the
built-in backend and unchanged on PyTorch3D.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.single_view import ImageEncoder, VoxelPrior, frustum_to_grid, project


class VoxelHead(nn.Module):
    """Feature map (N, C, h, w) -> voxel logits (N, G, G, G) in cubify's (D, H, W) layout: G channels over depth
    per image cell (Mesh R-CNN's voxel branch, in the camera frustum), resampled onto the view-frame grid
    through the known intrinsics (:func:`frustum_to_grid`), plus the optional training-occupancy prior
    (:class:`VoxelPrior`; ``prior="none"`` is the paper's head)."""

    def __init__(self, in_ch: int, grid: int, width: int = 64, prior: str = "none",
                 train_voxels: torch.Tensor | None = None) -> None:
        super().__init__()
        self.grid = grid
        self.prior = VoxelPrior(prior, train_voxels)
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 2, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 2, stride=2), nn.ReLU(),
            nn.Conv2d(width, grid, 1))

    def forward(self, feats: torch.Tensor, T: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        """feats (N, C, h, w), camera T (N, 3) and fov (N,) -> logits (N, G, G, G)."""
        return self.prior(frustum_to_grid(self.net(feats), T, fov, self.grid))


class RefineStage(nn.Module):
    """One refinement stage: image features at each vertex (vert_align), then GraphConvs over mesh edges, then
    a per-vertex offset tanh(W h) (Mesh R-CNN's MeshRefinementStage)."""

    def __init__(self, backend: Any, img_ch: int, vert_ch: int, hidden: int, convs: int) -> None:
        super().__init__()
        self.backend = backend
        self.bottleneck = nn.Linear(img_ch, hidden)
        dims = [hidden + vert_ch + 3] + [hidden + 3] * (convs - 1)
        self.gconvs = nn.ModuleList(backend.ops.GraphConv(d, hidden, init="normal") for d in dims)
        self.offset = nn.Linear(hidden + 3, 3)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(self, feats: torch.Tensor, meshes: Any, vert_feats: torch.Tensor | None, T: torch.Tensor,
                fov: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """feats (N, C, h, w), meshes (N), vert_feats (sum V, hidden) or None -> (refined meshes, (sum V, hidden))."""
        ops = self.backend.ops
        padded = meshes.verts_padded()
        grid = torch.cat([project(padded, T, fov), torch.zeros_like(padded[..., :1])], -1)
        img = ops.vert_align(feats, grid, align_corners=False)  # (N, V, C)
        img = img.reshape(-1, img.shape[-1])[meshes.verts_padded_to_packed_idx()]
        pos = meshes.verts_packed()
        h = F.relu(self.bottleneck(img))
        h = torch.cat([h, pos] if vert_feats is None else [h, vert_feats, pos], 1)
        edges = meshes.edges_packed()
        for g in self.gconvs:
            h = torch.cat([F.relu(g(h, edges)), pos], 1)
        offsets = torch.tanh(self.offset(h))
        return meshes.offset_verts(offsets), h[:, :-3]


class MeshRCNN(nn.Module):
    """Encoder + voxel head + refinement stages; ``mode``: "voxels" (cubify only), "voxmesh" (cubify then
    refine) or "sphere" (refine an ico-sphere, the Pixel2Mesh-style baseline of the paper; no voxel branch)."""

    def __init__(self, backend: Any, mode: str, grid: int, stages: int, hidden: int, convs: int, width: int,
                 cubify_thresh: float, sphere_level: int, sphere_radius: float, voxel_prior: str = "none",
                 train_voxels: torch.Tensor | None = None) -> None:
        super().__init__()
        self.backend, self.mode, self.grid, self.thresh = backend, mode, grid, cubify_thresh
        self.encoder = ImageEncoder(width)
        c_mid, c_low = self.encoder.channels
        self.voxel_head = VoxelHead(c_mid, grid, prior=voxel_prior, train_voxels=train_voxels) \
            if mode != "sphere" else None
        n = stages if mode != "voxels" else 0
        self.stages = nn.ModuleList(RefineStage(backend, c_mid, 0 if i == 0 else hidden, hidden, convs)
                                    for i in range(n))
        self.sphere_level, self.sphere_radius = sphere_level, sphere_radius

    def initial_meshes(self, voxel_logits: torch.Tensor | None, n: int, device: Any) -> Any:
        from bench.methods.single_view import voxel_meshes

        B = self.backend
        if voxel_logits is None:
            s = B.utils.ico_sphere(self.sphere_level, device)
            return s.scale_verts(self.sphere_radius).extend(n)
        vf = voxel_meshes(B, torch.sigmoid(voxel_logits.detach()), self.thresh)
        return B.structures.Meshes([v for v, _ in vf], [f for _, f in vf])

    def forward(self, images: torch.Tensor, T: torch.Tensor, fov: torch.Tensor, refine: bool = True,
                init: Any = None) -> tuple[torch.Tensor | None, list[Any]]:
        """images (N, 3, H, W) -> (voxel logits (N, G, G, G) or None, [meshes after cubify/init, after each stage]).

        ``init``: meshes to refine instead of the cubified prediction (teacher forcing in training); without
        ``refine`` and a voxel branch, no mesh is built (the voxel-only warm-up)."""
        (f_mid, _), _ = self.encoder(images)
        logits = self.voxel_head(f_mid, T, fov) if self.voxel_head is not None else None
        if not refine and logits is not None:
            return logits, []
        meshes = [init if init is not None else self.initial_meshes(logits, len(images), images.device)]
        if refine:
            h = None
            for stage in self.stages:
                m, h = stage(f_mid, meshes[-1], h, T, fov)
                meshes.append(m)
        return logits, meshes


def mesh_losses(backend: Any, meshes: Any, gt_points: torch.Tensor, gt_normals: torch.Tensor, samples: int
                ) -> dict[str, torch.Tensor]:
    """Chamfer-L2, normal (1 - |cos| of nearest neighbours) and edge losses of ``meshes`` against points (N, P, 3)
    with normals (N, P, 3) sampled from the ground truth."""
    pts, nrm = backend.ops.sample_points_from_meshes(meshes, samples, return_normals=True)
    cham, normal = backend.loss.chamfer_distance(pts, gt_points, x_normals=nrm, y_normals=gt_normals)
    return {"chamfer": cham, "normal": normal, "edge": backend.loss.mesh_edge_loss(meshes)}
