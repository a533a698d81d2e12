"""SMPLify's energy terms (Bogo et al., "Keep it SMPL", ECCV 2016, eqs. 2-7) as torch functions.

Sources of the forms and constants: the SMPLify code (``smplify_public/code/fit_3d.py``: GMoF with
sigma = 100 px on the 2D residual, hip weights 0, the bending prior ``10 exp(+-theta)`` on the elbows'
y and knees' x components weighted 0.317 w, squared by the least-squares solver; ``lib/max_mixture_prior.py``:
the max-mixture pose prior, 8 full-covariance Gaussians) and SMPLify-X's torch port (``smplifyx/prior.py``
MaxMixturePrior, ``fitting.py`` SMPLifyLoss: every term times its weight squared).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import DataError

# body_pose (69) indices of the left/right elbow y and left/right knee x components, and the sign that
# makes their unnatural direction positive (SMPLify fit_3d.py: pose[55], -pose[58], -pose[12], -pose[15]
# of the 72-vector; SMPLify-X prior.py SMPLifyAnglePrior: body_pose [52, 55, 9, 12], signs [1, -1, -1, -1]).
BEND_INDICES = (52, 55, 9, 12)
BEND_SIGNS = (1.0, -1.0, -1.0, -1.0)


def gmof(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robustifier rho(x) = sigma^2 x^2 / (sigma^2 + x^2), elementwise (SMPLify's GMOf squared)."""
    sq = residual * residual
    return sigma ** 2 * sq / (sigma ** 2 + sq)


def bending_prior(body_pose: torch.Tensor) -> torch.Tensor:
    """(B,) sum of exp(sign * theta)^2 over the elbow and knee bends (SMPLify's alpha = 10 is in the weight)."""
    signs = torch.tensor(BEND_SIGNS, dtype=body_pose.dtype, device=body_pose.device)
    return torch.exp(body_pose[:, list(BEND_INDICES)] * signs).square().sum(1)


@dataclass
class MaxMixturePrior:
    """SMPLify's pose prior: min over Gaussians k of 0.5 (x - mu_k)^T P_k (x - mu_k) - log(w_k / sqrt(det S_k)),
    shifted so that its minimum possible value is 0 (a constant, which changes no gradient).

    means (K, D), precision Cholesky factors (K, D, D) with P_k = L_k L_k^T, constants (K,).
    """

    means: torch.Tensor
    prec_chol: torch.Tensor
    consts: torch.Tensor
    weights: torch.Tensor
    source: str

    @classmethod
    def from_gmm(cls, means: np.ndarray, covars: np.ndarray, weights: np.ndarray, source: str) -> MaxMixturePrior:
        prec = np.linalg.inv(covars)
        chol = np.linalg.cholesky(prec)
        _, logdet = np.linalg.slogdet(covars)
        consts = -np.log(weights) + 0.5 * logdet
        consts = consts - consts.min()
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64)).float()  # noqa: E731
        return cls(t(means), t(chol), t(consts), t(weights), source)

    @property
    def mean_pose(self) -> torch.Tensor:
        """(D,) the weighted mean of the means: SMPLify's initial body pose."""
        return self.weights @ self.means

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) energy of body poses x (B, D)."""
        d = x[:, None, :] - self.means.to(x)  # (B, K, D)
        m = torch.einsum("bkd,kde->bke", d, self.prec_chol.to(x))
        return (0.5 * m.square().sum(-1) + self.consts.to(x)).min(1).values

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, D) poses drawn from the mixture (random starts)."""
        k = rng.choice(len(self.weights), size=n, p=(self.weights / self.weights.sum()).numpy())
        cov = np.linalg.inv(np.einsum("kde,kfe->kdf", self.prec_chol.double().numpy(),
                                      self.prec_chol.double().numpy()))
        return np.stack([rng.multivariate_normal(self.means[i].double().numpy(), cov[i]) for i in k])


