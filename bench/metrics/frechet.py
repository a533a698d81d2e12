"""Fréchet distance between two Gaussians with an exact trace term and no general matrix square root.

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)) (Heusel et al. 2017). The trace term equals the sum
of the square roots of the eigenvalues of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), whose nonzero
eigenvalues are those of S1 S2. When a covariance comes from n < d samples, S = A^T A with A the (n, d) centred
samples over sqrt(n - 1), and the cyclic property eig(XY) = eig(YX) moves the problem to n x n:

- both sides from samples: the eigenvalues of S1 S2 are the squared singular values of G = A1 A2^T (n1 x n2), so
  tr((S1 S2)^(1/2)) is the nuclear norm of G, taken as the eigenvalues of the smaller of G G^T, G^T G (cost n1 n2 d);
- one side from n < d samples, the other a full covariance S: eigenvalues of A S A^T (n x n, cost n d^2);
- otherwise: S1^(1/2) from a symmetric eigendecomposition, then the eigenvalues of S1^(1/2) S2 S1^(1/2).

Every path is exact up to float64 rounding (no iterative square root, no O(d^3) Schur decomposition of a
non-symmetric matrix as ``scipy.linalg.sqrtm`` or ``torch.linalg.eigvals`` need).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GaussianStats:
    """Mean (d,) and covariance of a feature set: a full (d, d) ``sigma``, or a centred ``factor`` (n, d) with
    ``factor.T @ factor`` equal to the unbiased covariance (kept when features are available)."""

    mu: torch.Tensor
    sigma: torch.Tensor | None = None
    factor: torch.Tensor | None = None
    n: int | None = None

    @classmethod
    def from_features(cls, feats: torch.Tensor) -> GaussianStats:
        """Statistics of (n, d) features, n >= 2; the unbiased covariance (divisor n - 1), in float64."""
        f = feats.to(torch.float64)
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"features: expected shape (n >= 2, d), got {tuple(f.shape)}")
        mu = f.mean(0)
        return cls(mu=mu, factor=(f - mu) / math.sqrt(f.shape[0] - 1), n=int(f.shape[0]))

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])

    @property
    def low_rank(self) -> bool:
        """True when the covariance is held as a factor with fewer rows than dimensions."""
        return self.factor is not None and self.factor.shape[0] < self.dim

    def cov(self) -> torch.Tensor:
        """The (d, d) covariance."""
        if self.sigma is not None:
            return self.sigma.to(torch.float64)
        assert self.factor is not None
        return self.factor.T @ self.factor

    def trace(self) -> float:
        if self.sigma is not None:
            return float(torch.diagonal(self.sigma).sum())
        assert self.factor is not None
        return float((self.factor ** 2).sum())


def _sum_sqrt_eigvalsh(m: torch.Tensor) -> float:
    """Sum of sqrt of the eigenvalues of a symmetric PSD matrix (round-off negatives clipped to 0)."""
    m = (m + m.T) / 2
    return float(torch.linalg.eigvalsh(m).clamp_min(0).sqrt().sum())


def sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a (d, d) symmetric PSD matrix by eigendecomposition."""
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def trace_sqrt_product(a: GaussianStats, b: GaussianStats) -> float:
    """tr((S_a S_b)^(1/2)), exactly, choosing the cheapest of the three paths in the module docstring."""
    if a.dim != b.dim:
        raise ValueError(f"statistics: dimensions differ ({a.dim} vs {b.dim})")
    if a.low_rank and b.low_rank:
        g = a.factor @ b.factor.T  # type: ignore[union-attr]  # (n1, n2)
        return _sum_sqrt_eigvalsh(g @ g.T if g.shape[0] <= g.shape[1] else g.T @ g)  # eigvalsh: ~20x svdvals
    if a.low_rank or b.low_rank:
        small, other = (a, b) if a.low_rank else (b, a)
        f = small.factor
        assert f is not None
        return _sum_sqrt_eigvalsh(f @ other.cov() @ f.T)  # (n, n): A S A^T
    r = sqrt_psd(a.cov())
    return _sum_sqrt_eigvalsh(r @ b.cov() @ r)


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Squared Fréchet distance between N(mu_a, S_a) and N(mu_b, S_b) (the FID formula)."""
    diff = a.mu.to(torch.float64) - b.mu.to(torch.float64)
    return float(diff @ diff) + a.trace() + b.trace() - 2.0 * trace_sqrt_product(a, b)
