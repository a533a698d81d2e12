"""Images that read well in a report: small renders scaled up by whole pixels and columns labelled in the file.

A label band drawn into the PNG (not only in the HTML) keeps "ground truth" / "prediction" / "difference"
attached to the picture wherever it is opened.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_COLUMN_PX = 160  # columns narrower than this are scaled up by a whole factor (nearest neighbour)
BAND_PX = 22  # height of the label band at the top


def label_columns(image: np.ndarray, columns: Sequence[str], *, gap: int = 0,
                  min_column_px: int = MIN_COLUMN_PX) -> np.ndarray:
    """``image`` (H, W, 3) uint8, made of ``len(columns)`` equal columns separated by ``gap`` pixels, scaled
    up by the smallest whole factor giving columns of ``min_column_px`` pixels, with each column's label
    centred in a white band on top: (BAND_PX + k H, k W, 3) uint8."""
    from PIL import Image, ImageDraw, ImageFont

    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    n = len(columns)
    col_w = (w - (n - 1) * gap) / n
    if n == 0 or col_w <= 0 or col_w != int(col_w):
        raise ValueError(f"an image {w} px wide does not split into {n} columns with {gap} px gaps")
    k = max(1, -(-min_column_px // int(col_w)))
    big = np.repeat(np.repeat(image[..., :3], k, axis=0), k, axis=1)
    band = Image.new("RGB", (w * k, BAND_PX), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    font = ImageFont.load_default(size=13)
    for i, text in enumerate(columns):
        centre = (i * (col_w + gap) + col_w / 2) * k
        draw.text((centre, BAND_PX / 2), str(text), fill=(29, 36, 48), font=font, anchor="mm")
    return np.concatenate([np.asarray(band, dtype=np.uint8), big], axis=0)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (clipped) or uint8 as uint8."""
    if array.dtype == np.uint8:
        return array
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def read_obj(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and triangles (F, 3) of an OBJ's ``v`` and ``f`` lines (polygons fanned into
    triangles; texture/normal indices and negative indices handled)."""
    verts, faces = [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts[0] == "f":
            idx = [int(p.split("/")[0]) for p in parts[1:]]
            idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
            faces.extend([idx[0], idx[j], idx[j + 1]] for j in range(1, len(idx) - 1))
    v, f = np.asarray(verts, dtype=np.float64).reshape(-1, 3), np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"a face indexes vertex {int(f.max()) + 1} of {len(v)}")
    return v, f
