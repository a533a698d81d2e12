"""gan-primitives: a rendered sphere covers the area and position that pinhole projection predicts; the camera's
elevation follows GIRAFFE's v -> arccos(1 - 2v); files re-render from their scene list."""

import math

import numpy as np
import pytest

from bench.data import registry
from bench.data.generated.gan_primitives import elevation_deg, render_scene
from bench.data.generated.render import backend

P3D = backend("torch")
S, DIST, FOV = 64, 2.732, 49.13


def sphere_scene(x: float, scale: float) -> dict:
    return {"background": [0.0, 0.0, 0.0], "camera": {"elev": 0.0, "azim": 0.0},
            "objects": [{"kind": "sphere", "scale": scale, "translation": [x, 0.0, 0.0], "rotation": 0.0,
                         "color": [0.9, 0.6, 0.3]}]}


def test_sphere_area_and_position_follow_pinhole_projection():
    """A ball of radius r at distance d subtends asin(r / d): a disc of tan(asin(r / d)) / tan(fov / 2) * S / 2
    pixels radius; moved to world +x (camera on +z) its centre moves right by x / d / tan(fov / 2) * S / 2."""
    focal = S / 2 / math.tan(math.radians(FOV) / 2)
    for x, scale in ((0.0, 0.5), (0.6, 0.35)):
        mask = render_scene(P3D, sphere_scene(x, scale), S, DIST, FOV).numpy().sum(-1) > 0
        radius = math.tan(math.asin(scale / DIST)) * focal
        assert mask.sum() == pytest.approx(math.pi * radius ** 2, rel=0.06)  # ico-sphere level 2: a bit inside
        ys, xs = np.nonzero(mask)
        assert xs.mean() + 0.5 == pytest.approx(S / 2 + x / DIST * focal, abs=0.6)
        assert ys.mean() + 0.5 == pytest.approx(S / 2, abs=0.3)


def test_background_colour_and_elevation_convention():
    scene = sphere_scene(0.0, 0.3)
    scene["background"] = [0.2, 0.4, 0.6]
    img = render_scene(P3D, scene, 16, DIST, FOV).numpy()
    np.testing.assert_allclose(img[0, 0], [0.2, 0.4, 0.6], atol=1e-6)
    assert elevation_deg(0.5) == pytest.approx(0.0, abs=1e-9)       # equator
    assert elevation_deg(0.25) == pytest.approx(30.0)                # GIRAFFE's default range_v
    assert elevation_deg(0.05) == pytest.approx(90.0 - math.degrees(math.acos(0.9)))


def test_images_rerender_from_their_scene_list_and_ranges_hold(tmp_path):
    folder = registry.generate("gan-primitives", tmp_path / "g", seed=3, count=6, image_size=16, max_objects=2,
                               range_v=[0.25, 0.5], translation_range=[-0.5, 0.5], scale_range=[0.3, 0.4])
    data = registry.get("gan-primitives").load(folder)
    assert data["images"].shape == (6, 16, 16, 3) and (data["dist"], data["fov"]) == (DIST, FOV)
    for img, scene in zip(data["images"], data["scenes"], strict=True):
        again = render_scene(P3D, scene, 16, data["dist"], data["fov"]).numpy()
        np.testing.assert_allclose(img.numpy(), again, atol=0.5 / 255 + 1e-6)
        assert 0.0 <= scene["camera"]["elev"] <= 30.0 + 1e-6 and 1 <= len(scene["objects"]) <= 2
        for o in scene["objects"]:
            assert 0.3 <= o["scale"] <= 0.4 and max(abs(o["translation"][0]), abs(o["translation"][2])) <= 0.5
    with pytest.raises(ValueError, match=r"range_v: expected values in \[0, 1\], got \[0.5, 1.5\]"):
        registry.generate("gan-primitives", tmp_path / "h", seed=3, count=1, image_size=16, range_v=[0.5, 1.5])
