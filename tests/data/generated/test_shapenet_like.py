"""The ShapeNet-like dataset: deterministic, split by instance, watertight outward meshes whose solid agrees with
the voxels (checked against the independent ray-parity voxeliser), cameras that see what the renders show."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from bench.data import registry
from bench.data.generated.shape_parts import CATEGORIES, make_instance, object_sdf
from bench.data.generated.shapenet_like import surface, voxels
from bench.data.generated.voxelize import voxelize

TINY = {"categories": ["chair", "mug"], "instances": 3, "test_instances": 1, "views": 2, "image_size": 32,
        "mesh_resolution": 24}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapenet_like")
    return registry.prepare("shapenet-like", root, 0, **TINY), root


def test_deterministic_and_split_by_instance(tiny, tmp_path):
    folder, _ = tiny
    again = registry.generate("shapenet-like", tmp_path / "again", 0, **TINY)
    assert (again / "manifest.json").read_text() == (folder / "manifest.json").read_text()
    train = registry.get("shapenet-like").load(folder, split="train")
    test = registry.get("shapenet-like").load(folder, split="test")
    assert {o["id"] for o in train}.isdisjoint({o["id"] for o in test})
    assert sorted(o["id"] for o in test) == ["chair/002", "mug/002"]
    assert len(train) == 4 and all(o["images"].shape == (2, 32, 32, 3) for o in train + test)
    assert registry.get("shapenet-like").check(folder).ok


@pytest.mark.parametrize("category", CATEGORIES)
def test_meshes_are_watertight_outward_and_match_the_voxels(category):
    parts = make_instance(category, np.random.default_rng(3))
    v, f = surface(parts, 40)
    mesh = trimesh.Trimesh(v, f, process=True)
    assert mesh.is_watertight, category
    assert mesh.volume > 0  # outward winding
    assert np.linalg.norm(v, axis=1).max() < 1.0  # any camera rotation keeps it inside [-1, 1]^3
    ours = voxels(parts, 32)
    theirs = voxelize(v, f, 32)  # ray parity on the extracted surface: an independent solid
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.8, (category, iou)


def test_carved_parts_are_air_and_solid_parts_are_solid():
    for category in ("mug", "lamp"):
        parts = make_instance(category, np.random.default_rng(0))
        carved = [p for p in parts if p.carve]
        assert carved and object_sdf(parts, np.array([carved[0].centre]))[0] > 0, category
        solid = next(p for p in parts if not p.carve and p.kind == "cylinder")
        base = np.array(solid.centre) - np.array([0, solid.size[1] * 0.9, 0])  # near the bottom: solid
        assert object_sdf(parts, base[None])[0] < 0, category


def test_renders_show_the_mesh_where_the_cameras_project_it(tiny):
    from bench.methods.single_view import project, to_view_set

    folder, _ = tiny
    items = registry.get("shapenet-like").load(folder)
    data = to_view_set(items, 32)
    # at 32 px thin legs rasterise to broken lines: a one-pixel dilation of the silhouette absorbs that
    masks = torch.nn.functional.max_pool2d(torch.cat([o["masks"] for o in items])[:, None], 3, 1, 1)
    hits, flips = [], []
    for i in range(len(data)):
        g = project(data.verts[i][None], data.T[i:i + 1], data.fov[i:i + 1])
        hit = torch.nn.functional.grid_sample(masks[i][None], g[:, None], align_corners=False)
        hits.append(float((hit > 0.01).float().mean()))
        for sign in ([-1.0, 1.0], [1.0, -1.0]):  # a mirrored projection must fit worse
            flipped = torch.nn.functional.grid_sample(masks[i][None], (g * torch.tensor(sign))[:, None],
                                                      align_corners=False)
            flips.append(float((flipped > 0.01).float().mean()))
    assert min(hits) > 0.9, hits
    assert sum(hits) / len(hits) > 0.97 and sum(flips) / len(flips) < sum(hits) / len(hits) - 0.05, (hits, flips)
