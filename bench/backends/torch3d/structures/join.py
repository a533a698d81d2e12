"""Joining Meshes: several batches into one batch, or a batch into one scene mesh."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .meshes import Meshes


def _textures_of(meshes: Sequence[Meshes], include_textures: bool):
    if not include_textures:
        return None
    texs = [m.textures for m in meshes]
    if all(t is None for t in texs):
        return None
    if any(t is None for t in texs) or len({type(t) for t in texs}) != 1:
        raise ValueError("join_meshes: all meshes must have textures of the same type, or none "
                         "(pass include_textures=False to drop them)")
    return texs


def join_meshes_as_batch(meshes: Sequence[Meshes], include_textures: bool = True) -> Meshes:
    """One Meshes batch holding every mesh of every input batch, in order."""
    if isinstance(meshes, Meshes):
        raise ValueError("join_meshes_as_batch: expected a list of Meshes, got a single Meshes")
    meshes = list(meshes)
    if not meshes or not all(isinstance(m, Meshes) for m in meshes):
        raise ValueError("join_meshes_as_batch: expected a non-empty list of Meshes")
    verts = [v for m in meshes for v in m.verts_list()]
    faces = [f for m in meshes for f in m.faces_list()]
    texs = _textures_of(meshes, include_textures)
    tex = texs[0].join_batch(texs[1:]) if texs is not None else None
    return Meshes(verts, faces, textures=tex)


def join_meshes_as_scene(meshes: Meshes | Sequence[Meshes], include_textures: bool = True) -> Meshes:
    """A single mesh made of all meshes of the batch (or list of batches), faces re-indexed."""
    if not isinstance(meshes, Meshes):
        meshes = join_meshes_as_batch(meshes, include_textures)
    if len(meshes) == 0:
        raise ValueError("join_meshes_as_scene: the batch is empty")
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    tex = None
    if include_textures and meshes.textures is not None:
        tex = meshes.textures.join_scene()
    return Meshes([verts], [faces if len(faces) else torch.zeros((0, 3), dtype=torch.int64, device=verts.device)],
                  textures=tex)
