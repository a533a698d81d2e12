"""Pose parameterisations: the tutorial's camera position (look-at) and a full rig pose (rotation + translation).

Both hold a batch of B independent starts and return every camera's ``(R, T)``, (B, V, 3, 3) and
(B, V, 3), in PyTorch3D's row convention ``X_view = X_world @ R + T``. Adam is elementwise, so
optimising the summed loss of B starts is the same as B separate optimisations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from suites.pose.scenes import Scene, axis_angle_matrix, compose_rig, random_axes

ROTATIONS = ("so3", "6d")


class LookAtPose(nn.Module):
    """The tutorial's model: the camera centre (B, 3) is the parameter; the camera looks at the origin."""

    def __init__(self, t3d: Any, start: torch.Tensor):
        super().__init__()
        self.t3d = t3d
        self.position = nn.Parameter(start.clone().float())

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        R = self.t3d.renderer.look_at_rotation(self.position, device=self.position.device)  # (B, 3, 3)
        T = -torch.bmm(R.transpose(1, 2), self.position[:, :, None])[:, :, 0]
        return R[:, None], T[:, None]

    def centres(self) -> torch.Tensor:
        return self.position.detach()


class RigPose(nn.Module):
    """Rotation and translation of camera 0 (B starts); the other cameras follow by the rig's fixed relative poses.

    ``rotation="so3"``: R = so3_exp_map(w) @ R_start with w (B, 3) from zero; ``"6d"``: R from the
    continuous 6D representation (Zhou et al. 2019) initialised at R_start.
    """

    def __init__(self, t3d: Any, R_start: torch.Tensor, T_start: torch.Tensor, rig_R: torch.Tensor,
                 rig_T: torch.Tensor, rotation: str = "so3"):
        super().__init__()
        if rotation not in ROTATIONS:
            raise ValueError(f"rotation: expected one of {ROTATIONS}, got {rotation!r}")
        self.t3d, self.rotation = t3d, rotation
        tr = t3d.transforms
        self.register_buffer("R_start", R_start.clone().float())
        self.register_buffer("rig_R", rig_R.float())
        self.register_buffer("rig_T", rig_T.float())
        if rotation == "so3":
            self.rot = nn.Parameter(torch.zeros(R_start.shape[0], 3))
        else:
            self.rot = nn.Parameter(tr.matrix_to_rotation_6d(R_start.float()).clone())
        self.T = nn.Parameter(T_start.clone().float())

    def camera0(self) -> tuple[torch.Tensor, torch.Tensor]:
        tr = self.t3d.transforms
        if self.rotation == "so3":
            R = tr.so3_exp_map(self.rot) @ self.R_start
        else:
            R = tr.rotation_6d_to_matrix(self.rot)
        return R, self.T

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        R0, T0 = self.camera0()
        return compose_rig(R0, T0, self.rig_R, self.rig_T)

    def centres(self) -> torch.Tensor:
        """(B, V, 3) world positions of all rig cameras."""
        with torch.no_grad():
            R, T = self.forward()
        return -(T[..., None, :] @ R.transpose(-1, -2))[..., 0, :]


def look_at_starts(scene: Scene, angle_deg: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """n camera centres (n, 3) at the true camera's distance, ``angle_deg`` away from it about random axes."""
    centre = -(scene.T[0] @ scene.R[0].T)
    rot = axis_angle_matrix(random_axes(n, generator, perpendicular_to=centre), angle_deg)
    return (rot @ centre[None, :, None])[:, :, 0]


def rig_starts(scene: Scene, angle_deg: float, n: int, generator: torch.Generator, shift: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """n starts of camera 0: rotation ``angle_deg`` from the truth about random axes, translation off by
    ``shift`` x |T| in a random direction. Returns R (n, 3, 3), T (n, 3)."""
    rot = axis_angle_matrix(random_axes(n, generator), angle_deg)
    R = rot @ scene.R[0][None]
    d = random_axes(n, generator)
    T = scene.T[0][None] + shift * float(scene.T[0].norm()) * d
    return R, T


def reference_rig_start(scene: Scene, angle_deg: float, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed start of camera 0: ``angle_deg`` about the axis (1, 1, 0)/sqrt(2), translation off along +X."""
    axis = torch.tensor([[1.0, 1.0, 0.0]]) / 2**0.5
    R = axis_angle_matrix(axis, angle_deg) @ scene.R[0][None]
    T = scene.T[0][None] + shift * float(scene.T[0].norm()) * torch.tensor([[1.0, 0.0, 0.0]])
    return R, T
