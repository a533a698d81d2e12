"""Loop-style midpoint subdivision: each triangle becomes four (PyTorch3D's ``ops.SubdivideMeshes``)."""

from __future__ import annotations

import torch
from torch import nn

from ..structures.meshes import Meshes


def _subdivide_faces(faces: torch.Tensor, face_to_edge: torch.Tensor, num_verts: int) -> torch.Tensor:
    """(4F, 3) faces after splitting each edge; the midpoint of edge e gets vertex index num_verts + e."""
    f0, f1, f2 = faces.unbind(1)
    e0, e1, e2 = (face_to_edge + num_verts).unbind(1)  # e_k is the edge opposite corner k
    return torch.cat([torch.stack([f0, e2, e1], 1), torch.stack([f1, e0, e2], 1),
                      torch.stack([f2, e1, e0], 1), torch.stack([e0, e1, e2], 1)], 0)


class SubdivideMeshes(nn.Module):
    """Split every face into four by adding a vertex at each edge midpoint.

    The topology is computed from ``meshes`` (or from the first input); the new vertex positions
    are differentiable in the input vertices. Vertex order: old vertices, then one per packed edge.
    """

    def __init__(self, meshes: Meshes | None = None) -> None:
        super().__init__()
        self.precomputed = meshes is not None
        if meshes is not None:
            self.register_buffer("_subdivided_faces", self.subdivide_faces(meshes))

    @staticmethod
    def subdivide_faces(meshes: Meshes) -> torch.Tensor:
        """(4 sum F_i, 3) packed faces of the subdivided batch (over the new packed vertices)."""
        return _subdivide_faces(meshes.faces_packed(), meshes.faces_packed_to_edges_packed(),
                                len(meshes.verts_packed()))

    def forward(self, meshes: Meshes, feats: torch.Tensor | None = None):
        """Subdivided Meshes (and per-vertex feats (sum V_i, D) averaged onto the new vertices, if given)."""
        verts = meshes.verts_packed()
        edges = meshes.edges_packed()
        new_verts = torch.cat([verts, 0.5 * (verts[edges[:, 0]] + verts[edges[:, 1]])], 0)
        faces = self._subdivided_faces if self.precomputed else self.subdivide_faces(meshes)
        # Split the packed result back per mesh: vertices are the mesh's old ones, then its edges' midpoints.
        v_mesh = torch.cat([meshes.verts_packed_to_mesh_idx(), meshes.edges_packed_to_mesh_idx()])
        f_mesh = meshes.faces_packed_to_mesh_idx().repeat(4)
        order_v = torch.argsort(v_mesh, stable=True)
        remap = torch.empty_like(order_v)
        remap[order_v] = torch.arange(len(order_v), device=order_v.device)
        order_f = torch.argsort(f_mesh, stable=True)
        faces = remap[faces[order_f]]
        nv = torch.bincount(v_mesh, minlength=len(meshes)).tolist()
        nf = torch.bincount(f_mesh, minlength=len(meshes)).tolist()
        first = [sum(nv[:i]) for i in range(len(nv))]
        verts_list = list(new_verts[order_v].split(nv, 0))
        faces_list = [f - o for f, o in zip(faces.split(nf, 0), first, strict=False)]
        out = Meshes(verts_list, faces_list)
        if feats is None:
            return out
        new_feats = torch.cat([feats, 0.5 * (feats[edges[:, 0]] + feats[edges[:, 1]])], 0)[order_v]
        return out, new_feats
