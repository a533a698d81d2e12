"""Mesh textures: per-vertex features and UV image maps (PyTorch3D's ``TexturesVertex``, ``TexturesUV``).

UV convention: u runs left to right and v bottom to top over the map (N, H, W, C); (0, 0) is the
bottom-left corner of the image, sampled bilinearly with ``align_corners`` as in PyTorch3D.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .utils import interpolate_face_attributes


def _as_list(x, name: str, dims: int) -> list[torch.Tensor]:
    if torch.is_tensor(x):
        if x.dim() != dims + 1:
            raise ValueError(f"{name}: expected a list of {dims}D tensors or one {dims + 1}D padded tensor, "
                             f"got shape {tuple(x.shape)}")
        return list(x.unbind(0))
    if isinstance(x, (list, tuple)) and all(torch.is_tensor(t) and t.dim() == dims for t in x):
        return list(x)
    raise ValueError(f"{name}: expected a list of {dims}D tensors or one {dims + 1}D padded tensor")


def _pad(items: list[torch.Tensor]) -> torch.Tensor:
    n = max((t.shape[0] for t in items), default=0)
    out = items[0].new_zeros((len(items), n) + tuple(items[0].shape[1:]))
    for i, t in enumerate(items):
        out[i, : t.shape[0]] = t
    return out


def _pick(items: list, index) -> list:
    if isinstance(index, int):
        return [items[index]]
    if isinstance(index, slice):
        return items[index]
    if torch.is_tensor(index):
        index = index.nonzero().view(-1).tolist() if index.dtype == torch.bool else index.view(-1).tolist()
    return [items[i] for i in index]


class TexturesVertex:
    """Per-vertex features (e.g. RGB): a list of (V_i, C) tensors or an (N, V, C) padded tensor."""

    def __init__(self, verts_features: Sequence[torch.Tensor] | torch.Tensor) -> None:
        self._list = _as_list(verts_features, "verts_features", 2)
        self.device = self._list[0].device if self._list else torch.device("cpu")

    def __len__(self) -> int:
        return len(self._list)

    def verts_features_list(self) -> list[torch.Tensor]:
        return self._list

    def verts_features_packed(self) -> torch.Tensor:
        return torch.cat(self._list, 0)

    def verts_features_padded(self) -> torch.Tensor:
        return _pad(self._list)

    def sample_textures(self, fragments, faces_packed: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """Interpolated features (N, H, W, K, C) at the fragments; needs the meshes' packed faces."""
        if faces_packed is None:
            raise ValueError("faces_packed: TexturesVertex.sample_textures needs the meshes' packed faces")
        feats = self.verts_features_packed()
        return interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, feats[faces_packed])

    def faces_verts_textures_packed(self, faces_packed: torch.Tensor) -> torch.Tensor:
        return self.verts_features_packed()[faces_packed]

    def extend(self, N: int) -> TexturesVertex:
        return TexturesVertex([t for t in self._list for _ in range(N)])

    def __getitem__(self, index) -> TexturesVertex:
        return TexturesVertex(_pick(self._list, index))

    def join_batch(self, textures: Sequence[TexturesVertex]) -> TexturesVertex:
        return TexturesVertex(self._list + [t for tex in textures for t in tex._list])

    def clone(self) -> TexturesVertex:
        return TexturesVertex([t.clone() for t in self._list])

    def detach(self) -> TexturesVertex:
        return TexturesVertex([t.detach() for t in self._list])

    def to(self, device) -> TexturesVertex:
        return TexturesVertex([t.to(device) for t in self._list])


