"""GIRAFFE pieces against analytic answers: density-weighted composition, the opaque last interval, object
box transforms, the R1 penalty of a linear critic, controllability of analytic sphere fields."""

from __future__ import annotations

import pytest
import torch

from bench.backends import load
from suites.giraffe.evaluate import controllability, object_opacity
from suites.giraffe.model import Discriminator, Generator, GeneratorConfig
from suites.giraffe.train import r1_penalty

T3D = load("torch")
SMALL = dict(image_size=8, resolution_vol=8, n_ray_samples=16, z_dim=4, z_dim_bg=4, hidden=8, hidden_bg=8,
             n_features=3, n_harmonics=2, translation_range=(-0.5, 0.5), scale_range=(0.4, 0.4),
             range_u=(0.0, 0.0), range_v=(0.5, 0.5))  # camera on +z: elevation 0, azimuth 0


class Constant(torch.nn.Module):
    """A field with constant density and features everywhere."""

    def __init__(self, sigma: float, feat: list[float]):
        super().__init__()
        self.s, self.f = sigma, torch.tensor(feat)

    def forward(self, p, z_shape, z_app):
        return torch.full(p.shape[:-1], self.s), self.f.expand(*p.shape[:-1], len(self.f))


class Ball(torch.nn.Module):
    """Density 50 inside the unit ball of the box frame, 0 outside; feature = (1, 0, 0)."""

    def forward(self, p, z_shape, z_app):
        inside = (p.norm(dim=-1) < 1.0).float()
        return 50.0 * inside, torch.tensor([1.0, 0.0, 0.0]).expand(*p.shape[:-1], 3)


def test_composition_is_density_weighted_and_the_last_interval_opaque():
    g = Generator(T3D, GeneratorConfig(n_objects=2, **{**SMALL, "scale_range": (10.0, 10.0)})).eval()  # boxes hold all
    g.objects[0], g.objects[1] = Constant(1.0, [1.0, 0.0, 0.0]), Constant(3.0, [0.0, 1.0, 0.0])
    g.background = Constant(0.0, [0.0, 0.0, 1.0])
    fmap = g.feature_map(g.sample_scene(2, torch.Generator().manual_seed(0)))
    assert fmap.shape == (2, 3, 8, 8)
    expected = torch.tensor([0.25, 0.75, 0.0])  # (1 * f1 + 3 * f2) / (1 + 3); the rays end opaque
    torch.testing.assert_close(fmap.permute(0, 2, 3, 1), expected.expand(2, 8, 8, 3), atol=1e-5, rtol=0)
    # empty objects and a thin background: its features everywhere (the last, infinite interval is opaque)
    g.objects[0], g.objects[1] = Constant(0.0, [1.0, 0.0, 0.0]), Constant(0.0, [0.0, 1.0, 0.0])
    g.background = Constant(1e-3, [0.0, 0.0, 1.0])
    fmap = g.feature_map(g.sample_scene(1))
    torch.testing.assert_close(fmap.permute(0, 2, 3, 1), torch.tensor([0.0, 0.0, 1.0]).expand(1, 8, 8, 3),
                               atol=1e-5, rtol=0)


def test_ball_object_appears_where_its_pose_puts_it():
    """A unit ball in a box of scale 0.4 at the origin covers the centre of the image and not the corners; moved
    to x = 0.5 it moves sideways by more than one cell and stays on the middle rows."""
    g = Generator(T3D, GeneratorConfig(n_objects=1, **SMALL)).eval()
    g.objects[0] = Ball()
    scene = g.sample_scene(1)
    scene = scene.with_translation(0, torch.zeros(1, 3))
    alpha = object_opacity(g, scene, 0)[0]
    assert alpha[3:5, 3:5].min() > 0.99 and alpha[0, 0] < 1e-6 and alpha[7, 7] < 1e-6
    moved = object_opacity(g, scene.with_translation(0, torch.tensor([[0.5, 0.0, 0.0]])), 0)[0]
    cols = moved.sum(0)
    centre = float((cols * torch.arange(8.0)).sum() / cols.sum())  # 3.5 before the move
    assert abs(centre - 3.5) > 1.0 and moved.sum(1).argmax() in (3, 4) and moved.sum() > 1.0


def test_controllability_of_a_localised_object_is_one_and_an_empty_footprint_zero():
    g = Generator(T3D, GeneratorConfig(n_objects=1, **SMALL)).eval()
    g.objects[0], g.background = Ball(), Constant(0.0, [0.0, 0.0, 1.0])
    share, area, pair = controllability(g, 3, shift=0.3, seed=0, device="cpu")
    assert share == pytest.approx(1.0, abs=1e-6) and 0.0 < area < 0.9
    assert pair.shape == (2, 3, 8, 8) and not torch.allclose(pair[0], pair[1])
    share, area, _ = controllability(g, 3, shift=0.3, seed=0, device="cpu", threshold=2.0)  # nothing is > 2
    assert share == 0.0 and area == 0.0
    g.objects[0] = Constant(0.0, [1.0, 0.0, 0.0])  # an invisible object: moving it changes nothing
    assert controllability(g, 3, shift=0.3, seed=0, device="cpu")[0] is None


def test_object_density_is_zero_outside_its_box_and_noisy_only_in_training():
    """A field dense everywhere, in a box of scale 0.4 at the origin: opaque at the image centre, nothing in the
    corners (generator.py masks densities outside the box padded by 0.1)."""
    g = Generator(T3D, GeneratorConfig(n_objects=1, **SMALL)).eval()
    g.objects[0] = Constant(100.0, [1.0, 0.0, 0.0])
    scene = g.sample_scene(2).with_translation(0, torch.zeros(2, 3))
    alpha = object_opacity(g, scene, 0)
    assert float(alpha[:, 3:5, 3:5].min()) > 0.99 and float(alpha[:, 0, 0].max()) == 0.0
    pts = torch.randn(2, 50, 3)
    torch.testing.assert_close(g.object_field(pts, scene, 0)[0], g.object_field(pts, scene, 0)[0])
    g.train()
    assert not torch.allclose(g.object_field(pts * 0.1, scene, 0)[0], g.object_field(pts * 0.1, scene, 0)[0])


def test_r1_penalty_of_a_linear_critic_is_its_squared_weight_norm():
    d = Discriminator(8, base=4)
    w = torch.randn(3, 8, 8)
    d.body, d.head = torch.nn.Identity(), torch.nn.Identity()
    d.forward = lambda x: (x * w).sum((1, 2, 3))  # D(x) = <w, x>: grad_x D = w
    logits, reg = r1_penalty(d, torch.rand(5, 3, 8, 8))
    assert logits.shape == (5,) and float(reg) == pytest.approx(float((w ** 2).sum()), rel=1e-5)


def test_generator_output_and_config_errors():
    g = Generator(T3D, GeneratorConfig(**{**SMALL, "image_size": 32}))
    with torch.no_grad():
        x = g(g.sample_scene(2))
    assert x.shape == (2, 3, 32, 32) and float(x.min()) > 0 and float(x.max()) < 1
    assert Discriminator(32)(x).shape == (2,)
    with pytest.raises(ValueError, match=r"image_size: expected resolution_vol \(8\) times a power of 2, got 24"):
        GeneratorConfig(**{**SMALL, "image_size": 24})
