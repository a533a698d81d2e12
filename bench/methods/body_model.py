"""A body model with SMPL's maths and call signature: shape and pose blend shapes, a joint regressor, LBS.

Loper et al., "SMPL: A Skinned Multi-Person Linear Model" (SIGGRAPH Asia 2015), eqs. 1-10: the shaped
template ``T + B_S(beta)``, joints regressed from it ``J = J_regressor @ (T + B_S)``, pose blend shapes
driven by ``R(theta) - I`` of every joint but the root, and linear blend skinning with the world
transforms of the kinematic tree. Array names and layouts are those of SMPL's model files (``v_template``
(V, 3), ``shapedirs`` (V, 3, S), ``posedirs`` (V, 3, 9(J-1)), ``J_regressor`` (J, V), ``weights`` (V, J),
``kintree_table`` (2, J), ``f`` (F, 3)), so :meth:`BodyModel.from_arrays` runs a real SMPL file with this
code, and the built-in procedural body (:mod:`bench.methods.procedural_body`) runs the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

LSP_FROM_SMPL = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20)  # SMPLify fit_3d.py: LSP joints 0-11 -> SMPL joints
NECK_JOINT = 12
SMPL_HEAD_TOP_VERTEX = 411  # SMPLify fit_3d.py (head_id): the vertex SMPLify uses for LSP's head top


@dataclass
class BodyOutput:
    """vertices (B, V, 3) and joints (B, J, 3), both posed and translated (SMPL's output fields)."""

    vertices: torch.Tensor
    joints: torch.Tensor


def axis_angle_to_matrix(rv: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle -> (..., 3, 3) rotation matrices (smooth at zero)."""
    angle = torch.sqrt((rv * rv).sum(-1, keepdim=True) + 1e-16)
    axis = rv / angle
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rv.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rv.dtype, device=rv.device).expand_as(k)
    return eye + s * k + (1 - c) * (k @ k)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3) axis-angle (via scipy; not differentiable, for initialisation)."""
    from scipy.spatial.transform import Rotation

    flat = R.detach().cpu().double().reshape(-1, 3, 3).numpy()
    out = torch.from_numpy(Rotation.from_matrix(flat).as_rotvec())
    return out.reshape(*R.shape[:-2], 3).to(R.dtype).to(R.device)


class BodyModel(torch.nn.Module):
    """SMPL's forward pass on given model arrays; ``forward(betas, global_orient, body_pose, transl)``."""

    def __init__(self, arrays: dict[str, Any], *, num_betas: int = 10, name: str = "body",
                 head_top_vertex: int = SMPL_HEAD_TOP_VERTEX, dtype: torch.dtype = torch.float32):
        super().__init__()
        parents = np.asarray(arrays["kintree_table"])[0].astype(np.int64).copy()
        parents[0] = -1
        self.parents = parents.tolist()
        self.name = name
        n_v = int(np.asarray(arrays["v_template"]).shape[0])
        if not 0 <= head_top_vertex < n_v:
            raise ValueError(f"head_top_vertex: {head_top_vertex} outside the model's 0..{n_v - 1} vertices")
        self.head_top_vertex = int(head_top_vertex)
        shapedirs = np.asarray(arrays["shapedirs"])[:, :, :num_betas]
        self.num_betas = shapedirs.shape[-1]
        posedirs = np.asarray(arrays["posedirs"]).reshape(n_v * 3, -1)
        jr = arrays["J_regressor"]
        jr = jr.toarray() if hasattr(jr, "toarray") else np.asarray(jr)

        def buf(name: str, a: Any) -> None:
            self.register_buffer(name, torch.as_tensor(np.asarray(a, dtype=np.float64)).to(dtype))

        buf("v_template", arrays["v_template"])
        buf("shapedirs", shapedirs)
        buf("posedirs", posedirs)
        buf("J_regressor", jr)
        buf("lbs_weights", arrays["weights"])
        self.register_buffer("faces", torch.as_tensor(np.asarray(arrays["f"], dtype=np.int64)))
        self.num_joints = len(self.parents)
        if posedirs.shape[1] != 9 * (self.num_joints - 1):
            raise ValueError(f"posedirs: {posedirs.shape[1]} pose basis vectors, expected 9 x {self.num_joints - 1}")

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], **kw: Any) -> BodyModel:
        """A model from SMPL-format arrays (a real model file read by ``bench.data.formats.smpl.read_model``)."""
        return cls(arrays, **kw)

    def forward(self, betas: torch.Tensor | None = None, global_orient: torch.Tensor | None = None,
                body_pose: torch.Tensor | None = None, transl: torch.Tensor | None = None) -> BodyOutput:
        """betas (B, S), global_orient (B, 3), body_pose (B, 3(J-1)) axis-angle, transl (B, 3) -> BodyOutput."""
        given = [t for t in (betas, global_orient, body_pose, transl) if t is not None]
        b = given[0].shape[0] if given else 1
        dt, dev = self.v_template.dtype, self.v_template.device

        def orzero(t: torch.Tensor | None, n: int) -> torch.Tensor:
            return torch.zeros(b, n, dtype=dt, device=dev) if t is None else t

        betas = orzero(betas, self.num_betas)
        pose = torch.cat([orzero(global_orient, 3), orzero(body_pose, 3 * (self.num_joints - 1))], 1)
        v_shaped = self.v_template + torch.einsum("bs,vcs->bvc", betas, self.shapedirs)
        J = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)
        R = axis_angle_to_matrix(pose.reshape(b, self.num_joints, 3))
        eye = torch.eye(3, dtype=dt, device=dev)
        feat = (R[:, 1:] - eye).reshape(b, -1)
        v_posed = v_shaped + (feat @ self.posedirs.T).reshape(b, -1, 3)
        G = self._world_transforms(R, J)
        joints = G[:, :, :3, 3]
        # A_j = G_j with the rest position removed: a vertex at rest near J_j follows joint j's motion
        A = G.clone()
        A[:, :, :3, 3] = joints - (G[:, :, :3, :3] @ J[..., None])[..., 0]
        T = torch.einsum("vj,bjrc->bvrc", self.lbs_weights, A)
        verts = (T[:, :, :3, :3] @ v_posed[..., None])[..., 0] + T[:, :, :3, 3]
        t = orzero(transl, 3)[:, None]
        return BodyOutput(vertices=verts + t, joints=joints + t)

    def _world_transforms(self, R: torch.Tensor, J: torch.Tensor) -> torch.Tensor:
        """(B, J, 4, 4) world transforms of the kinematic tree from local rotations R (B, J, 3, 3), rest joints J."""
        b = R.shape[0]
        rel = J.clone()
        par = torch.tensor([max(p, 0) for p in self.parents], device=J.device)
        rel[:, 1:] = J[:, 1:] - J[:, par[1:]]
        local = torch.zeros(b, self.num_joints, 4, 4, dtype=R.dtype, device=R.device)
        local[:, :, :3, :3] = R
        local[:, :, :3, 3] = rel
        local[:, :, 3, 3] = 1.0
        chain = [local[:, 0]]
        for j in range(1, self.num_joints):
            chain.append(chain[self.parents[j]] @ local[:, j])
        return torch.stack(chain, 1)

    def keypoints(self, out: BodyOutput) -> torch.Tensor:
        """(B, 14, 3) LSP-order keypoints: 12 limb joints, the neck joint, the head-top vertex (SMPLify's map)."""
        limbs = out.joints[:, list(LSP_FROM_SMPL)]
        return torch.cat([limbs, out.joints[:, NECK_JOINT: NECK_JOINT + 1],
                          out.vertices[:, self.head_top_vertex: self.head_top_vertex + 1]], 1)

    def descendants(self, j: int) -> set[int]:
        """Joint j and every joint below it in the kinematic tree."""
        out = {j}
        for k in range(j + 1, self.num_joints):
            if self.parents[k] in out:
                out.add(k)
        return out


class SmplxBody(torch.nn.Module):
    """The real SMPL through the ``smplx`` package, with :class:`BodyModel`'s interface (first 24 joints)."""

    def __init__(self, model: Any, head_top_vertex: int = SMPL_HEAD_TOP_VERTEX):
        super().__init__()
        self.model = model
        self.name = "SMPL (smplx)"
        self.num_betas = int(model.num_betas)
        self.parents = [int(p) for p in model.parents.tolist()]
        self.parents[0] = -1
        self.num_joints = len(self.parents)
        self.head_top_vertex = int(head_top_vertex)
        self.register_buffer("faces", torch.as_tensor(np.asarray(model.faces, dtype=np.int64)))
        self.lbs_weights = model.lbs_weights

    def forward(self, betas: torch.Tensor | None = None, global_orient: torch.Tensor | None = None,
                body_pose: torch.Tensor | None = None, transl: torch.Tensor | None = None) -> BodyOutput:
        out = self.model(betas=betas, global_orient=global_orient, body_pose=body_pose, transl=transl)
        return BodyOutput(vertices=out.vertices, joints=out.joints[:, : self.num_joints])

    keypoints = BodyModel.keypoints
    descendants = BodyModel.descendants
