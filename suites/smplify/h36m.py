"""SMPLify on Human3.6M protocol 2 (``--set data=h36m``), evaluated as HMR and SPIN evaluate it.

The layout (user-provided, :mod:`bench.data.formats.h36m`): SPIN's ``h36m_valid_protocol2.npz``, the frames
under ``images/``, ``J_regressor_h36m.npy``, and 2D keypoints to fit: ``est_joints.npz`` (SMPLify's detection
format, (3, 14, N) x, y, confidence in the npz's frame order; SMPLify fitted DeepCut detections) or the npz's
own ``part`` array (SPIN's 24-joint 2D keypoints, whose first 14 are LSP's order). The real SMPL is needed
(``--set model_path=``): the regressor maps SMPL's 6,890 vertices.

Evaluation (SPIN ``eval.py`` for ``h36m-p2``; HMR ``evaluate_h36m``): the 17 Human3.6M joints regressed from
the fitted vertices, the 14 common joints (``H36M_TO_J14``) against the ground truth's (``J24_TO_J14``), both
centred on the pelvis (H36M joint 0 / SPIN joint 14), metres times 1000; PA-MPJPE ("reconstruction error")
after a per-frame similarity alignment. Frames: ``images`` of them, evenly spaced over the file (all of them
for the protocol's figure). Camera: SMPLify's fixed focal length (``focal_length``) and the image centre.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.context import Context
from bench.data.formats import h36m as H
from bench.errors import DataError, NotAvailable

# SPIN constants.py: the 14 LSP joints among the 17 Human3.6M regressor joints and among SPIN's 24 joints
H36M_TO_J14 = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
J24_TO_J14 = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18)
H36M_PELVIS, J24_PELVIS = 0, 14
MM = 1000.0


def frame_indices(total: int, n: int) -> np.ndarray:
    """``n`` frame indices evenly spaced over ``total`` (all of them when n >= total)."""
    if n >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))


def h36m_keypoints(vertices: torch.Tensor, regressor: torch.Tensor) -> torch.Tensor:
    """(N, 15, 3): the 14 common joints regressed from SMPL vertices (N, 6890, 3), then the pelvis (SPIN eval.py)."""
    j17 = torch.einsum("jv,nvc->njc", regressor.to(vertices), vertices)
    return j17[:, list(H36M_TO_J14) + [H36M_PELVIS]]


def _missing(root: Path, model_path: str | None, names: np.ndarray | None, doc: dict[str, Any] | None) -> list[str]:
    out = []
    if not model_path:
        out.append("the real SMPL: --set model_path=DIR with SMPL_NEUTRAL.pkl (https://smpl.is.tue.mpg.de; "
                   f"{H.REGRESSOR} maps SMPL's 6,890 vertices)")
    out += [H.where(f) for f in (H.NPZ, H.REGRESSOR) if not (root / f).is_file()]
    if doc is not None and "part" not in doc and not (root / H.DETECTIONS).is_file():
        out.append(f"2D keypoints to fit: {H.DETECTIONS} (SMPLify's format, (3, 14, N) in the npz's frame order) "
                   f"or a 'part' array (N, 24, 3) in {H.NPZ}")
    if names is not None:
        absent = [str(n) for n in names if not (root / str(n)).is_file()]
        if absent:
            more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
            out.append(f"{absent[0]}{more} ({H.SOURCES['images']})")
    return out


def _detections(path: Path, total: int) -> np.ndarray:
    """(total, 14, 3) x, y, confidence from an SMPLify-format ``est_joints`` (3, 14, total)."""
    from suites.smplify.lsp import read_est_joints

    a = read_est_joints(path)
    if a.shape[2] != total:
        raise DataError(f"{path}: est_joints has {a.shape[2]} frames, {H.NPZ} {total}")
    return a.transpose(2, 1, 0)


def load_h36m_targets(root: Path, limit: int, model_path: str | None) -> dict[str, Any]:
    """keypoints2d (N, 14, 2), confidence (N, 14), gt (N, 15, 3) metres pelvis-centred (14 joints + pelvis),
    regressor (17, 6890), centres (N, 2), sizes [(H, W)], ids; NotAvailable naming every missing piece."""
    from PIL import Image

    root = Path(root)
    doc = H.read_protocol2(root / H.NPZ) if (root / H.NPZ).is_file() else None
    idx = frame_indices(len(doc["imgname"]), limit) if doc is not None else None
    missing = _missing(root, model_path, None if doc is None else doc["imgname"][idx], doc)
    if missing:
        raise NotAvailable("h36m-p2: missing " + "; ".join(missing))
    bad = [p for p in map(H.frame_problem, doc["imgname"]) if p]
    if bad:
        raise DataError(f"{root / H.NPZ}: {len(bad)} frame(s) outside Human3.6M protocol 2, first: {bad[0]}")
    regressor = H.read_regressor(root / H.REGRESSOR)
    total = len(doc["imgname"])
    kp = _detections(root / H.DETECTIONS, total) if (root / H.DETECTIONS).is_file() else doc["part"][:, :14]
    kp = kp[idx]
    s = doc["S"][idx]
    gt = s[:, list(J24_TO_J14) + [J24_PELVIS], :3]
    sizes = []
    for name in doc["imgname"][idx]:
        with Image.open(root / str(name)) as im:
            sizes.append((im.size[1], im.size[0]))
    return {"keypoints2d": torch.from_numpy(kp[..., :2].copy()), "confidence": torch.from_numpy(kp[..., 2].copy()),
            "gt": torch.from_numpy(gt - gt[:, -1:]), "regressor": torch.from_numpy(regressor),
            "centres": torch.tensor([[w / 2.0, h / 2.0] for h, w in sizes], dtype=torch.float64), "sizes": sizes,
            "ids": [Path(str(n)).stem for n in doc["imgname"][idx]],
            "source_2d": H.DETECTIONS if (root / H.DETECTIONS).is_file() else f"{H.NPZ} 'part'"}


def run_h36m(ctx: Context, c: Any) -> None:
    """Fit every selected frame; PA-MPJPE / MPJPE (mm) of the 14 common joints, 2D error, flips, time."""
    from bench.metrics import mpjpe, pa_mpjpe, pck, reprojection_error_px
    from bench.metrics.body import similarity_align
    from suites.smplify import build, check_targets, evaluate_fits
    from suites.smplify.evaluate import BASE_WEIGHTS, overlay, report_timing
    from suites.smplify.fit import upright

    if c.facing != "front":
        raise NotAvailable(f"h36m-p2: facing={c.facing} describes generated targets; the Human3.6M protocol-2 case "
                           "runs once, as facing=front")
    with ctx.phase("setup", kind="setup"):
        data = load_h36m_targets(ctx.dataset("h36m-p2").root, c.images, c.model_path)
        check_targets(data)
        data["meta"] = {"principal_point": data["centres"][0].tolist()}
        model, prior, fitter = build(c, data, ctx)
    ctx.log(f"h36m protocol 2: {len(data['ids'])} frames, 2D keypoints from {data['source_2d']}")
    fits, kp2d, verts, noflip = [], [], [], []
    with ctx.phase("fit", items_per_step=1, item_unit="image") as loop:
        for i in range(len(data["ids"])):
            fitter.centre = data["centres"][i]
            with loop.step():
                fits.append(fitter.fit(data["keypoints2d"][i], data["confidence"][i]))
            pred = evaluate_fits(fitter, fits[-1:])
            kp2d.append(pred["keypoints2d"][0])
            verts.append(pred["vertices"][0])
            noflip.append(evaluate_fits(fitter, [fits[-1].noflip or fits[-1]])["vertices"][0])
    n = len(fits)
    with torch.no_grad():
        init = model(betas=torch.zeros(1, model.num_betas, dtype=torch.float64), global_orient=upright()[None],
                     body_pose=prior.mean_pose.double()[None]).vertices.expand(n, -1, -1)
    reg, gt = data["regressor"], data["gt"] * MM
    ours = h36m_keypoints(torch.stack(verts), reg) * MM
    ctx.metric("pa_mpjpe", pa_mpjpe(ours[:, :14], gt[:, :14], unit="mm"), item_ids=data["ids"])
    ctx.metric("pa_mpjpe_init", pa_mpjpe(h36m_keypoints(init, reg)[:, :14] * MM, gt[:, :14], unit="mm"))
    ctx.metric("pa_mpjpe_without_flip", pa_mpjpe(h36m_keypoints(torch.stack(noflip), reg)[:, :14] * MM,
                                                 gt[:, :14], unit="mm"))
    ctx.metric("mpjpe", mpjpe(ours, gt, root=14, unit="mm"), item_ids=data["ids"])
    ctx.metric("pck3d", pck(similarity_align(ours[:, :14], gt[:, :14]), gt[:, :14], c.pck_mm))
    vis = (data["confidence"] > 0).double() * torch.tensor(BASE_WEIGHTS, dtype=torch.float64)
    ctx.metric("reprojection_error", reprojection_error_px(torch.stack(kp2d), data["keypoints2d"], visibility=vis))
    report_timing(ctx, fits, data["ids"])
    for i in range(min(c.render_images, n)):
        ctx.image(f"fit_image{i:03d}", overlay(ctx.backend, verts[i], model.faces, c.focal_length, data["centres"][i],
                                                data["sizes"][i], data["keypoints2d"][i], kp2d[i]))
