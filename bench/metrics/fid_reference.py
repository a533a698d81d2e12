"""The pinned generative evaluation protocol: reference statistics and how generated images are scored.

Reference statistics come from a ``.npz`` holding ``mu`` (d,) and ``sigma`` (d, d) (the layout GIRAFFE and
pytorch-fid ship: ``np.savez(path, mu=..., sigma=...)``) or from a folder of images (PNG/JPEG, one size and
mode) pushed through the protocol's extractor. Either way the statistics carry a checksum (the file's sha256;
for a folder, the sha256 of its sorted ``name:sha256`` lines), which goes in every FID fingerprint together
with the extractor's weights hash, the resize method and the number of generated images, so FIDs under
different protocols are never compared.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.metrics.frechet import GaussianStats
from bench.metrics.generative import DEFAULT_RESIZE, FID, KID, InceptionFeatures, sha256_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class GenerativeProtocol:
    """How a generator is scored: generated image count, extractor resize, KID subsets (pinned per case)."""

    num_images: int = 10000
    resize: str = DEFAULT_RESIZE
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kid_seed: int = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if int(self.num_images) < 2 or int(self.kid_subset_size) < 2 or int(self.kid_subsets) < 1:
            raise ValueError(f"protocol: num_images >= 2, kid_subset_size >= 2 and kid_subsets >= 1 expected, got "
                             f"{self.num_images}, {self.kid_subset_size}, {self.kid_subsets}")

    def extractor(self) -> InceptionFeatures:
        """The bundled TF-Inception with this protocol's resize; inputs in [0, 1]."""
        return InceptionFeatures(resize=self.resize)


@dataclass(frozen=True)
class ReferenceStats:
    """Statistics of the real images: Gaussian ``stats``, where they came from, their checksum, and the
    per-image ``features`` (N, F) when computed from images (KID needs them)."""

    stats: GaussianStats
    name: str
    sha256: str
    n: int | None = None
    features: torch.Tensor | None = None

    def provenance(self) -> dict[str, Any]:
        return {"source": self.name, "sha256": self.sha256, "n_images": self.n}

    def save_npz(self, path: Path) -> None:
        """Write ``mu`` and ``sigma`` (float64) in the pytorch-fid layout."""
        np.savez(path, mu=self.stats.mu.numpy(), sigma=self.stats.cov().numpy())


def load_npz_stats(path: Path, num_features: int) -> ReferenceStats:
    """``mu`` (F,) and ``sigma`` (F, F) from a .npz; a one-line error naming the file for anything else."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in ("mu", "sigma") if k in z.files}
            keys = list(z.files)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npz of mu and sigma ({exc})") from None
    if set(arrays) != {"mu", "sigma"}:
        raise ValueError(f"{path}: expected arrays 'mu' and 'sigma', found {keys}")
    mu, sigma = arrays["mu"], arrays["sigma"]
    if mu.shape != (num_features,) or sigma.shape != (num_features, num_features):
        raise ValueError(f"{path}: expected mu ({num_features},) and sigma ({num_features}, {num_features}) for the "
                         f"{num_features}-d extractor, got mu {mu.shape} and sigma {sigma.shape}")
    if not (np.issubdtype(mu.dtype, np.floating) and np.issubdtype(sigma.dtype, np.floating)):
        raise ValueError(f"{path}: mu and sigma must be floating point, got {mu.dtype} and {sigma.dtype}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"{path}: mu or sigma holds NaN or infinite values")
    if not np.allclose(sigma, sigma.T, rtol=1e-5, atol=1e-8 * max(1.0, float(np.abs(sigma).max()))):
        raise ValueError(f"{path}: sigma is not symmetric (not a covariance)")
    stats = GaussianStats(mu=torch.from_numpy(mu.astype(np.float64)), sigma=torch.from_numpy(sigma.astype(np.float64)))
    return ReferenceStats(stats, path.name, sha256_file(path))


def image_files(folder: Path) -> list[Path]:
    """The PNG/JPEG files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no {'/'.join(IMAGE_SUFFIXES)} images found")
    return files


