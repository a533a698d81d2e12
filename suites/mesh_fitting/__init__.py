"""Mesh fitting (book ch. 3): an ico-sphere deformed to a noisy point cloud of a known surface."""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.suite import Case, MetricSpec, Suite
from suites.mesh_fitting.fit import LOSS_WEIGHTS, FitConfig, fit_mesh, mean_edge_length
from suites.mesh_fitting.targets import TARGETS, make_target


class MeshFittingSuite(Suite):
    name = "mesh_fitting"
    description = ("Deform ico_sphere to a target point cloud with Chamfer + edge + normal consistency + Laplacian "
                   "losses (book ch. 3), and the book's two ablations; quality by the Mesh R-CNN protocol.")
    grid = {"target": list(TARGETS), "loss": list(LOSS_WEIGHTS)}
    profiles = {
        # CPU, seconds per case: a smaller sphere and fewer samples, enough iterations to converge.
        "smoke": {"iterations": 150, "sphere_level": 3, "samples": 1000, "target_points": 3000, "eval_samples": 10000},
        # One GPU: the book's settings.
        "standard": {"iterations": 2000, "sphere_level": 4, "samples": 5000, "target_points": 20000,
                     "eval_samples": 10000},
        "full": {"iterations": 2000, "sphere_level": 4, "samples": 5000, "target_points": 100000,
                 "eval_samples": 10000},
    }
    datasets = ()
    test_params = {"iterations": 2, "samples": 200, "target_points": 500, "eval_samples": 1000}
    metrics = (
        MetricSpec("chamfer_l2", "", False, "Chamfer-L2 (squared, Mesh R-CNN scale 10) fitted mesh vs target surface"),
        MetricSpec("chamfer_l2_init", "", False, "the same for the initial sphere"),
        MetricSpec("chamfer_reduction", "x", True, "chamfer_l2_init / chamfer_l2"),
        MetricSpec("normal_consistency", "", True, "absolute normal consistency (Mesh R-CNN protocol)"),
        MetricSpec("f1@0.1", "%", True, "F1 at 0.1 (scale 10)"),
        MetricSpec("f1@0.3", "%", True, "F1 at 0.3 (scale 10)"),
        MetricSpec("f1@0.5", "%", True, "F1 at 0.5 (scale 10)"),
        MetricSpec("mean_edge_length", "", None, "mean edge length of the fitted mesh (target normalised to radius 1)"),
        MetricSpec("final_loss", "", False, "weighted training loss at the last iteration"),
        MetricSpec("peak_memory_mb", "MiB", False, "peak memory during the optimisation"),
    )

    def run(self, case: Case, ctx: Context) -> None:
        from bench.metrics import compare_meshes

        p: dict[str, Any] = dict(case.params)
        t3d = ctx.backend
        target_mesh, target_points = make_target(t3d, p["target"], n_points=p["target_points"], seed=ctx.seed)
        cfg = FitConfig(loss=p["loss"], iterations=p["iterations"], sphere_level=p["sphere_level"],
                        samples=p["samples"])
        ctx.log(f"fitting ico_sphere({cfg.sphere_level}) to {p['target']} with loss {cfg.loss}, "
                f"{cfg.iterations} iterations on {ctx.device}")
        init = t3d.utils.ico_sphere(cfg.sphere_level, "cpu")
        fit = fit_mesh(t3d, target_points, cfg, ctx.device)
        ctx.record_timing("iteration", fit.step_times.result(peak_memory_bytes=fit.peak.peak_bytes,
                          memory_kind=fit.peak.kind))

        pred = fit.mesh.to("cpu")
        before = compare_meshes(init, target_mesh, protocol="meshrcnn", num_samples=p["eval_samples"], seed=ctx.seed)
        after = compare_meshes(pred, target_mesh, protocol="meshrcnn", num_samples=p["eval_samples"], seed=ctx.seed)
        chamfer, chamfer0 = after["Chamfer-L2"], before["Chamfer-L2"]
        ctx.metric("chamfer_l2", chamfer.value, fingerprint=chamfer.fingerprint)
        ctx.metric("chamfer_l2_init", chamfer0.value, fingerprint=chamfer0.fingerprint)
        ctx.metric("chamfer_reduction", chamfer0.value / max(chamfer.value, 1e-12))
        nc = after["AbsNormalConsistency"]
        ctx.metric("normal_consistency", nc.value, fingerprint=nc.fingerprint)
        for t in ("0.1", "0.3", "0.5"):
            ctx.metric(f"f1@{t}", after[f"F1@{t}"].value, fingerprint=after[f"F1@{t}"].fingerprint)
        ctx.metric("mean_edge_length", mean_edge_length(pred))
        ctx.metric("final_loss", fit.losses[-1])
        if fit.peak.peak_bytes is not None:
            ctx.metric("peak_memory_mb", fit.peak.peak_bytes / 2**20, fingerprint={"kind": fit.peak.kind})
        ctx.curve("loss_curve", fit.curve_iters, {k: v for k, v in fit.curve.items() if any(x == x for x in v)},
                  x_label="iteration", y_label="loss")
        t3d.io.save_obj(str(ctx.artifact_path("fitted.obj")), pred.verts_packed(), pred.faces_packed())
        ctx.artifact_file("fitted_mesh", ctx.artifact_path("fitted.obj"), "mesh")
