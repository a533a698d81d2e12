"""Pose by differentiable rendering (book ch. 4; PyTorch3D's camera-position tutorial) and a multi-view rig variant.

Cases: ``scene=teapot`` (soft silhouette, camera position from the tutorial's start [3.0, 6.9, 2.5]),
``scene=cow`` (silhouette + 0.1 x texture), ``scene=multiview`` (full rotation + translation of a rig of
3 cameras 120 degrees apart with known relative poses, from 30 degrees off, against their soft masks
(``rig_targets=hard`` uses the book's binary masks, whose loss minimum sits a few degrees off the truth);
stop below 2% of the targets' summed area). Each also runs K random starts at a given angle from the truth
and reports the success rate (rotation error < ``success_deg``) with a Wilson interval. Random starts of the
look-at scenes move the camera centre by the angle on its sphere. Profiles give settings per scene (Profile.per_case).

``standard`` is the book's setting: 256x256, 100 faces per pixel (50 for the textured pass),
sigma = gamma = 1e-4, Adam lr 0.05, stop below 500 (teapot, the book's loop) or 800 (cow), at most
200 iterations. (The tutorial stops below 200; its trajectory levels at ~306 here.) ``smoke`` renders the
teapot at 96x96, the cow (texture map reduced to 128^2) and the rig at 64x64, 20 faces per pixel, thresholds
for the smaller images (teapot 90, cow 50), 4/2/4 random starts at 15 degrees. Measured on 2 shared CPU
cores (torch backend, OMP_NUM_THREADS=1): teapot 2.2 deg in 76 iterations, cow 1.3 deg in 111, rig 1.8 deg
in 53 with 4/4 random starts below 5 deg; the suite takes ~45 s wall under load, ~10 s of it imports.

Expected ``standard`` cost on one GPU (estimated; the book reports no times): PyTorch3D's CUDA
rasteriser takes ~10-20 ms per 256x256 K=100 silhouette forward + backward, so ~2-4 s for the reference
start (~90 iterations) and ~10-20 s for 16 batched random starts per case (x3 views for the rig). Peak
memory (estimate of ``render.estimate_memory_bytes``, calibrated on the torch backend) ~0.6 GB teapot,
~0.8 GB cow, ~1.6 GB three-camera rig per start, x16 for the batched random starts (~9-26 GB; lower
random_starts on small GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Literal

import torch

from bench.config import param
from bench.context import Context
from bench.metrics.units import ARBITRARY, ITERATIONS
from bench.suite import BackendTolerance, Case, MetricSpec, Profile, Suite
from suites.pose.evaluate import report_reference, report_starts
from suites.pose.models import ROTATIONS, LookAtPose, RigPose, look_at_starts, reference_rig_start, rig_starts
from suites.pose.optimize import OptConfig, optimise
from suites.pose.render import (
    RenderConfig,
    check_memory,
    estimate_memory_bytes,
    make_renderers,
    render_soft_masks,
    render_targets,
)
from suites.pose.scenes import SCENES, check_camera_outside, make_scene, resize_texture

TUTORIAL_START = (3.0, 6.9, 2.5)
# Iterations whose loss the book prints (book ch. 4): teapot 8414.53 / 372.46, cow 7313.08 / 738.10.
RIG_TARGETS = ("soft", "hard")
BOOK_ITERS = {"teapot": (0, 87), "cow": (0, 72), "multiview": (0,)}


@dataclass(frozen=True)
class PoseConfig:
    """One pose case; defaults are the book's setting (``standard``)."""

    scene: Literal[SCENES] = param("teapot", "teapot (silhouette), cow (silhouette + texture) or multiview (rig)")
    image_size: int = param(256, "render side in pixels (book: 256)")
    faces_per_pixel: int = param(100, "K of the soft silhouette rasterizer (book: 100)")
    textured_faces_per_pixel: int = param(50, "K of the textured pass (book: 50)")
    iterations: int = param(200, "Adam iterations at most, reference start")
    start_iterations: int = param(200, "Adam iterations at most, random starts")
    random_starts: int = param(16, "K random starts for the success rate (0: none)")
    lr: float = param(0.05, "Adam learning rate (book: 0.05)")
    texture_weight: float = param(0.1, "weight of the RGB term (cow)")
    start_angle_deg: float = param(30.0, "angle of the random starts from the truth")
    reference_angle_deg: float = param(30.0, "multiview: angle of the reference start from the truth")
    success_deg: float = param(5.0, "a start succeeds below this rotation error")
    views: int = param(3, "multiview: cameras in the rig")
    view_spacing_deg: float = param(120.0, "multiview: azimuth between the rig's cameras")
    rotation: Literal[ROTATIONS] = param("so3", "multiview: rotation parameterisation")
    rig_targets: Literal[RIG_TARGETS] = param("soft", "multiview: fit soft masks or the book's binary masks")
    start_shift: float = param(0.1, "multiview: translation offset of the starts")
    frame_every: int = param(10, "an optimisation frame every N iterations (the GIF)")
    loss_threshold: float | None = param(None, "stop below this loss (book: 500 teapot, 800 cow)")
    loss_threshold_per_area: float | None = param(None, "stop below this x the targets' summed area (rig)")
    texture_size: int | None = param(None, "cow: texture map resized to this side (None: as shipped)")
    start_position: tuple[float, float, float] | None = param(None, "look-at scenes: reference camera position "
                                                                    "(None: the tutorial's [3.0, 6.9, 2.5])")
    cow_obj: str | None = param(None, "cow: an OBJ to use instead of the shipped cow")
    memory_limit_mb: float = param(24000.0, "refuse a case whose estimated peak memory exceeds this",
                                   identity=False)


