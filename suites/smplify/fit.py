"""SMPLify (Bogo et al., ECCV 2016) on torch: camera from the torso, the flip test, four prior-annealing stages.

Numbers and their sources (``smplify_public/code/fit_3d.py`` unless said otherwise):

- focal length 5000 px, fixed (``flength=5000.``); camera rotation fixed to the identity;
- translation init by similar triangles on the torso, ``f * mean 3D / mean 2D`` shoulder-hip length, x = y = 0
  (``guess_init``), then translation and body orientation fitted to the 4 torso keypoints with the depth
  held by ``(1e2 (t_z - t_z0))^2`` (``initialize_camera``);
- the flip test: when the 2D shoulders are closer than 25 px (``pix_thsh=25.``), fit from the orientation and
  from it turned 180 degrees about the body's vertical axis and keep the lower data term (``optimize_on_joints``);
- initial pose: the mixture's weighted mean (``prior.weights.dot(prior.means)``), betas 0;
- four stages with pose prior weights (404, 404, 57.4, 4.78) and shape weights (100, 50, 10, 5), the bending
  prior at 0.317 w times alpha = 10, Geman-McClure sigma = 100 px, hips weighted 0 (LSP's hips are not SMPL's),
  keypoint weights times the detector confidence, interpenetration (when on) weighted 1e3; every weight is
  squared by the least-squares solver (``ch.minimize`` of the residual dict);
- the solver: SMPLify uses chumpy's dogleg, 100 iterations per stage; here torch L-BFGS with a strong-Wolfe
  line search (SMPLify-X's choice, ``smplifyx/optimizers``) for ``stage_iterations`` per stage, one image at
  a time so that no image's fit depends on another's. Initial orientation: upright and facing the camera
  (180 degrees about x in the y-down camera) where SMPLify starts from 0; with the torso fit either works.

Why not dogleg: SMPLify minimises a dict of residuals with chumpy's ``minimize(method='dogleg')``, Powell's
dogleg on the Gauss-Newton model J^T J of the stacked residuals. torch has no trust-region solver. SciPy's
``minimize(method='dogleg')`` needs a positive-definite Hessian and ``'trust-exact'`` the exact Hessian (per
iteration a dense 85 x 85 here: 69 pose + 10 shape + 3 orientation + 3 translation, affordable through
``torch.autograd.functional.hessian``, but the max-mixture prior's switching component and GMoF make it
indefinite, which ``dogleg`` refuses). The faithful option is ``scipy.optimize.least_squares(method='dogbox')``
(a dogleg with rectangular trust regions on J^T J) with the residuals and their Jacobian from torch
(``torch.autograd.functional.jacobian``, about 28 + 69 + 4 + 10 residuals x 85 parameters): feasible on CPU,
one image at a time, not done here; L-BFGS minimises the same energy, so the optimum's definition is the same,
the path and iteration counts are not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from bench.methods.body_model import axis_angle_to_matrix, matrix_to_axis_angle
from suites.smplify.priors import Interpenetration, MaxMixturePrior, bending_prior, gmof

TORSO_LSP = (2, 3, 8, 9)  # right hip, left hip, right shoulder, left shoulder (fit_3d.py torso_cids)
BASE_WEIGHTS = (1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1)  # hips 0, neck unused (fit_3d.py cids, base_weights)


@dataclass(frozen=True)
class FitConfig:
    focal: float = 5000.0
    sigma: float = 100.0
    pose_weights: tuple[float, ...] = (404.0, 404.0, 57.4, 4.78)
    shape_weights: tuple[float, ...] = (100.0, 50.0, 10.0, 5.0)
    bend_factor: float = 3.17  # 0.317 x alpha 10
    interpenetration_weight: float = 0.0  # 1e3 in SMPLify when on
    stage_iterations: int = 100
    camera_iterations: int = 100
    depth_weight: float = 100.0
    flip_threshold_px: float = 25.0
    flip_test: bool = True
    use_hips: bool = False


@dataclass
class Fit:
    """One image's result: parameters (betas (S,), global_orient (3,), body_pose (69,), transl (3,)), diagnostics."""

    betas: torch.Tensor
    global_orient: torch.Tensor
    body_pose: torch.Tensor
    transl: torch.Tensor
    data_term: float
    iterations: int
    seconds: float
    flip_tried: bool
    flip_chosen: bool
    noflip: Fit | None = None  # the fit from the unflipped orientation, when the flip was tried


def project(points: torch.Tensor, focal: float, centre: torch.Tensor) -> torch.Tensor:
    """(..., 3) camera-frame points -> (..., 2) pixels (camera at the origin looking +z, image y down)."""
    return focal * points[..., :2] / points[..., 2:3] + centre


def upright() -> torch.Tensor:
    """Axis-angle (3,) of a body standing upright and facing the camera in the y-down camera."""
    return torch.tensor([math.pi, 0.0, 0.0], dtype=torch.float64)


def flipped(orient: torch.Tensor) -> torch.Tensor:
    """The orientation turned 180 degrees about the body's own vertical axis (R @ Ry(pi), fit_3d.py)."""
    turn = axis_angle_to_matrix(torch.tensor([0.0, math.pi, 0.0], dtype=orient.dtype))
    return matrix_to_axis_angle(axis_angle_to_matrix(orient) @ turn)


