"""``Meshes``: a batch of triangle meshes with list, padded and packed views (PyTorch3D's API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ._mesh_geometry import edges_from_faces, face_areas_normals, vert_normals
from .utils import list_to_padded, padded_to_list

_VERT_KEYS = ("verts_packed", "verts_padded", "faces_areas_normals", "verts_normals_packed")


def _check_faces(faces: torch.Tensor, num_verts: int, where: str, allow_pad: bool = False) -> None:
    if faces.numel() == 0:
        return
    lo, hi = int(faces.min()), int(faces.max())
    if hi >= num_verts or lo < (-1 if allow_pad else 0):
        raise ValueError(f"Meshes: {where} has face indices in [{lo}, {hi}], expected in [0, {num_verts - 1}]")


class Meshes:
    """A batch of N triangle meshes of possibly different sizes.

    Args:
        verts: list of (V_i, 3) float tensors, or an (N, V, 3) padded tensor (all V vertices valid).
        faces: list of (F_i, 3) int tensors, or an (N, F, 3) padded tensor with -1 rows as padding.
        textures: optional texture object (TexturesVertex, TexturesUV...), stored as ``.textures``.
        verts_normals: optional list of (V_i, 3) or (N, V, 3) vertex normals overriding the computed ones.
    """

    def __init__(self, verts: Sequence[torch.Tensor] | torch.Tensor, faces: Sequence[torch.Tensor] | torch.Tensor,
                 textures: Any = None, *, verts_normals: Sequence[torch.Tensor] | torch.Tensor | None = None) -> None:
        self._cache: dict[str, Any] = {}
        self.textures = textures
        if torch.is_tensor(verts) != torch.is_tensor(faces):
            raise ValueError("Meshes: verts and faces must both be lists or both be padded tensors")
        if torch.is_tensor(verts):
            if verts.ndim != 3 or verts.shape[2] != 3:
                raise ValueError(f"Meshes: padded verts must have shape (N, V, 3), got {tuple(verts.shape)}")
            if faces.ndim != 3 or faces.shape[2] != 3 or faces.shape[0] != verts.shape[0]:
                raise ValueError(f"Meshes: padded faces must have shape ({verts.shape[0]}, F, 3), "
                                 f"got {tuple(faces.shape)}")
            _check_faces(faces, verts.shape[1], "faces", allow_pad=True)
            faces = faces.to(torch.int64)
            self._verts_list = list(verts.unbind(0))
            self._faces_list = [f[(f >= 0).all(1)] for f in faces.unbind(0)]
            self._cache["verts_padded"] = verts
            if all(len(f) == faces.shape[1] for f in self._faces_list):
                self._cache["faces_padded"] = faces
        else:
            verts, faces = list(verts), list(faces)
            if len(verts) != len(faces):
                raise ValueError(f"Meshes: got {len(verts)} verts tensors but {len(faces)} faces tensors")
            for i, (v, f) in enumerate(zip(verts, faces, strict=False)):
                if v.ndim != 2 or v.shape[1] != 3:
                    raise ValueError(f"Meshes: verts[{i}] must have shape (V, 3), got {tuple(v.shape)}")
                if f.ndim != 2 or f.shape[1] != 3:
                    raise ValueError(f"Meshes: faces[{i}] must have shape (F, 3), got {tuple(f.shape)}")
                if f.is_floating_point():
                    raise ValueError(f"Meshes: faces[{i}] must be an integer tensor, got {f.dtype}")
                _check_faces(f, v.shape[0], f"faces[{i}]")
            self._verts_list = verts
            self._faces_list = [f.to(torch.int64) for f in faces]
        self._N = len(self._verts_list)
        self.device = self._verts_list[0].device if self._N else torch.device("cpu")
        if verts_normals is not None:
            normals = list(verts_normals.unbind(0)) if torch.is_tensor(verts_normals) else list(verts_normals)
            if len(normals) != self._N or any(n.shape != v.shape
                                              for n, v in zip(normals, self._verts_list, strict=True)):
                raise ValueError("Meshes: verts_normals must match the shapes of verts")
            self._cache["verts_normals_packed"] = torch.cat(normals, 0)

    # ---- sizes and index maps -------------------------------------------------------------
    def __len__(self) -> int:
        return self._N

    def _get(self, key: str, fn) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def num_verts_per_mesh(self) -> torch.Tensor:
        """(N,) int64 number of vertices of each mesh."""
        return self._get("nv", lambda: torch.tensor([len(v) for v in self._verts_list], dtype=torch.int64,
                                                    device=self.device))

    def num_faces_per_mesh(self) -> torch.Tensor:
        """(N,) int64 number of faces of each mesh."""
        return self._get("nf", lambda: torch.tensor([len(f) for f in self._faces_list], dtype=torch.int64,
                                                    device=self.device))

    @property
    def valid(self) -> torch.Tensor:
        """(N,) bool: which meshes have at least one face."""
        return self.num_faces_per_mesh() > 0

    @property
    def equisized(self) -> bool:
        """True when all meshes have the same numbers of vertices and of faces."""
        return self._N > 0 and len(set(len(v) for v in self._verts_list)) == 1 and \
            len(set(len(f) for f in self._faces_list)) == 1

    def isempty(self) -> bool:
        """True when the batch has no mesh or no mesh has a face."""
        return self._N == 0 or not bool(self.valid.any())

    def mesh_to_verts_packed_first_idx(self) -> torch.Tensor:
        """(N,) index of each mesh's first vertex in ``verts_packed()``."""
        nv = self.num_verts_per_mesh()
        return nv.cumsum(0) - nv

    def mesh_to_faces_packed_first_idx(self) -> torch.Tensor:
        """(N,) index of each mesh's first face in ``faces_packed()``."""
        nf = self.num_faces_per_mesh()
        return nf.cumsum(0) - nf

    def verts_packed_to_mesh_idx(self) -> torch.Tensor:
        """(sum V_i,) mesh index of each packed vertex."""
        return torch.repeat_interleave(torch.arange(self._N, device=self.device), self.num_verts_per_mesh())

    def faces_packed_to_mesh_idx(self) -> torch.Tensor:
        """(sum F_i,) mesh index of each packed face."""
        return torch.repeat_interleave(torch.arange(self._N, device=self.device), self.num_faces_per_mesh())

    def verts_padded_to_packed_idx(self) -> torch.Tensor:
        """(sum V_i,) index of each packed vertex in ``verts_padded().view(-1, 3)``."""
        nv = self.num_verts_per_mesh()
        vmax = int(nv.max()) if self._N else 0
        mesh = self.verts_packed_to_mesh_idx()
        return mesh * vmax + torch.arange(len(mesh), device=self.device) - self.mesh_to_verts_packed_first_idx()[mesh]

    # ---- list / padded / packed -----------------------------------------------------------
    def verts_list(self) -> list[torch.Tensor]:
        """List of N (V_i, 3) vertex tensors."""
        return self._verts_list

    def faces_list(self) -> list[torch.Tensor]:
        """List of N (F_i, 3) int64 face tensors indexing each mesh's own vertices."""
        return self._faces_list

    def verts_packed(self) -> torch.Tensor:
        """(sum V_i, 3) all vertices concatenated."""
        return self._get("verts_packed", lambda: torch.cat(self._verts_list, 0) if self._N else torch.zeros(0, 3))

    def faces_packed(self) -> torch.Tensor:
        """(sum F_i, 3) faces indexing ``verts_packed()``."""
        def build() -> torch.Tensor:
            if self._N == 0:
                return torch.zeros((0, 3), dtype=torch.int64)
            first = self.mesh_to_verts_packed_first_idx().tolist()
            return torch.cat([f + o for f, o in zip(self._faces_list, first, strict=False)], 0)
        return self._get("faces_packed", build)

    def verts_padded(self) -> torch.Tensor:
        """(N, max V_i, 3) vertices, zero padded."""
        def build() -> torch.Tensor:
            vmax = max((len(v) for v in self._verts_list), default=0)
            return list_to_padded(self._verts_list, (vmax, 3), 0.0, equisized=self.equisized)
        return self._get("verts_padded", build)

    def faces_padded(self) -> torch.Tensor:
        """(N, max F_i, 3) faces, padded with -1."""
        def build() -> torch.Tensor:
            fmax = max((len(f) for f in self._faces_list), default=0)
            return list_to_padded(self._faces_list, (fmax, 3), -1, equisized=self.equisized)
        return self._get("faces_padded", build)

    def _packed_to_list(self, x: torch.Tensor, per_face: bool = False) -> list[torch.Tensor]:
        sizes = (self.num_faces_per_mesh() if per_face else self.num_verts_per_mesh()).tolist()
        return list(x.split(sizes, 0))

    def _packed_to_padded(self, x: torch.Tensor, per_face: bool = False) -> torch.Tensor:
        items = self._packed_to_list(x, per_face)
        size = max((len(t) for t in items), default=0)
        return list_to_padded(items, (size, *x.shape[1:]), 0.0)

    # ---- edges ------------------------------------------------------------------------------
    def _edges(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._get("edges", lambda: edges_from_faces(self.faces_packed(), len(self.verts_packed())))

    def edges_packed(self) -> torch.Tensor:
        """(E, 2) unique undirected edges over ``verts_packed()``, each sorted (v0 < v1)."""
        return self._edges()[0]

    def faces_packed_to_edges_packed(self) -> torch.Tensor:
        """(sum F_i, 3) index in ``edges_packed()`` of the edge opposite each face corner."""
        return self._edges()[1]

    def edges_packed_to_mesh_idx(self) -> torch.Tensor:
        """(E,) mesh index of each packed edge."""
        return self.verts_packed_to_mesh_idx()[self.edges_packed()[:, 0]]

    def num_edges_per_mesh(self) -> torch.Tensor:
        """(N,) number of unique edges of each mesh."""
        return torch.bincount(self.edges_packed_to_mesh_idx(), minlength=self._N)

    def mesh_to_edges_packed_first_idx(self) -> torch.Tensor:
        """(N,) index of each mesh's first edge in ``edges_packed()``."""
        ne = self.num_edges_per_mesh()
        return ne.cumsum(0) - ne

    # ---- normals and areas ----------------------------------------------------------------------
    def _areas_normals(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._get("faces_areas_normals", lambda: face_areas_normals(self.verts_packed(), self.faces_packed()))

    def faces_areas_packed(self) -> torch.Tensor:
        """(sum F_i,) face areas."""
        return self._areas_normals()[0]

    def faces_normals_packed(self) -> torch.Tensor:
        """(sum F_i, 3) unit face normals, (v1 - v0) x (v2 - v0) direction."""
        return self._areas_normals()[1]

    def faces_normals_list(self) -> list[torch.Tensor]:
        """List of N (F_i, 3) unit face normals."""
        return self._packed_to_list(self.faces_normals_packed(), per_face=True)

    def faces_normals_padded(self) -> torch.Tensor:
        """(N, max F_i, 3) unit face normals, zero padded."""
        return self._packed_to_padded(self.faces_normals_packed(), per_face=True)

    def verts_normals_packed(self) -> torch.Tensor:
        """(sum V_i, 3) unit vertex normals (area-weighted mean of adjacent face normals)."""
        return self._get("verts_normals_packed", lambda: vert_normals(self.verts_packed(), self.faces_packed()))

    def verts_normals_list(self) -> list[torch.Tensor]:
        """List of N (V_i, 3) unit vertex normals."""
        return self._packed_to_list(self.verts_normals_packed())

    def verts_normals_padded(self) -> torch.Tensor:
        """(N, max V_i, 3) unit vertex normals, zero padded."""
        return self._packed_to_padded(self.verts_normals_packed())

    def laplacian_packed(self) -> torch.Tensor:
        """(V, V) sparse uniform Laplacian: L[i, j] = 1/deg(i) for neighbours, L[i, i] = -1."""
        from ..ops.laplacian_matrices import laplacian

        return self._get("laplacian", lambda: laplacian(self.verts_packed(), self.edges_packed()))

    def get_bounding_boxes(self) -> torch.Tensor:
        """(N, 3, 2) per-mesh [min, max] of the vertex coordinates."""
        return torch.stack([torch.stack([v.min(0).values, v.max(0).values], 1) for v in self._verts_list], 0)

    def get_mesh_verts_faces(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(verts (V_i, 3), faces (F_i, 3)) of mesh ``index``."""
        if not isinstance(index, int) or not -self._N <= index < self._N:
            raise IndexError(f"Meshes.get_mesh_verts_faces: index {index!r} out of range for {self._N} meshes")
        return self._verts_list[index], self._faces_list[index]

    # ---- vertex updates ---------------------------------------------------------------------
    def _set_verts_packed(self, new_packed: torch.Tensor) -> None:
        self._verts_list = list(new_packed.split(self.num_verts_per_mesh().tolist(), 0))
        for key in _VERT_KEYS + ("laplacian",):
            self._cache.pop(key, None)
        self._cache["verts_packed"] = new_packed

    def offset_verts_(self, vert_offsets_packed: torch.Tensor) -> Meshes:
        """Add (sum V_i, 3) or (3,) offsets to the vertices in place; returns self."""
        verts = self.verts_packed()
        if vert_offsets_packed.shape == (3,):
            vert_offsets_packed = vert_offsets_packed.expand_as(verts)
        if vert_offsets_packed.shape != verts.shape:
            raise ValueError(f"offset_verts: vert_offsets_packed must have shape {tuple(verts.shape)} or (3,), "
                             f"got {tuple(vert_offsets_packed.shape)}")
        self._set_verts_packed(verts + vert_offsets_packed)
        return self

    def offset_verts(self, vert_offsets_packed: torch.Tensor) -> Meshes:
        """A new Meshes with offsets (sum V_i, 3) or (3,) added to the vertices (differentiable)."""
        return self.clone().offset_verts_(vert_offsets_packed)

    def scale_verts_(self, scale: float | torch.Tensor) -> Meshes:
        """Multiply each mesh's vertices by a scalar or an (N,) per-mesh scale in place; returns self."""
        if not torch.is_tensor(scale):
            scale = torch.full((self._N,), float(scale), device=self.device)
        scale = scale.to(self.device)
        if scale.ndim == 0:
            scale = scale.expand(self._N)
        if scale.shape != (self._N,):
            raise ValueError(f"scale_verts: scale must be a scalar or have shape ({self._N},), "
                             f"got {tuple(scale.shape)}")
        per_vert = scale[self.verts_packed_to_mesh_idx()][:, None]
        self._set_verts_packed(self.verts_packed() * per_vert)
        return self

    def scale_verts(self, scale: float | torch.Tensor) -> Meshes:
        """A new Meshes with each mesh's vertices scaled (scalar or (N,) tensor)."""
        return self.clone().scale_verts_(scale)

    def update_padded(self, new_verts_padded: torch.Tensor) -> Meshes:
        """A new Meshes with the same faces and (N, max V_i, 3) new padded vertices."""
        expected = self.verts_padded().shape
        if new_verts_padded.shape != expected:
            raise ValueError(f"update_padded: new_verts_padded must have shape {tuple(expected)}, "
                             f"got {tuple(new_verts_padded.shape)}")
        verts = padded_to_list(new_verts_padded, self.num_verts_per_mesh().tolist())
        new = Meshes(verts, self._faces_list, textures=self.textures)
        for key in ("faces_packed", "faces_padded", "edges", "nv", "nf"):
            if key in self._cache:
                new._cache[key] = self._cache[key]
        new._cache["verts_padded"] = new_verts_padded
        return new

    # ---- copies and devices -----------------------------------------------------------------
    def _rebuild(self, fn_v, fn_f, textures: Any) -> Meshes:
        new = Meshes([fn_v(v) for v in self._verts_list], [fn_f(f) for f in self._faces_list], textures=textures)
        if self._N == 0:
            new.device = self.device
        return new

    def clone(self) -> Meshes:
        """A deep copy (differentiable with respect to the original vertices)."""
        tex = self.textures.clone() if self.textures is not None and hasattr(self.textures, "clone") else self.textures
        return self._rebuild(torch.clone, torch.clone, tex)

    def detach(self) -> Meshes:
        """A copy whose vertices are detached from the autograd graph."""
        tex = self.textures
        if tex is not None and hasattr(tex, "detach"):
            tex = tex.detach()
        return self._rebuild(torch.Tensor.detach, torch.Tensor.detach, tex)

    def to(self, device: str | torch.device, copy: bool = False) -> Meshes:
        """This batch on ``device`` (self when already there and copy is False)."""
        device = torch.device(device)
        if device.type == self.device.type and (device.index is None or device == self.device) and not copy:
            return self
        tex = self.textures.to(device) if self.textures is not None and hasattr(self.textures, "to") else self.textures
        new = self._rebuild(lambda v: v.to(device), lambda f: f.to(device), tex)
        new.device = device
        return new

    def cpu(self) -> Meshes:
        """This batch on the CPU."""
        return self.to("cpu")

    def cuda(self) -> Meshes:
        """This batch on the current CUDA device."""
        return self.to("cuda")

    def extend(self, N: int) -> Meshes:
        """A batch with each mesh repeated N times in a row (mesh i at N*i .. N*i+N-1)."""
        if not isinstance(N, int) or N <= 0:
            raise ValueError(f"Meshes.extend: N must be a positive int, got {N!r}")
        verts = [v.clone() for v in self._verts_list for _ in range(N)]
        faces = [f.clone() for f in self._faces_list for _ in range(N)]
        tex = self.textures
        if tex is not None and hasattr(tex, "extend"):
            tex = tex.extend(N)
        return Meshes(verts, faces, textures=tex)

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Meshes:
        """The sub-batch at an int, slice, list of ints, or int/bool tensor index."""
        if isinstance(index, int):
            if not -self._N <= index < self._N:
                raise IndexError(f"Meshes index {index} out of range for {self._N} meshes")
            ids = [index % self._N]
        elif isinstance(index, slice):
            ids = list(range(self._N))[index]
        elif torch.is_tensor(index):
            if index.dtype == torch.bool:
                if index.shape != (self._N,):
                    raise IndexError(f"Meshes bool index must have shape ({self._N},), got {tuple(index.shape)}")
                index = index.nonzero()[:, 0]
            ids = [int(i) % self._N for i in index.reshape(-1).tolist()]
        elif isinstance(index, (list, tuple)):
            ids = [int(i) % self._N for i in index]
        else:
            raise IndexError(f"Meshes cannot be indexed with {type(index).__name__}")
        tex = self.textures
        if tex is not None and hasattr(tex, "__getitem__"):
            tex = tex[index]
        return Meshes([self._verts_list[i] for i in ids], [self._faces_list[i] for i in ids], textures=tex)

    def sample_textures(self, fragments: Any) -> torch.Tensor:
        """Texture values at rasterised fragments: delegates to ``self.textures.sample_textures``."""
        if self.textures is None:
            raise ValueError("Meshes.sample_textures: this Meshes has no textures")
        return self.textures.sample_textures(fragments, faces_packed=self.faces_packed())

    def __repr__(self) -> str:
        return (f"Meshes(N={self._N}, verts={self.num_verts_per_mesh().tolist()}, "
                f"faces={self.num_faces_per_mesh().tolist()}, device={self.device})")
