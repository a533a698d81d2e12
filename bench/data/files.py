"""Reading the files of a dataset with errors that name the file and the problem."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import safe_io
from bench.data.report import Problems
from bench.errors import DataError


def read_json(path: Path | str, spec: Any = None) -> Any:
    """Parsed JSON (``.json``, or gzip-compressed ``.jgz``/``.gz``), UTF-8, at most 64 levels deep and,
    with ``spec`` (a :mod:`bench.data.safe_io` type rule), of the expected types; DataError naming the file
    (and field) otherwise."""
    return safe_io.load_json(path, spec)


def read_image(path: Path | str, mode: str = "RGB") -> np.ndarray:
    """An image as float32 in [0, 1], shape (H, W, C) (or (H, W) for mode "L"), fully decoded."""
    return safe_io.open_image(path, mode).astype(np.float32) / 255.0


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file, reading only its header (DataError for a bad or bomb-sized header)."""
    return safe_io.image_header_size(path)


def check_images(paths: Iterable[Path], problems: Problems, *, same_size: bool = True) -> dict[str, int]:
    """Check that each image exists and decodes completely, and (optionally) that all have one size.

    Returns a ``{"HxW": count}`` histogram of the sizes found; problems name each file.
    """
    sizes: dict[Path, tuple[int, int]] = {}
    for p in paths:
        if not p.is_file():
            problems.add(p, "image is missing")
            continue
        try:
            sizes[p] = safe_io.verify_image(p)  # decodes every byte: truncated files fail here
        except DataError as exc:
            problems.add(p, str(exc).split(": ", 1)[-1])
    hist = Counter(f"{h}x{w}" for h, w in sizes.values())
    if same_size and len(hist) > 1:
        common = hist.most_common(1)[0][0]
        for p, (h, w) in sizes.items():
            if f"{h}x{w}" != common:
                problems.add(p, f"image size {h}x{w} differs from the other images ({common})")
    return dict(hist)


def json_or_problem(path: Path, problems: Problems) -> Any | None:
    """``read_json`` that records the problem instead of raising; None when unreadable."""
    try:
        return read_json(path)
    except DataError as exc:
        problems.add(path, str(exc).split(": ", 1)[-1])
        return None


def matrix_or_problem(value: Any, shape: tuple[int, ...], where: Path, what: str,
                      problems: Problems) -> np.ndarray | None:
    """``value`` as a float64 array of ``shape``, or None after recording a problem naming ``what``."""
    if isinstance(value, (bool, str)) or value is None:
        problems.add(where, f"{what} is not numeric")
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        problems.add(where, f"{what} is not numeric")
        return None
    if arr.shape != shape:
        problems.add(where, f"{what} has shape {tuple(arr.shape)}, expected {shape}")
        return None
    if not np.all(np.isfinite(arr)):
        problems.add(where, f"{what} has non-finite values")
        return None
    return arr
