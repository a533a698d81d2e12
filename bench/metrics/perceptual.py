"""LPIPS through the ``lpips`` package (v0.1 linear heads), AlexNet by default, VGG selectable.

The ImageNet backbone weights are never downloaded: they are read from ``weights_path`` or from the
torch hub cache (``$TORCH_HOME/hub/checkpoints``). When the package, torchvision or the weights are
missing, :class:`bench.errors.NotAvailable` says what is missing and how to provide it; a randomly
initialised backbone is never scored under the LPIPS name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.errors import NotAvailable
from bench.metrics.accumulate import ItemMetric, from_items
from bench.metrics.fingerprint import MetricResult, library_version, make_fingerprint
from bench.metrics.generative import sha256_file

# torchvision's ImageNet checkpoints that lpips' backbones load (file names in the torch hub cache).
BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
_MODELS: dict[tuple[str, str, str], Any] = {}


def hub_checkpoint(net: str) -> Path:
    """Where torch hub keeps ``net``'s backbone checkpoint."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[net]


def _how_to(net: str) -> str:
    return (f"pip install lpips==0.1.4 with a torchvision build matching torch, and place {BACKBONES[net]} "
            f"in {hub_checkpoint(net).parent} ($TORCH_HOME/hub/checkpoints) or pass weights_path=")


def _backbone_path(net: str, weights_path: str | Path | None) -> Path:
    if weights_path is not None:
        p = Path(weights_path)
        if not p.is_file():
            raise ValueError(f"weights_path: {p} does not exist (expected torchvision's {BACKBONES[net]})")
        return p
    p = hub_checkpoint(net)
    if not p.is_file():
        raise NotAvailable(f"LPIPS({net}) unavailable: backbone weights {p} not found (no downloads here); "
                           f"{_how_to(net)}")
    return p


def _import_lpips(net: str) -> Any:
    try:
        import lpips as lpips_pkg
    except Exception as exc:  # ImportError, or a torchvision that fails to load next to this torch
        raise NotAvailable(f"LPIPS({net}) unavailable: the lpips package cannot be imported "
                           f"({type(exc).__name__}: {exc}); {_how_to(net)}") from None
    return lpips_pkg


def _copy_backbone(model: Any, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load torchvision ``features.<i>.*`` tensors into lpips' sliced backbone; every tensor must be used."""
    used = set()
    for _, sl in model.net.named_children():
        for idx, layer in sl.named_children():
            for pname, param in layer.named_parameters(recurse=False):
                key = f"features.{idx}.{pname}"
                if key not in state or state[key].shape != param.shape:
                    raise ValueError(f"weights_path: {path} is not a torchvision AlexNet/VGG16 checkpoint (no {key})")
                with torch.no_grad():
                    param.copy_(state[key])
                used.add(key)
    expected = {k for k in state if k.startswith("features.")}
    if used != expected:
        unused = sorted(expected - used)[:3]
        raise ValueError(f"weights_path: {path} does not match the lpips backbone ({unused} unused)")


def load_lpips(net: str = "alex", weights_path: str | Path | None = None, device: str | torch.device = "cpu") -> Any:
    """An ``lpips.LPIPS`` model with its real ImageNet backbone, cached per (net, weights, device)."""
    if net not in BACKBONES:
        raise ValueError(f"net: expected one of {sorted(BACKBONES)}, got {net!r}")
    lpips_pkg = _import_lpips(net)
    path = _backbone_path(net, weights_path)
    key = (net, str(path.resolve()), str(device))
    if key not in _MODELS:
        # pnet_rand=True only avoids torchvision's download; the backbone is overwritten from `path` right after.
        model = lpips_pkg.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        _copy_backbone(model, torch.load(path, map_location="cpu", weights_only=True), path)
        _MODELS[key] = (model.eval().to(device), path)
    return _MODELS[key]


def lpips(preds: Any, target: Any, *, data_range: float | tuple[float, float], net: str = "alex",
          weights_path: str | Path | None = None, layout: str = "NCHW", batch_size: int = 16) -> MetricResult:
    """LPIPS distance per image pair (lower is better), then the mean.

    Args:
        preds, target: (N, 3, H, W) RGB images inside ``data_range``; mapped to [-1, 1] as LPIPS expects.
        net: "alex" (default, as most tables) or "vgg" (the NeRF paper's choice).
        weights_path: torchvision's backbone checkpoint; default: the torch hub cache.
    Raises:
        NotAvailable: lpips / torchvision / backbone weights missing, with how to provide them.
    """
    from bench.metrics.image import check_images

    p, t, lo, hi = check_images(preds, target, data_range, layout)
    if p.shape[1] != 3:
        raise ValueError(f"preds: LPIPS needs RGB images (N, 3, H, W), got {tuple(p.shape)}")
    model, path = load_lpips(net, weights_path, p.device)
    to_unit = 2.0 / (hi - lo)
    vals = []
    with torch.no_grad():
        for a in range(0, p.shape[0], batch_size):
            x = (p[a:a + batch_size] - lo) * to_unit - 1.0
            y = (t[a:a + batch_size] - lo) * to_unit - 1.0
            vals.append(model(x.float(), y.float()).flatten().double())
    fp = make_fingerprint("lpips", "lpips.LPIPS", libraries={"lpips": library_version("lpips"),
                                                             "torchvision": library_version("torchvision")},
                          net=net, lpips_version="0.1", input_range=[-1.0, 1.0], data_range=[lo, hi],
                          backbone_sha256=sha256_file(path), spatial_average=True)
    return from_items(f"LPIPS-{net}", [float(v) for v in torch.cat(vals).cpu()], fp, higher_is_better=False)


class LPIPS(ItemMetric):
    """Accumulating :func:`lpips`."""

    fn = staticmethod(lpips)
    higher_is_better = False
