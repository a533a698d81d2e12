"""The training-occupancy prior of the voxel heads and the learning-rate schedule (bench.methods.single_view)."""

from __future__ import annotations

import math

import pytest
import torch

from bench.methods.single_view import VoxelPrior, lr_factor, mean_occupancy_points, occupancy_logit


def test_scalar_prior_is_the_log_odds_of_the_training_occupancy():
    vox = torch.zeros(4, 4, 4, 4)
    vox[:, :2, :2, :2] = 1.0  # 8 of 64 cells in every grid: occupancy 1/8
    expected = math.log((1 / 8) / (7 / 8))  # Lin et al.'s b = -log((1 - pi) / pi) with pi = 1/8
    assert float(occupancy_logit(vox.mean())) == pytest.approx(expected, abs=1e-6)
    out = VoxelPrior("scalar", vox)(torch.zeros(3, 4, 4, 4))
    assert torch.allclose(out, torch.full((3, 4, 4, 4), expected), atol=1e-6)


def test_grid_prior_starts_at_the_mean_training_grid():
    vox = torch.zeros(4, 2, 2, 2)
    vox[0, 0, 0, 0] = vox[1, 0, 0, 0] = vox[2, 0, 0, 0] = 1.0  # cell (0,0,0): 3 of 4 -> 0.75
    vox[0, 1, 1, 1] = 1.0  # cell (1,1,1): 1 of 4 -> 0.25; others 0 -> clamped to 1e-3
    prior = VoxelPrior("grid", vox)
    p = torch.sigmoid(prior(torch.zeros(1, 2, 2, 2))).detach()[0]
    assert float(p[0, 0, 0]) == pytest.approx(0.75, abs=1e-5)
    assert float(p[1, 1, 1]) == pytest.approx(0.25, abs=1e-5)
    assert float(p[0, 1, 0]) == pytest.approx(1e-3, abs=1e-6)
    assert isinstance(prior.bias, torch.nn.Parameter) and prior.bias.shape == (2, 2, 2)


def test_prior_offset_moves_the_start_to_the_weighted_loss_optimum():
    # BCE with pos_weight w is minimised by a constant logit log(w q / (1 - q)) for occupancy q: with the
    # empty/occupied ratio as w, that is 0 (probability 0.5).
    vox = torch.zeros(2, 4, 4, 4)
    vox[:, 0] = 1.0  # q = 1/4, ratio w = 3
    q, w = 0.25, 3.0
    b = VoxelPrior("scalar", vox, offset=math.log(w)).bias.detach()
    assert float(b) == pytest.approx(math.log(w * q / (1 - q)), abs=1e-6) and abs(float(b)) < 1e-6
    logits = torch.full((1,), float(b), requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.expand(64), vox[0].flatten(), pos_weight=torch.tensor(w))
    loss.backward()
    assert abs(float(logits.grad)) < 1e-6  # the start is the optimum of the weighted loss


def test_none_adds_nothing_and_a_wrong_kind_is_an_error():
    x = torch.randn(2, 4, 4, 4)
    assert torch.equal(VoxelPrior("none", torch.ones(1, 4, 4, 4))(x), x)
    with pytest.raises(ValueError, match="voxel_prior 'mean'"):
        VoxelPrior("mean", None)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    f = lr_factor("cosine", 200)  # warm-up: 5% = 10 iterations from 0.1
    assert f(0) == pytest.approx(0.1)
    assert f(5) == pytest.approx(0.1 + 0.9 * 5 / 10)
    assert f(10) == pytest.approx(1.0)
    assert f(10 + 95) == pytest.approx(0.5)  # half-way through the decay: cos(pi/2)
    assert f(200) == pytest.approx(0.0, abs=1e-12)
    assert [lr_factor("constant", 200)(i) for i in (0, 100, 199)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="schedule 'step'"):
        lr_factor("step", 10)


def test_mean_occupancy_points_follow_the_mean_grid():
    vox = torch.zeros(4, 4, 4, 4)  # (D, H, W) = (z, y, x), cells of width 0.5 over [-1, 1]
    vox[:3, 0, 1, 3] = 1.0  # z-cell 0, y-cell 1, x-cell 3: mean 0.75
    vox[3, 2, 0, 0] = 1.0  # z-cell 2, y-cell 0, x-cell 0: mean 0.25
    pts = mean_occupancy_points(vox, 4000, seed=1)
    in_a = (pts[:, 0] >= 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] < 0.0) & (pts[:, 2] < -0.5)
    in_b = (pts[:, 0] < -0.5) & (pts[:, 1] < -0.5) & (pts[:, 2] >= 0.0) & (pts[:, 2] < 0.5)
    assert int((in_a | in_b).sum()) == 4000  # nowhere else
    assert float(in_a.float().mean()) == pytest.approx(0.75, abs=0.03)  # 3 : 1, binomial sd 0.007
    assert torch.equal(pts, mean_occupancy_points(vox, 4000, seed=1))


def test_point_decoder_with_a_base_starts_there():
    from suites.single_view.model import PointDecoder

    base = torch.rand(10, 3) * 1.6 - 0.8
    out = PointDecoder(8, 10, hidden=16, base=base)(torch.randn(3, 8))
    assert out.shape == (3, 10, 3)
    assert torch.allclose(out.detach(), base.expand(3, -1, -1), atol=1e-5)


def test_voxel_decoder_groupnorm_normalises_each_group_and_zero_groups_is_the_plain_decoder():
    from suites.single_view.model import VoxelDecoder

    plain = VoxelDecoder(8, 16, width=16)
    assert [type(m).__name__ for m in plain.net] == ["ConvTranspose3d", "ReLU", "ConvTranspose3d", "ReLU", "Conv3d"]
    torch.manual_seed(0)
    dec = VoxelDecoder(8, 16, width=16, groups=4)
    assert dec(torch.randn(2, 8)).shape == (2, 16, 16, 16)
    x = torch.nn.functional.relu(dec.fc(torch.randn(3, 8))).view(-1, 16, 4, 4, 4)
    z = dec.net[0](x).detach()
    y = dec.net[1](z).detach()  # after the first GroupNorm (affine at its identity start)
    g = y.reshape(3, 4, -1)  # 4 groups of 4 channels: each standardised over its channels and voxels
    v = z.reshape(3, 4, -1).var(-1, unbiased=False)
    assert torch.allclose(g.mean(-1), torch.zeros(3, 4), atol=1e-5)
    assert torch.allclose(g.var(-1, unbiased=False), v / (v + 1e-5), rtol=1e-3)  # (z - mean) / sqrt(v + eps)
