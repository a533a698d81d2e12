"""SMPL / SMPL-X body model files (``.npz`` / ``.pkl``), which bench3d never ships.

``check`` validates the arrays a model file must hold and their mutual shapes; ``load`` builds
the model through ``smplx`` when it is importable, else raises NotAvailable with the reason.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.report import CheckReport, Problems
from bench.errors import DataError, NotAvailable

PATTERNS = ("SMPL_*.npz", "SMPL_*.pkl", "SMPLX_*.npz", "SMPLX_*.pkl", "basicmodel_*.pkl")
KNOWN_VERTS = {6890: "SMPL", 10475: "SMPL-X"}


def model_files(root: Path) -> list[Path]:
    root = Path(root)
    found = {p for folder in (root, root / "smpl", root / "smplx") for pat in PATTERNS for p in folder.glob(pat)}
    return sorted(found)


def read_model(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a model file; DataError naming the file if it cannot be read."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        with open(path, "rb") as f:
            doc = pickle.load(f, encoding="latin1")  # noqa: S301 - the user's own licensed model file
    except ModuleNotFoundError as exc:
        raise DataError(f"{path}: needs the {exc.name!r} package to unpickle (original SMPL .pkl files "
                        "use chumpy); convert it to .npz or install it") from exc
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return {k: np.asarray(v) for k, v in doc.items() if not isinstance(v, str)}


def shape_problems(arrays: dict[str, Any]) -> list[str]:
    """Mutual-shape problems of the model arrays (empty when consistent)."""
    need = ("v_template", "f", "weights", "J_regressor", "kintree_table", "shapedirs")
    missing = [k for k in need if k not in arrays]
    if missing:
        return [f"lacks {', '.join(missing)}"]
    v = arrays["v_template"]
    out = []
    if v.ndim != 2 or v.shape[1] != 3:
        return [f"v_template has shape {v.shape}, expected (V, 3)"]
    n_v = v.shape[0]
    f = arrays["f"]
    if f.ndim != 2 or f.shape[1] != 3 or f.max() >= n_v or f.min() < 0:
        out.append(f"f has shape {f.shape} or indices outside 0..{n_v - 1}")
    n_j = arrays["kintree_table"].shape[-1]
    if arrays["weights"].shape != (n_v, n_j):
        out.append(f"weights has shape {arrays['weights'].shape}, expected ({n_v}, {n_j})")
    jr = arrays["J_regressor"]
    jr_shape = jr.shape if hasattr(jr, "shape") else None
    if jr_shape != (n_j, n_v):
        out.append(f"J_regressor has shape {jr_shape}, expected ({n_j}, {n_v})")
    if arrays["shapedirs"].shape[:2] != (n_v, 3):
        out.append(f"shapedirs has shape {arrays['shapedirs'].shape}, expected ({n_v}, 3, betas)")
    return out


def check(root: Path) -> CheckReport:
    root = Path(root)
    problems = Problems(root)
    files = model_files(root)
    if not files:
        problems.add(root, f"no model files matching {', '.join(PATTERNS)} (here, smpl/ or smplx/)")
    found = {}
    for p in files:
        try:
            arrays = read_model(p)
        except DataError as exc:
            problems.add(p, str(exc).split(": ", 1)[-1])
            continue
        for msg in shape_problems(arrays):
            problems.add(p, msg)
        if "v_template" in arrays:
            n_v = arrays["v_template"].shape[0]
            found[problems.rel(p)] = f"{KNOWN_VERTS.get(n_v, 'unknown model')} ({n_v} vertices)"
    return problems.report("smpl", {"models": found})


def load(root: Path, model_type: str = "smpl", gender: str = "neutral", **kw: Any) -> Any:
    """An ``smplx`` body model (torch module) built from the user's files; NotAvailable without ``smplx``."""
    try:
        import smplx
    except ImportError as exc:
        raise NotAvailable("the SMPL loader needs the 'smplx' package (pip install smplx); the model files "
                           f"in {root} were checked but not loaded") from exc
    return smplx.create(str(root), model_type=model_type, gender=gender, **kw)
