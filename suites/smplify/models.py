"""The body the suite fits: the built-in procedural body, or the real SMPL through ``smplx`` (``model_path``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.errors import DataError, NotAvailable
from bench.methods.body_model import SMPL_HEAD_TOP_VERTEX, SmplxBody


def model_file(model_path: str, gender: str) -> Path:
    """The SMPL file of ``model_path`` (a file, or a folder holding ``[smpl/]SMPL_<GENDER>.pkl``)."""
    p = Path(model_path).expanduser()
    if p.is_file():
        return p
    name = f"SMPL_{gender.upper()}.pkl"
    for cand in (p / "smpl" / name, p / name):
        if cand.is_file():
            return cand
    raise DataError(f"{p}: no SMPL model file {name} here or in smpl/ (model_path: the user's licensed SMPL "
                    "files from https://smpl.is.tue.mpg.de)")


def check_model_file(path: Path) -> None:
    """DataError naming the file when it is not an SMPL model (arrays, dtypes, shapes, 24 joints)."""
    from bench.data.formats.smpl import read_model, shape_problems

    arrays = read_model(path)
    problems = shape_problems(arrays)
    if not problems and arrays["kintree_table"].shape[1] != 24:
        problems = [f"kintree_table has {arrays['kintree_table'].shape[1]} joints, expected SMPL's 24"]
    if not problems and "posedirs" not in arrays:
        problems = ["lacks posedirs"]
    if problems:
        raise DataError(f"{path}: not an SMPL model file ({'; '.join(problems)})")


def load_smpl(model_path: str, gender: str, num_betas: int = 10) -> SmplxBody:
    """The real SMPL (float64) through ``smplx``; NotAvailable without smplx, DataError for a bad file."""
    path = model_file(model_path, gender)
    check_model_file(path)
    try:
        import smplx
    except ImportError as exc:
        raise NotAvailable(f"model_path={model_path}: the real SMPL needs the 'smplx' package "
                           "(pip install 'bench3d[smpl]')") from exc
    try:
        model = smplx.SMPL(model_path=str(path), gender=gender, num_betas=num_betas, dtype=torch.float64)
    except Exception as exc:  # smplx raises plain exceptions for files it cannot use
        raise DataError(f"{path}: smplx cannot build a model from it ({type(exc).__name__}: {exc})") from None
    return SmplxBody(model, head_top_vertex=SMPL_HEAD_TOP_VERTEX)


def describe(model: Any) -> str:
    return f"{model.name} ({model.lbs_weights.shape[0]} vertices, {model.num_joints} joints)"
