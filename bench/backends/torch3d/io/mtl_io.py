"""Wavefront MTL materials: colours and diffuse texture images (PyTorch3D's ``io.mtl_io``)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import MeshFileError, decode_text

_COLOR_KEYS = {"Kd": "diffuse_color", "Ka": "ambient_color", "Ks": "specular_color", "Ns": "shininess"}


def parse_mtl(path: Path, device: str | torch.device = "cpu") -> tuple[dict[str, dict[str, torch.Tensor]],
                                                                dict[str, str]]:
    """(material name -> {diffuse_color, ambient_color, specular_color (3,), shininess (1,)}, name -> map_Kd file)."""
    props: dict[str, dict[str, torch.Tensor]] = {}
    files: dict[str, str] = {}
    name = ""
    # PyTorch3D reads the MTL in text mode: a binary / non-UTF-8 file raises there (UnicodeDecodeError);
    # here that is a one-line MeshFileError naming the file and line instead of a silent "no materials".
    text = decode_text(Path(path).read_bytes(), str(path))
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        if tokens[0] == "newmtl":
            name = tokens[1] if len(tokens) > 1 else ""
            props[name] = {}
        elif tokens[0] == "map_Kd" and len(tokens) > 1:
            files[name] = line.strip()[len("map_Kd"):].strip()  # file names may contain spaces
        elif tokens[0] in _COLOR_KEYS:
            n = 1 if tokens[0] == "Ns" else 3
            try:
                vals = [float(t) for t in tokens[1:1 + n]]
            except ValueError:
                raise MeshFileError(f"{path}:{lineno}: bad {tokens[0]} values: {line.strip()!r}") from None
            if len(vals) != n:
                raise MeshFileError(f"{path}:{lineno}: {tokens[0]} needs {n} values: {line.strip()!r}")
            if not all(math.isfinite(x) for x in vals):
                raise MeshFileError(f"{path}:{lineno}: {tokens[0]} has NaN or infinite values: {line.strip()!r}")
            props.setdefault(name, {})[_COLOR_KEYS[tokens[0]]] = torch.tensor(vals, dtype=torch.float32,
                                                                             device=device)
    return props, files


def read_texture_image(path: Path) -> torch.Tensor:
    """(H, W, 3) float32 RGB image in [0, 1], fully decoded; MeshFileError naming the file if it cannot be."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        msg = " ".join(str(exc).split())[:200]
        raise MeshFileError(f"load_obj: texture image {path} cannot be read ({type(exc).__name__}: {msg})") from None


def load_materials(material_names: list[str], mtl_path: Path | None, data_dir: Path, load_textures: bool,
                   device: str | torch.device = "cpu"):
    """Colours and texture images of the materials the OBJ uses; a missing MTL or image only warns."""
    if not load_textures:
        return None, None
    if mtl_path is None:
        return {}, {}
    if not mtl_path.is_file():
        warnings.warn(f"load_obj: material file does not exist: {mtl_path}; loading without materials", stacklevel=2)
        return {}, {}
    props, files = parse_mtl(mtl_path, device)
    # PyTorch3D (io/mtl_io.py) loads an empty MTL, and a usemtl name the MTL never defines, without a word
    # (the faces just get no material) and warns only for a missing MTL or texture file. The same
    # results here, with a one-line warning for these silent cases too, since they drop the textures.
    if not props and not files:
        warnings.warn(f"load_obj: material file {mtl_path} defines no materials (no newmtl); "
                      "loading without materials", stacklevel=3)
    else:
        undefined = [m for m in material_names if m not in props and m not in files]
        if undefined:
            warnings.warn(f"load_obj: usemtl {', '.join(undefined)}: not defined (no newmtl) in {mtl_path}; "
                          "those faces get no material", stacklevel=3)
    used = list(material_names)
    if not used and props:
        if len(props) > 1:
            # PyTorch3D raises ValueError here too ("Multiple materials but no usemtl declarations")
            raise MeshFileError(f"{mtl_path}: several materials but the OBJ file has no usemtl statements")
        used = [next(iter(props))]
    colors, images = {}, {}
    for name in used:
        if name in files:
            image_path = data_dir / files[name]
            if image_path.is_file():
                images[name] = read_texture_image(image_path).to(device)
            else:
                warnings.warn(f"load_obj: texture file does not exist: {image_path}; loading without it", stacklevel=2)
        if name in props:
            colors[name] = props[name]
    return colors, images
