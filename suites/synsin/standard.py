"""RealEstate10K and KITTI view pairs for SynSin: SynSin's own test lists (``suites/synsin/lists.py``: its
``realestate.txt`` / ``kitti.txt``, found at ``<dataset root>/<name>`` or ``--set synsin_list=PATH``) or a generic
pair list read through the existing loaders.

Generic pair list: a text file, one pair per line, ``<split> <sequence> <source> <target>`` (``#`` starts a comment):

- ``split``: ``train`` or ``test`` (pairs to train on / to score);
- RealEstate10K: ``sequence`` is a camera file's stem under ``cameras/<split>/``, ``source`` / ``target`` are
  frame timestamps;
- KITTI (odometry layout of ``kitti-synsin``): ``sequence`` is ``00``.. and ``source`` / ``target`` are frame indices.

Its default place is ``<dataset root>/synsin_pairs.txt`` (``--set pairs_file=PATH`` elsewhere). Images are
resized to ``image_size`` squared, as SynSin's loaders do, with the intrinsics scaled to match. These datasets
have no depth, so the "reproject with true depth" reference and the disocclusion mask are not available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.data.safe_io import read_text
from bench.errors import DataError, NotAvailable
from suites.synsin.lists import LIST_NAMES, Columns, kitti_test_pairs, kitti_train_pairs, realestate_test_pairs, resize

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


def load_pairs(dataset: str, root: Path, pair_file: Path, image_size: int, splits: tuple[str, ...] = ("train", "test"),
               cols: Columns | None = None) -> dict[str, Any]:
    """The listed pairs of ``splits`` in the view-pairs layout (images resized to ``image_size``; focal and
    principal_point (N, 2) per pair; ``splits``, ``ids``, ``scenes`` = sequences), without depth or disocclusion
    masks; appended to ``cols`` when given."""
    cache: dict[Any, Any] = {}
    cols = cols if cols is not None else Columns()
    for split, seq, a, b in read_pair_list(pair_file):
        if split not in splits:
            continue
        fa, fb = (_frame(dataset, root, split, seq, k, cache) for k in (a, b))
        h, w = fa["image"].shape[:2]
        scale = torch.tensor([image_size / w, image_size / h])
        cams = tuple(f[k].double().numpy() for f in (fa, fb) for k in ("R", "T"))
        cols.add(resize(fa["image"], image_size), resize(fb["image"], image_size), cams,
                 fa["focal"].float() * scale, fa["principal_point"].float() * scale, split, f"{seq}:{a}->{b}", seq)
    return cols.stack(image_size)


def synsin_list_path(root: Path, synsin_list: str, dataset: str) -> Path | None:
    """SynSin's own test list: ``synsin_list``, else ``<root>/realestate.txt`` / ``kitti.txt`` if present."""
    if synsin_list:
        p = Path(synsin_list).expanduser()
        if not p.is_file():
            raise DataError(f"{p}: SynSin pair list (synsin_list) is missing; expected its data/files/"
                            f"{LIST_NAMES[dataset]}")
        return p
    p = Path(root) / LIST_NAMES[dataset]
    return p if p.is_file() else None


def load_case_pairs(dataset: str, root: Path, pairs_file: str, synsin_list: str, image_size: int,
                    max_train_pairs: int, seed: int, log: Any = print) -> dict[str, Any]:
    """Train and test pairs of a realestate10k / kitti case.

    With SynSin's own list (``synsin_list`` or its default place), the test pairs are exactly that list's; the
    training pairs are, for KITTI, SynSin's sampler over ``id_train.txt`` + ``poses.txt`` and, for RealEstate10K,
    the train lines of the generic pair list. Without it, both splits come from the generic pair list.
    NotAvailable (the case is skipped) when a needed list is absent."""
    lst = synsin_list_path(root, synsin_list, dataset)
    name = "realestate10k" if dataset == "realestate10k" else "kitti-synsin"
    if lst is None:
        return load_pairs(dataset, root, pair_list_path(root, pairs_file, name), image_size)
    cols = Columns()
    if dataset == "kitti":
        if not (Path(root) / "id_train.txt").is_file():
            raise NotAvailable(f"{name}: {Path(root) / 'id_train.txt'} not found: SynSin trains on "
                               "continuous_view_synthesis' dataset_kitti (images/, poses.txt, id_train.txt)")
        kitti_train_pairs(root, image_size, max_train_pairs, seed, cols)
    else:
        load_pairs(dataset, root, pair_list_path(root, pairs_file, name), image_size, ("train",), cols)
    n_train = len(cols)
    (kitti_test_pairs if dataset == "kitti" else realestate_test_pairs)(root, lst, image_size, cols)
    log(f"{dataset}: {len(cols) - n_train} test pairs from SynSin's list {lst}, {n_train} training pairs")
    return cols.stack(image_size)
