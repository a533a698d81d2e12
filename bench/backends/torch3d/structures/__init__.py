"""Batched 3D data structures (PyTorch3D's ``pytorch3d.structures``)."""

from pathlib import Path

from .join import join_meshes_as_batch, join_meshes_as_scene
from .meshes import Meshes
from .utils import list_to_packed, list_to_padded, packed_to_list, padded_to_list, padded_to_packed

__all__ = ["Meshes", "join_meshes_as_batch", "join_meshes_as_scene", "list_to_packed", "list_to_padded",
           "packed_to_list", "padded_to_list", "padded_to_packed"]

try:
    from .pointclouds import Pointclouds, join_pointclouds_as_batch, join_pointclouds_as_scene  # noqa: F401

    __all__ += ["Pointclouds", "join_pointclouds_as_batch", "join_pointclouds_as_scene"]
except ModuleNotFoundError as exc:  # written later in this backend's build-up
    if exc.name != f"{__name__}.pointclouds":
        raise

if (Path(__file__).parent / "volumes.py").exists():
    from .volumes import Volumes  # noqa: F401

    __all__ += ["Volumes"]
