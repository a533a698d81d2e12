"""NeRF training: the PSNR curve's bookkeeping, chunked rendering is chunk-size invariant."""

import pytest
import torch

from bench.backends import load
from bench.context import Phase
from bench.methods.views import builtin_views
from suites.nerf.model import FieldConfig, NeuralRadianceField
from suites.nerf.train import TrainConfig, render_full, train_nerf

T3D = load("torch")


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    return builtin_views(tmp_path_factory.mktemp("data"), 0, mesh="teapot", num_views=10, image_size=16,
                         test_every=5)


def test_training_keeps_a_time_axis_for_the_psnr_curve(views):
    torch.manual_seed(0)
    train, test = views
    nerf = NeuralRadianceField(T3D, FieldConfig(n_harmonic_functions=6, n_hidden=32))
    cfg = TrainConfig(iterations=8, batch_size=2, n_rays_per_image=32, n_pts_per_ray=8, lr=3e-3, eval_every=3)
    calls = []
    loop = Phase.standalone()
    res = train_nerf(T3D, nerf, train, cfg, "cpu", evaluate=lambda: calls.append(1) or float(len(calls)), loop=loop)
    assert res.curve_iters == [0, 3, 6, 8] and res.curve_psnr == [1.0, 2.0, 3.0, 4.0]
    assert res.curve_seconds[0] == 0.0 and res.curve_seconds == sorted(res.curve_seconds)
    assert res.curve_seconds[-1] == pytest.approx(sum(loop.samples))
    assert len(res.losses) == len(loop.samples) == 8  # (learning itself: tests/suites/test_nerf.py)


def test_full_render_does_not_depend_on_the_chunk_size(views):
    torch.manual_seed(1)
    _, test = views
    nerf = NeuralRadianceField(T3D, FieldConfig(n_harmonic_functions=4, n_hidden=16))
    a = render_full(T3D, nerf, test, TrainConfig(n_pts_per_ray=12, chunk=7), "cpu")
    b = render_full(T3D, nerf, test, TrainConfig(n_pts_per_ray=12, chunk=10**6), "cpu")
    assert a[0].shape == (2, 16, 16, 3) and a[1].shape == (2, 16, 16)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bad", [{"n_rays_per_image": 0}, {"chunk": 0}, {"lr_drop_at": 0.0}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)
