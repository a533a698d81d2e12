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
    if not isinstance(doc, dict):
        raise DataError(f"{path}: expected a pickled dict of model arrays, got {type(doc).__name__}")
    out = {}
    for k, v in doc.items():
        if not isinstance(k, str):
            raise DataError(f"{path}: expected string keys, got {type(k).__name__} {k!r:.40}")
        if isinstance(v, (str, bytes)):
            continue
        if hasattr(v, "toarray") and hasattr(v, "shape"):  # scipy.sparse (J_regressor in the original files)
            v = v.toarray()
        try:
            out[k] = np.asarray(v)
        except Exception as exc:  # ragged or exotic values
            raise DataError(f"{path}: {k}: not an array ({type(exc).__name__})") from None
    return out


_KINDS = {"v_template": ("f", 2), "f": ("iu", 2), "weights": ("f", 2), "J_regressor": ("f", 2),
          "kintree_table": ("iu", 2), "shapedirs": ("f", 3)}


def shape_problems(arrays: dict[str, Any]) -> list[str]:
    """Dtype and mutual-shape problems of the model arrays (empty when consistent)."""
    missing = [k for k in _KINDS if k not in arrays]
    if missing:
        return [f"lacks {', '.join(missing)}"]
    out = []
    for key, (kinds, ndim) in _KINDS.items():
        a = arrays[key]
        if a.dtype.kind not in kinds:
            out.append(f"{key} has dtype {a.dtype}, expected {'an integer' if kinds == 'iu' else 'a float'} array")
        elif a.ndim != ndim:
            out.append(f"{key} has shape {a.shape}, expected {ndim} dimensions")
        elif a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            out.append(f"{key} has NaN or infinite values")
    if out:
        return out
    v = arrays["v_template"]
    if v.shape[1] != 3 or len(v) == 0:
        return [f"v_template has shape {v.shape}, expected (V, 3)"]
    n_v = v.shape[0]
    f = arrays["f"]
    if f.shape[1] != 3 or len(f) == 0 or f.max() >= n_v or f.min() < 0:
        out.append(f"f has shape {f.shape} or indices outside 0..{n_v - 1}")
    kt = arrays["kintree_table"]
    if kt.shape[0] != 2 or kt.shape[1] == 0:
        return out + [f"kintree_table has shape {kt.shape}, expected (2, J)"]
    n_j = kt.shape[1]
    if arrays["weights"].shape != (n_v, n_j):
        out.append(f"weights has shape {arrays['weights'].shape}, expected ({n_v}, {n_j})")
    if arrays["J_regressor"].shape != (n_j, n_v):
        out.append(f"J_regressor has shape {arrays['J_regressor'].shape}, expected ({n_j}, {n_v})")
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
        if "v_template" in arrays and arrays["v_template"].ndim >= 1:
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