class TexturesUV:
    """Image textures: maps (N, H, W, C), faces_uvs (N, F, 3) indices into verts_uvs (N, V, 2); lists allowed."""

    def __init__(self, maps: Sequence[torch.Tensor] | torch.Tensor, faces_uvs: Sequence[torch.Tensor] | torch.Tensor,
                 verts_uvs: Sequence[torch.Tensor] | torch.Tensor, padding_mode: str = "border",
                 align_corners: bool = True, sampling_mode: str = "bilinear") -> None:
        self._maps = _as_list(maps, "maps", 3)
        self._faces_uvs = [f.long() for f in _as_list(faces_uvs, "faces_uvs", 2)]
        self._verts_uvs = _as_list(verts_uvs, "verts_uvs", 2)
        if not len(self._maps) == len(self._faces_uvs) == len(self._verts_uvs):
            raise ValueError(f"TexturesUV: maps, faces_uvs and verts_uvs hold {len(self._maps)}, "
                             f"{len(self._faces_uvs)} and {len(self._verts_uvs)} meshes; expected equal counts")
        for i, (f, v) in enumerate(zip(self._faces_uvs, self._verts_uvs, strict=True)):
            if f.shape[-1] != 3 or v.shape[-1] != 2:
                raise ValueError(f"TexturesUV: mesh {i} needs faces_uvs (F, 3) and verts_uvs (V, 2), "
                                 f"got {tuple(f.shape)} and {tuple(v.shape)}")
            if f.numel() and (int(f.max()) >= v.shape[0] or int(f.min()) < 0):
                raise ValueError(f"faces_uvs: mesh {i} indexes outside its {v.shape[0]} verts_uvs")
        if len({tuple(m.shape) for m in self._maps}) > 1:
            raise ValueError("maps: all texture maps must have the same (H, W, C) in this backend")
        self.padding_mode, self.align_corners, self.sampling_mode = padding_mode, align_corners, sampling_mode
        self.device = self._maps[0].device if self._maps else torch.device("cpu")

    def __len__(self) -> int:
        return len(self._maps)

    def _same(self, maps, faces_uvs, verts_uvs) -> TexturesUV:
        return TexturesUV(maps, faces_uvs, verts_uvs, self.padding_mode, self.align_corners, self.sampling_mode)

    def maps_list(self) -> list[torch.Tensor]:
        return self._maps

    def maps_padded(self) -> torch.Tensor:
        return torch.stack(self._maps, 0)

    def verts_uvs_list(self) -> list[torch.Tensor]:
        return self._verts_uvs

    def verts_uvs_padded(self) -> torch.Tensor:
        return _pad(self._verts_uvs)

    def faces_uvs_list(self) -> list[torch.Tensor]:
        return self._faces_uvs

    def faces_uvs_padded(self) -> torch.Tensor:
        return _pad(self._faces_uvs)

    def faces_verts_uvs_packed(self) -> torch.Tensor:
        """UVs (F_total, 3, 2) of every face corner, in the meshes' packed face order."""
        return torch.cat([v[f] for v, f in zip(self._verts_uvs, self._faces_uvs, strict=True)], 0)

    def sample_textures(self, fragments, **kwargs) -> torch.Tensor:
        """Texels (N, H, W, K, C) sampled from each mesh's map at the fragments' interpolated UVs."""
        uv = interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, self.faces_verts_uvs_packed())
        n, h, w, k, _ = uv.shape
        maps = self.maps_padded().permute(0, 3, 1, 2)  # (N, C, Hm, Wm)
        if maps.shape[0] != n:
            raise ValueError(f"TexturesUV: {maps.shape[0]} maps for {n} meshes in the fragments")
        # v runs bottom to top: flip the map rows instead of the coordinates.
        maps = torch.flip(maps, [2])
        grid = (uv * 2.0 - 1.0).reshape(n, h, w * k, 2).to(maps.dtype)
        texels = F.grid_sample(maps, grid, mode=self.sampling_mode, padding_mode=self.padding_mode,
                               align_corners=self.align_corners)  # (N, C, H, W*K)
        return texels.reshape(n, -1, h, w, k).permute(0, 2, 3, 4, 1)

    def extend(self, N: int) -> TexturesUV:
        rep = lambda xs: [x for x in xs for _ in range(N)]  # noqa: E731
        return self._same(rep(self._maps), rep(self._faces_uvs), rep(self._verts_uvs))

    def __getitem__(self, index) -> TexturesUV:
        return self._same(_pick(self._maps, index), _pick(self._faces_uvs, index), _pick(self._verts_uvs, index))

    def join_batch(self, textures: Sequence[TexturesUV]) -> TexturesUV:
        all_tex = [self, *textures]
        return self._same([m for t in all_tex for m in t._maps], [f for t in all_tex for f in t._faces_uvs],
                          [v for t in all_tex for v in t._verts_uvs])

    def clone(self) -> TexturesUV:
        c = lambda xs: [x.clone() for x in xs]  # noqa: E731
        return self._same(c(self._maps), c(self._faces_uvs), c(self._verts_uvs))

    def detach(self) -> TexturesUV:
        d = lambda xs: [x.detach() for x in xs]  # noqa: E731
        return self._same(d(self._maps), d(self._faces_uvs), d(self._verts_uvs))

    def to(self, device) -> TexturesUV:
        t = lambda xs: [x.to(device) for x in xs]  # noqa: E731
        return self._same(t(self._maps), t(self._faces_uvs), t(self._verts_uvs))