def read_image_folder(folder: Path, limit: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """Images (N, 3, H, W) float in [0, 1] and their names; all must share one size and one mode (RGB or L)."""
    from PIL import Image

    files = image_files(folder)[:limit]
    imgs, first = [], None
    for f in files:
        with Image.open(f) as im:
            key = (im.size, im.mode)
            if first is None:
                first = (f.name, key)
            elif key != first[1]:
                raise ValueError(f"{f}: {key[0][0]}x{key[0][1]} {key[1]} image, but {first[0]} is "
                                 f"{first[1][0][0]}x{first[1][0][1]} {first[1][1]}: a folder holds one size and mode")
            if im.mode not in ("RGB", "L"):
                raise ValueError(f"{f}: image mode {im.mode}, expected RGB or L (grayscale)")
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        imgs.append(torch.from_numpy(arr).permute(2, 0, 1))
    return torch.stack(imgs), [f.name for f in files]


def folder_checksum(files: list[Path]) -> str:
    """sha256 of the sorted ``name:sha256`` lines of the files."""
    lines = "".join(f"{f.name}:{sha256_file(f)}\n" for f in sorted(files, key=lambda p: p.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def extract(ext: InceptionFeatures, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """(N, 3, H, W) images in [0, 1] -> (N, F) float64 features, in batches."""
    return torch.cat([ext(images[a:a + batch_size]) for a in range(0, len(images), batch_size)])


def reference_from_images(images: torch.Tensor, ext: InceptionFeatures, name: str, sha256: str,
                          batch_size: int = 32) -> ReferenceStats:
    """Reference statistics of (N, 3, H, W) images in [0, 1], features kept."""
    feats = extract(ext, images, batch_size)
    return ReferenceStats(GaussianStats.from_features(feats), name, sha256, len(images), feats)


def load_reference(path: Path, ext: InceptionFeatures, batch_size: int = 32) -> ReferenceStats:
    """Reference statistics from a ``.npz`` (mu, sigma) or a folder of images."""
    path = Path(path)
    if path.is_dir():
        images, _ = read_image_folder(path)
        return reference_from_images(images, ext, path.name, folder_checksum(image_files(path)), batch_size)
    if path.suffix.lower() == ".npz":
        return load_npz_stats(path, ext.num_features)
    raise ValueError(f"{path}: reference statistics must be a .npz (mu, sigma) or a folder of images")


def score_features(fake: torch.Tensor, reference: ReferenceStats, ext: InceptionFeatures,
                   protocol: GenerativeProtocol) -> dict[str, Any]:
    """FID (and KID where the reference keeps per-image features) of (N, F) generated-image features."""
    if len(fake) != protocol.num_images:
        raise ValueError(f"generated images: the protocol pins {protocol.num_images}, got {len(fake)}")
    fid = FID(use_extractor=False, num_features=ext.num_features)
    fid.features_from(ext)
    fid.set_reference(reference)
    fid.update_features(fake, real=False)
    out: dict[str, Any] = {"fid": fid.compute()}
    if reference.features is not None:
        kid = KID(use_extractor=False, num_features=ext.num_features, subsets=protocol.kid_subsets,
                  subset_size=protocol.kid_subset_size, seed=protocol.kid_seed)
        kid.features_from(ext)
        kid.update_features(reference.features, real=True)
        kid.update_features(fake, real=False)
        out["kid"] = kid.compute()
    return out


def score_folder(samples: Path, reference: ReferenceStats, protocol: GenerativeProtocol,
                 ext: InceptionFeatures | None = None) -> dict[str, Any]:
    """Bring-your-own samples: the first ``protocol.num_images`` images of a folder (sorted by name) scored against
    ``reference`` under the protocol (``ext``: the extractor the reference was made with; default the bundled
    Inception); fewer images than the protocol pins is an error naming the folder."""
    files = image_files(samples)
    if len(files) < protocol.num_images:
        raise ValueError(f"{samples}: {len(files)} images, but the protocol pins {protocol.num_images}")
    ext = ext or protocol.extractor()
    images, _ = read_image_folder(samples, limit=protocol.num_images)
    return score_features(extract(ext, images, protocol.batch_size), reference, ext, protocol)
