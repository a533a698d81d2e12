"""SynSin's Perc Sim against a re-statement of its evaluation code (its modules and order of operations), bit
for bit, with a VGG-16 checkpoint this test writes (random weights: what the real ImageNet weights would give
cannot be checked here); missing / wrong weights named clearly."""

import pytest
import torch

from bench.errors import NotAvailable
from bench.metrics import perc_sim
from bench.metrics.percsim import VGGFeatures


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    """A torchvision-layout VGG-16 checkpoint (random weights, a classifier key as torchvision's has)."""
    torch.manual_seed(0)
    state = VGGFeatures("vgg16", (30,)).state_dict()
    state = {k: v * 3.0 for k, v in state.items()}  # keep activations alive through 13 random layers
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path_factory.mktemp("w") / "vgg16-397923af.pth"
    torch.save(state, path)
    return path, state


def synsin_pnet(state):
    """SynSin's evaluation path re-stated from its code (evaluation/metrics.py perceptual_sim,
    models/networks/pretrained_networks.py PNet / vgg16 / normalize_tensor / cos_sim), modules and order of
    operations included, around a VGG-16 ``features`` holding ``state``: returns f(img0, img1) for [0, 1] images
    of one pair, shape (1, 3, H, W), as evaluate_perceptualsim.py calls it."""
    feats = VGGFeatures("vgg16", (30,))
    feats.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")})
    f = feats.features
    slices = [torch.nn.Sequential(*[f[i] for i in range(a, b)]) for a, b in ((0, 4), (4, 9), (9, 16), (16, 23),
                                                                               (23, 30))]
    shift = torch.Tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.Tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def normalize_tensor(x, eps=1e-10):
        n = torch.sqrt(torch.sum(x ** 2, dim=1)).view(x.size()[0], 1, x.size()[2], x.size()[3])
        return x / (n.expand_as(x) + eps)

    def cos_sim(a, b):
        an, bn = normalize_tensor(a), normalize_tensor(b)
        n, h, w = a.size()[0], a.size()[2], a.size()[3]
        per_row = torch.mean(torch.sum(an * bn, dim=1).view(n, 1, h, w), dim=2).view(n, 1, 1, w)
        return torch.mean(per_row, dim=3).view(n)

    def pnet(in0, in1):
        h0 = (in0 - shift.expand_as(in0)) / scale.expand_as(in0)
        h1 = (in1 - shift.expand_as(in0)) / scale.expand_as(in0)
        outs0, outs1 = [], []
        for s in slices:
            h0, h1 = s(h0), s(h1)
            outs0.append(h0)
            outs1.append(h1)
        val = None
        for k in range(len(slices)):  # as PNet.forward accumulates
            cur = 1.0 - cos_sim(outs0[k], outs1[k])
            val = 1.0 * cur if k == 0 else val + cur
        return val

    def perceptual_sim(img0, img1):
        with torch.no_grad():
            return pnet(img0 * 2 - 1, img1 * 2 - 1)

    return perceptual_sim


def test_percsim_is_synsins_bit_for_bit_and_zero_for_identical(vgg16_file):
    """One image per forward (SynSin's evaluation): the float32 values are SynSin's code's exactly; batched, equal
    to 1e-6; NHWC in [0, 255] is the same images."""
    path, state = vgg16_file
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)
    res = perc_sim(x, y, data_range=1.0, weights_path=path)
    reference = synsin_pnet(state)
    ref = [reference(x[i:i + 1], y[i:i + 1]).item() for i in range(3)]
    assert res.items == ref
    assert res.value > 0.01 and res.name == "PercSim" and res.fingerprint["params"]["net"] == "vgg16"
    assert perc_sim(x, y, data_range=1.0, weights_path=path, batch_size=8).items == pytest.approx(ref, abs=1e-6)
    assert perc_sim(x, x, data_range=1.0, weights_path=path).items == pytest.approx([0.0] * 3, abs=1e-5)
    res255 = perc_sim(x.permute(0, 2, 3, 1) * 255, y.permute(0, 2, 3, 1) * 255, data_range=255.0,
                      weights_path=path, layout="NHWC")
    assert res255.items == pytest.approx(res.items, rel=1e-4, abs=1e-5)


def test_percsim_missing_and_wrong_weights(vgg16_file, tmp_path, monkeypatch):
    path, state = vgg16_file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(NotAvailable, match="vgg16-397923af.pth"):
        perc_sim(x, x, data_range=1.0)
    with pytest.raises(NotAvailable, match="nowhere.pth does not exist"):
        perc_sim(x, x, data_range=1.0, weights_path=tmp_path / "nowhere.pth")
    with pytest.raises(ValueError, match="not a torchvision vgg19 checkpoint"):
        perc_sim(x, x, data_range=1.0, weights_path=path, net="vgg19")
    wrong = dict(state)
    wrong["features.2.weight"] = torch.zeros(64, 32, 3, 3)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"wrong.pth is not a torchvision vgg16 checkpoint \(features.2.weight"):
        perc_sim(x, x, data_range=1.0, weights_path=tmp_path / "wrong.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth is not a readable torch checkpoint"):
        perc_sim(x, x, data_range=1.0, weights_path=tmp_path / "junk.pth")
