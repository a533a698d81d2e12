"""SynSin (book ch. 9; Wiles et al., CVPR 2020): novel-view synthesis from one image, scored against two
references on the same held-out pairs of unseen scenes.

``dataset=builtin`` trains on the generated ``view-pairs`` (rooms with seeded primitives; relative pose and
true depth known; split by scene) and scores the test scenes' pairs: the model, "copy the source image" (a
floor) and "reproject the source with its true depth" (a near-ceiling: the true geometry, holes keep the
source pixel). ``dataset=realestate10k|kitti`` scores SynSin's own test pairs (its ``realestate.txt`` /
``kitti.txt``, ``suites/synsin/lists.py``) or a generic pair list (``suites/synsin/standard.py``).
``dataset=predictions`` scores a folder of predictions in SynSin's evaluation output layout
(``--set predictions=PATH``), with the same metrics. PSNR / SSIM (data_range 1), PSNR over disoccluded target
pixels, and PercSim (SynSin's VGG-16 cosine distance) / LPIPS only where their weights are given (``--set
vgg16_weights=PATH`` / ``lpips_weights=PATH`` or the torch hub cache); otherwise logged as unavailable.

Losses (``loss``): "l1", "l1+gan" (hinge GAN, two multi-scale discriminators, feature matching) and
"l1+gan+content" (+ 10 x the VGG-19 content loss; skipped unless ``vgg19_weights`` is a torchvision VGG-19
checkpoint). ``standard`` is SynSin's setting at 256x256 (64 channels, radius 4 px, 128 points per pixel, SynSin's
decoder without the CPU aids); ``smoke`` is CPU-sized: 40x40 images, 16 channels, radius 1.5 px, 8 points per
pixel, and two documented aids (``rgb_skip``: the colour is lifted with the features; ``residual``: the decoder
corrects the projected colour, its last conv starting at zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from bench.config import param
from bench.context import Context
from bench.errors import NotAvailable
from bench.metrics.units import ARBITRARY
from bench.suite import BackendTolerance, Case, DatasetUse, MetricSpec, Profile, Suite
from suites.synsin import evaluate as ev
from suites.synsin.model import ModelConfig, SynSin, reproject
from suites.synsin.train import TrainConfig, predict, train_synsin


@dataclass(frozen=True)
class SynSinConfig:
    """One SynSin case; defaults are SynSin's settings (``standard``) on generated pairs."""

    dataset: Literal["builtin", "realestate10k", "kitti", "predictions"] = param(
        "builtin", "builtin (generated view-pairs), realestate10k / kitti (with a pair list), or predictions (a "
                   "folder in SynSin's evaluation layout)")
    pairs_file: str = param("", "realestate10k / kitti: the pair list ('' = <dataset root>/synsin_pairs.txt)")
    synsin_list: str = param("", "realestate10k / kitti: SynSin's own test list, its data/files/realestate.txt or "
                                 "kitti.txt ('' = that name in the dataset root, if there)")
    max_train_pairs: int = param(1024, "kitti with SynSin's list: training pairs drawn from id_train.txt")
    loss: Literal["l1", "l1+gan", "l1+gan+content"] = param("l1+gan+content", "training loss (SynSin: l1 + 10 "
                                                            "content + hinge GAN + 10 feature matching)")
    scenes: int = param(64, "builtin: distinct generated scenes")
    test_scenes: int = param(16, "builtin: scenes held out (never trained on)")
    pairs_per_scene: int = param(8, "builtin: view pairs per scene")
    image_size: int = param(256, "builtin: image side in pixels (SynSin: 256)")
    max_angle: float = param(20.0, "builtin: largest rotation between source and target (degrees)")
    max_shift: float = param(0.3, "builtin: largest camera-centre move per axis (scene units)")
    channels: int = param(64, "feature channels (SynSin: 64)")
    blocks: int = param(2, "ResNet blocks in the feature net and decoder")
    min_z: float = param(1.0, "nearest regressed depth")
    max_z: float = param(10.0, "farthest regressed depth")
    inverse_depth: bool = param(True, "sigmoid in inverse depth (SynSin's KITTI option) instead of depth")
    radius_px: float = param(4.0, "splat radius in pixels (SynSin: 4)")
    points_per_pixel: int = param(128, "K nearest points composited per pixel (SynSin: pp_pixel 128)")
    tau: float = param(1.0, "alpha exponent (SynSin: tau 1)")
    rgb_skip: bool = param(False, "lift the colour with the learned features (CPU aid)")
    residual: bool = param(False, "decoder corrects the projected colour (CPU aid; needs rgb_skip)")
    iterations: int = param(50000, "training iterations")
    batch_size: int = param(8, "pairs per iteration")
    lr_g: float = param(5e-4, "generator Adam lr (SynSin's lr_g default)")
    lr_d: float = param(2e-3, "discriminator Adam lr (SynSin's lr_d default)")
    ndf: int = param(64, "discriminator width (SynSin: 64)")
    grid_pairs: int = param(4, "test pairs in the image grid artifact", identity=False)
    predictions: str = param("", "dataset=predictions: the folder (<folder>/<id>/output_image_.png, "
                                 "tgt_image_.png[, input_image_.png])", identity=False)
    pred_name: str = param(ev.PRED_NAME, "dataset=predictions: prediction file in each pair folder (SynSin's "
                                         "KITTI eval: im_B.png)", identity=False)
    target_name: str = param(ev.TARGET_NAME, "dataset=predictions: target file (SynSin's KITTI eval: im_res.png)",
                             identity=False)
    take_every_other: bool = param(False, "dataset=predictions: best of each two consecutive folders (SynSin's "
                                          "--take_every_other, its published RealEstate10K protocol)")
    vgg16_weights: str = param("", "torchvision vgg16 checkpoint for PercSim ('' = torch hub cache)", identity=False)
    lpips_weights: str = param("", "torchvision alexnet checkpoint for LPIPS ('' = torch hub cache)", identity=False)
    vgg19_weights: str = param("", "torchvision vgg19 checkpoint for the content loss ('' = torch hub cache)")


