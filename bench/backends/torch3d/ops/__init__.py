"""Geometry operators (PyTorch3D's ``pytorch3d.ops``)."""

from ..renderer.mesh.utils import interpolate_face_attributes
from .cubify import cubify
from .graph_conv import GraphConv
from .knn import knn_gather, knn_points
from .laplacian_matrices import cot_laplacian, laplacian, norm_laplacian
from .marching_cubes import marching_cubes
from .mesh_face_areas_normals import mesh_face_areas_normals
from .packed_to_padded import packed_to_padded, padded_to_packed
from .points_normals import estimate_pointcloud_local_coord_frames, estimate_pointcloud_normals
from .sample_points_from_meshes import sample_points_from_meshes
from .subdivide_meshes import SubdivideMeshes
from .vert_align import vert_align

__all__ = [
    "GraphConv",
    "SubdivideMeshes",
    "cot_laplacian",
    "cubify",
    "estimate_pointcloud_local_coord_frames",
    "estimate_pointcloud_normals",
    "interpolate_face_attributes",
    "knn_gather",
    "knn_points",
    "laplacian",
    "marching_cubes",
    "mesh_face_areas_normals",
    "norm_laplacian",
    "packed_to_padded",
    "padded_to_packed",
    "sample_points_from_meshes",
    "vert_align",
]
