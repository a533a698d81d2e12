"""SynSin's "Perc Sim": VGG feature cosine distance summed over layers (lower is better; not LPIPS).

As facebookresearch/synsin ``evaluation/evaluate_perceptualsim.py`` + ``models/networks/pretrained_networks.py``
(``PNet(pnet_type="vgg")``): images in [0, 1] mapped to [-1, 1], then ``(x - shift) / scale`` with LPIPS'
shift (-0.030, -0.088, -0.188) and scale (0.458, 0.448, 0.450); torchvision VGG-16 ``features`` cut after
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; per layer ``1 - mean over pixels of the cosine of the channel
vectors`` (each normalised as ``v / (|v| + 1e-10)``); the five summed. The evaluation code uses VGG-16 (its
variable is named ``vgg16``); ``net="vgg19"`` (relu1_2, relu2_2, relu3_4, relu4_4, relu5_4) is offered for
papers that state VGG-19 and is fingerprinted apart.

Weights are never downloaded: torchvision's ImageNet checkpoint (``vgg16-397923af.pth``) is read from
``weights_path`` or the torch hub cache and loaded into a plain-torch VGG definition (torchvision is not
needed). A missing file is :class:`~bench.errors.NotAvailable`; a checkpoint of another architecture is a
one-line ValueError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import NotAvailable
from bench.metrics.accumulate import ItemMetric, from_items
from bench.metrics.fingerprint import MetricResult, make_fingerprint
from bench.metrics.generative import sha256_file

# torchvision's VGG "features" layouts (numbers: conv output channels, "M": 2x2 max-pool) and checkpoints.
LAYOUTS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
CHECKPOINTS = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
# Index (in ``features``) just after each tapped ReLU: PercSim's five layers (pretrained_networks.vgg16).
PERCSIM_TAPS = {"vgg16": (4, 9, 16, 23, 30), "vgg19": (4, 9, 18, 27, 36)}
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
_MODELS: dict[tuple[str, str, tuple[int, ...]], Any] = {}


class VGGFeatures(nn.Module):
    """torchvision's ``vgg*.features`` rebuilt in plain torch (same module indices, so its state dict loads);
    ``forward(x (N, 3, H, W))`` returns the activations after each index in ``taps``."""

    def __init__(self, net: str, taps: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in LAYOUTS[net]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.taps = taps

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features[: self.taps[-1]]):
            x = layer(x)
            if i + 1 in self.taps:
                outs.append(x)
        return outs


def hub_checkpoint(net: str) -> Path:
    """Where torch hub keeps torchvision's ``net`` checkpoint."""
    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINTS[net]


def how_to(net: str) -> str:
    return (f"place torchvision's ImageNet checkpoint {CHECKPOINTS[net]} in {hub_checkpoint(net).parent} "
            f"($TORCH_HOME/hub/checkpoints) or pass its path (synsin suite: --set {net}_weights=PATH)")


def weights_file(net: str, weights_path: str | Path | None) -> Path:
    """The checkpoint to read: ``weights_path`` (must exist) or the hub cache (NotAvailable when absent)."""
    if net not in LAYOUTS:
        raise ValueError(f"net: expected one of {sorted(LAYOUTS)}, got {net!r}")
    if weights_path is not None and str(weights_path):
        p = Path(weights_path).expanduser()
        if not p.is_file():
            raise NotAvailable(f"{net} weights unavailable: {p} does not exist; {how_to(net)}")
        return p
    p = hub_checkpoint(net)
    if not p.is_file():
        raise NotAvailable(f"{net} weights unavailable: {p} not found (no downloads here); {how_to(net)}")
    return p


