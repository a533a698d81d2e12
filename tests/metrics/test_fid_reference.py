"""The pinned generative protocol: reference statistics from .npz or an image folder, bring-your-own samples,
fingerprints that keep protocols apart, and clear errors for bad statistics files and image folders."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from _tester import assert_bad_input
from PIL import Image
from test_frechet import sqrtm_fid

from bench.metrics.fid_reference import (
    GenerativeProtocol,
    load_npz_stats,
    load_reference,
    read_image_folder,
    score_features,
    score_folder,
)
from bench.metrics.fingerprint import IncomparableError, check_comparable
from bench.metrics.generative import InceptionFeatures


class _Tiny(torch.nn.Module):
    """A 6-d TorchScript 'extractor': channel means and maxima of a fixed conv (fast stand-in for tests)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3)

    def forward(self, x):
        y = self.conv(x)
        return torch.cat([y.mean((2, 3)), y.amax((2, 3))], 1)


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ext") / "tiny.pt"
    torch.jit.script(_Tiny().eval()).save(str(path))
    return InceptionFeatures(path, data_range=1.0, input_range=(0.0, 1.0), size=(16, 16), quantize=False)


def _folder(path, n, seed, size=(12, 12), mode="RGB"):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path / f"{i:03d}.png")
    return path


def test_folder_reference_npz_roundtrip_and_byo_samples(tmp_path, ext):
    ref = load_reference(_folder(tmp_path / "real", 20, 0), ext)
    assert ref.n == 20 and ref.features.shape == (20, 6)
    lines = "".join(f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                    for p in sorted((tmp_path / "real").iterdir()))
    assert ref.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    ref.save_npz(tmp_path / "ref.npz")
    npz = load_npz_stats(tmp_path / "ref.npz", 6)
    assert npz.sha256 == hashlib.sha256((tmp_path / "ref.npz").read_bytes()).hexdigest()
    np.testing.assert_allclose(npz.stats.cov().numpy(), np.cov(ref.features.numpy(), rowvar=False), rtol=1e-10)

    protocol = GenerativeProtocol(num_images=15, kid_subsets=5, kid_subset_size=10)
    samples = _folder(tmp_path / "fake", 18, 1)
    by_folder = score_folder(samples, ref, protocol, ext)
    by_npz = score_folder(samples, npz, protocol, ext)
    fake = ext(read_image_folder(samples, limit=15)[0]).numpy()
    expected = sqrtm_fid(ref.features.numpy(), fake)
    assert by_folder["fid"].value == pytest.approx(expected, rel=1e-6)
    assert by_npz["fid"].value == pytest.approx(expected, rel=1e-6)
    assert "kid" in by_folder and "kid" not in by_npz  # KID needs the reference's images
    assert by_folder["fid"].extra == {"n_real": 20, "n_fake": 15}
    with pytest.raises(IncomparableError, match="reference"):
        check_comparable(by_folder["fid"], by_npz["fid"])
    params = by_folder["fid"].fingerprint["params"]
    assert params["num_generated_images"] == 15 and params["reference"]["sha256"] == ref.sha256


def test_image_count_and_extractor_make_fids_incomparable(tmp_path, ext):
    ref = load_reference(_folder(tmp_path / "real", 12, 0), ext)
    feats = ext(read_image_folder(_folder(tmp_path / "fake", 12, 1))[0])
    a = score_features(feats[:10], ref, ext, GenerativeProtocol(num_images=10, kid_subset_size=10))["fid"]
    b = score_features(feats[:8], ref, ext, GenerativeProtocol(num_images=8, kid_subset_size=8))["fid"]
    same = score_features(feats[2:], ref, ext, GenerativeProtocol(num_images=10, kid_subset_size=10))["fid"]
    check_comparable(a, same)
    with pytest.raises(IncomparableError, match="num_generated_images"):
        check_comparable(a, b)
    assert a.fingerprint["params"]["weights_sha256"] == ext.fingerprint_params()["weights_sha256"]


def test_bad_statistics_files(tmp_path):
    np.savez(tmp_path / "wrong_dim.npz", mu=np.zeros(7), sigma=np.eye(7))
    assert_bad_input(load_npz_stats, tmp_path / "wrong_dim.npz", 6,
                     match=r"wrong_dim.npz: expected mu \(6,\) and sigma \(6, 6\) for the 6-d extractor, got mu \(7,\)")
    np.savez(tmp_path / "keys.npz", m=np.zeros(6), s=np.eye(6))
    assert_bad_input(load_npz_stats, tmp_path / "keys.npz", 6, match=r"keys.npz: expected arrays 'mu' and 'sigma'")
    np.savez(tmp_path / "asym.npz", mu=np.zeros(6), sigma=np.triu(np.ones((6, 6))))
    assert_bad_input(load_npz_stats, tmp_path / "asym.npz", 6, match="asym.npz: sigma is not symmetric")
    sigma = np.eye(6)
    sigma[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", mu=np.zeros(6), sigma=sigma)
    assert_bad_input(load_npz_stats, tmp_path / "nan.npz", 6, match="nan.npz: mu or sigma holds NaN")
    (tmp_path / "text.npz").write_text("not a zip")
    assert_bad_input(load_npz_stats, tmp_path / "text.npz", 6, match="text.npz: not a readable .npz")


def test_bad_image_folders(tmp_path, ext):
    sizes = _folder(tmp_path / "sizes", 3, 0)
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(sizes / "003.png")
    assert_bad_input(read_image_folder, sizes, match=r"003.png: 12x10 RGB image, but 000.png is 12x12 RGB")
    modes = _folder(tmp_path / "modes", 2, 0)
    Image.fromarray(np.zeros((12, 12), np.uint8), "L").save(modes / "002.png")
    assert_bad_input(read_image_folder, modes, match=r"002.png: 12x12 L image, but 000.png is 12x12 RGB")
    rgba = tmp_path / "rgba"
    rgba.mkdir()
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), "RGBA").save(rgba / "a.png")
    assert_bad_input(read_image_folder, rgba, match="a.png: image mode RGBA, expected RGB or L")
    (tmp_path / "empty").mkdir()
    assert_bad_input(read_image_folder, tmp_path / "empty", match="empty: no .png/.jpg/.jpeg images found")
    assert_bad_input(load_reference, tmp_path / "stats.txt", ext, match=r"stats.txt: reference statistics must be")
    ref = load_reference(_folder(tmp_path / "real", 6, 0), ext)
    few = _folder(tmp_path / "few", 4, 1)
    assert_bad_input(score_folder, few, ref, GenerativeProtocol(num_images=5, kid_subset_size=4), ext,
                     match=r"few: 4 images, but the protocol pins 5")
    kid_big = GenerativeProtocol(num_images=4, kid_subset_size=5)
    assert_bad_input(score_folder, few, ref, kid_big, ext, match="subset_size: 5 exceeds the 4 fake images")
    assert_bad_input(GenerativeProtocol, num_images=1, match="protocol: num_images >= 2")
