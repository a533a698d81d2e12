"""Fingerprints: JSON form, differences spelled out, incomparable results refused, ctx recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.context import Context
from bench.errors import UsageError
from bench.metrics import IncomparableError, check_comparable, fingerprint_diff, fingerprint_id, make_fingerprint
from bench.metrics.image import psnr, ssim
from bench.suite import MetricSpec, Profile, Suite


def _imgs(scale=1.0):
    rng = np.random.default_rng(0)
    t = rng.uniform(size=(2, 3, 16, 16)) * scale
    return np.clip(t + rng.normal(size=t.shape) * 0.05 * scale, 0, scale), t


def test_make_fingerprint_is_canonical_json():
    fp = make_fingerprint("m", "impl", libraries={"x": "1.0"}, window=(11, 11), sigma=np.float64(1.5), cap=float("inf"))
    assert json.loads(json.dumps(fp)) == fp
    assert fp["params"] == {"window": [11, 11], "sigma": 1.5, "cap": "inf"}
    with pytest.raises(TypeError, match="not JSON-able"):
        make_fingerprint("m", "impl", bad=object())


def test_diff_names_each_differing_key():
    a = psnr(*_imgs(), data_range=1.0)
    b = psnr(*_imgs(255.0), data_range=255.0)
    assert fingerprint_diff(a.fingerprint, b.fingerprint) == ["params.data_range: [0.0, 1.0] != [0.0, 255.0]"]
    with pytest.raises(IncomparableError, match=r"psnr results follow different conventions: params.data_range") as e:
        check_comparable(a, b)
    assert isinstance(e.value, UsageError) and "\n" not in str(e.value)
    check_comparable(a, psnr(*_imgs(), data_range=1.0))  # same convention: fine
    with pytest.raises(IncomparableError, match="metric: 'psnr' != 'ssim'"):
        check_comparable(a, ssim(*_imgs(), data_range=1.0))


def test_library_versions_only_matter_when_strict():
    a = ssim(*_imgs(), data_range=1.0).fingerprint
    b = json.loads(json.dumps(a))
    b["libraries"]["torchmetrics"] = "0.0.1"
    check_comparable(a, b)
    assert fingerprint_id(a) == fingerprint_id(b) != fingerprint_id(b, strict=True)
    with pytest.raises(IncomparableError, match="libraries.torchmetrics"):
        check_comparable(a, b, strict=True)
    b["params"].pop("sigma")
    assert "params.sigma: 1.5 != '<missing>'" in fingerprint_diff(a, b)


class _Suite(Suite):
    name = "demo"
    profiles = {"smoke": Profile()}
    metrics = (MetricSpec.of("psnr"),)

    def run(self, case, ctx):  # pragma: no cover - not run
        raise NotImplementedError


def test_record_through_ctx(tmp_path):
    suite = _Suite()
    (case,) = suite.cases("smoke")
    ctx = Context(suite, case, device="cpu", seed=0, profile="smoke", artifact_root=tmp_path)
    res = psnr(*_imgs(), data_range=1.0)
    rec = ctx.metric("psnr", res, item_ids=["a", "b"])
    assert rec.value == res.value and rec.items == res.items and rec.fingerprint == res.fingerprint
    assert rec.unit == "dB" and rec.item_ids == ["a", "b"]
