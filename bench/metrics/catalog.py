"""One record per metric implementation of :mod:`bench.metrics`: unit, direction, what it measures.

A suite names the implementation (``MetricSpec.of("psnr")``) instead of restating unit and direction, and
``ctx.metric`` checks that the :class:`~bench.metrics.MetricResult` it is given is one of that
implementation's results with the same unit and direction, so a declaration cannot drift from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.errors import unknown_name
from bench.metrics.units import LENGTH, SQUARED_LENGTH


@dataclass(frozen=True)
class MetricInfo:
    """What one implementation's results mean.

    Attributes:
        name: the catalog key (the ``bench.metrics`` function, or its family).
        unit, higher_is_better: of every result of this implementation.
        result_names: a regular expression the results' ``MetricResult.name`` matches.
        description: one line.
        unit_from_input: the results are in the inputs' unit, which the caller names (``unit="mm"``); a suite
            declares it with ``MetricSpec.of(name, unit=...)`` (``unit`` above is then the unnamed default).
    """

    name: str
    unit: str
    higher_is_better: bool | None
    result_names: str
    description: str
    unit_from_input: bool = False

    def produced(self, result_name: str) -> bool:
        return re.fullmatch(self.result_names, result_name) is not None


CATALOG: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("psnr", "dB", True, "PSNR", "PSNR per image (-10 log10 MSE, data_range explicit), then the mean"),
    MetricInfo("ssim", "", True, "SSIM", "SSIM, Gaussian window 11 / sigma 1.5, k1 0.01, k2 0.03, data_range explicit"),
    MetricInfo("lpips", "", False, r"LPIPS-\w+", "LPIPS perceptual distance (user-provided backbone weights)"),
    MetricInfo("perc_sim", "", False, "PercSim",
               "SynSin's Perc Sim: VGG-16 feature cosine distance summed over 5 layers (user-provided weights)"),
    MetricInfo("iou", "", True, "IoU", "intersection over union of binarised masks, per mask"),
    MetricInfo("chamfer_l2", SQUARED_LENGTH, False, "Chamfer-L2",
               "Chamfer-L2: squared nearest-neighbour distances, mean per direction, summed (Mesh R-CNN scale)"),
    MetricInfo("normal_consistency", "", True, "NormalConsistency", "normal consistency of nearest neighbours"),
    MetricInfo("abs_normal_consistency", "", True, "AbsNormalConsistency",
               "absolute normal consistency of nearest neighbours (Mesh R-CNN protocol)"),
    MetricInfo("f1", "%", True, r"F1@[0-9.e-]+", "F1 of unsquared nearest-neighbour distances at a threshold"),
    MetricInfo("ap_mesh", "%", True, "AP-mesh", "Mesh R-CNN AP^mesh: a detection is a hit at F1@0.3 > 50%, "
               "COCO 101-point AP, mean over categories"),
    MetricInfo("rotation_error", "deg", False, "RotationError", "geodesic angle between rotations, per pose"),
    MetricInfo("camera_center_error", LENGTH, False, "CameraCenterError", "distance of camera centres, per pose"),
    MetricInfo("translation_error", LENGTH, False, "TranslationError", "distance of translations, per pose"),
    MetricInfo("add", LENGTH, False, "ADD", "average distance of model points under the two poses"),
    MetricInfo("add_s", LENGTH, False, "ADD-S", "ADD with symmetric (closest point) matching"),
    MetricInfo("mpjpe", "", False, "MPJPE", "mean per-joint position error", unit_from_input=True),
    MetricInfo("pa_mpjpe", "", False, "PA-MPJPE", "MPJPE after a similarity (Procrustes) alignment",
               unit_from_input=True),
    MetricInfo("reprojection_error_px", "px", False, "ReprojectionError", "2D keypoint reprojection error"),
    MetricInfo("pck", "%", True, r"PCK@[0-9.e-]+", "percentage of correct keypoints at a threshold"),
    MetricInfo("fid", "", False, "FID", "Frechet Inception distance (bundled Inception weights)"),
    MetricInfo("kid", "", False, "KID", "kernel Inception distance (bundled Inception weights)"),
)}


def info(name: str) -> MetricInfo:
    """The record of implementation ``name``; UsageError with "did you mean" otherwise."""
    if name not in CATALOG:
        raise unknown_name("metric implementation", name, CATALOG)
    return CATALOG[name]