def load_vgg(net: str, weights_path: str | Path | None, taps: tuple[int, ...],
             device: str | torch.device = "cpu") -> tuple[VGGFeatures, Path]:
    """A frozen :class:`VGGFeatures` with the checkpoint's weights, cached per (net, file, taps, device).

    Raises ValueError naming the file when it is not a torchvision ``net`` checkpoint (unreadable, a key
    missing, a tensor of another shape, or a conv layer the layout does not have)."""
    path = weights_file(net, weights_path)
    key = (net, f"{path.resolve()}@{device}", taps)
    if key not in _MODELS:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip or torch format errors: one line naming the file
            raise ValueError(f"weights: {path} is not a readable torch checkpoint ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise ValueError(f"weights: {path} holds a {type(state).__name__}, expected a state dict")
        model = VGGFeatures(net, taps)
        own = model.state_dict()
        for k, t in own.items():
            got = state.get(k)
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(t.shape):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else "none"
                raise ValueError(f"weights: {path} is not a torchvision {net} checkpoint ({k}: expected shape "
                                 f"{tuple(t.shape)}, found {shape})")
        extra = sorted(k for k in state if k.startswith("features.") and k not in own)
        if extra:
            raise ValueError(f"weights: {path} is not a torchvision {net} checkpoint (unexpected {extra[0]})")
        model.load_state_dict({k: state[k] for k in own})
        model.eval().requires_grad_(False)
        _MODELS[key] = (model.to(device), path)
    return _MODELS[key]


def _cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) ``1 - mean over pixels of cos(a, b)`` for (N, C, H, W) features, in PNet's order of operations
    (``normalize_tensor``'s eps; the mean over H, then over W) so that the float32 values are SynSin's."""
    na = a / (a.square().sum(1, keepdim=True).sqrt() + 1e-10)
    nb = b / (b.square().sum(1, keepdim=True).sqrt() + 1e-10)
    return 1.0 - (na * nb).sum(1).mean(1).mean(1)


def perc_sim(preds: Any, target: Any, *, data_range: float | tuple[float, float], net: str = "vgg16",
             weights_path: str | Path | None = None, layout: str = "NCHW", batch_size: int = 1) -> MetricResult:
    """SynSin's perceptual similarity per image pair (lower is better), then the mean.

    Args:
        preds, target: (N, 3, H, W) RGB inside ``data_range`` (mapped to [0, 1], then as SynSin).
        net: "vgg16" (SynSin's evaluation code) or "vgg19".
        weights_path: torchvision's checkpoint; default: the torch hub cache.
        batch_size: images per VGG forward; 1, as SynSin's evaluation, gives its float32 values bit for bit
            (a batched convolution differs in the last bits).
    Raises:
        NotAvailable: the checkpoint is absent, with how to provide it.
    """
    from bench.metrics.image import check_images

    p, t, lo, hi = check_images(preds, target, data_range, layout)
    if p.shape[1] != 3:
        raise ValueError(f"preds: PercSim needs RGB images (N, 3, H, W), got {tuple(p.shape)}")
    model, path = load_vgg(net, weights_path, PERCSIM_TAPS[net], p.device)
    shift = torch.tensor(SHIFT, device=p.device).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE, device=p.device).view(1, 3, 1, 1)
    vals = []
    with torch.no_grad():
        for a in range(0, p.shape[0], batch_size):
            x, y = ((((v[a:a + batch_size] - lo) / (hi - lo)).float() * 2 - 1 - shift) / scale for v in (p, t))
            vals.append(sum(_cosine_distance(fa, fb) for fa, fb in zip(model(x), model(y), strict=True)).double())
    fp = make_fingerprint("perc_sim", "bench3d.metrics.perc_sim", net=net, layers=list(PERCSIM_TAPS[net]),
                          input="[-1,1] then LPIPS shift/scale", distance="1-cosine, pixel mean, layer sum",
                          data_range=[lo, hi], weights_sha256=sha256_file(path))
    return from_items("PercSim", [float(v) for v in torch.cat(vals).cpu()], fp, higher_is_better=False)


class PercSim(ItemMetric):
    """Accumulating :func:`perc_sim`."""

    fn = staticmethod(perc_sim)
    higher_is_better = False
