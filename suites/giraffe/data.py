"""Training images from a standard image folder (GIRAFFE's ``data.path``: a glob of one folder of images, e.g.
comprehensive_cars/images/*.jpg, clevr2/images/*.png, celebA_hq/*.jpg), resized to a square of ``image_size``
as GIRAFFE's ImagesDataset does (im2scene/data/datasets.py: ``transforms.Resize((size, size))``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from bench.metrics.fid_reference import folder_checksum, image_files, read_image_folder


def training_folder(folder: Path, image_size: int) -> tuple[torch.Tensor, str]:
    """(images (N, 3, S, S) float in [0, 1] in file-name order, the folder's checksum). Every image must share one
    size and mode (RGB or L); antialiased bilinear resize to S x S where they differ from it."""
    if not Path(folder).is_dir():
        raise ValueError(f"train_images: {folder} is not a folder of images (CompCars / CLEVR / CelebA-HQ layout: "
                         f"image files directly inside)")
    files = image_files(Path(folder))  # none: ValueError naming the folder
    images, _ = read_image_folder(Path(folder))
    if images.shape[-2:] != (image_size, image_size):
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False,
                               antialias=True).clamp(0, 1)
    return images, folder_checksum(files)
