"""SMPLify (book ch. 8; Bogo et al., ECCV 2016): a body model fitted to 2D keypoints, on the built-in body.

Cases: ``facing=front`` (bodies within 45 degrees of facing the camera) and ``facing=side`` (turned 90 +- 15
degrees either way, shoulders close in the image: the case SMPLify's flip test exists for; about half face
away from the start orientation), each ``interpenetration`` off (the book's setting) and on (bench3d's sphere
term, :class:`suites.smplify.priors.Interpenetration`). ``--set legs=crossed``: targets whose legs cross past
their natural range, where fits interpenetrate; every generated case measures the fitted mesh's
interpenetration (:mod:`suites.smplify.penetration`). Targets: the
generated ``body-fits`` dataset (the built-in procedural body, LSP's 14 keypoints with confidences,
occlusions and detector-like noise, ground-truth 3D keypoints and vertices). The body fitted is the built-in
body, or the real SMPL through ``smplx`` with ``--set model_path=DIR_OR_FILE`` (never shipped); the pose prior
is a scikit-learn Gaussian mixture (8 full-covariance components, SMPLify's count) fitted to generated poses
of the built-in body, or SMPLify's ``gmm_08.pkl`` with ``--set pose_prior=FILE``.

``--set data=lsp --set facing=front``: LSP images (the ``lsp`` dataset) with SMPLify's own detections
``est_joints.npz`` in the same folder, fitted at SMPLify's 2x scale; no 3D truth, so 2D error, flips and time
only (:mod:`suites.smplify.lsp`). ``--set data=h36m --set facing=front --set model_path=...``: Human3.6M
protocol 2 in SPIN's preprocessed layout (the ``h36m-p2`` dataset), evaluated as HMR / SPIN do: the 14 common
joints from SMPL's vertices through ``J_regressor_h36m.npy``, PA-MPJPE in mm (:mod:`suites.smplify.h36m`).

SMPLify's settings and where each number comes from: :mod:`suites.smplify.fit`, :mod:`suites.smplify.priors`.
``standard``/``full`` use them as published (100 iterations per stage, 16 / 64 images, 8 / 32 random starts);
``smoke`` runs 3 images at 30 L-BFGS iterations per stage and 2 random starts.

The HMR paper's Human3.6M figure for SMPLify (82.3 mm PA-MPJPE, protocol 2) is a reference only: these cases
fit a different body on generated targets (see baselines/PUBLISHED.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from bench.config import param
from bench.context import Context
from bench.suite import Case, DatasetUse, MetricSpec, Profile, Suite
from suites.smplify.evaluate import MM, overlay, report_fits, report_starts
from suites.smplify.fit import FitConfig, SMPLify, project, upright
from suites.smplify.penetration import report_penetration

FACINGS = ("front", "side", "away")


@dataclass(frozen=True)
class SmplifyConfig:
    """One SMPLify case; defaults are SMPLify's settings (``standard``)."""

    data: Literal["generated", "lsp", "h36m"] = param("generated", "targets: generated (body-fits), LSP with "
                                                      "SMPLify's est_joints.npz (2D metrics only), or Human3.6M "
                                                      "protocol 2 (SPIN's layout; needs model_path)")
    facing: Literal[FACINGS] = param("front", "targets: front, side (shoulders close) or away from the camera")
    interpenetration: bool = param(False, "add bench3d's sphere interpenetration term (a stand-in for SMPLify's "
                                   "capsule term, which ships only with SMPLify's code)")
    images: int = param(16, "generated target images")
    image_size: int = param(256, "image side in pixels")
    body_height_px: float = param(200.0, "height of the generated bodies in the image")
    noise_px: float = param(2.0, "detector-like keypoint noise (std, px)")
    occlusion: float = param(0.1, "probability that a keypoint is occluded (confidence 0)")
    yaw_range_deg: float = param(45.0, "yaw spread of the targets around their facing")
    legs: Literal["natural", "crossed"] = param("natural", "targets' legs: natural, or crossed past their natural "
                                                "range (provokes interpenetrating fits)")
    focal_length: float = param(5000.0, "fixed focal length of the fit and the targets (SMPLify: 5000)")
    stage_iterations: int = param(100, "L-BFGS iterations per stage (SMPLify: 100 dogleg iterations)")
    camera_iterations: int = param(100, "L-BFGS iterations of the torso camera fit (SMPLify: 100)")
    flip_test: bool = param(True, "fit the 180-degree flip too when the shoulders are close (SMPLify)")
    flip_threshold_px: float = param(25.0, "shoulder distance below which the flip is tried (SMPLify: 25)")
    sigma: float = param(100.0, "Geman-McClure sigma in pixels (SMPLify: 100)")
    use_hips: bool = param(False, "weight the hip keypoints (SMPLify: 0, LSP's hips are not SMPL's)")
    interpenetration_weight: float = param(1000.0, "weight of the interpenetration term (SMPLify: 1e3)")
    prior_components: int = param(8, "Gaussians of the fitted pose prior (SMPLify: 8)")
    prior_samples: int = param(2000, "generated poses the pose prior is fitted to")
    pose_prior: str | None = param(None, "SMPLify's gmm_08.pkl instead of the fitted prior")
    model_path: str | None = param(None, "the real SMPL (a file or folder of SMPL_<GENDER>.pkl), via smplx")
    gender: Literal["neutral", "male", "female"] = param("neutral", "SMPL file gender with model_path")
    random_starts: int = param(8, "K fits from poses drawn from the prior, for the success rate (0: none)")
    success_mm: float = param(80.0, "a random start succeeds below this PA-MPJPE (mm)")
    pck_mm: float = param(150.0, "3D PCK threshold after Procrustes alignment (mm)")
    render_images: int = param(3, "fitted bodies drawn over the keypoints (artifacts)")


