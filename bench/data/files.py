"""Reading the files of a dataset with errors that name the file and the problem."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.data.report import Problems
from bench.errors import DataError


def read_json(path: Path | str) -> Any:
    """Parsed JSON (``.json``, or gzip-compressed ``.jgz``/``.gz``); DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file is missing")
    try:
        if path.suffix in (".jgz", ".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return json.load(f)
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed or truncated JSON ({exc.msg} at line {exc.lineno})") from exc
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc


def read_image(path: Path | str, mode: str = "RGB") -> np.ndarray:
    """An image as float32 in [0, 1], shape (H, W, C) (or (H, W) for mode "L")."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image is missing")
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert(mode))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from exc
    return arr.astype(np.float32) / 255.0


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file, reading only its header."""
    with Image.open(path) as im:
        w, h = im.size
    return h, w


def check_images(paths: Iterable[Path], problems: Problems, *, same_size: bool = True) -> dict[str, int]:
    """Check that each image exists and decodes, and (optionally) that all have one size.

    Returns a ``{"HxW": count}`` histogram of the sizes found; problems name each file.
    """
    sizes: dict[Path, tuple[int, int]] = {}
    for p in paths:
        if not p.is_file():
            problems.add(p, "image is missing")
            continue
        try:
            sizes[p] = image_size(p)
        except (UnidentifiedImageError, OSError) as exc:
            problems.add(p, f"not a readable image ({type(exc).__name__})")
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
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        problems.add(where, f"{what} is not numeric")
        return None
    if arr.shape != shape:
        problems.add(where, f"{what} has shape {tuple(arr.shape)}, expected {shape}")
        return None
    if not np.all(np.isfinite(arr)):
        problems.add(where, f"{what} has non-finite values")
        return None
    return arr