class TexturesAtlas:
    """Per-face R x R texel grids: atlas as a list of (F_i, R, R, C) tensors or an (N, F, R, R, C) tensor.

    A fragment with barycentrics (w0, w1, w2) reads texel [floor(w1 R), floor(w0 R)] of its face.
    """

    def __init__(self, atlas: Sequence[torch.Tensor] | torch.Tensor) -> None:
        self._atlas = _as_list(atlas, "atlas", 4)
        if len({tuple(a.shape[1:]) for a in self._atlas}) > 1 or any(a.shape[1] != a.shape[2] for a in self._atlas):
            raise ValueError("atlas: every mesh needs texel grids of one common shape (F_i, R, R, C)")
        self.device = self._atlas[0].device if self._atlas else torch.device("cpu")

    def __len__(self) -> int:
        return len(self._atlas)

    def atlas_list(self) -> list[torch.Tensor]:
        return self._atlas

    def atlas_packed(self) -> torch.Tensor:
        return torch.cat(self._atlas, 0)

    def atlas_padded(self) -> torch.Tensor:
        return _pad(self._atlas)

    def sample_textures(self, fragments, **kwargs) -> torch.Tensor:
        """Texels (N, H, W, K, C) of the fragments' faces at their barycentric cells; zero where empty."""
        atlas = self.atlas_packed()
        r = atlas.shape[1]
        empty = (fragments.pix_to_face < 0)[..., None]
        w01 = torch.where(empty, torch.zeros_like(fragments.bary_coords[..., :2]), fragments.bary_coords[..., :2])
        # Barycentrics may leave [0, 1] with a blur radius: clamp the cell index.
        cell = (w01 * r).to(torch.int64).clamp(0, r - 1)
        texels = atlas[fragments.pix_to_face.clamp(min=0), cell[..., 1], cell[..., 0]]
        return torch.where(empty, torch.zeros_like(texels), texels)

    def extend(self, N: int) -> TexturesAtlas:
        return TexturesAtlas([a for a in self._atlas for _ in range(N)])

    def __getitem__(self, index) -> TexturesAtlas:
        return TexturesAtlas(_pick(self._atlas, index))

    def join_batch(self, textures: Sequence[TexturesAtlas]) -> TexturesAtlas:
        return TexturesAtlas(self._atlas + [a for tex in textures for a in tex._atlas])

    def clone(self) -> TexturesAtlas:
        return TexturesAtlas([a.clone() for a in self._atlas])

    def detach(self) -> TexturesAtlas:
        return TexturesAtlas([a.detach() for a in self._atlas])

    def to(self, device) -> TexturesAtlas:
        return TexturesAtlas([a.to(device) for a in self._atlas])