class SmplifySuite(Suite):
    name = "smplify"
    description = ("SMPLify (book ch. 8): a body model (built-in procedural body, or SMPL via smplx) fitted to 2D "
                   "keypoints with GMoF, pose/bending/shape priors, torso camera init and the flip test.")
    Config = SmplifyConfig
    grid = {"facing": ["front", "side"], "interpenetration": [False, True]}
    profiles = {
        "smoke": Profile({"images": 3, "stage_iterations": 30, "camera_iterations": 30, "random_starts": 2,
                          "render_images": 2},
                         per_case={"facing": {"side": {"yaw_range_deg": 15.0}}},
                         description="CPU: 3 images, 30 L-BFGS iterations per stage, 2 random starts"),
        "standard": Profile(grid={"data": ["generated", "h36m"]},
                            per_case={"facing": {"side": {"yaw_range_deg": 15.0}}},
                            description="SMPLify's settings on 16 generated images, and on 16 Human3.6M protocol-2 "
                                        "frames where the data and SMPL are given (facing=front only)"),
        "full": Profile({"images": 64, "random_starts": 32}, per_case={"facing": {"side": {"yaw_range_deg": 15.0}}}),
    }
    datasets = (
        DatasetUse("lsp", when={"data": "lsp"}),
        DatasetUse("h36m-p2", when={"data": "h36m"}),
        DatasetUse("body-fits", when={"data": "generated"},
                   params={"count": "images", "image_size": "image_size", "focal": "focal_length",
                           "body_height_px": "body_height_px", "noise_px": "noise_px", "occlusion": "occlusion",
                           "facing": "facing", "yaw_range_deg": "yaw_range_deg", "legs": "legs"}),
    )
    tiny = {"images": 1, "stage_iterations": 2, "camera_iterations": 2, "random_starts": 1, "prior_samples": 200,
            "render_images": 1}
    metrics = (
        MetricSpec.of("pa_mpjpe", description="PA-MPJPE (mm) of the 14 LSP keypoints after the fit", unit="mm"),
        MetricSpec.of("pa_mpjpe", "pa_mpjpe_init", "PA-MPJPE (mm) of the initial mean pose and shape", unit="mm",
                      initial=True),
        MetricSpec.of("pa_mpjpe", "pa_mpjpe_without_flip", "PA-MPJPE (mm) had the flip test been off", unit="mm"),
        MetricSpec.of("mpjpe", description="MPJPE (mm) of the 14 keypoints centred on the root (the mid-hip; "
                      "Human3.6M's pelvis for data=h36m)",
                      unit="mm"),
        MetricSpec.of("pa_mpjpe", "vertex_error", "per-vertex error (mm) after Procrustes alignment of the "
                      "vertices, where the fitted body has the targets' vertices", unit="mm"),
        MetricSpec.of("reprojection_error_px", "reprojection_error", "2D error (px) to the visible detections"),
        MetricSpec.of("pck", "pck3d", "3D PCK (%) after Procrustes alignment at pck_mm"),
        MetricSpec("orientation_error_deg", "deg", False, "geodesic error of the global orientation"),
        MetricSpec("interpenetration", "mm", False, "mean depth over the fitted mesh's vertices inside the capsule "
                   "of a body part > 2 bones away (bench3d's measure, suites.smplify.penetration)"),
        MetricSpec("interpenetrating_vertices", "%", False, "share of the fitted mesh's vertices inside such a part"),
        MetricSpec("interpenetration_term", "m^2", False, "the sphere interpenetration term at the fit, unweighted "
                   "(measured whether or not it was optimised)"),
        MetricSpec("flip_tried", "", None, "images where the shoulders were close and the flip was fitted"),
        MetricSpec("flip_chosen", "", None, "images whose fit kept the flipped orientation"),
        MetricSpec("fit_seconds", "s", False, "wall time of one image's fit (camera, stages, flip)"),
        MetricSpec("fit_iterations", "", False, "L-BFGS iterations of one image's fit"),
        MetricSpec("success_rate", "%", True, "random starts ending below success_mm PA-MPJPE"),
        MetricSpec("success_rate_low", "%", True, "Wilson 95% interval, lower bound"),
        MetricSpec("success_rate_high", "%", True, "Wilson 95% interval, upper bound"),
        MetricSpec("start_pa_mpjpe", "mm", False, "PA-MPJPE (mm) per random start (median)"),
    )

    def run(self, case: Case, ctx: Context) -> None:
        c: SmplifyConfig = case.config
        if c.data == "lsp":
            return run_lsp(ctx, c)
        if c.data == "h36m":
            from suites.smplify.h36m import run_h36m

            return run_h36m(ctx, c)
        with ctx.phase("setup", kind="setup"):
            data = ctx.dataset("body-fits").load()
            check_targets(data)
            model, prior, fitter = build(c, data, ctx)
        n = len(data["keypoints2d"])
        fits = []
        with ctx.phase("fit", items_per_step=1, item_unit="image") as loop:
            for i in range(n):
                with loop.step():
                    fits.append(fitter.fit(data["keypoints2d"][i], data["confidence"][i]))
        pred = evaluate_fits(fitter, fits)
        noflip = [f.noflip if f.noflip is not None else f for f in fits]
        zeros = torch.zeros(n, model.num_betas, dtype=torch.float64)
        with torch.no_grad():
            init_kp, _ = fitter.keypoints(zeros, upright().expand(n, 3), prior.mean_pose.double().expand(n, -1),
                                          torch.zeros(n, 3, dtype=torch.float64))
        report_fits(ctx, pred, init_kp, data, fits, evaluate_fits(fitter, noflip)["keypoints"], c.pck_mm)
        report_penetration(ctx, model, pred, [f"image{i:03d}" for i in range(n)])
        self._overlays(ctx, c, model, data, pred)
        if c.random_starts > 0:
            rng = np.random.default_rng(ctx.seed)
            starts = torch.from_numpy(prior.sample(rng, c.random_starts))
            errors, image_of = [], []
            with ctx.phase("start_fit", items_per_step=1, item_unit="start") as loop:
                for k in range(c.random_starts):
                    i = k % n
                    with loop.step():
                        f = fitter.fit(data["keypoints2d"][i], data["confidence"][i], pose0=starts[k])
                    kp = evaluate_fits(fitter, [f])["keypoints"]
                    errors.append(_pa(kp, data["keypoints3d"][i: i + 1]))
                    image_of.append(i)
            report_starts(ctx, errors, c.success_mm, image_of)

    @staticmethod
    def _overlays(ctx: Context, c: SmplifyConfig, model: Any, data: dict[str, Any], pred: dict[str, Any]) -> None:
        size = tuple(int(s) for s in data["meta"]["image_size"])
        centre = torch.tensor(data["meta"]["principal_point"], dtype=torch.float64)
        for i in range(min(c.render_images, len(pred["vertices"]))):
            img = overlay(ctx.backend, pred["vertices"][i], model.faces, c.focal_length, centre, size,
                          data["keypoints2d"][i], pred["keypoints2d"][i])
            ctx.image(f"fit_image{i:03d}", img)


