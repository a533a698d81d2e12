"""Mesh file input/output (PyTorch3D's ``pytorch3d.io``)."""

from .obj_io import load_obj, save_obj
from .ply_io import load_ply, save_ply
from .utils import load_objs_as_meshes

__all__ = ["load_obj", "load_objs_as_meshes", "load_ply", "save_obj", "save_ply"]
