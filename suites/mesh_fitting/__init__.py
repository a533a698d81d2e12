"""Mesh fitting (book ch. 3): an ico-sphere deformed to a noisy point cloud of a known surface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.config import param
from bench.context import Context
from bench.metrics.units import ARBITRARY, LENGTH
from bench.suite import BackendTolerance, Case, MetricSpec, Profile, Suite
from suites.mesh_fitting.fit import LOSS_WEIGHTS, FitConfig, fit_mesh, mean_edge_length
from suites.mesh_fitting.targets import TARGETS, make_target

LOSSES = tuple(LOSS_WEIGHTS)


@dataclass(frozen=True)
class MeshFittingConfig:
    """One mesh-fitting case (defaults: the book's settings)."""

    target: Literal[TARGETS] = param("torus", "target surface whose noisy point cloud the sphere is fitted to")
    loss: Literal[LOSSES] = param("full", "loss weights: the book's full objective or one of its two ablations")
    iterations: int = param(2000, "SGD iterations (book: 2000)")
    sphere_level: int = param(4, "subdivision level of the initial ico_sphere (book: 4)")
    samples: int = param(5000, "points sampled from the mesh per iteration (book: 5000)")
    target_points: int = param(20000, "points of the target cloud")
    eval_samples: int = param(10000, "points per mesh for the Mesh R-CNN-protocol evaluation (10k)")


class MeshFittingSuite(Suite):
    name = "mesh_fitting"
    description = ("Deform ico_sphere to a target point cloud with Chamfer + edge + normal consistency + Laplacian "
                   "losses (book ch. 3), and the book's two ablations; quality by the Mesh R-CNN protocol.")
    Config = MeshFittingConfig
    grid = {"target": list(TARGETS), "loss": list(LOSSES)}
    profiles = {
        "smoke": Profile({"iterations": 150, "sphere_level": 3, "samples": 1000, "target_points": 3000},
                         description="CPU, seconds per case: a smaller sphere and fewer samples, enough to converge"),
        "standard": Profile(description="one GPU: the book's settings"),
        "full": Profile({"target_points": 100000}, description="the book's settings, a denser target"),
    }
    tiny = {"iterations": 2, "samples": 200, "target_points": 500, "eval_samples": 1000}
    metrics = (
        MetricSpec.of("chamfer_l2", description="Chamfer-L2 (squared, Mesh R-CNN scale 10) fitted mesh vs target"),
        MetricSpec.of("chamfer_l2", "chamfer_l2_init", "the same for the initial sphere", initial=True),
        MetricSpec("chamfer_reduction", "x", True, "chamfer_l2_init / chamfer_l2"),
        MetricSpec.of("abs_normal_consistency", "normal_consistency", "absolute normal consistency (Mesh R-CNN)"),
        MetricSpec.of("f1", "f1@0.1", "F1 at 0.1 (scale 10)"),
        MetricSpec.of("f1", "f1@0.3", "F1 at 0.3 (scale 10)"),
        MetricSpec.of("f1", "f1@0.5", "F1 at 0.5 (scale 10)"),
        MetricSpec("mean_edge_length", LENGTH, None,
                   "mean edge length of the fitted mesh (target normalised to radius 1)"),
        MetricSpec("final_loss", ARBITRARY, False, "weighted training loss at the last iteration"),
    )

    # Both backends build the same sphere and target and, from the same seed, draw the same samples
    # (docs/backends.md); they differ by float rounding in the losses, which 150 SGD-momentum steps amplify.
    # Measured at smoke (--backend torch,pytorch3d, all 6 cases): fitted Chamfer within 1.6%, F1 within 0.9
    # points, normal consistency within 0.0035, final loss within 3.8% (the Chamfer-only ablation, without
    # regularisers, diverges most); the bounds are ~3x that. The start is evaluated before any step.
    _PATH = ("rounding differences amplified along 150 optimisation steps (measured <= 1.6% Chamfer, 0.9 F1 "
             "points, 0.0035 normal consistency, 3.8% final loss)")
    backend_tolerances = {
        "chamfer_l2": BackendTolerance(rel=0.05, why=_PATH),
        "chamfer_l2_init": BackendTolerance(rel=1e-4, why="same sphere, target and seeded samples: rounding only"),
        "chamfer_reduction": BackendTolerance(rel=0.05, why=_PATH),
        "normal_consistency": BackendTolerance(abs=0.01, why=_PATH),
        "f1@0.1": BackendTolerance(abs=3.0, why=_PATH),
        "f1@0.3": BackendTolerance(abs=3.0, why=_PATH),
        "f1@0.5": BackendTolerance(abs=3.0, why=_PATH),
        "mean_edge_length": BackendTolerance(rel=0.02, why=_PATH),
        "final_loss": BackendTolerance(rel=0.1, why=_PATH + "; one iteration's sampled loss"),
    }

    def run(self, case: Case, ctx: Context) -> None:
        from bench.metrics import compare_meshes

        c: MeshFittingConfig = case.config
        t3d = ctx.backend
        with ctx.phase("setup", kind="setup"):
            target_mesh, target_points = make_target(t3d, c.target, n_points=c.target_points, seed=ctx.seed)
            fit_cfg = FitConfig(loss=c.loss, iterations=c.iterations, sphere_level=c.sphere_level, samples=c.samples)
            init = t3d.utils.ico_sphere(fit_cfg.sphere_level, "cpu")
        ctx.log(f"fitting ico_sphere({fit_cfg.sphere_level}) to {c.target} with loss {fit_cfg.loss}, "
                f"{fit_cfg.iterations} iterations on {ctx.device}")
        with ctx.phase("iteration") as loop:
            fit = fit_mesh(t3d, target_points, fit_cfg, ctx.device, loop)

        with ctx.phase("evaluate", kind="evaluate"):
            pred = fit.mesh.to("cpu")
            before = compare_meshes(init, target_mesh, protocol="meshrcnn", num_samples=c.eval_samples, seed=ctx.seed)
            after = compare_meshes(pred, target_mesh, protocol="meshrcnn", num_samples=c.eval_samples, seed=ctx.seed)
        chamfer, chamfer0 = after["Chamfer-L2"], before["Chamfer-L2"]
        ctx.metric("chamfer_l2", chamfer)
        ctx.metric("chamfer_l2_init", chamfer0)
        ctx.metric("chamfer_reduction", chamfer0.value / max(chamfer.value, 1e-12))
        ctx.metric("normal_consistency", after["AbsNormalConsistency"])
        for t in ("0.1", "0.3", "0.5"):
            ctx.metric(f"f1@{t}", after[f"F1@{t}"])
        ctx.metric("mean_edge_length", mean_edge_length(pred))
        ctx.metric("final_loss", fit.losses[-1])
        ctx.curve("loss_curve", fit.curve_iters, {k: v for k, v in fit.curve.items() if any(x == x for x in v)},
                  x_label="iteration", y_label="loss")
        t3d.io.save_obj(str(ctx.artifact_path("fitted.obj")), pred.verts_packed(), pred.faces_packed())
        ctx.artifact_file("fitted_mesh", ctx.artifact_path("fitted.obj"), "mesh")
