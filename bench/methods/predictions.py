"""Bring-your-own predictions: a folder of predicted meshes named by item id, scored instead of a built-in model.

Layout: ``<folder>/<id>.{obj,ply,off,stl}`` with ids as the dataset's test items name them (``chair/012/v0``
-> ``<folder>/chair/012/v0.obj``), in the view frame of that item (the frame ``bench.methods.single_view``
uses: the object rotated by the view's R, camera at T). Every problem is one DataError naming the file:
a missing id, a file whose name is no test id, a file that is not a mesh, an empty mesh, NaN vertices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from bench.data.generated.meshes import load_mesh_file
from bench.errors import DataError

MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl")


def read_predicted_meshes(folder: str | Path, ids: Sequence[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(verts (V, 3) float32, faces (F, 3) int64) for each id, read from ``folder``; DataError naming the file."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: predictions folder is missing; expected <id>.obj/.ply files for the test items")
    found: dict[str, Path] = {}
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        if p.suffix.lower() not in MESH_SUFFIXES:
            raise DataError(f"{p}: not a mesh file; expected one of {', '.join(MESH_SUFFIXES)} named by item id")
        key = p.relative_to(folder).with_suffix("").as_posix()
        if key in found:
            raise DataError(f"{p}: a second prediction for id {key!r} (also {found[key].name})")
        found[key] = p
    wanted = set(ids)
    for key, p in found.items():
        if key not in wanted:
            raise DataError(f"{p}: id {key!r} is not a test item of the dataset (ids look like {ids[0]!r})")
    missing = [i for i in ids if i not in found]
    if missing:
        raise DataError(f"{folder / missing[0]}.obj: prediction for id {missing[0]!r} is missing "
                        f"({len(missing)} of {len(ids)} test items have no file)")
    out = []
    for i in ids:
        v, f = load_mesh_file(found[i])  # empty, NaN or unreadable: DataError naming the file
        out.append((torch.tensor(v, dtype=torch.float32), torch.tensor(f, dtype=torch.int64)))
    return out
