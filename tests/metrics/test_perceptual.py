"""LPIPS: the unavailable path names what is missing; where lpips and weights exist, real values."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from _tester import MetricTester, assert_bad_input

from bench.errors import NotAvailable
from bench.metrics.perceptual import BACKBONES, LPIPS, hub_checkpoint, lpips


def _available(net="alex"):
    try:
        import lpips as _  # noqa: F401
    except Exception:
        return False
    return hub_checkpoint(net).is_file()


def _pair(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(size=(n, 3, size, size)).astype(np.float32)
    return np.clip(t + rng.normal(size=t.shape).astype(np.float32) * 0.1, 0, 1), t


@pytest.mark.skipif(_available(), reason="lpips and its backbone weights are installed here")
def test_unavailable_says_what_is_missing_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    p, t = _pair()
    with pytest.raises(NotAvailable) as info:
        lpips(p, t, data_range=1.0)
    msg = str(info.value)
    assert "LPIPS(alex) unavailable" in msg and "pip install lpips" in msg
    assert BACKBONES["alex"] in msg and str(tmp_path / "hub" / "checkpoints") in msg
    with pytest.raises(NotAvailable, match=BACKBONES["vgg"]):
        lpips(p, t, data_range=1.0, net="vgg")


def test_lpips_bad_inputs_before_loading():
    p, t = _pair()
    assert_bad_input(lpips, p, t[:, :2], data_range=1.0, match="target: shape")
    assert_bad_input(lpips, p * 3, t, data_range=1.0, match="preds: values span")
    assert_bad_input(lpips, p[:, :1], t[:, :1], data_range=1.0, match="preds: LPIPS needs RGB")
    if importlib.util.find_spec("lpips") is not None:
        assert_bad_input(lpips, p, t, data_range=1.0, net="squeeze", match="net: expected one of")


@pytest.mark.skipif(not _available(), reason="needs `pip install lpips torchvision` and the AlexNet weights in "
                    "$TORCH_HOME/hub/checkpoints (cannot be downloaded here)")
def test_lpips_matches_the_package():
    import lpips as lpips_pkg

    p, t = _pair()
    ref_model = lpips_pkg.LPIPS(net="alex", verbose=False).eval()

    def ref(preds, target, **_):
        with torch.no_grad():
            return ref_model(torch.tensor(preds) * 2 - 1, torch.tensor(target) * 2 - 1).flatten().double().numpy()

    MetricTester(lpips, ref, (p, t), {"data_range": 1.0}, accumulator=LPIPS, rtol=1e-5, atol=1e-6).run()
    assert lpips(t, t, data_range=1.0).value == pytest.approx(0.0, abs=1e-6)
    assert lpips(p * 255, t * 255, data_range=255.0).value == pytest.approx(lpips(p, t, data_range=1.0).value, rel=1e-4)


def _alexnet_features():
    """torchvision's AlexNet ``features`` layout, built in plain torch (indices matter)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2),
                         nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(3, 2))


def test_backbone_copy_maps_torchvision_indices_into_lpips_slices(tmp_path):
    """lpips slices torchvision's ``features`` keeping the layer indices; every tensor must land in place."""
    from bench.metrics.perceptual import _copy_backbone

    src = _alexnet_features()
    state = {f"features.{k}": v for k, v in src.state_dict().items()}
    feats = _alexnet_features()  # a freshly initialised copy, sliced as lpips does (0-1, 2-4, 5-7, 8-9, 10-11)
    net = torch.nn.Module()
    for i, (a, b) in enumerate(((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)), 1):
        sl = torch.nn.Sequential()
        for x in range(a, b):
            sl.add_module(str(x), feats[x])
        net.add_module(f"slice{i}", sl)
    model = torch.nn.Module()
    model.net = net
    _copy_backbone(model, state, tmp_path / "alexnet.pth")
    for k, v in src.state_dict().items():
        assert torch.equal(feats.state_dict()[k], v), k
    del state["features.10.bias"]
    with pytest.raises(ValueError, match="no features.10.bias"):
        _copy_backbone(model, state, tmp_path / "alexnet.pth")
    state = {f"features.{k}": v for k, v in src.state_dict().items()} | {"features.13.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="does not match the lpips backbone"):
        _copy_backbone(model, state, tmp_path / "alexnet.pth")


def test_package_attribute_is_the_function():
    """`from bench.metrics import lpips` gives the metric function, not a submodule of the same name."""
    from bench import metrics

    assert callable(metrics.lpips) and metrics.lpips.__module__ == "bench.metrics.perceptual"
