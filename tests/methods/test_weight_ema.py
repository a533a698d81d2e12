"""The weights' exponential moving average evaluated by meshrcnn / single_view (bench.methods.single_view.WeightEMA)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench import backends
from bench.methods.single_view import ImageEncoder, WeightEMA


def _set(model: nn.Linear, value: float) -> None:
    with torch.no_grad():
        model.weight.fill_(value)
        model.bias.fill_(-value)


def test_average_follows_the_exponential_recursion_on_hand_set_weights():
    # W_ema = W_1 after the first update, then W_ema <- d W_ema + (1 - d) W_t: for d = 0.5 and the weights
    # 4, 0, 8, 2 that is 4, 2, 5, 3.5 (by hand).
    lin = nn.Linear(2, 1)
    ema = WeightEMA(lin, 0.5)
    for w, expected in zip((4.0, 0.0, 8.0, 2.0), (4.0, 2.0, 5.0, 3.5), strict=True):
        _set(lin, w)
        ema.update()
        avg = ema.avg.module
        assert torch.allclose(avg.weight, torch.full((1, 2), expected))
        assert torch.allclose(avg.bias, torch.full((1,), -expected))
    assert float(lin.weight.detach()[0, 0]) == 2.0  # the trained model itself is untouched


def test_closed_form_over_many_steps():
    # a constant weight c after a start a: W_ema after n updates = c + (a - c) d^(n-1)
    lin, d = nn.Linear(1, 1), 0.9
    ema = WeightEMA(lin, d)
    _set(lin, 1.0)
    ema.update()
    _set(lin, 3.0)
    for _ in range(20):
        ema.update()
    assert float(ema.avg.module.weight.detach()) == pytest.approx(3.0 + (1.0 - 3.0) * d ** 20, rel=1e-5)


def test_off_returns_the_model_and_a_wrong_decay_is_an_error():
    lin = nn.Linear(1, 1)
    ema = WeightEMA(lin, 0.0)
    ema.update()
    assert ema.final(torch.zeros(1, 3, 8, 8), 1, "cpu") is lin
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="ema"):
            WeightEMA(lin, bad)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = ImageEncoder(width=8, latent=4)
        self.backend = backends.load("torch")  # a namespace of modules: shared by the copy, not copied

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[1]


def test_final_recomputes_batchnorm_statistics_for_the_averaged_weights():
    torch.manual_seed(0)
    net = _Net()
    start = net.encoder.blocks[0][0].weight.detach().clone()
    ema = WeightEMA(net, 0.5)
    ema.update()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3)
    ema.update()
    images = torch.rand(6, 3, 16, 16)
    model = ema.final(images, 3, "cpu")
    assert model.backend is net.backend and model is not net
    assert torch.allclose(model.encoder.blocks[0][0].weight, start + 0.15, atol=1e-6)  # (w + (w + 0.3)) / 2
    # the first BatchNorm's statistics: the mean / unbiased variance of the averaged first conv's output over
    # all images (two equal batches, update_bn's cumulative average), computed here directly
    conv, bn = model.encoder.blocks[0][0], model.encoder.blocks[0][1]
    with torch.no_grad():
        y = conv(images * 2.0 - 1.0)
    batches = [y[:3], y[3:]]
    mean = torch.stack([b.mean((0, 2, 3)) for b in batches]).mean(0)
    var = torch.stack([b.transpose(0, 1).reshape(len(mean), -1).var(1) for b in batches]).mean(0)
    assert torch.allclose(bn.running_mean, mean, atol=1e-5)
    assert torch.allclose(bn.running_var, var, atol=1e-5)
    # the live model's statistics are its own (not recomputed)
    assert not torch.allclose(net.encoder.blocks[0][1].running_mean, mean, atol=1e-3)


def test_integer_buffers_are_copied_not_averaged():
    # a mesh's faces (int64 buffer) must stay exact: buffers follow the model (use_buffers=False)
    m = nn.Linear(1, 1)
    m.register_buffer("faces", torch.tensor([[0, 1, 2], [5, 7, 9]]))
    ema = WeightEMA(m, 0.99)
    for _ in range(3):
        ema.update()
    assert torch.equal(ema.avg.module.faces, m.faces)
