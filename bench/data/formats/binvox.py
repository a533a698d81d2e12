"""binvox voxel files: a text header, then run-length (value, count) byte pairs in x-z-y order.

Used by 3D-R2N2 (``ShapeNetVox32``) and ShapeNet's ``models/model_normalized.solid.binvox``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import DataError

MAX_DIM = 4096  # per axis; binvox files in the field are 32..512


@dataclass(frozen=True)
class Voxels:
    """Occupancy ``data`` (X, Y, Z) bool; a voxel index maps to ``translate + scale * (index + 0.5) / dim``."""

    data: np.ndarray
    translate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0


def read_binvox(path: Path | str) -> Voxels:
    """Parse a binvox file; DataError naming the file for a bad header or truncated data."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc
    header: dict[str, list[str]] = {}
    pos = 0
    for lineno in range(1, 9):
        end = raw.find(b"\n", pos)
        if end < 0:
            raise DataError(f"{path}: truncated binvox header")
        try:
            line = raw[pos:end].decode("ascii").strip()
        except UnicodeDecodeError:
            raise DataError(f"{path}: binvox header line {lineno} is not ASCII text") from None
        pos = end + 1
        if line == "data":
            break
        if not line:
            raise DataError(f"{path}: binvox header line {lineno} is empty; expected 'key values'")
        key, *vals = line.split()
        header[key] = vals
    else:
        raise DataError(f"{path}: binvox header has no 'data' line")
    if "#binvox" not in header:
        raise DataError(f"{path}: not a binvox file (no '#binvox' line)")
    if "dim" not in header:
        raise DataError(f"{path}: binvox header has no 'dim' line; expected 'dim X Y Z'")
    try:
        dims = tuple(int(v) for v in header["dim"])
    except ValueError:
        raise DataError(f"{path}: binvox 'dim' must be three positive integers, got {header['dim']}") from None
    if len(dims) != 3 or min(dims) <= 0 or max(dims) > MAX_DIM:
        raise DataError(f"{path}: binvox 'dim' must be three integers in 1..{MAX_DIM}, got {header['dim']}")
    translate_s = header.get("translate", ["0", "0", "0"])
    scale_s = header.get("scale", ["1"])
    if len(translate_s) != 3 or len(scale_s) != 1:
        raise DataError(f"{path}: binvox header expects 'translate x y z' and 'scale s', got "
                        f"translate {translate_s} scale {scale_s}")
    try:
        translate = tuple(float(v) for v in translate_s)
        scale = float(scale_s[0])
    except ValueError:
        raise DataError(f"{path}: binvox 'translate'/'scale' are not numbers: {translate_s} {scale_s}") from None
    if not all(np.isfinite(translate)) or not np.isfinite(scale) or scale <= 0:
        raise DataError(f"{path}: binvox 'translate' must be finite and 'scale' finite and positive, got "
                        f"{translate_s} {scale_s}")
    body = np.frombuffer(raw[pos:], dtype=np.uint8)
    if len(body) % 2:
        raise DataError(f"{path}: truncated binvox data (odd number of run-length bytes)")
    values = np.repeat(body[0::2], body[1::2].astype(np.int64))
    if len(values) != int(np.prod(dims)):
        raise DataError(f"{path}: binvox data holds {len(values)} voxels, expected {int(np.prod(dims))} "
                        f"for dim {dims} (truncated?)")
    data = values.reshape(dims[0], dims[2], dims[1]).transpose(0, 2, 1) > 0  # stored x, z, y
    return Voxels(np.ascontiguousarray(data), translate, scale)  # type: ignore[arg-type]


def write_binvox(path: Path | str, voxels: Voxels | np.ndarray) -> None:
    """Write occupancy (X, Y, Z) as binvox (runs of at most 255)."""
    if not isinstance(voxels, Voxels):
        voxels = Voxels(np.asarray(voxels, dtype=bool))
    data = np.asarray(voxels.data, dtype=bool)
    if data.ndim != 3:
        raise ValueError(f"voxels must be 3-D (X, Y, Z), got shape {data.shape}")
    flat = data.transpose(0, 2, 1).reshape(-1).astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.r_[0, change]
    lengths = np.diff(np.r_[starts, len(flat)])
    out = bytearray()
    for start, length in zip(starts, lengths, strict=True):
        v = flat[start]
        while length > 0:
            run = min(int(length), 255)
            out += bytes((int(v), run))
            length -= run
    x, y, z = data.shape
    tx, ty, tz = voxels.translate
    head = f"#binvox 1\ndim {x} {y} {z}\ntranslate {tx:g} {ty:g} {tz:g}\nscale {voxels.scale:g}\ndata\n"
    Path(path).write_bytes(head.encode("ascii") + bytes(out))
