"""Reading a case's artifact files for the HTML report: images as data URIs, curves as plotly figures."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import ArtifactRecord

MAX_INLINE_BYTES = 8 * 2**20  # larger files are listed, not inlined
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}


@dataclass
class ArtifactView:
    record: ArtifactRecord
    note: str = ""  # "missing", "changed since the run", ...
    data_uri: str | None = None  # images
    curve: dict[str, Any] | None = None  # {"x": [...], "series": {name: [...]}, "x_label", "y_label"}
    text: str | None = None  # small text/table artifacts
    display_width: int | None = None  # images: CSS pixels to show it at (an integer up-scale of small images)


def _locate(root: Path | None, rec: ArtifactRecord) -> tuple[Path | None, str]:
    if root is None:
        return None, "missing (no artifact folder given)"
    root = root.resolve()
    path = (root / rec.path).resolve()
    if not path.is_relative_to(root):
        return None, f"skipped: path {rec.path!r} points outside the artifact folder"
    if not path.is_file():
        return None, f"missing ({path})"
    return path, ""


def load(root: Path | None, rec: ArtifactRecord) -> ArtifactView:
    """Read one artifact; problems become a note shown in the report, never an exception."""
    path, note = _locate(root, rec)
    view = ArtifactView(rec, note)
    if path is None:
        return view
    if path.stat().st_size > MAX_INLINE_BYTES:
        view.note = f"not inlined ({path.stat().st_size} bytes)"
        return view
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != rec.sha256:
        view.note = "changed since the run (sha256 differs)"
    if rec.kind in ("image", "gif"):
        mime = IMAGE_TYPES.get(path.suffix.lower())
        if mime is None:
            view.note = _join(view.note, f"not an inlinable image type ({path.suffix})")
        else:
            view.data_uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
            view.display_width = display_width(data)
    elif rec.kind == "curve":
        try:
            view.curve = _curve(json.loads(data))
        except (ValueError, TypeError, KeyError) as exc:
            view.note = _join(view.note, f"unreadable curve ({exc})")
    elif rec.kind == "mesh":
        _mesh_still(view, path, data)
    elif rec.kind in ("text", "table") and len(data) <= 64 * 1024:
        view.text = data.decode("utf-8", errors="replace")
    return view


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _curve(obj: Any) -> dict[str, Any]:
    """Validate a curve file: {"x": [...], "series": {name: [...]}} with matching lengths."""
    x, series = obj["x"], obj["series"]
    if not isinstance(x, list) or not isinstance(series, dict):
        raise TypeError("expected a list 'x' and an object 'series'")
    for name, ys in series.items():
        if not isinstance(ys, list) or len(ys) != len(x):
            raise ValueError(f"series {name!r} has {len(ys) if isinstance(ys, list) else '?'} values for "
                             f"{len(x)} x values")
    return {"x": x, "series": series, "x_label": obj.get("x_label", ""), "y_label": obj.get("y_label", "")}


DISPLAY_TARGET = 560  # px: small images are scaled up by an integer factor until a side nears this
DISPLAY_MAX = 1100  # px: no image is shown wider than the report's column


def display_width(data: bytes) -> int | None:
    """The width to show an image at: native size times the largest integer factor keeping both sides
    within ``DISPLAY_TARGET`` (at least 1), capped at ``DISPLAY_MAX``; None if the image cannot be read."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    if w <= 0 or h <= 0:
        return None
    scale = max(1, min(DISPLAY_TARGET // w, DISPLAY_TARGET // h))
    return min(w * scale, DISPLAY_MAX)


def _mesh_still(view: ArtifactView, path: Path, data: bytes) -> None:
    """An OBJ mesh artifact as a turntable still PNG (``bench.report.stills``) in ``view.data_uri``."""
    from bench.imaging import read_obj

    if path.suffix.lower() != ".obj":
        view.note = _join(view.note, f"no still rendered ({path.suffix} meshes are not read here)")
        return
    try:
        verts, faces = read_obj(data.decode("utf-8", errors="replace"))
        png = _still_png(hashlib.sha256(data).hexdigest(), data)
    except (ValueError, IndexError) as exc:
        view.note = _join(view.note, f"no still rendered ({exc})")
        return
    view.data_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    view.display_width = display_width(png)
    view.note = _join(view.note, f"rendered with the built-in MeshRenderer: {len(verts)} vertices, "
                                 f"{len(faces)} faces")


@functools.lru_cache(maxsize=64)
def _still_png(sha256: str, data: bytes) -> bytes:
    """PNG bytes of an OBJ's turntable still; one render per distinct file in a process (a dashboard renders
    the reports of many runs)."""
    import io

    from PIL import Image

    from bench.imaging import read_obj
    from bench.report.stills import turntable_png

    verts, faces = read_obj(data.decode("utf-8", errors="replace"))
    # One hue under shading: a 64-colour palette is indistinguishable here and a third of the RGB file's size
    # (a dashboard inlines the stills of 5 runs).
    still = Image.fromarray(turntable_png(verts, faces)).quantize(colors=64, method=Image.Quantize.MEDIANCUT,
                                                                  dither=Image.Dither.NONE)
    buf = io.BytesIO()
    still.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
