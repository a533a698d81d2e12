"""Held-out scoring against scikit-image / numpy, per-view item ids, LPIPS absence, and the strip layout."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from bench.methods.heldout import record, score, strip
from bench.methods.views import Views


class FakeCtx:
    def __init__(self):
        self.metrics, self.logs, self.unavailable_reasons = {}, [], {}

    def metric(self, name, value, *, items=None, item_ids=None, fingerprint=None, **kw):
        self.metrics[name] = (value, items, item_ids)

    def log(self, msg):
        self.logs.append(msg)

    def unavailable(self, name, reason):
        self.unavailable_reasons[name] = reason


def test_scores_per_view_and_records_them_with_ids():
    rng = np.random.default_rng(0)
    truth = rng.random((3, 16, 16, 3)).astype(np.float32)
    pred = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1).astype(np.float32)
    masks = (rng.random((3, 16, 16)) > 0.5).astype(np.float32)
    alpha = rng.random((3, 16, 16)).astype(np.float32)
    views = Views(images=torch.from_numpy(truth), masks=torch.from_numpy(masks), R=torch.eye(3).expand(3, 3, 3),
                  T=torch.zeros(3, 3), ids=["a", "b", "c"], fov=60.0)
    res = score(torch.from_numpy(pred), torch.from_numpy(alpha), views)
    expected = [peak_signal_noise_ratio(truth[i].astype(np.float64), pred[i].astype(np.float64), data_range=1.0)
                for i in range(3)]
    np.testing.assert_allclose(res["psnr"].items, expected, rtol=1e-6)
    p, t = alpha > 0.5, masks > 0.5
    np.testing.assert_allclose(res["silhouette_iou"].items, [(p[i] & t[i]).sum() / (p[i] | t[i]).sum()
                                                            for i in range(3)], rtol=1e-12)
    ctx = FakeCtx()
    record(ctx, res, views.ids)
    assert ctx.metrics["psnr"][2] == ["a", "b", "c"]
    assert ctx.metrics["psnr"][0].value == pytest.approx(np.mean(expected))
    assert set(ctx.metrics) >= {"psnr", "ssim", "silhouette_iou"}
    if "lpips" not in res:  # LPIPS unavailable here: no value under its name, the reason recorded (ctx.unavailable)
        assert "lpips" not in ctx.metrics and ctx.unavailable_reasons == {"lpips": res["lpips_unavailable"]}
        assert "lpips" in res["lpips_unavailable"].lower()
    with pytest.raises(ValueError, match="differ in shape"):
        score(torch.from_numpy(pred[:, :8]), torch.from_numpy(alpha), views)


def test_strip_puts_truth_left_and_render_right():
    truth, render = torch.zeros(2, 4, 5, 3), torch.ones(2, 4, 5, 3)
    img = strip(truth, render, gap=1)
    assert img.shape == (2 * 4 + 1, 2 * 5 + 1, 3)
    assert (img[:4, :5] == 0).all() and (img[:4, 6:] == 1).all() and (img[4] == 0.5).all() and (img[:, 5] == 0.5).all()