def run_lsp(ctx: Context, c: SmplifyConfig) -> None:
    """SMPLify on LSP images with SMPLify's detections: 2D error, flip counts and fit time per image."""
    from bench.metrics import reprojection_error_px
    from suites.smplify.evaluate import BASE_WEIGHTS, report_timing
    from suites.smplify.lsp import load_lsp_targets

    with ctx.phase("setup", kind="setup"):
        data = load_lsp_targets(ctx.dataset("lsp").root, c.images)
        check_targets(data)
        data["meta"] = {"principal_point": data["centres"][0].tolist()}
        model, _, fitter = build(c, data, ctx)
    fits, kp2d = [], []
    with ctx.phase("fit", items_per_step=1, item_unit="image") as loop:
        for i in range(len(data["keypoints2d"])):
            fitter.centre = data["centres"][i]
            with loop.step():
                fits.append(fitter.fit(data["keypoints2d"][i], data["confidence"][i]))
            kp2d.append(evaluate_fits(fitter, fits[-1:])["keypoints2d"][0])
    vis = (data["confidence"] > 0).double() * torch.tensor(BASE_WEIGHTS, dtype=torch.float64)
    ctx.metric("reprojection_error", reprojection_error_px(torch.stack(kp2d), data["keypoints2d"], visibility=vis))
    report_timing(ctx, fits, [p.stem for p in data["files"]])
    for i in range(min(c.render_images, len(fits))):
        fitter.centre = data["centres"][i]
        pred = evaluate_fits(fitter, fits[i: i + 1])
        img = overlay(ctx.backend, pred["vertices"][0], model.faces, c.focal_length, fitter.centre, data["sizes"][i],
                      data["keypoints2d"][i], kp2d[i])
        ctx.image(f"fit_image{i:03d}", img)


