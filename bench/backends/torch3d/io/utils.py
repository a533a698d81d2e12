"""Loading several OBJ files as one textured ``Meshes`` batch (PyTorch3D's ``io.load_objs_as_meshes``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..structures import Meshes, join_meshes_as_batch
from .obj_io import load_obj


def _textures_uv():
    try:
        from ..renderer import TexturesUV
    except ImportError as exc:
        raise ImportError("load_objs_as_meshes: textures need bench.backends.torch3d.renderer.TexturesUV, "
                          "which is not available; pass load_textures=False") from exc
    return TexturesUV


def load_objs_as_meshes(files: Sequence[str | os.PathLike], device: str | torch.device | None = None,
                        load_textures: bool = True, create_texture_atlas: bool = False,
                        texture_atlas_size: int = 4, texture_wrap: str | None = "repeat",
                        path_manager=None) -> Meshes:
    """A Meshes batch, one mesh per OBJ file, with TexturesUV (first texture image) or TexturesAtlas when asked."""
    if isinstance(files, (str, os.PathLike)):
        raise ValueError("load_objs_as_meshes: files must be a list of paths, not a single path")
    device = torch.device(device) if device is not None else torch.device("cpu")
    meshes = []
    for f in files:
        verts, faces, aux = load_obj(f, load_textures=load_textures, create_texture_atlas=create_texture_atlas,
                                     texture_atlas_size=texture_atlas_size, texture_wrap=texture_wrap,
                                     device=device)
        tex = None
        if create_texture_atlas and aux.texture_atlas is not None:
            from ..renderer import TexturesAtlas

            tex = TexturesAtlas(atlas=[aux.texture_atlas])
        elif load_textures and aux.texture_images and aux.verts_uvs is not None:
            if (faces.textures_idx < 0).any():
                raise ValueError(f"load_objs_as_meshes: {f} has faces without texture coordinates")
            image = next(iter(aux.texture_images.values())).to(device)
            tex = _textures_uv()(verts_uvs=[aux.verts_uvs], faces_uvs=[faces.textures_idx], maps=[image])
        meshes.append(Meshes([verts], [faces.verts_idx], textures=tex))
    if not meshes:
        raise ValueError("load_objs_as_meshes: files is empty")
    return join_meshes_as_batch(meshes)
