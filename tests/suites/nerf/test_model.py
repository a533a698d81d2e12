"""The book's radiance field: embedding frequencies, density head at initialisation, view dependence."""

import numpy as np
import torch

from bench.backends import load
from suites.nerf import bytes_per_sample
from suites.nerf.model import FieldConfig, NeuralRadianceField

T3D = load("torch")


def bundle(points_dirs, n_pts=5):
    origins, directions = points_dirs
    lengths = torch.linspace(0.5, 1.5, n_pts).expand(*origins.shape[:-1], n_pts)
    return T3D.renderer.RayBundle(origins=origins, directions=directions, lengths=lengths,
                                  xys=torch.zeros(*origins.shape[:-1], 2))


def test_embedding_is_sines_then_cosines_at_omega0_octaves():
    nerf = NeuralRadianceField(T3D, FieldConfig(n_harmonic_functions=4, n_hidden=8))
    x = torch.randn(3, 3, dtype=torch.float64)
    freqs = 0.1 * 2.0 ** np.arange(4)
    arg = (x.numpy()[:, :, None] * freqs).reshape(3, -1)  # coordinate-major, frequency-minor
    np.testing.assert_allclose(nerf.embedding(x).numpy(), np.concatenate([np.sin(arg), np.cos(arg)], 1),
                               atol=1e-6)  # float32 frequencies


def test_density_depends_on_the_point_colour_also_on_the_view():
    torch.manual_seed(0)
    nerf = NeuralRadianceField(T3D, FieldConfig(n_harmonic_functions=6, n_hidden=32))
    points = torch.randn(2, 7, 3)
    dens1, col1 = nerf(bundle((points, torch.randn(2, 7, 3)), n_pts=5))
    assert dens1.shape == (2, 7, 5, 1) and col1.shape == (2, 7, 5, 3)
    assert ((dens1 >= 0) & (dens1 < 1)).all() and ((col1 > 0) & (col1 < 1)).all()
    # zero lengths: the sample points are the origins whatever the direction
    zero = torch.zeros(2, 7, 1)
    look = [T3D.renderer.RayBundle(origins=points, directions=d, lengths=zero, xys=zero.expand(2, 7, 2))
            for d in (torch.randn(2, 7, 3), torch.randn(2, 7, 3))]
    (da, ca), (db, cb) = nerf(look[0]), nerf(look[1])
    torch.testing.assert_close(da, db)
    assert (ca - cb).abs().max() > 1e-3


def test_density_head_starts_near_empty():
    torch.manual_seed(0)
    nerf = NeuralRadianceField(T3D, FieldConfig(n_harmonic_functions=6, n_hidden=32))
    points = torch.randn(2, 7, 3)
    with torch.no_grad():
        nerf.density_head[0].weight.zero_()
    dens, _ = nerf(bundle((points, torch.randn(2, 7, 3))))
    # 1 - exp(-softplus_beta10(-1.5)) = 1 - exp(-log1p(e^-15) / 10) ~ 3e-8: space starts empty
    assert dens.abs().max() < 1e-6
    with torch.no_grad():
        nerf.density_head[0].bias.fill_(0.2)
    dens, _ = nerf(bundle((points, torch.randn(2, 7, 3))))
    np.testing.assert_allclose(dens.detach().numpy(), 1.0 - np.exp(-np.log1p(np.exp(2.0)) / 10.0), rtol=1e-5)


def test_memory_estimate_brackets_the_books_figure():
    # the book reports ~8 GB at its settings (6 views x 750 rays x 128 points, 60 harmonics, 256 units)
    need = 6 * 750 * 128 * bytes_per_sample(FieldConfig())
    assert 6e9 < need < 16e9
