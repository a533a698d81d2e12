"""`bench3d compare` of two generative cases that kept per-image features: the FID row carries the bootstrap."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from bench.compare.diff import compare_cases
from bench.compare.render import to_markdown
from bench.metrics.fid_bootstrap import FEATURES_ARTIFACT, save_features
from bench.results import ArtifactRecord, RunSettings

FP = {"metric": "fid", "implementation": "bench.metrics.frechet", "params": {"num_images": 40}}


def _side(rec, tmp_path, run_id: str, shift: float, seed: int, fp=FP, keep: bool = True):
    """A run whose case "g" has FID/KID values and (``keep``) the kept-features artifact."""
    folder = tmp_path / run_id
    folder.mkdir()
    rng = np.random.default_rng(seed)
    feats = torch.from_numpy(rng.normal(size=(40, 64)) + shift)
    ref = torch.from_numpy(np.random.default_rng(0).normal(size=(50, 64)))
    arts = []
    if keep:
        path = save_features(folder / "features.npz", {"fid": (feats, fp)}, ref)
        data = path.read_bytes()
        arts = [ArtifactRecord(FEATURES_ARTIFACT, "data", "features.npz", hashlib.sha256(data).hexdigest(), len(data))]
    run = rec.run(run_id, suites=("giraffe",))
    run.settings = RunSettings(run_dir=str(folder))
    case = rec.case("g", suite="giraffe", metrics=[rec.metric("fid", value=10.0 + 10 * shift, hib=False, fp=fp),
                                                   rec.metric("kid", value=0.1, hib=False, fp={"metric": "kid"})])
    case.artifacts = arts
    return run, case


def _row(cmp, name):
    return next(r for r in cmp.rows if r.name == name)


def test_fid_row_shows_the_bootstrap_interval(rec, tmp_path):
    (rb, cb), (rn, cn) = _side(rec, tmp_path, "b", 0.0, 1), _side(rec, tmp_path, "n", 1.0, 2)
    cmp = compare_cases(rb, [cb], rn, [cn])
    fid = _row(cmp, "fid")
    assert "bootstrap over images (40 vs 40 images, 500 rounds): NEW - BASE +" in fid.reason
    low = float(fid.reason.split("interval [")[1].split(",")[0])
    assert low > 0  # NEW's features are shifted away from the reference: FID clearly up
    assert "bootstrap" not in _row(cmp, "kid").reason  # no kept features for KID
    assert "bootstrap over images" in to_markdown(cmp)


def test_no_features_in_one_run_adds_nothing_and_a_changed_file_is_named(rec, tmp_path):
    (rb, cb), (rn, cn) = _side(rec, tmp_path, "b", 0.0, 1, keep=False), _side(rec, tmp_path, "n", 0.0, 2)
    assert "bootstrap" not in _row(compare_cases(rb, [cb], rn, [cn]), "fid").reason
    (rb, cb) = _side(rec, tmp_path, "b2", 0.0, 1)
    (tmp_path / "b2" / "features.npz").write_bytes(b"edited")
    reason = _row(compare_cases(rb, [cb], rn, [cn]), "fid").reason
    assert "bootstrap unavailable: run b2: features.npz changed since the run" in reason


def test_image_counts_at_or_above_the_feature_dimension_are_declined_with_the_reason(rec, tmp_path, monkeypatch):
    (rb, cb), (rn, cn) = _side(rec, tmp_path, "b", 0.0, 1), _side(rec, tmp_path, "n", 0.0, 2)
    import bench.metrics.fid_bootstrap as fb

    real = fb.load_features
    monkeypatch.setattr(fb, "load_features", lambda p, m: fb.KeptFeatures(real(p, m).features[:, :4],
                                                                         real(p, m).fingerprint,
                                                                         real(p, m).reference[:, :4]))
    reason = _row(compare_cases(rb, [cb], rn, [cn]), "fid").reason
    assert "bootstrap unavailable: 40 images >= 4 feature dimensions" in reason
