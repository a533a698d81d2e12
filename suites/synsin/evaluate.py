"""Scoring of predicted target views with the harness's metrics, the reference methods' names, the image grid,
and bring-your-own predictions in SynSin's evaluation output layout.

Every method (the model, "copy source", "reproject with true depth", a folder of predictions) is scored by the
same functions: PSNR and SSIM (data_range 1; SSIM as SynSin's evaluation, pytorch-ssim's zero-padded borders),
PSNR over disoccluded pixels (target pixels the source does not see), and PercSim / LPIPS only where their
weights are given (else the reason is logged, nothing recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import DataError, NotAvailable

METHODS = ("model", "copy", "reproject")  # the learned model and the two references


def suffix(method: str) -> str:
    """Metric-name suffix of a method: "" for the model, "_copy", "_reproject"."""
    return "" if method == "model" else f"_{method}"


@dataclass(frozen=True)
class Weights:
    """User-provided backbone files ("" = the torch hub cache): VGG-16 for PercSim, AlexNet for LPIPS."""

    vgg16: str = ""
    lpips: str = ""


def score(pred: torch.Tensor, target: torch.Tensor, disoccluded: torch.Tensor | None, weights: Weights,
          ids: list[str]) -> dict[str, Any]:
    """Metrics of predictions (N, H, W, 3) against targets (N, H, W, 3) in [0, 1].

    Returns name -> MetricResult ("psnr", "ssim", "psnr_disoccluded", "perc_sim", "lpips") with "<name>_ids" for
    per-item ids where they are a subset, and "<name>_unavailable" -> reason for the perceptual metrics that
    cannot be computed here."""
    from bench.metrics import lpips, perc_sim, psnr, ssim

    p = pred.detach().float().cpu().clamp(0, 1)
    t = target.detach().float().cpu()
    out: dict[str, Any] = {"psnr": psnr(p, t, data_range=1.0, layout="NHWC"),
                           "ssim": ssim(p, t, data_range=1.0, layout="NHWC", border="zero_pad")}
    if disoccluded is not None:
        has = disoccluded.flatten(1).any(1)
        if bool(has.any()):
            out["psnr_disoccluded"] = psnr(p[has], t[has], data_range=1.0, layout="NHWC", mask=disoccluded[has])
            out["psnr_disoccluded_ids"] = [i for i, h in zip(ids, has.tolist(), strict=True) if h]
    for name, fn, kw in (("perc_sim", perc_sim, {"weights_path": weights.vgg16 or None}),
                         ("lpips", lpips, {"weights_path": weights.lpips or None})):
        try:
            out[name] = fn(p, t, data_range=1.0, layout="NHWC", **kw)
        except NotAvailable as exc:
            out[f"{name}_unavailable"] = str(exc)
    return out


def record(ctx: Any, results: dict[str, Any], method: str, ids: list[str]) -> None:
    """Record a method's scores under its suffix, with per-pair ids; log what is unavailable (once, for the
    model)."""
    for name in ("psnr", "ssim", "psnr_disoccluded", "perc_sim", "lpips"):
        if name in results:
            ctx.metric(name + suffix(method), results[name], item_ids=results.get(f"{name}_ids", ids))
        elif method == "model" and f"{name}_unavailable" in results:
            ctx.log(f"{name} not recorded: {results[f'{name}_unavailable']}")


BEST = {"psnr": max, "ssim": max, "perc_sim": min, "lpips": min}  # evaluate_perceptualsim.py's choices


def best_of_two(results: dict[str, Any], ids: list[str]) -> tuple[dict[str, Any], list[str]]:
    """SynSin's ``--take_every_other``: the folders sorted by name go in consecutive twos (its realestate.txt
    lists each target with two sources) and each two keeps its best value per metric (max PSNR / SSIM, min
    PercSim / LPIPS). Ids become ``"<a>+<b>"``; the fingerprint records the protocol. An odd count is a
    DataError (SynSin drops the last folder silently)."""
    from bench.metrics.accumulate import from_items

    if len(ids) % 2:
        raise DataError(f"take_every_other: {len(ids)} prediction folders (last {ids[-1]!r}); expected an even "
                        "number (two sources per target, as SynSin's realestate.txt)")
    out: dict[str, Any] = {k: v for k, v in results.items() if k.endswith("_unavailable")}
    for name, pick in BEST.items():
        r = results.get(name)
        if r is None:
            continue
        items = [pick(a, b) for a, b in zip(r.items[0::2], r.items[1::2], strict=True)]
        fp = {**r.fingerprint, "params": {**r.fingerprint.get("params", {}),
                                          "best_of_consecutive_two": pick.__name__}}
        out[name] = from_items(r.name, items, fp, unit=r.unit, higher_is_better=r.higher_is_better)
    return out, [f"{a}+{b}" for a, b in zip(ids[0::2], ids[1::2], strict=True)]


def grid(rows: list[list[torch.Tensor]], gap: int = 2) -> np.ndarray:
    """Images (H, W, 3) laid out as rows (e.g. source | target | prediction | references) on grey: (H', W', 3)."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), 0.5, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            canvas[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = (
                img.detach().float().cpu().clamp(0, 1).numpy())
    return canvas


