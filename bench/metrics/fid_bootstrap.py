"""Kept per-image features and a bootstrap over images for comparing two runs' FIDs.

A generative case keeps the Inception features behind its FID (``save_features``: float32 arrays, one per FID
metric, the reference images' features and each metric's fingerprint as JSON). Two such files are compared by
:func:`bootstrap_fid_difference`: each run's generated images are resampled with replacement (independently per
run and round, seeded), FID is recomputed against the same fixed reference statistics, and the percentile
interval of FID(NEW) - FID(BASE) over the rounds is reported (the percentile bootstrap, Efron & Tibshirani 1993,
ch. 13). Resampling duplicates images, which biases each bootstrap FID upwards by about the same amount for two
runs with the same image count (the protocol pins it), so the difference is what is read, never a single FID.
Features under different protocols (fingerprints) are refused with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.metrics.fingerprint import IncomparableError, fingerprint_diff
from bench.metrics.frechet import GaussianStats, frechet_distance

FEATURES_ARTIFACT = "inception_features"  # the artifact name compare looks for


@dataclass(frozen=True)
class KeptFeatures:
    """Per-image features (N, F) float32 of the images behind one FID metric, and that metric's fingerprint."""

    features: np.ndarray
    fingerprint: dict[str, Any]
    reference: np.ndarray | None = None  # (M, F) reference-image features; None when the reference was mu/sigma


def save_features(path: Path, sets: dict[str, tuple[torch.Tensor, dict[str, Any]]],
                  reference: torch.Tensor | None = None) -> Path:
    """Write ``{metric: ((N, F) features, fingerprint)}`` and the (M, F) reference features as a compressed .npz."""
    arrays: dict[str, np.ndarray] = {}
    for name, (feats, fp) in sets.items():
        arrays[name] = np.asarray(feats.detach().cpu(), dtype=np.float32)
        arrays[f"{name}.fingerprint"] = np.array(json.dumps(fp, sort_keys=True))
    if reference is not None:
        arrays["reference"] = np.asarray(reference.detach().cpu(), dtype=np.float32)
    np.savez_compressed(path, **arrays)
    return Path(path)


def load_features(path: Path, metric: str) -> KeptFeatures:
    """The kept features of ``metric`` from a :func:`save_features` file; a one-line error naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable kept-features .npz ({exc})") from None
    if metric not in arrays or f"{metric}.fingerprint" not in arrays:
        raise ValueError(f"{path}: no kept features for {metric!r} (arrays {sorted(arrays)})")
    try:
        fp = json.loads(str(arrays[f"{metric}.fingerprint"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: {metric}.fingerprint is not JSON ({exc})") from None
    feats = arrays[metric].astype(np.float32)
    ref = arrays["reference"].astype(np.float32) if "reference" in arrays else None
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"{path}: {metric!r} features must be (N >= 2, F), got {feats.shape}")
    return KeptFeatures(feats, fp, ref)


@dataclass(frozen=True)
class BootstrapDifference:
    """FID(NEW) - FID(BASE) on all images (``delta``) and its percentile interval [low, high] over the rounds."""

    delta: float
    low: float
    high: float
    rounds: int
    level: float
    n_base: int
    n_new: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def describe(self) -> str:
        return (f"bootstrap over images ({self.n_base} vs {self.n_new} images, {self.rounds} rounds): NEW - BASE "
                f"{self.delta:+.3g}, {100 * self.level:g}% interval [{self.low:+.3g}, {self.high:+.3g}]"
                + ("" if self.excludes_zero else " (contains 0)"))


def _fid(feats: torch.Tensor, ref: GaussianStats) -> float:
    return frechet_distance(GaussianStats.from_features(feats), ref)


def bootstrap_fid_difference(base: KeptFeatures, new: KeptFeatures, reference: GaussianStats, *,
                             rounds: int = 500, level: float = 0.95, seed: int = 0) -> BootstrapDifference:
    """Percentile bootstrap of FID(NEW) - FID(BASE) against fixed ``reference`` statistics (module docstring).

    Raises IncomparableError when the two feature sets' fingerprints differ (other protocol, reference or
    extractor), ValueError for a bad ``rounds`` / ``level`` or feature dimensions that do not match.
    """
    diff = fingerprint_diff(base.fingerprint, new.fingerprint, strict=False)
    if diff:
        raise IncomparableError("kept features follow different protocols: " + "; ".join(diff))
    if rounds < 10 or not 0 < level < 1:
        raise ValueError(f"bootstrap: expected rounds >= 10 and 0 < level < 1, got {rounds} and {level}")
    fb, fn = (torch.from_numpy(x.features).to(torch.float64) for x in (base, new))
    if not fb.shape[1] == fn.shape[1] == reference.dim:
        raise ValueError(f"bootstrap: feature dimensions differ (base {fb.shape[1]}, new {fn.shape[1]}, "
                         f"reference {reference.dim})")
    gen = torch.Generator().manual_seed(seed)
    deltas = np.empty(rounds)
    for r in range(rounds):
        ib = torch.randint(len(fb), (len(fb),), generator=gen)
        i_n = torch.randint(len(fn), (len(fn),), generator=gen)
        deltas[r] = _fid(fn[i_n], reference) - _fid(fb[ib], reference)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return BootstrapDifference(_fid(fn, reference) - _fid(fb, reference), float(low), float(high), rounds, level,
                               len(fb), len(fn))