def _view_pairs_params(c: SynSinConfig, _root: Any) -> dict[str, Any]:
    return {"count": c.pairs_per_scene, "image_size": c.image_size, "max_angle": c.max_angle, "dist": 3.0,
            "fov": 60.0, "scenes": c.scenes, "test_scenes": c.test_scenes, "max_shift": c.max_shift}


def split(pairs: dict[str, Any], name: str) -> dict[str, Any]:
    """The pairs of one split ("train"/"test"): every per-pair tensor or list indexed, the rest kept."""
    keep = [i for i, s in enumerate(pairs["splits"]) if s == name]
    n = len(pairs["splits"])
    out = {}
    for k, v in pairs.items():
        shared = k in ("focal", "principal_point") and isinstance(v, torch.Tensor) and v.ndim == 1
        if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == n and not shared:
            out[k] = v[keep]
        elif isinstance(v, list) and len(v) == n:
            out[k] = [v[i] for i in keep]
        else:
            out[k] = v
    return out


def _backend_tolerances() -> dict[str, BackendTolerance]:
    """Backend agreement bounds, from smoke on both backends, --threads 1 (docs/backends.md). The model is
    trained from the same initialisation and seed; the backend's PointsRasterizer + AlphaCompositor agree
    to float32 rounding, which training amplifies, most along the GAN path: loss=l1 (run
    20261205-181544-6d27) PSNR 0.48 dB, disoccluded PSNR 0.19 dB, SSIM 0.012, final loss 0.3%; loss=l1+gan
    (run 20261205-182232-c864) PSNR 0.84 dB, disoccluded 0.58 dB, SSIM 0.066, final loss 0.75%. Bounds about
    2x the GAN path's. The copy / reprojection baselines are not trained: equal (copy) or 5e-7 relative
    (reprojection through the backend's splatting). Perc Sim and LPIPS need weights not present here: not
    measured on both backends, so not bounded."""
    path = "float32 rounding amplified along training, most by the GAN (l1+gan: PSNR 0.84 dB, SSIM 0.066)"
    out = {"psnr": BackendTolerance(abs=1.5, why=path), "psnr_disoccluded": BackendTolerance(abs=1.5, why=path),
           "ssim": BackendTolerance(abs=0.1, why=path), "final_loss": BackendTolerance(rel=0.05, why=path)}
    for method in ("copy", "reproject"):
        for m in ("psnr", "ssim", "psnr_disoccluded"):
            out[m + ev.suffix(method)] = BackendTolerance(abs=1e-6, rel=1e-4, why="untrained baseline: rounding only")
    return out


