"""Phong, Gouraud and flat shading of fragments (PyTorch3D's ``renderer.mesh.shading``)."""

from __future__ import annotations

import torch

from .utils import interpolate_face_attributes


def _apply_lighting(points: torch.Tensor, normals: torch.Tensor, lights, cameras, materials):
    """(ambient, diffuse, specular) colours for points/normals of shape (N, ..., 3)."""
    light_diffuse = lights.diffuse(normals=normals, points=points)
    light_specular = lights.specular(normals=normals, points=points, camera_position=cameras.get_camera_center(),
                                     shininess=materials.shininess)
    ambient = materials.ambient_color * lights.ambient_color
    diffuse = _match(materials.diffuse_color, light_diffuse) * light_diffuse
    specular = _match(materials.specular_color, light_specular) * light_specular
    return _match(ambient, light_diffuse), diffuse, specular


def _match(prop: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if like.dim() <= 2:
        return prop
    return prop.reshape(prop.shape[:1] + (1,) * (like.dim() - 2) + prop.shape[1:])


def phong_shading(meshes, fragments, lights, cameras, materials, texels: torch.Tensor) -> torch.Tensor:
    """Per-fragment colours (N, H, W, K, 3): lighting evaluated with interpolated positions and normals."""
    faces = meshes.faces_packed()
    face_verts = meshes.verts_packed()[faces]
    face_normals = meshes.verts_normals_packed()[faces]
    points = interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, face_verts)
    normals = interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, face_normals)
    ambient, diffuse, specular = _apply_lighting(points, normals, lights, cameras, materials)
    return (ambient + diffuse) * texels + specular


def gouraud_shading(meshes, fragments, lights, cameras, materials) -> torch.Tensor:
    """Per-fragment colours (N, H, W, K, C): lighting at the vertices, then interpolated."""
    faces = meshes.faces_packed()
    verts = meshes.verts_packed()
    normals = meshes.verts_normals_packed()
    if not hasattr(meshes.textures, "verts_features_packed"):
        raise ValueError(f"textures: Gouraud shading needs TexturesVertex, got {type(meshes.textures).__name__}")
    verts_colors = meshes.textures.verts_features_packed()
    # Lights and cameras are per mesh: give each vertex its mesh's parameters.
    idx = meshes.verts_packed_to_mesh_idx()
    if len(cameras) > 1 or len(lights) > 1:
        cameras = cameras.clone().gather_props(idx) if len(cameras) > 1 else cameras
        lights = lights.clone().gather_props(idx) if len(lights) > 1 else lights
    if len(materials) > 1:
        materials = materials.clone().gather_props(idx)
    ambient, diffuse, specular = _apply_lighting(verts, normals, lights, cameras, materials)
    colors = (ambient + diffuse) * verts_colors + specular
    return interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, colors[faces])


def flat_shading(meshes, fragments, lights, cameras, materials, texels: torch.Tensor) -> torch.Tensor:
    """Per-fragment colours (N, H, W, K, 3) using each face's normal and centroid."""
    faces = meshes.faces_packed()
    face_verts = meshes.verts_packed()[faces]
    face_normals = meshes.faces_normals_packed()
    pix = fragments.pix_to_face
    mask = (pix >= 0)[..., None]
    safe = pix.clamp(min=0)
    points = face_verts.mean(dim=1)[safe] * mask
    normals = face_normals[safe] * mask
    ambient, diffuse, specular = _apply_lighting(points, normals, lights, cameras, materials)
    return (ambient + diffuse) * texels + specular
