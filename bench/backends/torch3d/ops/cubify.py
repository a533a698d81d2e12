"""Voxel grid to a watertight cube mesh with interior faces removed (PyTorch3D's ``ops.cubify``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..structures.meshes import Meshes

_ALIGNS = ("topleft", "corner", "center")


# The cube's 12 triangles as PyTorch3D 0.7.9 splits them (pytorch3d/ops/cubify.py, ``cube_faces``): corner i
# of the unit cube is (x, y, z) = (i >> 2 & 1, i >> 1 & 1, i & 1); rows 2s, 2s + 1 are the side s below, in
# PyTorch3D's row order (-x, +y, -z, -y, +x, +z), wound outward. Same diagonals and order as PyTorch3D, so
# the same mesh (edges included: GraphConv and the mesh losses see them) comes out of both backends.
_CUBE_TRIANGLES = [[0, 1, 2], [1, 3, 2], [2, 3, 6], [3, 7, 6], [0, 2, 6], [0, 6, 4],
                   [0, 5, 1], [0, 4, 5], [6, 7, 5], [6, 5, 4], [1, 7, 3], [1, 5, 7]]
_SIDES = [(0, False), (1, True), (2, False), (1, False), (0, True), (2, True)]  # (axis, positive) of side s


def _side_triangles(side: int) -> torch.Tensor:
    """(2, 3, 3) corner offsets (x, y, z) of the two triangles of cube side ``side`` (PyTorch3D's split)."""
    rows = torch.tensor(_CUBE_TRIANGLES[2 * side:2 * side + 2])
    return torch.stack([rows >> 2 & 1, rows >> 1 & 1, rows & 1], -1)


@torch.no_grad()
def cubify(voxels: torch.Tensor, thresh: float, *, feats: torch.Tensor | None = None,
           device: str | torch.device | None = None, align: str = "topleft") -> Meshes:
    """Meshes of the occupied voxels (value >= thresh) of voxels (N, D, H, W): one cube each, shared walls removed.

    Vertices are (x, y, z) with x along W, y along H, z along D, scaled to [-1, 1] as ``align`` says:
    "topleft" puts cube corners at the grid points, "corner" stretches the cubes over [-1, 1],
    "center" centres the cubes on the grid points. ``feats`` (N, C, D, H, W) colour each cube
    (TexturesAtlas, align="center" only).
    """
    if align not in _ALIGNS:
        raise ValueError(f"cubify: align must be one of {_ALIGNS}, got {align!r}")
    if not torch.is_tensor(voxels) or voxels.ndim != 4:
        raise ValueError("cubify: voxels must be an (N, D, H, W) tensor")
    if feats is not None and align != "center":
        raise ValueError('cubify: feats are only supported with align="center"')
    device = torch.device(device) if device is not None else voxels.device
    N, D, H, W = voxels.shape
    if N == 0:
        return Meshes([], [])
    occ = (voxels >= thresh).to(device)
    occ_xyz = occ.permute(0, 3, 2, 1)  # (N, W, H, D): index by (x, y, z)
    padded = F.pad(occ_xyz.to(torch.uint8), (1, 1, 1, 1, 1, 1)).bool()
    sizes = (W, H, D)
    grid = torch.tensor([H + 1, W + 1, D + 1], device=device)
    faces_per_mesh: list[list[torch.Tensor]] = [[] for _ in range(N)]
    voxel_of_face: list[list[torch.Tensor]] = [[] for _ in range(N)]
    face_keys: list[list[torch.Tensor]] = [[] for _ in range(N)]
    for side, (axis, positive) in enumerate(_SIDES):
        shift = [0, 0, 0]
        shift[axis] = 1 if positive else -1
        sl = [slice(None)] + [slice(1 + s, 1 + s + n) for s, n in zip(shift, sizes, strict=False)]
        exposed = occ_xyz & ~padded[tuple(sl)]
        idx = exposed.nonzero()  # (K, 4): n, x, y, z
        if not len(idx):
            continue
        corners = idx[:, None, None, 1:] + _side_triangles(side).to(device)[None]  # (K, 2, 3, 3)
        # Vertex ids follow PyTorch3D's ravel order of the corner grid: (y, x, z).
        ids = (corners[..., 1] * grid[1] + corners[..., 0]) * grid[2] + corners[..., 2]
        # PyTorch3D's face order: by voxel in (y, x, z) ravel order, then by cube triangle row
        vkey = ((idx[:, 2] * W + idx[:, 1]) * D + idx[:, 3]) * 12 + 2 * side
        keys = torch.stack([vkey, vkey + 1], 1)
        for n in idx[:, 0].unique().tolist():
            sel = idx[:, 0] == n
            faces_per_mesh[n].append(ids[sel].reshape(-1, 3))
            voxel_of_face[n].append(idx[sel, 1:].repeat_interleave(2, 0))
            face_keys[n].append(keys[sel].reshape(-1))
    y, x, z = torch.meshgrid(torch.arange(H + 1, device=device), torch.arange(W + 1, device=device),
                             torch.arange(D + 1, device=device), indexing="ij")
    coords = torch.stack([x, y, z], -1).reshape(-1, 3).float()
    if align == "center":
        coords = coords - 0.5
    margin = 0.0 if align == "corner" else 1.0
    scale = torch.tensor([W, H, D], device=device, dtype=torch.float32) - margin
    coords = coords * 2.0 / scale.clamp(min=1e-12) - 1.0
    verts_list, faces_list, feats_list = [], [], []
    for n in range(N):
        if not faces_per_mesh[n]:
            verts_list.append(torch.zeros((0, 3), device=device))
            faces_list.append(torch.zeros((0, 3), dtype=torch.int64, device=device))
            feats_list.append(None)
            continue
        order = torch.cat(face_keys[n]).argsort()
        faces = torch.cat(faces_per_mesh[n])[order]
        used, inverse = torch.unique(faces, return_inverse=True)
        verts_list.append(coords[used])
        faces_list.append(inverse.reshape(-1, 3))
        if feats is not None:
            vox = torch.cat(voxel_of_face[n])[order]
            feats_list.append(feats[n].to(device)[:, vox[:, 2], vox[:, 1], vox[:, 0]].t()[:, None, None, :])
    textures = None
    if feats is not None:
        from ..renderer import TexturesAtlas

        C = feats.shape[1]
        textures = TexturesAtlas([f if f is not None else torch.zeros((0, 1, 1, C), device=device)
                                  for f in feats_list])
    return Meshes(verts_list, faces_list, textures=textures)
