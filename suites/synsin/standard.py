"""RealEstate10K and KITTI view pairs for SynSin, read through the existing loaders from a pair list.

Pair list: a text file, one pair per line, ``<split> <sequence> <source> <target>`` (``#`` starts a comment):

- ``split``: ``train`` or ``test`` (pairs to train on / to score);
- RealEstate10K: ``sequence`` is a camera file's stem under ``cameras/<split>/``, ``source`` / ``target`` are
  frame timestamps (as SynSin's ``data/files/realestate.txt``: sequence, source and target timestamps);
- KITTI (odometry layout of ``kitti-synsin``): ``sequence`` is ``00``.. and ``source`` / ``target`` are frame indices.

Its default place is ``<dataset root>/synsin_pairs.txt`` (``--set pairs_file=PATH`` elsewhere). Images are
resized to ``image_size`` squared, as SynSin's loaders do, with the intrinsics scaled to match. These datasets
have no depth, so the "reproject with true depth" reference and the disocclusion mask are not available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.generated.view_pairs import relative_pose
from bench.data.safe_io import read_text
from bench.errors import DataError, NotAvailable

PAIR_FILE = "synsin_pairs.txt"
FORMAT = "lines '<train|test> <sequence> <source> <target>'"


def read_pair_list(path: Path) -> list[tuple[str, str, str, str]]:
    """(split, sequence, source, target) per line; DataError naming the file and line otherwise."""
    out = []
    for k, line in enumerate(read_text(path, "pair list").splitlines(), start=1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) != 4 or parts[0] not in ("train", "test"):
            raise DataError(f"{path}: line {k} is {line.strip()[:60]!r}; expected {FORMAT}")
        out.append((parts[0], parts[1], parts[2], parts[3]))
    if not out:
        raise DataError(f"{path}: no pairs; expected {FORMAT}")
    return out


def pair_list_path(root: Path, pairs_file: str, dataset: str) -> Path:
    """The pair list to use; NotAvailable (the case is skipped) naming the dataset when it is absent."""
    p = Path(pairs_file).expanduser() if pairs_file else Path(root) / PAIR_FILE
    if not p.is_file():
        raise NotAvailable(f"{dataset}: SynSin pair list {p} not found; write one ({FORMAT}, see "
                           "suites/synsin/standard.py) or pass --set pairs_file=PATH")
    return p


def _resize(img: torch.Tensor, size: int) -> torch.Tensor:
    """(H, W, 3) -> (size, size, 3), area-weighted when shrinking (antialiased bilinear)."""
    x = img.permute(2, 0, 1)[None].float()
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                           align_corners=False)[0].permute(1, 2, 0).clamp(0, 1)


def _frame(dataset: str, root: Path, split: str, seq: str, key: str, cache: dict[Any, Any]) -> dict[str, Any]:
    """One frame: image (H, W, 3), R (3, 3), T (3,), focal (2,), principal_point (2,) in pixels."""
    if dataset == "realestate10k":
        from bench.data.formats.realestate10k import RealEstate10K

        if (split, seq) not in cache:
            ds = RealEstate10K(root, split)
            stems = [f.stem for f in ds.files]
            if seq not in stems:
                raise DataError(f"{root / 'cameras' / split}: sequence {seq!r} of the pair list is missing")
            cache[(split, seq)] = ds[stems.index(seq)]
        s = cache[(split, seq)]
        hits = (s["timestamps"] == int(key)).nonzero().flatten()
        if len(hits) == 0:
            raise DataError(f"{root / 'cameras' / split / (seq + '.txt')}: timestamp {key} of the pair list is missing")
        i = int(hits[0])
        return {"image": s["images"][i], "R": s["R"][i], "T": s["T"][i], "focal": s["focal"][i],
                "principal_point": s["principal_point"][i]}
    from bench.data.formats.kitti import KITTIOdometry

    if seq not in cache:
        cache[seq] = KITTIOdometry(root, seq)
    ds = cache[seq]
    if not key.isdigit() or int(key) >= len(ds):
        raise DataError(f"{root / 'sequences' / seq}: frame {key!r} of the pair list is not one of 0..{len(ds) - 1}")
    return ds[int(key)]


def load_pairs(dataset: str, root: Path, pair_file: Path, image_size: int) -> dict[str, Any]:
    """All listed pairs in the view-pairs layout (images resized to ``image_size``; focal and principal_point
    (N, 2) per pair; ``splits``, ``ids``, ``scenes`` = sequences), without depth or disocclusion masks."""
    cache: dict[Any, Any] = {}
    cols: dict[str, list[Any]] = {k: [] for k in ("src_images", "tgt_images", "R_rel", "T_rel", "focal",
                                                  "principal_point", "splits", "ids", "scenes")}
    for split, seq, a, b in read_pair_list(pair_file):
        fa, fb = (_frame(dataset, root, split, seq, k, cache) for k in (a, b))
        h, w = fa["image"].shape[:2]
        scale = torch.tensor([image_size / w, image_size / h])
        Rr, Tr = relative_pose(*(f[k].double().numpy() for f in (fa, fb) for k in ("R", "T")))
        cols["src_images"].append(_resize(fa["image"], image_size))
        cols["tgt_images"].append(_resize(fb["image"], image_size))
        cols["R_rel"].append(torch.from_numpy(np.asarray(Rr, dtype=np.float32)))
        cols["T_rel"].append(torch.from_numpy(np.asarray(Tr, dtype=np.float32)))
        cols["focal"].append(fa["focal"].float() * scale)
        cols["principal_point"].append(fa["principal_point"].float() * scale)
        cols["splits"].append(split)
        cols["ids"].append(f"{seq}:{a}->{b}")
        cols["scenes"].append(seq)
    out: dict[str, Any] = {k: torch.stack(v) if isinstance(v[0], torch.Tensor) else v for k, v in cols.items()}
    out["image_size"] = (image_size, image_size)
    return out
