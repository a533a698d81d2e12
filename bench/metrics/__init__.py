"""Metrics with pinned conventions; every result carries a fingerprint of its convention.

Functional metrics return :class:`MetricResult` (aggregate, per-item values, fingerprint);
accumulating classes (``PSNR``, ``SSIM``, ``LPIPS``, ``FID``, ``KID`` ...) have update / compute / reset.
Submodules are imported on first use so that ``import bench.metrics`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.metrics.fingerprint import (
    IncomparableError,
    MetricResult,
    check_comparable,
    fingerprint_diff,
    fingerprint_id,
    make_fingerprint,
)

_LAZY = {
    "chamfer_distance": "geometry", "normal_consistency": "geometry", "f1_score": "geometry",
    "compare_meshes": "meshes", "MeshMetrics": "meshes", "PROTOCOLS": "meshes",
    "psnr": "image", "ssim": "image", "PSNR": "image", "SSIM": "image",
    "lpips": "perceptual", "LPIPS": "perceptual", "perc_sim": "percsim", "PercSim": "percsim",
    "fid": "generative", "kid": "generative", "FID": "generative", "KID": "generative",
    "InceptionFeatures": "generative", "frechet_distance": "frechet", "GaussianStats": "frechet",
    "GenerativeProtocol": "fid_reference", "load_reference": "fid_reference", "score_folder": "fid_reference",
    "rotation_error_deg": "pose", "translation_error": "pose", "camera_center_error": "pose",
    "add": "pose", "add_s": "pose",
    "mpjpe": "body", "pa_mpjpe": "body", "reprojection_error_px": "body", "pck": "body",
    "iou": "masks",
    "ap_mesh": "detection", "Detection": "detection",
}

__all__ = ["IncomparableError", "MetricResult", "check_comparable", "fingerprint_diff", "fingerprint_id",
           "make_fingerprint", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"bench.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'bench.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