def _metrics() -> tuple[MetricSpec, ...]:
    specs = []
    for method, what in (("model", "SynSin"), ("copy", "copy the source"), ("reproject", "reproject with true depth")):
        s = ev.suffix(method)
        specs += [MetricSpec.of("psnr", "psnr" + s, f"{what}: PSNR on held-out pairs of unseen scenes"),
                  MetricSpec.of("ssim", "ssim" + s, f"{what}: SSIM as SynSin's eval (Gaussian 11/1.5, "
                                                                 "zero-padded borders)"),
                  MetricSpec.of("psnr", "psnr_disoccluded" + s, f"{what}: PSNR over disoccluded target pixels"),
                  MetricSpec.of("perc_sim", "perc_sim" + s, f"{what}: SynSin's Perc Sim (VGG-16 weights given)"),
                  MetricSpec.of("lpips", "lpips" + s, f"{what}: LPIPS (alex; weights given)")]
    return (*specs, MetricSpec("final_loss", ARBITRARY, False, "generator loss at the last iteration"),
            MetricSpec("inference_images_per_s", "images/s", True, "test predictions per second"))


class SynSinSuite(Suite):
    name = "synsin"
    description = ("SynSin (book ch. 9): feature + depth nets, points splatted by the backend's PointsRasterizer + "
                   "AlphaCompositor, refinement decoder; L1 / L1+GAN / +VGG content; scored with copy-source and "
                   "true-depth reprojection on held-out scenes; bring-your-own predictions.")
    Config = SynSinConfig
    grid = {"dataset": ["builtin"], "loss": ["l1", "l1+gan", "l1+gan+content"]}
    profiles = {
        "smoke": Profile({"scenes": 16, "test_scenes": 4, "pairs_per_scene": 4, "image_size": 40, "channels": 16,
                          "blocks": 1, "inverse_depth": False, "radius_px": 1.5, "points_per_pixel": 8,
                          "rgb_skip": True, "residual": True, "iterations": 100, "lr_g": 1e-3, "ndf": 16},
                         grid={"loss": ["l1", "l1+gan"]},
                         description="CPU: 16 rooms at 40x40 (4 held out), small nets, 100 iterations"),
        # SynSin's options.py: RealEstate10K depth in [1, 100], KITTI [1, 50] regressed in inverse depth
        "standard": Profile(grid={"dataset": ["builtin", "realestate10k", "kitti"]},
                            per_case={"dataset": {"realestate10k": {"max_z": 100.0},
                                                  "kitti": {"max_z": 50.0, "inverse_depth": True}}},
                            description="one GPU: SynSin's network sizes and renderer at 256x256"),
        "full": Profile({"scenes": 256, "test_scenes": 32, "iterations": 200000}),
    }
    datasets = (DatasetUse("view-pairs", when={"dataset": "builtin"}, params=_view_pairs_params),
                DatasetUse("realestate10k", when={"dataset": "realestate10k"}),
                DatasetUse("kitti-synsin", when={"dataset": "kitti"}))
    tiny = {"scenes": 2, "test_scenes": 1, "pairs_per_scene": 2, "image_size": 16, "channels": 4, "blocks": 1,
            "radius_px": 1.5, "points_per_pixel": 2, "iterations": 2, "batch_size": 2, "ndf": 4, "grid_pairs": 1,
            "rgb_skip": True, "residual": True}
    metrics = _metrics()
    backend_tolerances = _backend_tolerances()
    # loss=l1+gan: final_loss is the generator loss of the last minibatch, an adversarial objective that moves
    # far under rounding-level input changes on ONE backend. Spread study (issue 22, scripts/backend_spread.py,
    # built-in backend, smoke, --threads 1, lr_g 1e-3 x (1 + d), d = +-1e-6, +-1e-5: runs 20261206-031304-1c57,
    # -031839-fad6, -032035-0e48, -032230-e514, with the unperturbed 20261205-235153-b65e; docs/backends.md):
    # final loss 8.75-10.54, PSNR 23.72-24.42, SSIM 0.818-0.828, disoccluded PSNR 19.6-20.6. PyTorch3D's values
    # (9.32, 24.08, 0.826, 20.1) lie inside; PyTorch3D's own runs at lr_g x (1 +- 1e-6) (20261206-034800-3ad1,
    # -034902-1eeb) give final loss 11.62, 10.56, SSIM 0.811, 0.813. Only the final loss exceeds the suite bound
    # (rel 0.05, 11.6% apart in b65e): it gets the range over both backends' runs (8.75-11.62) rounded up.
    # loss=l1: final_loss is one minibatch's L1 loss at the last step. Spread study as above (issue 22, eighth session,
    # lr_g x (1 + d), d = +-1e-6, +-1e-5, with the unperturbed run 20261207-010350-fc21): built-in 0.03138-0.03306
    # (runs 20261207-011153-58a5, -011223-d767, -011252-7bbb, -011320-5073), PyTorch3D 0.03095-0.03244 (-011637-51a0,
    # -011711-721d, -011741-a753, -011817-fb32); the unperturbed pair 0.03306 vs 0.03095 (6.8%) is outside the suite's
    # rel 0.05 but inside both backends' spread: the range over both (0.00211) rounded up.
    backend_case_tolerances = {
        "dataset=builtin,loss=l1": {
            "final_loss": BackendTolerance(abs=0.003, why="both backends' spread under lr_g x (1 +- 1e-6, 1e-5) at "
                                                          "smoke: 0.03095-0.03306 (study in docs/backends.md)")},
        "dataset=builtin,loss=l1+gan": {
            "final_loss": BackendTolerance(abs=3.0, why="both backends' spread under lr_g x (1 +- 1e-6, 1e-5) at "
                                                        "smoke: 8.75-11.62 (study in docs/backends.md)")},
    }

    def run(self, case: Case, ctx: Context) -> None:
        c: SynSinConfig = case.config
        weights = ev.Weights(vgg16=c.vgg16_weights, lpips=c.lpips_weights)
        if c.dataset == "predictions":
            return self.score_predictions(c, weights, ctx)
        content = self.content_loss(c, ctx.device) if "content" in c.loss else None
        t3d = ctx.backend
        mcfg = ModelConfig(channels=c.channels, blocks=c.blocks, min_z=c.min_z, max_z=c.max_z,
                           inverse_depth=c.inverse_depth, radius_px=c.radius_px, points_per_pixel=c.points_per_pixel,
                           tau=c.tau, rgb_skip=c.rgb_skip, residual=c.residual)
        tcfg = TrainConfig(loss=c.loss, iterations=c.iterations, batch_size=c.batch_size, lr_g=c.lr_g, lr_d=c.lr_d,
                           ndf=c.ndf)
        with ctx.phase("setup", kind="setup"):
            pairs = self.pairs(c, ctx)
            train, test = split(pairs, "train"), split(pairs, "test")
            if not train["ids"] or not test["ids"]:
                raise ValueError(f"synsin: {len(train['ids'])} training and {len(test['ids'])} test pairs; "
                                 "expected both splits to have pairs")
            ctx.log(f"synsin: {len(set(train['scenes']))} training scenes ({len(train['ids'])} pairs), "
                    f"{len(set(test['scenes']))} unseen test scenes ({len(test['ids'])} pairs) at "
                    f"{c.image_size}x{c.image_size}; loss {c.loss}, {c.iterations} iterations on {ctx.device}")
            model = SynSin(t3d, mcfg).to(ctx.device)
        with ctx.phase("iteration", items_per_step=min(c.batch_size, len(train["ids"])), item_unit="pairs") as loop:
            res = train_synsin(model, train, tcfg, ctx.device, loop, content=content,
                               generator=torch.Generator().manual_seed(ctx.seed))
        n_test = len(test["ids"])
        with ctx.phase("inference", kind="evaluate", items_per_step=n_test, item_unit="images") as inf:
            with inf.step():
                pred = predict(model, test, ctx.device)
        with ctx.phase("evaluate", kind="evaluate"):
            outs = {"model": pred, "copy": test["src_images"]}
            if "src_depth" in test:
                rep, _ = reproject(t3d, test["src_images"].permute(0, 3, 1, 2), test["src_depth"], test["R_rel"],
                                   test["T_rel"], test["focal"], test["principal_point"],
                                   ModelConfig(radius_px=c.radius_px, points_per_pixel=8))
                outs["reproject"] = rep.permute(0, 2, 3, 1)
            else:
                ctx.log(f"reproject with true depth: not available ({c.dataset} has no depth)")
            scores = {m: ev.score(o, test["tgt_images"], test.get("disoccluded"), weights, test["ids"])
                      for m, o in outs.items()}
        for m in outs:
            ev.record(ctx, scores[m], m, test["ids"])
        ctx.metric("final_loss", res.losses[-1])
        ctx.metric("inference_images_per_s", n_test / max(inf.elapsed, 1e-9))
        ctx.curve("loss_curve", list(range(1, len(res.losses) + 1)), res.losses, x_label="iteration",
                  y_label=f"generator loss ({c.loss})")
        rows = []
        for i in range(min(c.grid_pairs, n_test)):
            row = [test["src_images"][i], test["tgt_images"][i], pred[i]]
            if "reproject" in outs:
                row += [outs["reproject"][i], test["disoccluded"][i, ..., None].float().expand(-1, -1, 3)]
            rows.append(row)
        ctx.image("source_target_prediction_reproject_disocclusion", ev.grid(rows))
        ctx.log("held-out PSNR (dB): " + ", ".join(f"{m} {s['psnr'].value:.2f}" for m, s in scores.items()))

    @staticmethod
    def pairs(c: SynSinConfig, ctx: Context) -> dict[str, Any]:
        """All pairs of the case's dataset in the view-pairs layout (``splits`` marks train / test)."""
        if c.dataset == "builtin":
            return ctx.dataset("view-pairs").load()
        from suites.synsin.standard import load_case_pairs

        root = ctx.dataset("realestate10k" if c.dataset == "realestate10k" else "kitti-synsin").root
        return load_case_pairs(c.dataset, root, c.pairs_file, c.synsin_list, c.image_size, c.max_train_pairs,
                               ctx.seed, ctx.log)

    @staticmethod
    def content_loss(c: SynSinConfig, device: str) -> torch.nn.Module:
        """SynSin's VGG-19 content loss, or NotAvailable (the case is skipped) when the weights are absent."""
        from suites.synsin.content import VGGContentLoss

        return VGGContentLoss(c.vgg19_weights or None).to(device)

    @staticmethod
    def score_predictions(c: SynSinConfig, weights: ev.Weights, ctx: Context) -> None:
        """Score a folder in SynSin's evaluation layout (the model's metrics; "copy" when sources are there)."""
        if not c.predictions:
            raise NotAvailable("dataset=predictions needs a folder: --set predictions=PATH (SynSin's evaluation "
                               f"layout: <folder>/<id>/{ev.PRED_NAME}, {ev.TARGET_NAME}[, {ev.INPUT_NAME}])")
        with ctx.phase("evaluate", kind="evaluate"):
            f = ev.read_prediction_folder(c.predictions, c.pred_name, c.target_name)
            ctx.log(f"synsin: {len(f['ids'])} predicted pairs from {c.predictions}")
            methods = {"model": f["pred"]} if f["src"] is None else {"model": f["pred"], "copy": f["src"]}
            for method, images in methods.items():
                res, ids = ev.score(images, f["target"], None, weights, f["ids"]), f["ids"]
                if c.take_every_other:
                    res, ids = ev.best_of_two(res, ids)
                ev.record(ctx, res, method, ids)
