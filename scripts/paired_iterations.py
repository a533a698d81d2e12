"""Built-in / PyTorch3D time of one optimisation step of the volumes and NeRF suites, side by side in one process.

The harness times the two backends in different processes (``bench3d run --backend torch,pytorch3d``), so a
load change between them moves the ratio: NeRF's iteration read 0.99x, 1.05x and 1.12x in three runs of one
code. Here both backends' models start from the same weights and take the same steps, interleaved call by call
(the order alternates), after warm-up calls; the ratio of each pair's times is taken and their median reported,
so a slow moment hits both sides of a pair. The step is the suite's own (same smoke configuration, same helpers):
rays through a random minibatch of the built-in views, forward, loss, backward and the optimiser's step;
``synsin-reproject`` is the backend's work in SynSin's evaluate phase (the points renderer on the test pairs).

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/paired_iterations.py --suite nerf,volumes --calls 60 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import timing  # noqa: E402
from bench.api import select_cases  # noqa: E402
from bench.backends import load  # noqa: E402
from bench.methods.views import builtin_views  # noqa: E402
from bench.methods.volumetric import composite, huber, sample_at_ndc  # noqa: E402
from bench.suite import Registry  # noqa: E402


def smoke_config(suite: str):
    """The suite's (first) smoke case configuration."""
    return select_cases([Registry().get(suite)], "smoke", None)[0].config


def views_of(c):
    return builtin_views(None, 0, mesh=c.mesh, num_views=c.num_views, image_size=c.image_size,
                         test_every=c.test_every)[0]


def _descend(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One optimiser step on ``loss``, as the suites' loops take it; the loss as a float."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def nerf_steps(names: list[str]) -> dict[str, Callable[[int], float]]:
    from suites.nerf.model import FieldConfig, NeuralRadianceField
    from suites.nerf.train import TrainConfig, mc_renderer

    c = smoke_config("nerf")
    train = views_of(c)
    cfg = TrainConfig(iterations=c.iterations, batch_size=c.batch_size, n_rays_per_image=c.n_rays_per_image,
                      n_pts_per_ray=c.n_pts_per_ray, lr=c.lr)
    fc = FieldConfig(n_harmonic_functions=c.n_harmonic_functions, n_hidden=c.n_hidden)
    images, masks = train.images, train.masks[..., None]
    bs = min(cfg.batch_size, len(train))
    torch.manual_seed(0)
    weights = None
    steps = {}
    for name in names:
        t3d = load(name)
        nerf = NeuralRadianceField(t3d, fc)
        weights = weights or nerf.state_dict()
        nerf.load_state_dict(weights)
        renderer, opt = mc_renderer(t3d, train, cfg), torch.optim.Adam(nerf.parameters(), lr=cfg.lr)

        def step(seed: int, t3d=t3d, nerf=nerf, renderer=renderer, opt=opt) -> float:
            idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:bs]
            torch.manual_seed(seed)  # the same random rays on both sides
            out, bundle = renderer(cameras=train.cameras(t3d, idx, "cpu"), volumetric_function=nerf)
            rgb, alpha = composite(out, train.background)
            xy = bundle.xys.reshape(bs, -1, 2)
            return _descend(opt, huber(rgb, sample_at_ndc(images[idx], xy).reshape(rgb.shape)).mean()
                            + huber(alpha, sample_at_ndc(masks[idx], xy).reshape(alpha.shape)).mean())
        steps[name] = step
    return steps


def volumes_steps(names: list[str]) -> dict[str, Callable[[int], float]]:
    from suites.volumes.fit import VolumeConfig, make_model

    c = smoke_config("volumes")
    train = views_of(c)
    cfg = VolumeConfig(iterations=c.iterations, grid_size=c.grid_size, n_pts_per_ray=c.n_pts_per_ray,
                       batch_size=c.batch_size, lr=c.lr)
    bs = min(cfg.batch_size, len(train))
    steps = {}
    for name in names:
        t3d = load(name)
        model = make_model(t3d, train, cfg, "cpu")
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

        def step(seed: int, t3d=t3d, model=model, opt=opt) -> float:
            idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:bs]
            rgb, alpha = composite(model(train.cameras(t3d, idx, "cpu")), train.background)
            return _descend(opt, huber(rgb, train.images[idx]).mean() + huber(alpha, train.masks[idx]).mean())
        steps[name] = step
    return steps


def synsin_reproject_steps(names: list[str]) -> dict[str, Callable[[int], float]]:
    """The backend's share of SynSin's evaluate phase: "reproject with true depth" of the smoke case's test pairs
    (the points renderer, no gradients); the rest of that phase (PSNR / SSIM scoring) is the same code on both."""
    import tempfile

    from bench.data.generated.view_pairs import generate_view_pairs, load_view_pairs
    from suites.synsin import _view_pairs_params, split
    from suites.synsin.model import ModelConfig, reproject

    c = smoke_config("synsin")
    with tempfile.TemporaryDirectory() as tmp:
        generate_view_pairs(Path(tmp), 0, **_view_pairs_params(c, None))
        test = split(load_view_pairs(Path(tmp)), "test")
    cfg = ModelConfig(radius_px=c.radius_px, points_per_pixel=8)  # as the suite's evaluate phase
    steps = {}
    for name in names:
        t3d = load(name)

        @torch.no_grad()
        def step(seed: int, t3d=t3d) -> float:
            img, _ = reproject(t3d, test["src_images"].permute(0, 3, 1, 2), test["src_depth"], test["R_rel"],
                               test["T_rel"], test["focal"], test["principal_point"], cfg)
            return float(img.sum())
        steps[name] = step
    return steps


BUILDERS = {"nerf": nerf_steps, "volumes": volumes_steps, "synsin-reproject": synsin_reproject_steps}


def paired(steps: dict[str, Callable[[int], float]], calls: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each call per backend; call i of every backend uses seed i, the order alternates."""
    names = list(steps)
    for i in range(warmup):
        for name in names:
            steps[name](i)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(calls):
        for name in (names if i % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            steps[name](1000 + i)
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="nerf,volumes", help="comma list of: " + ", ".join(BUILDERS))
    ap.add_argument("--calls", type=int, default=60, help="timed calls per backend (default 60)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--backend", default="torch,pytorch3d", help="the first is divided by the second")
    args = ap.parse_args(argv)
    suites = [s for s in args.suite.split(",") if s]
    unknown = [s for s in suites if s not in BUILDERS]
    if unknown or args.calls < 2:
        ap.error(f"--suite: expected some of {', '.join(BUILDERS)}; --calls at least 2")
    names = args.backend.split(",")
    if len(names) != 2:
        ap.error(f"--backend {args.backend}: expected two backends, e.g. torch,pytorch3d")
    torch.set_num_threads(args.threads)
    timing.warm_lazy_imports()
    print(f"| suite (smoke step) | {names[0]} median (ms) | {names[1]} median (ms) | paired ratio median "
          f"[quartiles] | calls |")
    print("|---|---|---|---|---|")
    for suite in suites:
        times = paired(BUILDERS[suite](names), args.calls, args.warmup)
        a, b = times[names[0]], times[names[1]]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        print(f"| {suite} | {statistics.median(a) * 1e3:.2f} | {statistics.median(b) * 1e3:.2f} | "
              f"{statistics.median(ratios):.3f} [{q1:.3f}, {q3:.3f}] | {args.calls} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