class SMPLify:
    """Fits a body model (BodyModel interface) to one image's 14 LSP keypoints at a time."""

    def __init__(self, model: Any, prior: MaxMixturePrior, cfg: FitConfig, centre: torch.Tensor,
                 interpenetration: Interpenetration | None = None):
        self.model, self.prior, self.cfg, self.interp = model, prior, cfg, interpenetration
        self.centre = centre.double()
        self.dtype = torch.float64

    def keypoints(self, betas: torch.Tensor, orient: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor
                  ) -> tuple[torch.Tensor, Any]:
        out = self.model(betas=betas, global_orient=orient, body_pose=pose, transl=transl)
        return self.model.keypoints(out), out

    def init_camera(self, j2d: torch.Tensor, orient0: torch.Tensor, pose0: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Translation (3,) and orientation (3,) fitted to the torso keypoints; iterations used."""
        betas = torch.zeros(1, self.model.num_betas, dtype=self.dtype)
        with torch.no_grad():
            kp, _ = self.keypoints(betas, orient0[None], pose0[None], torch.zeros(1, 3, dtype=self.dtype))
        kp = kp[0]
        h3 = ((kp[9] - kp[3]).norm() + (kp[8] - kp[2]).norm()) / 2
        h2 = ((j2d[9] - j2d[3]).norm() + (j2d[8] - j2d[2]).norm()) / 2
        if not float(h2) > 0:
            raise ValueError("keypoints: the shoulders and hips coincide in the image; cannot place the camera")
        z0 = float(self.cfg.focal * h3 / h2)
        t = torch.tensor([[0.0, 0.0, z0]], dtype=self.dtype, requires_grad=True)
        orient = orient0[None].clone().requires_grad_(True)
        torso = list(TORSO_LSP)

        def energy() -> torch.Tensor:
            kp, _ = self.keypoints(betas, orient, pose0[None], t)
            res = j2d[torso] - project(kp[0, torso], self.cfg.focal, self.centre)
            return res.square().sum() + (self.cfg.depth_weight * (t[0, 2] - z0)).square()

        its = _lbfgs([t, orient], energy, self.cfg.camera_iterations)
        return t.detach()[0], orient.detach()[0], its

    def fit(self, j2d: torch.Tensor, conf: torch.Tensor, orient0: torch.Tensor | None = None,
            pose0: torch.Tensor | None = None) -> Fit:
        """SMPLify on keypoints j2d (14, 2) with confidences conf (14,) from ``pose0`` (69,) (default: mean)."""
        start = time.perf_counter()
        j2d, conf = j2d.double(), conf.double()
        pose0 = (self.prior.mean_pose if pose0 is None else pose0).double()
        t, orient, its = self.init_camera(j2d, upright() if orient0 is None else orient0.double(), pose0)
        try_both = self.cfg.flip_test and float((j2d[8] - j2d[9]).norm()) < self.cfg.flip_threshold_px
        results = [self._stages(j2d, conf, t, o, pose0) for o in ([orient, flipped(orient)] if try_both
                                                                  else [orient])]
        best = min(range(len(results)), key=lambda i: results[i][3])
        its += sum(r[4] for r in results)
        seconds = time.perf_counter() - start
        betas, go, pose, data, _ = results[best]
        noflip = None
        if try_both:
            b0, g0, p0, d0, _ = results[0]
            noflip = Fit(b0, g0, p0, t, d0, its, seconds, False, False)
        return Fit(betas, go, pose, t, data, its, seconds, try_both, best == 1, noflip)

    def weights(self, conf: torch.Tensor) -> torch.Tensor:
        base = torch.tensor(BASE_WEIGHTS, dtype=self.dtype)
        if self.cfg.use_hips:
            base[[2, 3]] = 1.0
        return base * conf

    def _stages(self, j2d: torch.Tensor, conf: torch.Tensor, t: torch.Tensor, orient: torch.Tensor,
                pose0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float, int]:
        cfg = self.cfg
        betas = torch.zeros(1, self.model.num_betas, dtype=self.dtype, requires_grad=True)
        go = orient[None].clone().requires_grad_(True)
        pose = pose0[None].clone().requires_grad_(True)
        w_joint = self.weights(conf)[:, None]
        its = 0

        def data_term() -> torch.Tensor:
            kp, out = self.keypoints(betas, go, pose, t[None])
            res = j2d - project(kp[0], cfg.focal, self.centre)
            return (w_joint.square() * gmof(res, cfg.sigma)).sum(), out

        for w_pose, w_shape in zip(cfg.pose_weights, cfg.shape_weights, strict=True):
            def energy(w_pose: float = w_pose, w_shape: float = w_shape) -> torch.Tensor:
                e, out = data_term()
                e = e + w_pose ** 2 * self.prior(pose).sum()
                e = e + (cfg.bend_factor * w_pose) ** 2 * bending_prior(pose).sum()
                e = e + w_shape ** 2 * betas.square().sum()
                if self.interp is not None and cfg.interpenetration_weight > 0:
                    e = e + cfg.interpenetration_weight ** 2 * self.interp(out.joints).sum()
                return e

            its += _lbfgs([betas, go, pose], energy, cfg.stage_iterations)
        with torch.no_grad():
            final = float(data_term()[0])
        return betas.detach()[0], go.detach()[0], pose.detach()[0], final, its


def _lbfgs(params: list[torch.Tensor], energy: Any, iterations: int) -> int:
    """Minimise ``energy()`` over ``params`` with L-BFGS (strong Wolfe); iterations made."""
    if iterations <= 0:
        return 0
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12, history_size=20)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        e = energy()
        e.backward()
        return e

    opt.step(closure)
    return int(opt.state[params[0]].get("n_iter", 0))
