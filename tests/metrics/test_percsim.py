"""SynSin's Perc Sim against an independent re-statement of its evaluation code (functional convs over the
checkpoint's tensors), with a VGG-16 checkpoint this test writes; missing / wrong weights named clearly."""

import pytest
import torch
import torch.nn.functional as F

from bench.errors import NotAvailable
from bench.metrics import perc_sim
from bench.metrics.percsim import LAYOUTS, SCALE, SHIFT, VGGFeatures


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


def reference_percsim(x, y, state):
    """SynSin evaluation: PNet('vgg') slices relu1_2..relu5_3, (2x-1 - shift)/scale, 1 - cos per layer, summed."""
    def feats(img):
        h = ((img * 2 - 1) - torch.tensor(SHIFT).view(1, 3, 1, 1)) / torch.tensor(SCALE).view(1, 3, 1, 1)
        outs, conv = [], 0
        idx = 0
        for v in LAYOUTS["vgg16"]:
            if v == "M":
                outs.append(h)  # each pool follows a tapped relu (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)
                h = F.max_pool2d(h, 2)
                idx += 1
            else:
                h = F.relu(F.conv2d(h, state[f"features.{idx}.weight"], state[f"features.{idx}.bias"], padding=1))
                idx += 2
                conv += 1
        return outs

    total = torch.zeros(x.shape[0], dtype=torch.float64)
    for a, b in zip(feats(x), feats(y), strict=True):
        cos = (a * b).sum(1) / ((a.norm(dim=1) + 1e-10) * (b.norm(dim=1) + 1e-10))
        total += (1 - cos.flatten(1).mean(1)).double()
    return total


def test_percsim_matches_reference_and_is_zero_for_identical(vgg16_file):
    path, state = vgg16_file
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)
    res = perc_sim(x, y, data_range=1.0, weights_path=path)
    ref = reference_percsim(x, y, state)
    assert res.items == pytest.approx(ref.tolist(), rel=1e-4, abs=1e-5)
    assert res.value > 0.01 and res.name == "PercSim" and res.fingerprint["params"]["net"] == "vgg16"
    assert perc_sim(x, x, data_range=1.0, weights_path=path).items == pytest.approx([0.0] * 3, abs=1e-5)
    # NHWC in [0, 255] is the same images
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
