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


def _side_triangles() -> torch.Tensor:
    """(6, 2, 3, 3) corner offsets (x, y, z) of the two triangles of each cube side (PyTorch3D's split)."""
    rows = torch.tensor(_CUBE_TRIANGLES).view(6, 2, 3)
    return torch.stack([rows >> 2 & 1, rows >> 1 & 1, rows & 1], -1)


def _exposed_faces(occ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Occupancy (N, D, H, W) bool -> the faces of the exposed cube sides, in PyTorch3D's face order (by
    mesh, then voxel in (y, x, z) ravel order, then cube triangle row): corner ids (F, 3) on the
    (H + 1, W + 1, D + 1) corner grid (PyTorch3D's (y, x, z) ravel order), mesh index (F,), voxel (x, y, z) (F, 3)."""
    N, D, H, W = occ.shape
    occupied = occ.permute(0, 2, 3, 1).nonzero()  # (K, 4): n, y, x, z, sorted in PyTorch3D's voxel order
    xyz = occupied[:, [2, 1, 3]]
    padded = F.pad(occ.permute(0, 3, 2, 1).to(torch.uint8), (1, 1, 1, 1, 1, 1)).bool()  # (N, W+2, H+2, D+2)
    exposed = torch.empty((len(occupied), 6), dtype=torch.bool, device=occ.device)
    for side, (axis, positive) in enumerate(_SIDES):
        nb = xyz + 1  # the neighbour across this side, in the padded grid
        nb[:, axis] += 1 if positive else -1
        exposed[:, side] = ~padded[occupied[:, 0], nb[:, 0], nb[:, 1], nb[:, 2]]
    k, side = exposed.nonzero().unbind(1)  # row-major: by voxel, then side (= PyTorch3D's triangle rows)
    corners = xyz[k][:, None, None, :] + _side_triangles().to(occ.device)[side]  # (E, 2, 3, 3)
    ids = (corners[..., 1] * (W + 1) + corners[..., 0]) * (D + 1) + corners[..., 2]
    return ids.reshape(-1, 3), occupied[k, 0].repeat_interleave(2), xyz[k].repeat_interleave(2, 0)


def _split_meshes(faces: torch.Tensor, mesh_of: torch.Tensor, vox: torch.Tensor, coords: torch.Tensor, N: int
                  ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None]]:
    """Faces (F, 3) of corner ids, grouped by mesh (mesh_of (F,)) -> per mesh: vertices (V_n, 3) (the used
    grid corners, in ascending corner id), faces (F_n, 3) re-indexed into them, and the voxel (x, y, z) of
    each face (F_n, 3) (None for an empty grid). Whole batch at once, no sort."""
    nv = len(coords)
    gid = faces + (mesh_of * nv)[:, None]  # corner ids made unique over the batch
    mark = torch.zeros(N * nv, dtype=torch.bool, device=faces.device)
    mark[gid] = True
    used = mark.nonzero().squeeze(1)  # by mesh, then corner id (a sort-free torch.unique)
    n_verts = torch.bincount(used // nv, minlength=N)
    first = torch.cumsum(n_verts, 0) - n_verts  # index of each mesh's first vertex in ``used``
    local = (torch.cumsum(mark, 0) - 1)[gid] - first[mesh_of][:, None]
    n_faces = torch.bincount(mesh_of, minlength=N).tolist()
    return (list(coords[used % nv].split(n_verts.tolist())), list(local.split(n_faces)),
            [v if len(v) else None for v in vox.split(n_faces)])


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
    faces, mesh_of, vox = _exposed_faces((voxels >= thresh).to(device))
    y, x, z = torch.meshgrid(torch.arange(H + 1, device=device), torch.arange(W + 1, device=device),
                             torch.arange(D + 1, device=device), indexing="ij")
    coords = torch.stack([x, y, z], -1).reshape(-1, 3).float()
    if align == "center":
        coords = coords - 0.5
    margin = 0.0 if align == "corner" else 1.0
    scale = torch.tensor([W, H, D], device=device, dtype=torch.float32) - margin
    coords = coords * 2.0 / scale.clamp(min=1e-12) - 1.0
    verts_list, faces_list, vox_list = _split_meshes(faces, mesh_of, vox, coords, N)
    feats_list = [None if f is None else feats[n].to(device)[:, f[:, 2], f[:, 1], f[:, 0]].t()[:, None, None, :]
                  for n, f in enumerate(vox_list)] if feats is not None else []
    textures = None
    if feats is not None:
        from ..renderer import TexturesAtlas

        C = feats.shape[1]
        textures = TexturesAtlas([f if f is not None else torch.zeros((0, 1, 1, C), device=device)
                                  for f in feats_list])
    return Meshes(verts_list, faces_list, textures=textures)
