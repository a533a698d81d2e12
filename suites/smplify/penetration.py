"""A measured self-interpenetration of a posed body mesh (bench3d's own measure, not SMPLify's).

Each vertex belongs to the body part of its largest skinning weight; each part of ``COLLISION_BONES`` is the
capsule around its posed bone whose radius is the median rest-pose distance of the part's own vertices from
the bone. A vertex lies inside another part when it is closer to that part's bone than the part's radius; only
parts more than 2 bones apart in the kinematic tree count (neighbours overlap at every joint). The depth of a
vertex is its deepest such penetration (0 outside); the measure of a body is the mean depth over its vertices
(in the vertices' unit) and the share of vertices that penetrate. Capsules along the whole bone and the
mesh's own vertices make it a different proxy from the optimised term's three spheres per bone
(:class:`suites.smplify.priors.Interpenetration`).
"""

from __future__ import annotations

from typing import Any

import torch

from suites.smplify.priors import COLLISION_BONES, _distance_to_segment, _hops


def segment_penetration(points: torch.Tensor, start: torch.Tensor, end: torch.Tensor, radii: torch.Tensor,
                        mask: torch.Tensor) -> torch.Tensor:
    """(B, V) deepest penetration of points (B, V, 3) into the capsules (B, K, 3) start / end with radii (K,),
    counting only the pairs where mask (V, K) is true."""
    ab = end - start  # (B, K, 3)
    rel = points[:, :, None] - start[:, None]  # (B, V, K, 3)
    t = ((rel * ab[:, None]).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)[:, None]).clamp(0, 1)
    dist = (rel - t[..., None] * ab[:, None]).norm(dim=-1)  # (B, V, K)
    depth = torch.relu(radii.to(points)[None, None] - dist) * mask.to(points)[None]
    return depth.max(-1).values


class CapsulePenetration:
    """Mean penetration depth and penetrating share of posed bodies (see the module docstring)."""

    def __init__(self, rest_vertices: torch.Tensor, rest_joints: torch.Tensor, weights: torch.Tensor,
                 parents: list[int]):
        start_of = {a: k for k, (a, _) in enumerate(COLLISION_BONES)}
        owner = torch.tensor([start_of.get(int(j), -1) for j in weights.argmax(1)])
        radii = []
        for k, (a, b) in enumerate(COLLISION_BONES):
            own = rest_vertices[owner == k]
            radii.append(_distance_to_segment(own, rest_joints[a], rest_joints[b]).median() if len(own)
                         else rest_vertices.new_tensor(0.0))
        self.radii = torch.stack(radii)
        hops = _hops(parents)
        far = torch.tensor([[min(hops[x][y] for x in COLLISION_BONES[i] for y in COLLISION_BONES[j]) > 2
                             for j in range(len(COLLISION_BONES))] for i in range(len(COLLISION_BONES))])
        self.mask = torch.zeros(len(owner), len(COLLISION_BONES), dtype=torch.bool)
        self.mask[owner >= 0] = far[owner[owner >= 0]]

    def depths(self, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """(B, V) penetration depth of each vertex of vertices (B, V, 3) posed with joints (B, J, 3)."""
        start = joints[:, [a for a, _ in COLLISION_BONES]]
        end = joints[:, [b for _, b in COLLISION_BONES]]
        return segment_penetration(vertices, start, end, self.radii, self.mask)

    def __call__(self, vertices: torch.Tensor, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) mean depth over the vertices and (B,) share (0..1) of penetrating vertices."""
        d = self.depths(vertices, joints)
        return d.mean(1), (d > 0).double().mean(1)


def report_penetration(ctx: Any, model: Any, pred: dict[str, torch.Tensor], ids: list[str]) -> None:
    """The measured interpenetration (mm, %) of fitted bodies (pred: vertices (N, V, 3), joints (N, J, 3), metres)
    and the unweighted sphere term at the fit, per image; parts sized on the model's mean shape at rest."""
    from suites.smplify.priors import Interpenetration

    with torch.no_grad():
        rest = model(betas=torch.zeros(1, model.num_betas, dtype=torch.float64))
    args = (rest.vertices[0], rest.joints[0], model.lbs_weights.double(), model.parents)
    depth, share = CapsulePenetration(*args)(pred["vertices"].double(), pred["joints"].double())
    term = Interpenetration(*args)(pred["joints"].double())
    for name, values in (("interpenetration", depth * 1000.0), ("interpenetrating_vertices", share * 100.0),
                         ("interpenetration_term", term)):
        items = [float(v) for v in values]
        ctx.metric(name, float(sum(items) / len(items)), items=items, item_ids=ids)
