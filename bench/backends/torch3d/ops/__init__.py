"""Geometry operators (PyTorch3D's ``pytorch3d.ops``)."""

from .knn import knn_gather, knn_points
from .laplacian_matrices import cot_laplacian, laplacian, norm_laplacian
from .mesh_face_areas_normals import mesh_face_areas_normals
from .points_normals import estimate_pointcloud_local_coord_frames, estimate_pointcloud_normals
from .packed_to_padded import packed_to_padded, padded_to_packed
from .sample_points_from_meshes import sample_points_from_meshes
from .subdivide_meshes import SubdivideMeshes

__all__ = ["SubdivideMeshes", "estimate_pointcloud_local_coord_frames", "estimate_pointcloud_normals", "cot_laplacian", "knn_gather", "knn_points", "laplacian", "mesh_face_areas_normals",
           "norm_laplacian", "packed_to_padded", "padded_to_packed", "sample_points_from_meshes"]