def _pa(kp: torch.Tensor, gt: torch.Tensor) -> float:
    from bench.metrics import pa_mpjpe

    return float(pa_mpjpe(kp.double() * MM, gt.double() * MM, unit="mm").value)


def check_targets(data: dict[str, Any]) -> None:
    """One-line errors for keypoint arrays of the wrong shape, confidences outside [0, 1], NaN keypoints."""
    kp, conf = data["keypoints2d"], data["confidence"]
    if kp.ndim != 3 or tuple(kp.shape[1:]) != (14, 2):
        raise ValueError(f"keypoints2d: expected shape (N, 14, 2) (LSP order), got {tuple(kp.shape)}")
    if tuple(conf.shape) != tuple(kp.shape[:2]):
        raise ValueError(f"confidence: expected shape {tuple(kp.shape[:2])}, got {tuple(conf.shape)}")
    if not bool(torch.isfinite(kp).all()):
        bad = torch.nonzero(~torch.isfinite(kp).all(-1).all(-1)).flatten().tolist()
        raise ValueError(f"keypoints2d: NaN or infinite values in image(s) {bad}")
    if bool(((conf < 0) | (conf > 1)).any()) or not bool(torch.isfinite(conf).all()):
        raise ValueError(f"confidence: expected values in [0, 1], got min {float(conf.min()):g}, "
                         f"max {float(conf.max()):g}")


def build(c: SmplifyConfig, data: dict[str, Any], ctx: Context) -> tuple[Any, Any, SMPLify]:
    """The body model, the pose prior and the fitter of a case."""
    from bench.methods.procedural_body import builtin_body, sample_body_poses
    from suites.smplify.models import describe, load_smpl
    from suites.smplify.priors import Interpenetration, fit_pose_prior, load_pose_prior

    model = load_smpl(c.model_path, c.gender) if c.model_path else builtin_body(dtype=torch.float64)
    if c.pose_prior:
        prior = load_pose_prior(c.pose_prior)
    else:
        poses = sample_body_poses(np.random.default_rng(10_000 + int(ctx.seed)), c.prior_samples)
        prior = fit_pose_prior(poses, c.prior_components, seed=int(ctx.seed))
    interp = None
    if c.interpenetration:
        with torch.no_grad():
            rest = model(betas=torch.zeros(1, model.num_betas, dtype=torch.float64))
        interp = Interpenetration(rest.vertices[0], rest.joints[0], model.lbs_weights.double(), model.parents)
    cfg = FitConfig(focal=c.focal_length, sigma=c.sigma, stage_iterations=c.stage_iterations,
                    camera_iterations=c.camera_iterations, flip_threshold_px=c.flip_threshold_px,
                    flip_test=c.flip_test, use_hips=c.use_hips,
                    interpenetration_weight=c.interpenetration_weight if c.interpenetration else 0.0)
    centre = torch.tensor(data["meta"]["principal_point"], dtype=torch.float64)
    ctx.log(f"smplify: {describe(model)}, pose prior {prior.source}, {len(data['keypoints2d'])} images facing "
            f"{c.facing}, interpenetration {'on' if c.interpenetration else 'off'}, {c.stage_iterations} "
            f"iterations x {len(cfg.pose_weights)} stages")
    return model, prior, SMPLify(model, prior, cfg, centre, interp)


def evaluate_fits(fitter: SMPLify, fits: list[Any]) -> dict[str, torch.Tensor]:
    """Keypoints (N, 14, 3), vertices (N, V, 3), projected keypoints (N, 14, 2), orientations (N, 3) of fits."""
    stack = lambda name: torch.stack([getattr(f, name) for f in fits])  # noqa: E731
    with torch.no_grad():
        kp, out = fitter.keypoints(stack("betas"), stack("global_orient"), stack("body_pose"), stack("transl"))
    return {"keypoints": kp, "vertices": out.vertices, "joints": out.joints, "global_orient": stack("global_orient"),
            "keypoints2d": project(kp, fitter.cfg.focal, fitter.centre)}
