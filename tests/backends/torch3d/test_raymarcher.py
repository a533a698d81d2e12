"""Raymarchers against hand loops, closed forms and finite differences."""

import math

import pytest
import torch

from bench.backends.torch3d.renderer.implicit import AbsorptionOnlyRaymarcher, EmissionAbsorptionRaymarcher


def _ea_loop(dens: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """Front-to-back emission-absorption, one ray at a time, in plain Python floats."""
    out = torch.zeros(dens.shape[0], feats.shape[-1] + 1, dtype=torch.float64)
    for r in range(dens.shape[0]):
        trans = 1.0
        for k in range(dens.shape[1]):
            d = float(dens[r, k])
            out[r, :-1] += trans * d * feats[r, k].double()
            trans *= 1.0 - d
        out[r, -1] = 1.0 - trans
    return out


def test_emission_absorption_matches_hand_loop():
    torch.manual_seed(0)
    dens = torch.rand(2, 5, 7, 1)
    feats = torch.rand(2, 5, 7, 3)
    got = EmissionAbsorptionRaymarcher()(dens, feats, eps=0.0)
    ref = _ea_loop(dens.reshape(-1, 7), feats.reshape(-1, 7, 3)).reshape(2, 5, 4)
    assert got.shape == (2, 5, 4)
    torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-6)


def test_constant_density_gives_exponential_opacity():
    # per-sample opacity 1 - exp(-sigma * delta) over n samples: 1 - exp(-sigma * n * delta)
    sigma, delta, n = 0.7, 0.05, 40
    d = 1.0 - math.exp(-sigma * delta)
    dens = torch.full((3, n, 1), d, dtype=torch.float64)
    colour = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    feats = colour.expand(3, n, 3)
    out = EmissionAbsorptionRaymarcher()(dens, feats, eps=0.0)
    alpha = 1.0 - math.exp(-sigma * n * delta)
    torch.testing.assert_close(out[:, -1], torch.full((3,), alpha, dtype=torch.float64))
    torch.testing.assert_close(out[:, :3], (colour * alpha).expand(3, 3))
    ao = AbsorptionOnlyRaymarcher()(dens)
    torch.testing.assert_close(ao[:, 0], torch.full((3,), alpha, dtype=torch.float64))


def test_surface_thickness_shifts_transmittance():
    dens = torch.tensor([[[0.5], [0.5], [0.5]]], dtype=torch.float64)
    feats = torch.tensor([[[1.0], [10.0], [100.0]]], dtype=torch.float64)
    out = EmissionAbsorptionRaymarcher(surface_thickness=2)(dens, feats, eps=0.0)
    # transmittance shifted by two samples: [1, 1, 0.5]
    assert out[0, 0].item() == pytest.approx(0.5 * 1 + 0.5 * 10 + 0.25 * 100)


def test_emission_absorption_gradcheck():
    torch.manual_seed(1)
    dens = (torch.rand(3, 6, 1, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    feats = torch.rand(3, 6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, f: EmissionAbsorptionRaymarcher()(d, f), (dens, feats))
    assert torch.autograd.gradcheck(lambda d: AbsorptionOnlyRaymarcher()(d), (dens,))


def test_bad_shapes_raise_and_out_of_range_warns():
    ea = EmissionAbsorptionRaymarcher()
    with pytest.raises(ValueError, match="rays_densities"):
        ea(torch.rand(4, 5), torch.rand(4, 5, 3))
    with pytest.raises(ValueError, match="rays_features"):
        ea(torch.rand(4, 5, 1), torch.rand(4, 6, 3))
    with pytest.raises(ValueError, match="surface_thickness"):
        EmissionAbsorptionRaymarcher(surface_thickness=0)
    with pytest.warns(UserWarning, match="outside"):
        AbsorptionOnlyRaymarcher()(torch.full((2, 3, 1), 1.5))