def fit_pose_prior(poses: np.ndarray, components: int = 8, seed: int = 0) -> MaxMixturePrior:
    """A max-mixture prior from a scikit-learn full-covariance Gaussian mixture fitted to poses (N, 69)."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components=components, covariance_type="full", reg_covar=1e-4, random_state=seed)
    gmm.fit(poses)
    return MaxMixturePrior.from_gmm(gmm.means_, gmm.covariances_, gmm.weights_,
                                    f"scikit-learn GaussianMixture({components}, full) on {len(poses)} "
                                    "generated built-in body poses")


def load_pose_prior(path: str | Path) -> MaxMixturePrior:
    """SMPLify's mixture file (``gmm_08.pkl``: means (K, 69), covars (K, 69, 69), weights (K,)); DataError if not."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = pickle.load(f, encoding="latin1")  # noqa: S301 - the user's own SMPLify file
    except Exception as exc:
        raise DataError(f"{path}: not a readable pose prior pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or not {"means", "covars", "weights"} <= set(doc):
        raise DataError(f"{path}: expected a dict with means, covars and weights (SMPLify's gmm_08.pkl)")
    means, covars, weights = (np.asarray(doc[k], dtype=np.float64) for k in ("means", "covars", "weights"))
    k = len(weights)
    if means.shape != (k, 69) or covars.shape != (k, 69, 69) or not np.all(np.isfinite(covars)):
        raise DataError(f"{path}: means {means.shape}, covars {covars.shape}; expected ({k}, 69), ({k}, 69, 69)")
    return MaxMixturePrior.from_gmm(means, covars, weights, f"file {path.name}")


# Bones (start joint, end joint) that carry collision spheres, SMPL's tree; hands left out as in SMPLify
# (sphere_collisions.py no_hands=True).
COLLISION_BONES = ((0, 3), (3, 6), (6, 9), (12, 15), (1, 4), (4, 7), (2, 5), (5, 8),
                   (16, 18), (18, 20), (17, 19), (19, 21))
SPHERES_PER_BONE = 5


class Interpenetration:
    """Sphere-overlap penalty between body parts that are not neighbours in the tree (bench3d's own term).

    SMPLify's term (capsules regressed from the shape, approximated by spheres, 3D Gaussian overlap; the
    capsule regressors ship with its code) is replaced here by 5 spheres on each posed bone (at 0.1..0.9 of its
    length) whose radii are the rest mesh's median distance from the bone, and the energy sum over pairs of parts
    more than 2 bones apart of relu(r_a + r_b - d)^2. Its effect is measured by
    :class:`suites.smplify.penetration.CapsulePenetration` (mesh vertices inside capsules, a different proxy).
    """

    def __init__(self, rest_vertices: torch.Tensor, rest_joints: torch.Tensor, weights: torch.Tensor,
                 parents: list[int]):
        t = torch.linspace(0.1, 0.9, SPHERES_PER_BONE)
        self.t = t
        radii = []
        for a, b in COLLISION_BONES:
            near = weights[:, a] > 0.5
            pts = rest_vertices[near] if bool(near.any()) else rest_vertices
            radii.append(_distance_to_segment(pts, rest_joints[a], rest_joints[b]).median())
        self.radii = torch.stack(radii).repeat_interleave(SPHERES_PER_BONE)  # (S,)
        hops = _hops(parents)
        bone = torch.arange(len(COLLISION_BONES)).repeat_interleave(SPHERES_PER_BONE)
        far = torch.tensor([[min(hops[x][y] for x in COLLISION_BONES[i] for y in COLLISION_BONES[j]) > 2
                             for j in range(len(COLLISION_BONES))] for i in range(len(COLLISION_BONES))])
        self.pairs = torch.triu(far[bone][:, bone], diagonal=1)

    def centres(self, joints: torch.Tensor) -> torch.Tensor:
        """(B, S, 3) sphere centres along the posed bones of joints (B, J, 3)."""
        a = joints[:, [p for p, _ in COLLISION_BONES]]
        b = joints[:, [c for _, c in COLLISION_BONES]]
        t = self.t.to(joints)[None, None, :, None]
        return (a[:, :, None] + (b - a)[:, :, None] * t).reshape(len(joints), -1, 3)

    def __call__(self, joints: torch.Tensor) -> torch.Tensor:
        """(B,) summed squared overlap (metres^2) of far sphere pairs."""
        c = self.centres(joints)
        d = torch.cdist(c, c)
        r = self.radii.to(joints)
        overlap = torch.relu(r[:, None] + r[None, :] - d) * self.pairs.to(joints)
        return overlap.square().sum((1, 2))


def _distance_to_segment(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ab = b - a
    t = ((p - a) @ ab / (ab @ ab).clamp_min(1e-12)).clamp(0, 1)
    return (p - (a + t[:, None] * ab)).norm(dim=1)


def _hops(parents: list[int]) -> list[list[int]]:
    """Tree distance (number of bones) between every two joints."""
    n = len(parents)
    adj = [[j for j in range(n) if parents[j] == i or parents[i] == j] for i in range(n)]
    out = []
    for s in range(n):
        dist = [10 ** 6] * n
        dist[s], frontier = 0, [s]
        while frontier:
            nxt = []
            for i in frontier:
                for j in adj[i]:
                    if dist[j] > dist[i] + 1:
                        dist[j] = dist[i] + 1
                        nxt.append(j)
            frontier = nxt
        out.append(dist)
    return out
