"""Mesh generators and helpers (PyTorch3D's ``pytorch3d.utils``)."""

from .ico_sphere import ico_sphere
from .torus import torus

__all__ = ["ico_sphere", "torus"]