# --- bring your own predictions ---------------------------------------------------------------------------------

# SynSin's evaluation output (evaluation/eval_realestate.py; README/REALESTATE.md): one folder per pair,
# <folder>/<id>/output_image_.png (prediction), tgt_image_.png (target), input_image_.png (source, optional).
# What of evaluation/evaluate_perceptualsim.py is reproduced (read from its code):
# - folders in sorted name order; --take_every_other (best of folders 2i, 2i+1: max PSNR / SSIM, min PercSim) as
#   ``take_every_other`` (:func:`best_of_two`), fingerprinted apart: it is the protocol of the published
#   RealEstate10K figures, and an oracle (each target's better of two sources, one of them on ~10% of
#   realestate.txt's lines the target frame itself);
# - not reproduced: ``--pred_image`` is a glob and the best match per folder is kept; with the names its eval
#   scripts write there is exactly one, so ``pred_name`` is a literal file name (a best-of-N over several samples
#   would be an oracle too); a file it cannot load is scored as a black 256x256 image there and an error naming
#   the file here; it resizes a prediction to the target's height (square) where sizes differ, refused here.
PRED_NAME, TARGET_NAME, INPUT_NAME = "output_image_.png", "tgt_image_.png", "input_image_.png"


def read_rgb8(path: Path) -> np.ndarray:
    """An 8-bit RGB image (H, W, 3) as float32 in [0, 1]; DataError naming the file for a missing, undecodable,
    16-bit, grey or palette image (SynSin's images are 8-bit RGB; no silent conversion)."""
    from PIL import Image

    from bench.data.safe_io import open_image

    if not path.is_file():
        raise DataError(f"{path}: image is missing")
    with Image.open(path) as im:
        mode = im.mode
    if mode not in ("RGB", "RGBA"):
        kind = "16-bit" if mode.startswith("I") else "grey" if mode in ("L", "LA", "1") else mode
        raise DataError(f"{path}: {kind} image (PIL mode {mode}); expected 8-bit RGB")
    return open_image(path, "RGB").astype(np.float32) / 255.0


def read_prediction_folder(folder: str | Path, pred_name: str = PRED_NAME, target_name: str = TARGET_NAME,
                           input_name: str = INPUT_NAME) -> dict[str, Any]:
    """Predictions and targets (N, H, W, 3), sources (N, H, W, 3) when every pair has one (else None), and ids
    (the sub-folder names, sorted). DataError naming the file or folder for anything malformed."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: predictions folder is missing (expected <folder>/<id>/{pred_name} + {target_name})")
    subs = sorted(p for p in root.iterdir() if p.is_dir())
    if not subs:
        raise DataError(f"{root}: no per-pair sub-folders (expected <folder>/<id>/{pred_name} + {target_name})")
    preds, targets, inputs = [], [], []
    for d in subs:
        p, t = read_rgb8(d / pred_name), read_rgb8(d / target_name)
        if p.shape != t.shape:
            raise DataError(f"{d / pred_name}: size {p.shape[1]}x{p.shape[0]} differs from {d / target_name} "
                            f"{t.shape[1]}x{t.shape[0]}; expected a prediction of the target's size")
        if preds and p.shape != preds[0].shape:
            raise DataError(f"{d / pred_name}: size {p.shape[1]}x{p.shape[0]} differs from the first pair's "
                            f"{preds[0].shape[1]}x{preds[0].shape[0]}; expected one size for the whole folder")
        preds.append(p)
        targets.append(t)
        if (d / input_name).is_file():
            s = read_rgb8(d / input_name)
            if s.shape != t.shape:
                raise DataError(f"{d / input_name}: size differs from {d / target_name}")
            inputs.append(s)
    src = torch.from_numpy(np.stack(inputs)) if len(inputs) == len(subs) else None
    return {"pred": torch.from_numpy(np.stack(preds)), "target": torch.from_numpy(np.stack(targets)), "src": src,
            "ids": [d.name for d in subs]}


def write_prediction_folder(folder: Path, pred: torch.Tensor, target: torch.Tensor, src: torch.Tensor | None,
                            ids: list[str]) -> None:
    """Write (N, H, W, 3) images in the layout :func:`read_prediction_folder` reads (8-bit PNG)."""
    from bench.data.generated.render import save_png

    for k, i in enumerate(ids):
        d = Path(folder) / i
        d.mkdir(parents=True, exist_ok=True)
        save_png(d / PRED_NAME, pred[k].clamp(0, 1))
        save_png(d / TARGET_NAME, target[k])
        if src is not None:
            save_png(d / INPUT_NAME, src[k])
