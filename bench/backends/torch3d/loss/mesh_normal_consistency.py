"""Normal consistency between faces sharing an edge (PyTorch3D's ``loss.mesh_normal_consistency``)."""

from __future__ import annotations

import torch

from ..structures.meshes import Meshes


def _face_pairs_per_edge(face_to_edge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs (a, b), a < b, of (face, edge) slots that refer to the same edge; slots index F*3 rows."""
    edge_of_slot = face_to_edge.reshape(-1)
    order = torch.argsort(edge_of_slot, stable=True)
    sorted_edges = edge_of_slot[order]
    counts = torch.bincount(sorted_edges)
    counts = counts[counts > 0]
    starts = counts.cumsum(0) - counts
    pairs_a, pairs_b = [], []
    # Edges shared by k faces contribute k(k-1)/2 pairs; loop over the (few) distinct k values.
    for k in counts.unique().tolist():
        if k < 2:
            continue
        group_starts = starts[counts == k]
        ia, ib = torch.triu_indices(k, k, offset=1, device=face_to_edge.device)
        pairs_a.append((group_starts[:, None] + ia[None]).reshape(-1))
        pairs_b.append((group_starts[:, None] + ib[None]).reshape(-1))
    if not pairs_a:
        empty = face_to_edge.new_zeros((0,))
        return empty, empty
    return order[torch.cat(pairs_a)], order[torch.cat(pairs_b)]


def mesh_normal_consistency(meshes: Meshes) -> torch.Tensor:
    """Mean over meshes of the mean over face pairs sharing an edge of 1 - cos(angle between their normals).

    Each face's normal is taken relative to the shared edge (v0, v1): (v1 - v0) x (w - v0) with w the
    face's third vertex, negated for the second face, so the loss is 0 for a flat fold-free surface
    whatever the face winding. Edges shared by k > 2 faces contribute all k(k-1)/2 pairs.
    """
    if not isinstance(meshes, Meshes):
        raise ValueError(f"mesh_normal_consistency: meshes must be a Meshes, got {type(meshes).__name__}")
    if meshes.isempty():
        return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)
    N = len(meshes)
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    edges = meshes.edges_packed()
    face_to_edge = meshes.faces_packed_to_edges_packed()
    with torch.no_grad():
        slot_a, slot_b = _face_pairs_per_edge(face_to_edge)
    if slot_a.numel() == 0:
        return (verts * 0.0).sum()
    # Slot s = 3 * face + k refers to the edge opposite corner k, so corner k is the third vertex.
    edge_idx = face_to_edge.reshape(-1)[slot_a]
    e0, e1 = edges[edge_idx, 0], edges[edge_idx, 1]
    w_a = faces.reshape(-1)[slot_a]
    w_b = faces.reshape(-1)[slot_b]
    v0, v1 = verts[e0], verts[e1]
    n_a = torch.linalg.cross(v1 - v0, verts[w_a] - v0, dim=1)
    n_b = -torch.linalg.cross(v1 - v0, verts[w_b] - v0, dim=1)
    loss = 1 - torch.cosine_similarity(n_a, n_b, dim=1)
    pair_mesh = meshes.verts_packed_to_mesh_idx()[e0]
    num_pairs = torch.bincount(pair_mesh, minlength=N).to(verts.dtype)
    weights = 1.0 / num_pairs.gather(0, pair_mesh)
    return (loss * weights).sum() / N