def _scenes(**by_field: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per-scene settings {field: {scene: value}} as Profile.per_case {"scene": {scene: {field: value}}}."""
    out: dict[str, dict[str, Any]] = {s: {} for s in SCENES}
    for field_name, values in by_field.items():
        for scene, value in values.items():
            out[scene][field_name] = value
    return {"scene": out}


_BOOK_THRESHOLDS = {"loss_threshold": {"teapot": 500.0, "cow": 800.0}, "loss_threshold_per_area": {"multiview": 0.02}}


class PoseSuite(Suite):
    name = "pose"
    description = ("Camera/object pose by differentiable silhouette (and texture) rendering, book ch. 4 and "
                   "PyTorch3D's camera-position tutorial, with success rates from random starts.")
    Config = PoseConfig
    grid = {"scene": list(SCENES)}
    profiles = {
        "smoke": Profile(
            {"faces_per_pixel": 20, "textured_faces_per_pixel": 10, "start_angle_deg": 15.0, "texture_size": 128,
             "memory_limit_mb": 2048.0},
            per_case=_scenes(image_size={"teapot": 96, "cow": 64, "multiview": 64},
                             iterations={"teapot": 120, "cow": 120, "multiview": 80},
                             start_iterations={"teapot": 30, "cow": 30, "multiview": 50},
                             random_starts={"teapot": 4, "cow": 2, "multiview": 4},
                             loss_threshold={"teapot": 90.0, "cow": 50.0},
                             loss_threshold_per_area={"multiview": 0.02}),
            description="CPU: small renders, few faces per pixel, a few random starts"),
        "standard": Profile(per_case=_scenes(**_BOOK_THRESHOLDS), description="one GPU: the book's setting"),
        "full": Profile({"iterations": 300, "start_iterations": 300, "random_starts": 64, "views": 4,
                         "view_spacing_deg": 90.0, "memory_limit_mb": 64000.0},
                        per_case=_scenes(**_BOOK_THRESHOLDS)),
    }
    tiny = {"image_size": 32, "faces_per_pixel": 4, "textured_faces_per_pixel": 2, "iterations": 2,
            "start_iterations": 2, "random_starts": 2}
    metrics = (
        MetricSpec.of("rotation_error", "rotation_error_deg", "geodesic error of camera 0's rotation, reference start"),
        MetricSpec.of("camera_center_error", description="distance of camera 0's centre from the truth (world units)"),
        MetricSpec.of("iou", "silhouette_iou", "IoU of the hard mask at the final pose vs the target, per view"),
        MetricSpec("final_loss", ARBITRARY, False, "loss at the stop iteration, reference start"),
        MetricSpec("iterations_to_threshold", ITERATIONS, False, "first iteration with loss below the threshold"),
        MetricSpec("seconds_to_threshold", "s", False, "optimisation seconds until that iteration"),
        MetricSpec("loss_iter0", ARBITRARY, None, "loss at iteration 0 (book: teapot 8414.53, cow 7313.08 at 256x256)"),
        MetricSpec("loss_iter72", ARBITRARY, None, "loss at iteration 72 (book: cow 738.10 at 256x256)"),
        MetricSpec("loss_iter87", ARBITRARY, None, "loss at iteration 87 (book: teapot 372.46 at 256x256)"),
        MetricSpec("success_rate", "%", True, "random starts ending below success_deg rotation error"),
        MetricSpec("success_rate_low", "%", True, "Wilson 95% interval, lower bound"),
        MetricSpec("success_rate_high", "%", True, "Wilson 95% interval, upper bound"),
        MetricSpec("start_rotation_error_deg", "deg", False, "final rotation error per random start (median)"),
    )

    # Both backends render the same mesh from the same start and seed; they differ by float rounding in the
    # soft rasterizer and its gradients, amplified along the optimisation. Measured at smoke (--backend
    # torch,pytorch3d, teapot and cow): rotation error within 0.07 deg, centre error 1.8%, final loss 2%,
    # iterations to threshold equal. Bounds: several times that.
    _PATH = "rounding differences amplified along the optimisation (measured 0.07 deg, 1.8%, 2%)"
    # success_rate and its Wilson bounds are not bounded: at smoke one start of 2-4 landing on the other side
    # of success_deg moves them by 25-50 points, so no useful bound exists there (shown, not gated).
    backend_tolerances = {
        "rotation_error_deg": BackendTolerance(abs=0.5, why=_PATH),
        "camera_center_error": BackendTolerance(rel=0.1, why=_PATH),
        "silhouette_iou": BackendTolerance(abs=0.01, why=_PATH),
        "final_loss": BackendTolerance(rel=0.1, why=_PATH),
        "iterations_to_threshold": BackendTolerance(abs=5, why=_PATH),
        "loss_iter0": BackendTolerance(rel=1e-4, why="the same start rendered: rounding only"),
        "loss_iter72": BackendTolerance(rel=0.05, why=_PATH),
        "loss_iter87": BackendTolerance(rel=0.05, why=_PATH),
        "start_rotation_error_deg": BackendTolerance(abs=0.5, why=_PATH),
    }
    # scene=multiview: its metrics are not stable under rounding-level changes of the input on ONE backend.
    # Study (issue 22, built-in backend, smoke, --threads 1, seed 0; runs 20261205-1837..1842, figures in
    # docs/backends.md): the reference start's angle 30 deg moved by +-1e-6, +-1e-5, -1e-4 deg and start_shift
    # 0.1 by +-1e-6 gives, with the unperturbed run, rotation error 0.32-2.51 deg, centre error 0.017-0.112,
    # IoU 0.962-0.984, final loss 15.9-28.7, iterations to threshold 50-58; seeds 0-4 (other random starts)
    # give start error 1.02-1.84 deg (shift +-1e-6: 1.28-1.84). PyTorch3D lies inside those ranges (1.20 and,
    # at +1e-5 deg, 0.89 deg). So the cross-backend gap (1.31 deg, centre 0.052, start error 0.63) is the
    # spread of one backend; the bounds below are those ranges rounded up. Not covered: at +1e-4 deg the
    # built-in fit never reached the threshold (53 deg); a multiview miss needs a perturbed rerun to judge.
    _RIG = "one backend's spread under rounding-level input perturbations (study in docs/backends.md)"
    backend_case_tolerances = {
        "scene=multiview": {
            "rotation_error_deg": BackendTolerance(abs=2.5, why=_RIG + ": 0.32-2.51 deg"),
            "camera_center_error": BackendTolerance(abs=0.1, why=_RIG + ": 0.017-0.112"),
            "silhouette_iou": BackendTolerance(abs=0.025, why=_RIG + ": 0.962-0.984"),
            "final_loss": BackendTolerance(rel=0.8, why=_RIG + ": 15.9-28.7"),
            "iterations_to_threshold": BackendTolerance(abs=8, why=_RIG + ": 50-58"),
            "start_rotation_error_deg": BackendTolerance(abs=1.0, why=_RIG + ": seeds 0-4 1.02-1.84 deg"),
        },
    }
    # The textured pass's gradient on PyTorch3D 0.7.9 is dominated by its perspective-correction backward at
    # blurred pixels beyond a face's vanishing line (tests/backends/conformance/test_perspective_gradients.py).
    backend_known_differences = {
        "scene=cow": "PyTorch3D 0.7.9's rasterizer backward differentiates its clamped perspective denominator "
                     "(1e-8) at blurred pixels beyond a face's vanishing line: float32 rounding x 1e16 in the "
                     "gradient (cow at 64x64: 83 of 24119 pairs; d loss / d T_x 1724 vs -56.7 built-in; "
                     "float64 finite differences agree with the built-in); Adam then leaves the start "
                     "(docs/backends.md)",
    }

    def run(self, case: Case, ctx: Context) -> None:
        p = case.params
        with ctx.phase("setup", kind="setup"):
            w = self._setup(p, ctx)
        dev = ctx.device
        with ctx.phase("iteration") as loop:
            ref = optimise(w.ref_model.to(dev), w.renderers, w.mesh, w.fit_masks, w.tex_images, w.ocfg, dev, loop)
        report_reference(ctx, ctx.backend, w.scene, w.renderers, w.mesh, w.masks, w.images, ref,
                         BOOK_ITERS[p["scene"]], w.ocfg)
        if w.k > 0:
            scfg = replace(w.ocfg, iterations=int(p["start_iterations"]))
            with ctx.phase("start_iteration") as loop:
                starts = optimise(w.rand_model.to(dev), w.renderers, w.mesh, w.fit_masks, w.tex_images, scfg, dev,
                                  loop)
            report_starts(ctx, w.scene, starts, float(p["success_deg"]), float(p["start_angle_deg"]))

    @staticmethod
    def _setup(p: dict[str, Any], ctx: Context) -> SimpleNamespace:
        """Scene, models, renderers, targets and optimisation settings of a case."""
        scene_name = p["scene"]
        t3d = ctx.backend
        scene = make_scene(t3d, scene_name, data_root=ctx.data_root, cow_obj=p["cow_obj"], views=p["views"],
                           view_spacing_deg=p["view_spacing_deg"])
        if scene.textured and p["texture_size"]:
            scene.mesh = resize_texture(t3d, scene.mesh, int(p["texture_size"]))
        rcfg = RenderConfig(image_size=int(p["image_size"]), faces_per_pixel=int(p["faces_per_pixel"]),
                            textured_faces_per_pixel=int(p["textured_faces_per_pixel"]))
        k = int(p["random_starts"])
        gen = torch.Generator().manual_seed(int(ctx.seed))
        ref_model, rand_model = build_models(t3d, scene, p, k, gen)
        check_memory(estimate_memory_bytes(t3d, scene.mesh, scene.R, scene.T, rcfg, max(k, 1)),
                     float(p["memory_limit_mb"]), f"scene {scene_name!r}", rcfg, scene.about["faces"])
        dev = ctx.device
        mesh = scene.mesh.to(dev)
        renderers = make_renderers(t3d, rcfg, dev, scene.textured)
        images, masks = render_targets(renderers, mesh, scene.R.to(dev), scene.T.to(dev))
        fit_masks = masks
        if scene_name == "multiview" and p["rig_targets"] == "soft":
            fit_masks = render_soft_masks(renderers, mesh, scene.R.to(dev), scene.T.to(dev))
        threshold = loss_threshold(p, float(fit_masks.sum()))
        rule = {"threshold_per_area": float(p["loss_threshold_per_area"])} if p.get("loss_threshold_per_area") \
            else None
        ocfg = OptConfig(iterations=int(p["iterations"]), lr=float(p["lr"]), loss_threshold=threshold,
                         texture_weight=float(p["texture_weight"]), frame_every=int(p["frame_every"]),
                         threshold_rule=rule)
        ctx.log(f"pose {scene_name}: {scene.about['faces']} faces, {scene.views} view(s), {rcfg.image_size}px, "
                f"K={rcfg.faces_per_pixel}, threshold {threshold:g}, {k} random starts on {ctx.device}")
        return SimpleNamespace(scene=scene, k=k, ref_model=ref_model, rand_model=rand_model, mesh=mesh,
                               renderers=renderers, images=images, masks=masks, fit_masks=fit_masks, ocfg=ocfg,
                               tex_images=images if scene.textured else None)


def loss_threshold(p: dict[str, Any], target_area: float) -> float:
    """``loss_threshold_per_area`` x the target masks' summed area when set, else ``loss_threshold``."""
    rel = p.get("loss_threshold_per_area")
    if rel:
        if float(rel) <= 0 or target_area <= 0:
            raise ValueError(f"loss_threshold_per_area: expected > 0 with a visible target, got {rel!r} "
                             f"(target area {target_area:g} pixels)")
        return float(rel) * target_area
    return float(p["loss_threshold"])


def build_models(t3d: Any, scene: Any, p: dict[str, Any], k: int, gen: torch.Generator
                 ) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """The reference-start model and the K-random-start model; ValueError if a start is inside the object."""
    angle = float(p["start_angle_deg"])
    if scene.name == "multiview":
        R0, T0 = reference_rig_start(scene, float(p["reference_angle_deg"]), float(p["start_shift"]))
        ref = RigPose(t3d, R0, T0, scene.rig_R, scene.rig_T, p["rotation"])
        Rk, Tk = rig_starts(scene, angle, max(k, 1), gen, float(p["start_shift"]))
        rand = RigPose(t3d, Rk[:k], Tk[:k], scene.rig_R, scene.rig_T, p["rotation"]) if k else None
        check_camera_outside(ref.centres().reshape(-1, 3), scene.radius, "reference start")
    else:
        start = torch.tensor([p["start_position"] or TUTORIAL_START], dtype=torch.float32)
        check_camera_outside(start, scene.radius, "start_position")
        ref = LookAtPose(t3d, start)
        rand = LookAtPose(t3d, look_at_starts(scene, angle, k, gen)) if k else None
    if rand is not None:
        check_camera_outside(rand.centres().reshape(-1, 3), scene.radius, "random start")
    return ref, rand
